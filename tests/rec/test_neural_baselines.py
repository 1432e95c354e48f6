"""NARM, STAMP and SR-GNN: the session graph against a hand-computed one, masking of padding,
learning a synthetic cycle, save/load, and the training settings their papers specify."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from via.rec.data.sessions import PrefixBatch
from via.rec.models import SessionModel, create_model
from via.rec.models.neural.narm import NARM, NARMEncoder
from via.rec.models.neural.srgnn import SRGNN, SRGNNEncoder, session_graph
from via.rec.models.neural.stamp import STAMP, STAMPEncoder, clipped_to_unit_norm
from via.rec.models.presets import preset_params

from .neural_synthetic import (  # noqa: F401 (pytest finds the fixtures by their names)
    cycle_sessions,
    hit_rate,
    one_thread_fixture,
    train_fixture,
)

ENCODERS = {"narm": NARMEncoder, "stamp": STAMPEncoder, "srgnn": SRGNNEncoder}


def test_session_graph_of_a_session_with_a_repeated_item():
    # session 5 -> 3 -> 5 -> 7 -> 7: nodes 3, 5, 7 (in id order); edges 5->3, 3->5, 5->7 and the
    # self-loop 7->7; next to it a shorter prefix, padded, and a one-click prefix
    items = torch.tensor([[5, 3, 5, 7, 7], [2, 9, 2, 0, 0], [4, 0, 0, 0, 0]])
    nodes, alias, a_in, a_out = session_graph(items, torch.tensor([5, 3, 1]))
    assert nodes.tolist() == [[3, 5, 7], [2, 9, 0], [4, 0, 0]]
    assert alias.tolist() == [[1, 0, 1, 2, 2], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]]
    # a_in[v, u] = 1 / in-degree(v) for each edge u -> v; node 7 (index 2) is entered from 5 and 7
    expected_in = [[0, 1, 0], [1, 0, 0], [0, 0.5, 0.5]]
    # a_out[u, v] = 1 / out-degree(u); node 5 (index 1) leaves to 3 and to 7
    expected_out = [[0, 1, 0], [0.5, 0, 0.5], [0, 0, 1]]
    assert a_in[0].tolist() == expected_in
    assert a_out[0].tolist() == expected_out
    # 2 -> 9 -> 2: the edge 2 -> 9 and its reverse; padding adds no node and no edge
    assert a_in[1].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert a_out[1].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert not a_in[2].any() and not a_out[2].any()


def test_an_edge_seen_twice_counts_once():
    # 1 -> 2 -> 1 -> 2 -> 3: 1->2 occurs twice, as one edge (the official code sets, not adds)
    _, _, a_in, a_out = session_graph(torch.tensor([[1, 2, 1, 2, 3]]), torch.tensor([5]))
    assert a_out[0].tolist() == [[0, 1, 0], [0.5, 0, 0.5], [0, 0, 0]]
    assert a_in[0].tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0]]


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoders_ignore_padding_and_batch_neighbours(name):
    torch.manual_seed(0)
    encoder = ENCODERS[name](12).eval()
    with torch.no_grad():
        encoder.item_embedding.weight.mul_(50.0)  # large enough for STAMP's max-norm clipping
        alone = encoder(torch.tensor([[3, 7, 3]]), torch.tensor([3]))
        batch = torch.tensor([[3, 7, 3, 0, 0, 0], [1, 2, 3, 4, 5, 6], [11, 0, 0, 0, 0, 0]])
        together = encoder(batch, torch.tensor([3, 6, 1]))
        # whatever sits in the padding columns is never read
        noisy = batch.clone()
        noisy[0, 3:] = torch.tensor([9, 10, 12])
        with_noise = encoder(noisy, torch.tensor([3, 6, 1]))
    assert together.shape == (3, encoder.item_matrix().shape[1])
    assert encoder.item_matrix().shape[0] == 13
    torch.testing.assert_close(together[0], alone[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(with_noise, together, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(together[0], together[2])


def test_stamp_clips_the_memory_to_unit_norm():
    vectors = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    clipped = clipped_to_unit_norm(vectors)
    torch.testing.assert_close(clipped, torch.tensor([[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]]))


# small and fast settings: the synthetic cycle has 30 items
SMALL = {
    "narm": {"embedding_dim": 32, "hidden_units": 32, "embedding_dropout": 0.0,
             "session_dropout": 0.0, "batch_size": 64, "learning_rate": 0.01},
    "stamp": {"embedding_dim": 32, "batch_size": 64, "learning_rate": 0.01},
    "srgnn": {"embedding_dim": 32, "batch_size": 64, "learning_rate": 0.01,
              "lr_decay_epochs": 10},
}  # fmt: skip
MODELS = {"narm": NARM, "stamp": STAMP, "srgnn": SRGNN}


@pytest.fixture(scope="module", name="fitted")
def fitted_fixture(train):
    torch.set_num_threads(1)
    return {
        name: MODELS[name](**SMALL[name], n_epochs=6, valid_fraction=0.0, verbose=False).fit(train)
        for name in MODELS
    }


@pytest.mark.parametrize("name", sorted(MODELS))
def test_learns_the_cycle(fitted, name):
    assert hit_rate(fitted[name], cycle_sessions(100, seed=2), k=5) >= 0.98


@pytest.mark.parametrize("name", sorted(MODELS))
def test_untrained_model_does_not_know_the_cycle(train, name):
    model = MODELS[name](**SMALL[name], n_epochs=0, valid_fraction=0.0, verbose=False)
    assert hit_rate(model.fit(train), cycle_sessions(100, seed=2), k=5) < 0.5


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_prefix_scores_the_same_alone_and_padded_in_a_batch(fitted, name):
    model = fitted[name]
    short, repeated, long = [3, 4, 5], [4, 5, 4], [9, 10, 11, 12, 13, 14, 15]
    together = model.scores(PrefixBatch.from_lists([long, short, [], repeated]))
    alone = model.scores(PrefixBatch.from_lists([short]))
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-5, atol=1e-5)
    repeated_alone = model.scores(PrefixBatch.from_lists([repeated]))
    np.testing.assert_allclose(together[3], repeated_alone[0], rtol=1e-5, atol=1e-5)
    # an unknown item (id 0) inside a prefix is dropped, not read as padding
    with_unknown = model.scores(PrefixBatch.from_lists([[3, 0, 4, 5]]))
    np.testing.assert_allclose(with_unknown[0], alone[0], rtol=1e-5, atol=1e-5)
    assert together[0].argmax() == 16 and alone[0].argmax() == 6
    assert np.isneginf(together[:, 0]).all() and np.isfinite(together[:, 1:]).all()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_and_load_give_identical_scores(fitted, name, tmp_path):
    model = fitted[name]
    model.save(tmp_path / name)
    loaded = SessionModel.load(tmp_path / name)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    prefixes = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3], [7, 7, 8]])
    np.testing.assert_array_equal(loaded.scores(prefixes), model.scores(prefixes))


def test_validation_split_is_cut_from_the_end_and_chooses_the_epoch(train):
    model = SRGNN(**SMALL["srgnn"], n_epochs=3, verbose=False).fit(train)
    assert [r["epoch"] for r in model.history_] == [1, 2, 3]
    assert all(0 <= r["valid_hr20"] <= 1 for r in model.history_)
    # the cycle is learnt: the epoch kept is the one with the best validation HR@20
    assert model.history_[model.best_epoch_ - 1]["valid_hr20"] == max(
        r["valid_hr20"] for r in model.history_
    )
    assert max(r["valid_hr20"] for r in model.history_) > 0.9


def test_registry_and_published_presets_carry_the_papers_settings():
    srgnn = create_model("srgnn", **preset_params("published", "diginetica", "srgnn"))
    assert (srgnn.batch_size, srgnn.learning_rate, srgnn.weight_decay) == (100, 0.001, 1e-5)
    assert (srgnn.lr_decay, srgnn.lr_decay_epochs) == (0.1, 3)
    assert create_model("narm").get_params() == NARM().get_params()
    # official STAMP clips gradients at 110 on Diginetica (stamp_cikm), 150 on Yoochoose
    assert preset_params("published", "diginetica", "stamp")["clip_norm"] == 110.0
    assert preset_params("published", "yoochoose1_64", "stamp")["clip_norm"] == 150.0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_refitted_retrains_on_all_sessions_for_the_chosen_epochs(train, name):
    # the prefix trainer chooses its epoch by validation HR@20 (the papers' Recall@20), not by
    # the loss: the refit takes that choice
    model = MODELS[name](**SMALL[name], n_epochs=3, verbose=False).fit(train)
    assert all("valid_hr20" in r for r in model.history_)
    refit = model.refitted(train)
    assert refit.valid_fraction == 0.0 and len(refit.history_) == model.best_epoch_
    assert all("valid_hr20" not in r and "valid_loss" not in r for r in refit.history_)
    assert hit_rate(refit, cycle_sessions(100, seed=2), k=5) >= 0.9
