"""GRU4Rec: session-parallel mini-batches, its two losses, Adagrad with momentum, learning,
save/load and resumable checkpoints, on real training runs over a small synthetic log."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models import SessionModel, create_model
from via.rec.models.neural.gru4rec import (
    AdagradMomentum,
    GRU4Rec,
    _GRU4RecNet,
    session_parallel_steps,
)

from .neural_synthetic import (  # noqa: F401 (pytest finds the fixtures by their names)
    cycle_sessions,
    hit_rate,
    one_thread_fixture,
    train_fixture,
)

SMALL = {"layers": [32], "batch_size": 16, "learning_rate": 0.1, "n_sample": 16, "n_epochs": 5}
BPR_MAX = dict(SMALL, loss="bpr-max", elu_param=1.0, bpreg=0.9, momentum=0.15,
               dropout_p_embed=0.2, dropout_p_hidden=0.1)  # fmt: skip
PREFIXES = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3]])


@pytest.fixture(scope="module")
def fitted(train):
    torch.set_num_threads(1)
    return GRU4Rec(**BPR_MAX, verbose=False).fit(train)


def test_session_parallel_steps_follow_the_papers_scheme():
    sessions = Sessions.from_lists([[1, 2, 3], [4, 5], [6, 7, 8, 9], [10, 11]])
    steps = [
        (c.tolist(), t.tolist(), None if k is None else k.tolist(), r.tolist())
        for c, t, k, r in session_parallel_steps(sessions, batch_size=2)
    ]
    assert steps == [
        ([1, 4], [2, 5], None, [True, True]),
        ([2, 6], [3, 7], None, [False, True]),  # session 2 took the slot of finished session 1
        ([10, 7], [11, 8], None, [True, False]),
        ([8], [9], [1], [False]),  # session 3 ended and nothing is left: the batch shrinks
    ]


def test_session_parallel_steps_cover_every_event_once(train):
    events = sum(len(c) for c, *_ in session_parallel_steps(train, batch_size=7))
    assert events == train.n_clicks - len(train)


def test_bpr_max_loss_matches_the_paper_by_hand():
    model = GRU4Rec(loss="bpr-max", elu_param=0.0, bpreg=0.5)
    scores = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    expected = 0.0
    for i, row in enumerate(scores.tolist()):
        negatives = [s for j, s in enumerate(row) if j != i]
        weights = np.exp(negatives) / np.exp(negatives).sum()
        ranking = sum(w / (1 + math.exp(-(row[i] - s))) for w, s in zip(weights, negatives))
        expected += -math.log(ranking) + 0.5 * sum(w * s * s for w, s in zip(weights, negatives))
    loss = model._step_loss(scores, torch.tensor([1, 2, 3]), sampler=None)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("constrained", [True, False], ids=["constrained", "separate-embedding"])
def test_train_step_equals_the_plain_full_table_computation(constrained):
    """Scores over the gathered rows, then picked per column, are the plain product with the
    tables indexed per column, and the tables' sparse gradients equal autograd's dense ones."""
    torch.manual_seed(0)
    net = _GRU4RecNet(n_items=30, layers=[8], embedding=6, constrained=constrained)
    items = torch.tensor([3, 7, 3, 12])
    columns = torch.tensor([5, 7, 9, 5, 20, 20, 3, 29, 5])  # repeats; targets among negatives
    state = torch.randn(4, 8)
    scores, rows = net.train_step(items, columns, [state.clone()], 0.0, 0.0)
    reference = _GRU4RecNet(n_items=30, layers=[8], embedding=6, constrained=constrained)
    reference.load_state_dict(net.state_dict())
    x = F.embedding(items, reference.Wy if constrained else reference.E)
    h = reference.cells[0](x, state.clone())
    expected = h @ reference.Wy[columns].T + reference.By[columns].T
    torch.testing.assert_close(scores, expected)
    weights = torch.randn_like(scores)
    (scores * weights).sum().backward()
    rows.publish_sparse()
    (expected * weights).sum().backward()
    for name, p in reference.named_parameters():
        mine = net.get_parameter(name).grad
        mine = mine.to_dense() if mine.is_sparse else mine
        torch.testing.assert_close(mine, p.grad, msg=name)


def test_adagrad_momentum_updates_only_the_touched_rows():
    dense = torch.nn.Parameter(torch.ones(4, 2))
    sparse = torch.nn.Parameter(torch.ones(4, 2))
    optimizers = [AdagradMomentum([p], lr=0.1, momentum=0.5) for p in (dense, sparse)]
    grads = [torch.tensor([[0.0, 0.0], [0.5, -1.0], [0.0, 0.0], [2.0, 0.25]])] * 2
    for grad in grads:
        dense.grad = grad.clone()
        sparse.grad = torch.sparse_coo_tensor(
            torch.tensor([[1, 3]]), grad[[1, 3]], (4, 2), check_invariants=True
        )
        for optimizer in optimizers:
            optimizer.step()
    # by hand: acc = g^2, then 2 g^2; m1 = -lr g / sqrt(g^2 + eps);
    # m2 = 0.5 m1 - lr g / sqrt(2 g^2 + eps); the row moves by m1 + m2
    g = grads[0][[1, 3]]
    m1 = -0.1 * g / torch.sqrt(g * g + 1e-6)
    m2 = 0.5 * m1 - 0.1 * g / torch.sqrt(2 * g * g + 1e-6)
    torch.testing.assert_close(sparse.data[[1, 3]], 1 + m1 + m2)
    torch.testing.assert_close(sparse.data[[0, 2]], torch.ones(2, 2))
    torch.testing.assert_close(dense.data, sparse.data)


def test_learns_the_cycle_with_bpr_max(fitted):
    assert hit_rate(fitted, cycle_sessions(100, seed=2), k=5) >= 0.98
    assert fitted.history_[-1]["loss"] < fitted.history_[0]["loss"]


@pytest.mark.parametrize(
    "params",
    [
        dict(SMALL, loss="cross-entropy", logq=1.0),
        dict(SMALL, loss="cross-entropy", n_sample=0, constrained_embedding=False, embedding=16),
    ],
    ids=["xe-logq-shared-negatives", "xe-minibatch-negatives-separate-embedding"],
)
def test_learns_the_cycle_with_cross_entropy(train, params):
    model = GRU4Rec(**params, verbose=False).fit(train)
    assert hit_rate(model, cycle_sessions(100, seed=2), k=5) >= 0.98


def test_untrained_network_does_not_know_the_cycle(train):
    model = GRU4Rec(**dict(BPR_MAX, n_epochs=0), verbose=False).fit(train)
    assert hit_rate(model, cycle_sessions(100, seed=2), k=5) < 0.5


def test_padding_and_batching_do_not_change_scores(fitted):
    together = fitted.scores(PrefixBatch.from_lists([[9, 10, 11, 12, 13], [4, 5]]))
    alone = fitted.scores(PrefixBatch.from_lists([[4, 5]]))
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-5, atol=1e-5)
    assert np.isneginf(together[:, 0]).all()
    # a prefix of unknown items only is empty: it scores from the zero state, beside the others
    mixed = fitted.scores(PrefixBatch.from_lists([[0], [4, 5], [0, 0]]))
    np.testing.assert_allclose(mixed[1], alone[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(mixed[0], mixed[2])
    assert together[0].argmax() == 14 and alone[0].argmax() == 6


def test_save_and_load_give_identical_scores(fitted, tmp_path):
    fitted.save(tmp_path / "gru4rec")
    loaded = SessionModel.load(tmp_path / "gru4rec")
    assert isinstance(loaded, GRU4Rec) and loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.scores(PREFIXES), fitted.scores(PREFIXES))


def test_presets_are_the_published_settings():
    model = GRU4Rec.from_preset("diginetica", n_epochs=1)
    assert (model.loss, model.layers, model.batch_size, model.n_sample) == (
        "bpr-max", [512], 128, 2048)  # fmt: skip
    assert (model.sample_alpha, model.bpreg, model.momentum, model.n_epochs) == (0.3, 0.9, 0.15, 1)
    yoochoose = GRU4Rec.from_preset("yoochoose1_64")
    assert (yoochoose.loss, yoochoose.logq, yoochoose.layers) == ("cross-entropy", 1.0, [480])
    assert isinstance(create_model("gru4rec"), GRU4Rec)
    with pytest.raises(ValueError, match="one-hot input"):
        GRU4Rec(constrained_embedding=False, embedding=0, verbose=False).fit(cycle_sessions(5, 0))


def test_resumed_training_continues_exactly(train, tmp_path):
    params = dict(BPR_MAX, verbose=False)
    straight = GRU4Rec(**dict(params, n_epochs=3)).fit(train)
    GRU4Rec(**dict(params, n_epochs=1)).fit(train, checkpoint_dir=tmp_path)
    resumed = GRU4Rec(**dict(params, n_epochs=3)).fit(train, checkpoint_dir=tmp_path)
    assert [r["loss"] for r in resumed.history_] == [r["loss"] for r in straight.history_]
    np.testing.assert_array_equal(resumed.scores(PREFIXES), straight.scores(PREFIXES))
    # a finished run resumed with the same number of epochs trains no further
    again = GRU4Rec(**dict(params, n_epochs=3)).fit(train, checkpoint_dir=tmp_path)
    assert again.history_ == resumed.history_
    np.testing.assert_array_equal(again.scores(PREFIXES), straight.scores(PREFIXES))
