"""VIANet: its encoder's equations, learning the synthetic cycle, scoring properties and
persistence through the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from via.rec.data.sessions import PrefixBatch
from via.rec.models import SessionModel, create_model
from via.rec.models.neural.via_model import VIAEncoder, VIANet

from .neural_synthetic import (  # noqa: F401 (pytest finds the fixtures by their names)
    cycle_sessions,
    hit_rate,
    one_thread_fixture,
    train_fixture,
)

SMALL = {"embedding_dim": 16, "batch_size": 32, "learning_rate": 0.01, "n_epochs": 4,
         "dropout": 0.0, "scale": 8.0}  # fmt: skip
PREFIXES = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3], [7, 8]])


@pytest.fixture(scope="module", name="fitted")
def fitted_fixture(train):
    torch.set_num_threads(1)
    return VIANet(**SMALL).fit(train)


def test_learns_the_cycle(fitted):
    assert hit_rate(fitted, cycle_sessions(100, seed=2), k=5) > 0.95


def test_scores_are_scaled_cosines(fitted):
    scores = fitted.scores(PREFIXES)[:, 1:]
    assert np.abs(scores).max() <= 8.0 + 1e-4
    assert scores.max() > 4.0  # the learned next item is close in direction


def test_encoder_follows_its_equations_by_hand():
    torch.manual_seed(0)
    encoder = VIAEncoder(n_items=6, d=4, max_length=5, dropout=0.0, scale=3.0).eval()
    items = [2, 5, 3]
    with torch.no_grad():
        got = encoder(torch.tensor([items + [0, 0]]), torch.tensor([3]))[0]
        e = torch.nn.functional.normalize(encoder.item_embedding.weight[items], dim=-1)
        p = encoder.position_embedding.weight[[3, 2, 1]]  # reverse positions: last click is 1
        z = torch.tanh(encoder.position_mix(torch.cat([e, p], dim=1)))
        energy = encoder.attention_vector(torch.sigmoid(
            encoder.attention_each(z) + encoder.attention_last(e[-1]) +
            encoder.attention_mean(e.mean(dim=0))
        )).squeeze(-1)  # fmt: skip
        intent = torch.softmax(energy, dim=0) @ e
        session = encoder.session_mix(torch.cat([intent, e[-1]]))
        expected = 3.0 * session / session.norm()
    torch.testing.assert_close(got, expected)
    matrix = encoder.item_matrix()
    torch.testing.assert_close(matrix[1:].norm(dim=1), torch.ones(6))


def test_dropout_acts_in_training_only(fitted):
    model = VIANet(**dict(SMALL, dropout=0.5, n_epochs=1)).fit(cycle_sessions(50, seed=3))
    items, lengths = torch.tensor([[1, 2, 3]]), torch.tensor([3])
    model.module.train()
    a, b = model.module(items, lengths), model.module(items, lengths)
    assert not torch.allclose(a, b)
    model.module.eval()
    torch.testing.assert_close(model.module(items, lengths), model.module(items, lengths))


def test_padding_and_neighbours_do_not_change_scores(fitted):
    together = fitted.scores(PREFIXES)
    for i, prefix in enumerate(PREFIXES.sessions.to_lists()):
        alone = fitted.scores(PrefixBatch.from_lists([prefix]))
        np.testing.assert_allclose(alone[0], together[i], rtol=1e-5, atol=1e-5)


def test_registry_save_and_load(fitted, tmp_path):
    assert isinstance(create_model("vianet", scale=5.0), VIANet)
    fitted.save(tmp_path / "m")
    loaded = SessionModel.load(tmp_path / "m")
    assert isinstance(loaded, VIANet) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.scores(PREFIXES), fitted.scores(PREFIXES))


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="dropout"):
        VIANet(dropout=1.0)
    with pytest.raises(ValueError, match="scale"):
        VIANet(scale=0)
    with pytest.raises(ValueError, match="knn"):
        VIANet(knn="itemknn")
    with pytest.raises(ValueError, match="knn_weight"):
        VIANet(knn="stan", knn_weight=1.5)


def test_fit_cuts_validation_from_the_end_of_training(train):
    model = VIANet(**dict(SMALL, n_epochs=2), valid_fraction=0.2).fit(train)
    assert all("valid_mrr20" in r for r in model.history_)
    alone = VIANet(**dict(SMALL, n_epochs=2), valid_fraction=0.0).fit(train)
    assert all("valid_mrr20" not in r for r in alone.history_)


def test_knn_fusion_weight_is_chosen_on_validation_and_saved(train, tmp_path):
    stan = {"k": 50, "sample_size": 200}
    model = VIANet(**dict(SMALL, n_epochs=1), knn="stan", knn_params=stan).fit(train)
    curve = model.fusion_curve_
    assert [r["knn_weight"] for r in curve][:3] == [0.0, 0.05, 0.1] and len(curve) == 21
    assert model.knn_weight_ == max(curve, key=lambda r: r["valid_mrr20"])["knn_weight"]
    assert len(model.knn_model._train) == len(train)  # re-indexed on all training sessions
    model.save(tmp_path / "m")
    loaded = SessionModel.load(tmp_path / "m")
    assert loaded.knn_weight_ == model.knn_weight_
    np.testing.assert_array_equal(loaded.scores(PREFIXES), model.scores(PREFIXES))


def test_fixed_knn_weights_at_the_ends(train):
    stan = {"k": 50, "sample_size": 200}
    pure = VIANet(**dict(SMALL, n_epochs=1), knn="stan", knn_params=stan, knn_weight=0.0)
    pure.fit(train)
    net = VIANet(**dict(SMALL, n_epochs=1)).fit(train)
    np.testing.assert_array_equal(pure.scores(PREFIXES), net.scores(PREFIXES))
    only_knn = VIANet(**dict(SMALL, n_epochs=1), knn="stan", knn_params=stan, knn_weight=1.0)
    only_knn.fit(train)
    knn = only_knn.knn_model.scores(PREFIXES)[:, 1:]
    fused = only_knn.scores(PREFIXES)[:, 1:]
    np.testing.assert_allclose(fused, knn / knn.max(axis=1, keepdims=True), rtol=1e-6)


def test_item_rows_are_the_rows_of_the_item_matrix():
    encoder = VIAEncoder(n_items=6, d=4, max_length=5, dropout=0.0, scale=3.0)
    ids = torch.tensor([3, 1, 3, 6])
    torch.testing.assert_close(encoder.item_rows(ids), encoder.item_matrix()[ids])


def test_refitted_trains_on_everything_for_the_chosen_epochs(train):
    stan = {"k": 50, "sample_size": 200}
    chosen = VIANet(**dict(SMALL, n_epochs=3), knn="stan", knn_params=stan, select_on="hr@20")
    chosen.fit(train)
    final = chosen.refitted(train)
    assert len(final.history_) == chosen.best_epoch_
    assert all("valid_mrr20" not in r for r in final.history_)
    assert final.knn_weight_ == chosen.knn_weight_ and final.seed == chosen.seed
    assert len(final.knn_model._train) == len(train)
    assert hit_rate(final, cycle_sessions(100, seed=2), k=5) > 0.9
