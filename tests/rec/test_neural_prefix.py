"""The prefix trainer shared by NARM, STAMP, SR-GNN and VIANet, on a tiny encoder of its own:
learning, padding, save/load, resumable checkpoints, validation-based epoch choice, the sampled
softmax and the learning-rate schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from via.rec.data.sessions import PrefixBatch
from via.rec.models import REGISTRY, SessionModel
from via.rec.models.neural.prefix import PrefixSessionModel, SessionEncoder, pad_cases

from .neural_synthetic import (  # noqa: F401 (pytest finds the fixtures by their names)
    cycle_sessions,
    hit_rate,
    one_thread_fixture,
    train_fixture,
)

PREFIXES = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3], [7, 8]])
SMALL = {"embedding_dim": 16, "batch_size": 32, "learning_rate": 0.01, "n_epochs": 4}


class LastAndMeanEncoder(SessionEncoder):
    """A linear map of the last click's embedding and the mean of the prefix's embeddings."""

    def __init__(self, n_items: int, d: int):
        super().__init__()
        self.item_embedding = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.mix = nn.Linear(2 * d, d)

    def forward(self, items, lengths):
        x = self.item_embedding(items)
        last = x[torch.arange(len(x)), lengths - 1]
        mean = x.sum(dim=1) / lengths[:, None]
        return self.mix(torch.cat([last, mean], dim=1))


class ToyPrefix(PrefixSessionModel):
    name = "toyprefix"

    def __init__(self, embedding_dim=16, batch_size=32, learning_rate=0.01, lr_decay=0.1,
                 lr_decay_epochs=3, weight_decay=0.0, clip_norm=0.0, n_epochs=4, patience=0,
                 max_length=50, n_sample=0, sample_alpha=0.75, select_on="loss",
                 valid_fraction=0.0, seed=0, device="cpu", verbose=False):  # fmt: skip
        super().__init__(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})

    def _build_encoder(self):
        return LastAndMeanEncoder(self.n_items, self.embedding_dim)


@pytest.fixture(name="registered")
def registered_fixture(monkeypatch):
    monkeypatch.setitem(REGISTRY, "toyprefix", f"{__name__}:ToyPrefix")


@pytest.fixture(scope="module", name="fitted")
def fitted_fixture(train):
    torch.set_num_threads(1)
    return ToyPrefix(**SMALL).fit(train)


def test_learns_the_cycle(fitted):
    assert hit_rate(fitted, cycle_sessions(100, seed=2), k=5) > 0.95
    assert [r["epoch"] for r in fitted.history_] == [1, 2, 3, 4]
    assert fitted.history_[-1]["loss"] < fitted.history_[0]["loss"]


def test_sampled_softmax_learns_the_cycle(train):
    model = ToyPrefix(**SMALL, n_sample=10).fit(train)
    assert hit_rate(model, cycle_sessions(100, seed=2), k=5) > 0.9


def test_pad_cases_left_aligns_the_chosen_prefixes():
    items, lengths = pad_cases(PREFIXES, np.array([2, 0, 3]))
    assert items.tolist() == [[30, 1, 2, 3], [1, 0, 0, 0], [7, 8, 0, 0]]
    assert lengths.tolist() == [4, 1, 2]


def test_padding_and_batch_neighbours_do_not_change_scores(fitted):
    together = fitted.scores(PREFIXES)
    for i, prefix in enumerate(PREFIXES.sessions.to_lists()):
        alone = fitted.scores(PrefixBatch.from_lists([prefix]))
        np.testing.assert_allclose(alone[0], together[i], rtol=1e-5, atol=1e-5)
    assert together.shape == (4, 31) and np.isneginf(together[:, 0]).all()


def test_empty_and_unknown_clicks(fitted):
    scores = fitted.scores(PrefixBatch.from_lists([[], [0, 3, 4], [3, 4]]))
    assert (scores[0, 1:] == 0).all()
    np.testing.assert_allclose(scores[1], scores[2], rtol=1e-6)


def test_max_length_keeps_the_most_recent_clicks(train):
    model = ToyPrefix(**dict(SMALL, n_epochs=1), max_length=2).fit(train)
    long, short = model.scores(PrefixBatch.from_lists([[1, 2, 3, 4, 5], [4, 5]]))
    np.testing.assert_allclose(long, short, rtol=1e-6)


def test_save_and_load_give_identical_scores(fitted, tmp_path, registered):
    fitted.save(tmp_path / "m")
    loaded = SessionModel.load(tmp_path / "m")
    assert isinstance(loaded, ToyPrefix) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.scores(PREFIXES), fitted.scores(PREFIXES))


def test_resumed_run_equals_uninterrupted_run(train, tmp_path):
    whole = ToyPrefix(**dict(SMALL, n_epochs=3)).fit(train)
    ToyPrefix(**dict(SMALL, n_epochs=1)).fit(train, checkpoint_dir=tmp_path)
    resumed = ToyPrefix(**dict(SMALL, n_epochs=3)).fit(train, checkpoint_dir=tmp_path)
    np.testing.assert_array_equal(resumed.scores(PREFIXES), whole.scores(PREFIXES))
    assert [r["loss"] for r in resumed.history_] == [r["loss"] for r in whole.history_]


def test_same_seed_same_model_other_seed_other_model(train):
    one = ToyPrefix(**dict(SMALL, n_epochs=1), seed=3).fit(train).scores(PREFIXES)
    again = ToyPrefix(**dict(SMALL, n_epochs=1), seed=3).fit(train).scores(PREFIXES)
    other = ToyPrefix(**dict(SMALL, n_epochs=1), seed=4).fit(train).scores(PREFIXES)
    np.testing.assert_array_equal(one, again)
    assert not np.allclose(one[:, 1:], other[:, 1:])


def test_validation_metrics_and_best_epoch(train):
    valid = cycle_sessions(100, seed=5)
    model = ToyPrefix(**dict(SMALL, n_epochs=3), select_on="mrr@20").fit(train, valid)
    for record in model.history_:
        assert {"valid_loss", "valid_ce", "valid_hr20", "valid_mrr20"} <= set(record)
        assert 0 <= record["valid_mrr20"] <= record["valid_hr20"] <= 1
        assert record["valid_loss"] == -record["valid_mrr20"]
    best = max(model.history_, key=lambda r: r["valid_mrr20"])
    assert model.best_epoch_ == best["epoch"]
    # the kept weights are those of the best epoch: validation HR@20 recomputed on them
    assert hit_rate(model, valid, k=20) == pytest.approx(best["valid_hr20"], abs=1e-9)


def test_valid_fraction_cuts_the_latest_sessions_off_as_validation(train):
    model = ToyPrefix(**dict(SMALL, n_epochs=2), valid_fraction=0.2, select_on="hr@20")
    fit_part, valid = model.split_validation(train, None)
    assert len(fit_part) + len(valid) <= len(train)
    assert len(valid) > 0
    np.testing.assert_array_equal(fit_part.items, train.select(np.arange(len(fit_part))).items)
    model.fit(train)
    assert all("valid_hr20" in record for record in model.history_)
    # given validation sessions are used as they are; valid_fraction=0 trains on everything
    assert model.split_validation(train, valid) == (train, valid)
    assert ToyPrefix(valid_fraction=0.0).split_validation(train, None) == (train, None)


def test_patience_stops_when_validation_stops_improving(train):
    # a validation set of the reversed cycle gets worse as the forward cycle is learned
    reverse = cycle_sessions(50, seed=6, reverse=True)
    model = ToyPrefix(**dict(SMALL, n_epochs=10), patience=2).fit(train, reverse)
    assert len(model.history_) < 10
    assert len(model.history_) - model.best_epoch_ == 2


def test_step_decay_of_the_learning_rate():
    model = ToyPrefix(learning_rate=0.01, lr_decay=0.5, lr_decay_epochs=2)
    rates = [model._epoch_learning_rate(e) for e in range(1, 6)]
    assert rates == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="select_on"):
        ToyPrefix(select_on="ndcg")
    with pytest.raises(ValueError, match="max_length"):
        ToyPrefix(max_length=0)
    with pytest.raises(ValueError, match="valid_fraction"):
        ToyPrefix(valid_fraction=1.0)


def test_training_reuses_freed_memory_instead_of_faulting_it_in_again(monkeypatch):
    import platform
    import resource

    from via.rec.models.neural import common

    if platform.libc_ver()[0] != "glibc":
        pytest.skip(f"malloc tuning is for glibc; this C library is {platform.libc_ver()}")

    monkeypatch.setenv(common.KEEP_FREED_MEMORY_ENV, "0")
    common.keep_freed_memory.cache_clear()
    assert common.keep_freed_memory() is False  # the opt-out leaves malloc alone
    monkeypatch.delenv(common.KEEP_FREED_MEMORY_ENV)
    common.keep_freed_memory.cache_clear()
    assert common.keep_freed_memory() is True  # glibc's mallopt took both thresholds
    # a full softmax's logits, allocated and freed every step: 48 MiB, above glibc's 32 MiB
    # ceiling for the heap, so by default every allocation would be a fresh mmap to fault in
    pages = 48 * 2**20 // resource.getpagesize()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(12):
        logits = torch.empty(512, 24576)
        logits.fill_(1.0)
        del logits
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 3 * pages, f"{faults} page faults for 12 reuses of {pages} pages"
