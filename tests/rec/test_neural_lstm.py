"""The thesis LSTM: learning, masking, the diversity regulariser, early stopping, save/load and
resumable checkpoints, on real training runs over a small synthetic log."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from via.rec.data.protocol import validation_split
from via.rec.data.sessions import PrefixBatch, all_prefixes
from via.rec.models import SessionModel, create_model
from via.rec.models.base import ModelFileError
from via.rec.models.neural import common
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence

from via.rec.models.neural.lstm import (
    ThesisLSTM,
    _PackedLSTM,
    _packed_ids,
    diversity_gradient,
    diversity_loss,
    linear_cross_entropy,
)

from .neural_synthetic import (  # noqa: F401 (pytest finds the fixtures by their names)
    cycle_sessions,
    hit_rate,
    one_thread_fixture,
    train_fixture,
)

SMALL = {
    "embedding_dim": 32,
    "hidden_units": 32,
    "dropout": 0.2,
    "learning_rate": 0.01,
    "batch_size": 64,
}


@pytest.fixture(scope="module")
def fitted(train):
    torch.set_num_threads(1)
    return ThesisLSTM(**SMALL, n_epochs=8, verbose=False).fit(train)


def test_learns_the_cycle_with_full_softmax(fitted):
    assert hit_rate(fitted, cycle_sessions(100, seed=2), k=5) >= 0.98
    assert [r["epoch"] for r in fitted.history_] == list(range(1, 9))
    assert fitted.history_[-1]["valid_loss"] < fitted.history_[0]["valid_loss"] / 10


def test_learns_the_cycle_with_sampled_softmax(train):
    model = ThesisLSTM(**SMALL, n_epochs=8, n_sample=8, diversity_sample=10, verbose=False)
    assert hit_rate(model.fit(train), cycle_sessions(100, seed=2), k=5) >= 0.98


def test_untrained_network_does_not_know_the_cycle(train):
    model = ThesisLSTM(**SMALL, n_epochs=0, verbose=False).fit(train)
    assert hit_rate(model, cycle_sessions(100, seed=2), k=5) < 0.5


def test_diversity_regulariser_equals_the_n_by_n_formula():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    unit = x_ref / (x_ref.norm(dim=1, keepdim=True) + 1e-8)
    similarity = unit @ unit.T  # the n x n matrix of equation 3.10
    expected = (similarity**2).sum()  # equation 3.11
    value = diversity_loss(x)
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)
    value.backward()
    expected.backward()
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-12)
    # a zero row (the padding row of the embedding) adds nothing and gets a zero gradient
    padded = torch.cat([torch.zeros(1, 6, dtype=torch.float64), x.detach()]).requires_grad_(True)
    value = diversity_loss(padded)
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)
    value.backward()
    assert torch.equal(padded.grad[0], torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(padded.grad[1:], x_ref.grad, rtol=1e-10, atol=1e-12)
    # orthogonal rows: only the diagonal counts
    assert diversity_loss(torch.eye(5, dtype=torch.float64) * 3).item() == pytest.approx(5.0)
    # in float32 the products run in common.matmul (U^T U as a symmetric rank-k update)
    x32 = x.detach().float().requires_grad_(True)
    value = diversity_loss(x32)
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    value.backward()
    torch.testing.assert_close(x32.grad, x_ref.grad.float(), rtol=1e-4, atol=1e-5)


def test_diversity_gradient_in_buffers_equals_the_autograd_one():
    generator = torch.Generator().manual_seed(1)
    # more rows than one slice of the row-by-row dot products, and a zero (padding) row
    x = torch.randn(5000, 8, generator=generator, dtype=torch.float64)
    x[0] = 0.0
    reference = x.clone().requires_grad_(True)
    diversity_loss(reference).backward()
    torch.testing.assert_close(diversity_gradient(x), reference.grad, rtol=1e-10, atol=1e-12)
    out, unit = torch.full_like(x, float("nan")), torch.full_like(x, float("nan"))
    result = diversity_gradient(x, out=out, unit=unit)
    assert result.data_ptr() == out.data_ptr()  # written into the buffer given
    torch.testing.assert_close(result, reference.grad, rtol=1e-10, atol=1e-12)
    assert torch.equal(result[0], torch.zeros(8, dtype=torch.float64))
    # reused: a second call on other values overwrites everything
    y = x * 2.0 + 0.5
    y[0] = 0.0
    reference = y.clone().requires_grad_(True)
    diversity_loss(reference).backward()
    torch.testing.assert_close(diversity_gradient(y, out=out, unit=unit), reference.grad,
                               rtol=1e-10, atol=1e-12)
    # float32, products in common.matmul: as the autograd path in float32, and within float32's
    # rounding of the float64 gradient (entries up to about 100 here, from sums over 5,000 rows)
    x32 = x.float()
    in_buffers = diversity_gradient(x32, out=torch.empty_like(x32), unit=torch.empty_like(x32))
    autograd32 = x32.clone().requires_grad_(True)
    diversity_loss(autograd32).backward()
    torch.testing.assert_close(in_buffers, autograd32.grad, rtol=1e-5, atol=1e-5)
    exact = diversity_gradient(x)
    scale = exact.abs().max().item()
    torch.testing.assert_close(in_buffers.double(), exact, rtol=0, atol=1e-5 * scale)


def test_padding_and_batching_do_not_change_scores(fitted):
    short, long = [4, 5], [9, 10, 11, 12, 13, 14]
    together = fitted.scores(PrefixBatch.from_lists([long, short]))
    alone = fitted.scores(PrefixBatch.from_lists([short]))
    # in the batch the short prefix is padded to length 6; alone it has no padding
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-5, atol=1e-5)
    # an unknown item (id 0) inside a prefix is dropped, not fed as padding
    with_unknown = fitted.scores(PrefixBatch.from_lists([[4, 0, 5]]))
    np.testing.assert_allclose(with_unknown[0], alone[0], rtol=1e-5, atol=1e-5)
    assert together[0].argmax() == 15 and alone[0].argmax() == 6
    assert np.isneginf(together[:, 0]).all()


def test_max_length_keeps_the_most_recent_clicks(train):
    model = ThesisLSTM(**SMALL, n_epochs=1, max_length=2, verbose=False).fit(train)
    long = model.scores(PrefixBatch.from_lists([[1, 2, 3, 4, 5]]))
    recent = model.scores(PrefixBatch.from_lists([[4, 5]]))
    np.testing.assert_allclose(long, recent, rtol=1e-5, atol=1e-5)


def test_early_stopping_keeps_the_best_epoch(train):
    # the validation sessions run the cycle backwards: learning the training order makes the
    # validation loss worse, so training stops `patience` epochs after its best epoch
    backwards = cycle_sessions(100, seed=3, reverse=True)
    model = ThesisLSTM(**SMALL, n_epochs=12, patience=2, verbose=False).fit(train, backwards)
    losses = [r["valid_loss"] for r in model.history_]
    best = int(np.argmin(losses)) + 1
    assert len(losses) == best + 2 < 12
    assert model.history_[-1]["epoch"] == best + 2


def _cases_trained(record: dict) -> int:
    return round(record["prefixes_per_second"] * record["seconds"])


def test_refitted_trains_on_all_sessions_for_the_epochs_validation_chose(train):
    # early stopping on the backwards validation log ends the run 2 epochs after its best one
    backwards = cycle_sessions(100, seed=3, reverse=True)
    model = ThesisLSTM(**SMALL, n_epochs=12, patience=2, verbose=False).fit(train, backwards)
    losses = [r["valid_loss"] for r in model.history_]
    assert model.best_epoch_ == int(np.argmin(losses)) + 1 < len(losses)
    refit = model.refitted(train)
    assert refit is not model and refit.valid_fraction == 0.0 and refit.seed == model.seed
    assert len(refit.history_) == refit.n_epochs == model.best_epoch_
    assert all("valid_loss" not in r for r in refit.history_)
    assert {_cases_trained(r) for r in refit.history_} == {len(all_prefixes(train))}


def test_refitted_takes_in_the_split_it_held_out(train):
    model = ThesisLSTM(**SMALL, n_epochs=2, verbose=False).fit(train)  # the last 10 % held out
    assert _cases_trained(model.history_[0]) == len(all_prefixes(validation_split(train, 0.1)[0]))
    refit = model.refitted(train)
    assert _cases_trained(refit.history_[0]) == len(all_prefixes(train))
    assert refit.best_epoch_ == len(refit.history_) == model.best_epoch_


def test_refitting_a_model_trained_without_a_split_is_refused(train):
    model = ThesisLSTM(**SMALL, n_epochs=1, valid_fraction=0.0, verbose=False).fit(train)
    with pytest.raises(ValueError, match="without a validation split"):
        model.refitted(train)


def test_save_and_load_give_identical_scores(fitted, tmp_path):
    fitted.save(tmp_path / "lstm")
    loaded = SessionModel.load(tmp_path / "lstm")
    assert isinstance(loaded, ThesisLSTM) and loaded.get_params() == fitted.get_params()
    prefixes = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3]])
    np.testing.assert_array_equal(loaded.scores(prefixes), fitted.scores(prefixes))


def test_device_is_checked(train):
    model = ThesisLSTM(**SMALL, n_epochs=1, device="auto", verbose=False).fit(train)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert next(model.module.parameters()).device.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            ThesisLSTM(**SMALL, device="cuda", verbose=False).fit(train)
    with pytest.raises(ValueError, match="device must be"):
        ThesisLSTM(**SMALL, device="tpu", verbose=False).fit(train)


def test_registry_builds_the_lstm():
    model = create_model("lstm")
    assert isinstance(model, ThesisLSTM)
    assert (model.embedding_dim, model.hidden_units, model.dropout) == (512, 300, 0.7)
    assert (model.batch_size, model.n_epochs, model.patience) == (512, 16, 5)


def test_resumed_training_continues_exactly(train, tmp_path, capsys):
    prefixes = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3]])
    # the regulariser's gradient is reused for 3 steps: resuming must recompute it where the
    # uninterrupted run did
    params = dict(SMALL, dropout=0.5, diversity_weight=1e-3, diversity_every=3)
    straight = ThesisLSTM(**params, n_epochs=4, verbose=False).fit(train)
    ThesisLSTM(**params, n_epochs=1).fit(train, checkpoint_dir=tmp_path / "other")
    assert "no checkpoint at" in capsys.readouterr().err  # a fresh start is said, not silent
    ThesisLSTM(**params, n_epochs=2, verbose=False).fit(train, checkpoint_dir=tmp_path)
    resumed = ThesisLSTM(**params, n_epochs=4).fit(train, checkpoint_dir=tmp_path)
    progress = capsys.readouterr().err
    assert "no checkpoint" not in progress
    assert "resumed" in progress and "epoch 2/" not in progress
    assert re.search(r"lstm epoch 4/4: loss \d+\.\d+ \| [\d,]+ prefixes/s \| \d+\.\d s", progress)
    assert [r["epoch"] for r in resumed.history_] == [1, 2, 3, 4]
    assert [r["valid_loss"] for r in resumed.history_] == [
        r["valid_loss"] for r in straight.history_
    ]
    np.testing.assert_array_equal(resumed.scores(prefixes), straight.scores(prefixes))
    with pytest.raises(ModelFileError, match="other data or hyperparameters"):
        ThesisLSTM(**params, n_epochs=5, seed=1).fit(train, checkpoint_dir=tmp_path)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_matmul_is_the_product_in_either_blas(blas, library):
    blas(library)
    assert common.cpu_blas() == library
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(37, 13, generator=generator)
    b = torch.randn(13, 29, generator=generator)
    expected = (a.double() @ b.double()).float()
    torch.testing.assert_close(common.matmul(a, b), expected, rtol=1e-5, atol=1e-5)
    out = torch.full((37, 29), float("nan"))
    assert common.matmul(a, b, out=out) is out
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # transposed views (the softmax's G^T h, h W^T) and the Gram matrix x^T x
    torch.testing.assert_close(common.matmul(b.T, a.T), expected.T, rtol=1e-5, atol=1e-5)
    gram = (a.double().T @ a.double()).float()
    torch.testing.assert_close(common.matmul(a.T, a), gram, rtol=1e-5, atol=1e-5)
    # a parameter's gradient buffer is written in place, without a graph
    weight = torch.zeros(13, 29, requires_grad=True)
    weight.grad = torch.empty(13, 29)
    common.matmul(b.T.T, torch.eye(29), out=weight.grad)
    torch.testing.assert_close(weight.grad, b)


def test_cpu_blas_rejects_an_unknown_library(blas):
    blas("openblas")
    with pytest.raises(ValueError, match="VIA_CPU_BLAS must be auto, numpy or torch"):
        common.cpu_blas()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_cross_entropy_equals_torch(dtype):
    # float32 on the CPU runs the products in common.matmul's BLAS (cpu_blas), float64 in torch
    tight = dtype == torch.float64
    generator = torch.Generator().manual_seed(0)
    workspace = torch.empty(7 * 11, dtype=dtype)
    for batch in (7, 5):  # a shorter last batch reuses the front of the buffer
        tensors = [
            torch.randn(shape, generator=generator, dtype=dtype) * 3
            for shape in ((batch, 4), (11, 4), (11,))
        ]
        targets = torch.randint(0, 11, (batch,), generator=generator)
        ours = [t.clone().requires_grad_() for t in tensors]
        theirs = [t.clone().requires_grad_() for t in tensors]
        loss = linear_cross_entropy(*ours, targets, workspace)
        expected = F.cross_entropy(F.linear(*theirs), targets)
        tolerance = 1e-12 if tight else 1e-5
        torch.testing.assert_close(loss, expected, rtol=tolerance, atol=tolerance)
        loss.backward()
        expected.backward()
        for a, b in zip(ours, theirs):
            torch.testing.assert_close(a.grad, b.grad, rtol=tolerance * 100, atol=tolerance)


def test_fused_cross_entropy_survives_a_target_far_below_the_maximum():
    """-log p_y underflows in float32 once the target's logit is more than about 100 below the
    row's maximum; the loss must then still be the finite log-sum-exp minus the target's logit."""
    hidden = torch.tensor([[1.0], [1.0], [1.0]])
    weight = torch.tensor([[300.0], [0.0], [100.0], [-5.0]])
    bias = torch.zeros(4)
    targets = torch.tensor([1, 3, 0])  # 300 and 305 below the maximum, then the maximum itself
    loss = linear_cross_entropy(hidden, weight, bias, targets)
    expected = F.cross_entropy(F.linear(hidden.double(), weight.double(), bias.double()), targets)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss.double(), expected, rtol=1e-6, atol=1e-6)


def test_packed_lstm_equals_torch_lstm():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(7, 5, batch_first=True).double()
    with torch.no_grad():
        for weight in lstm.parameters():
            weight.uniform_(-0.5, 0.5)
    lengths = torch.tensor([3, 1, 5, 2, 5])
    padded = torch.zeros(5, 5, dtype=torch.long)
    for row, length in enumerate(lengths.tolist()):
        padded[row, :length] = torch.randint(1, 9, (length,))
    embedding = torch.randn(10, 7, dtype=torch.float64)
    ids, batch_sizes, order, unorder = _packed_ids(padded, lengths)
    assert batch_sizes.tolist() == [5, 4, 3, 2, 2]
    # the clicks in packed order: what pack_padded_sequence holds, as ids
    reference = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    assert torch.equal(ids, reference.data) and torch.equal(order, reference.sorted_indices)
    x = embedding[ids].requires_grad_()
    weights = tuple(lstm.parameters())  # w_ih, w_hh, b_ih, b_hh
    ours = _PackedLSTM.apply(x, batch_sizes, *weights).index_select(0, unorder)
    x_ref = embedding[padded].requires_grad_()
    _, (h, _) = lstm(pack_padded_sequence(x_ref, lengths, batch_first=True, enforce_sorted=False))
    torch.testing.assert_close(ours, h[-1], rtol=1e-12, atol=1e-12)
    mix = torch.randn(5, 5, dtype=torch.float64)
    grads = torch.autograd.grad((ours * mix).sum(), (x, *weights))
    expected = torch.autograd.grad((h[-1] * mix).sum(), (x_ref, *weights))
    for a, b in zip(grads[1:], expected[1:]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # the input gradient of every real click, in packed order; padding gets none
    real = torch.arange(5)[None, :] < lengths[:, None]
    clicks = expected[0][order].transpose(0, 1)[real[order].T]
    torch.testing.assert_close(grads[0], clicks, rtol=1e-10, atol=1e-12)
    assert expected[0][~real].abs().max() == 0


def test_regulariser_gradient_is_recomputed_every_k_steps_and_each_epoch(train, monkeypatch):
    calls = []
    exact = ThesisLSTM._regulariser_gradient
    monkeypatch.setattr(
        ThesisLSTM, "_regulariser_gradient", lambda self: calls.append(1) or exact(self)
    )
    k, batch = 16, SMALL["batch_size"]
    ThesisLSTM(**SMALL, n_epochs=2, diversity_weight=1e-3, diversity_every=k, verbose=False).fit(
        train
    )
    per_epoch = -(-len(all_prefixes(validation_split(train, 0.1)[0])) // batch)
    assert per_epoch % k != 0  # so that the second epoch starts between two recomputations
    expected = [t for t in range(2 * per_epoch) if t % k == 0 or t == per_epoch]
    assert len(calls) == len(expected)
    with pytest.raises(ValueError, match="diversity_every"):
        ThesisLSTM(diversity_every=0)


@pytest.mark.parametrize(
    "settings",
    [
        {"diversity_weight": 1e-3},  # full softmax, the exact regulariser
        {"diversity_weight": 0.0},  # full softmax alone
        {"diversity_weight": 1e-3, "n_sample": 8},  # sampled softmax, the exact regulariser
        {"diversity_weight": 0.0, "n_sample": 8},
    ],
)
def test_every_step_gets_only_its_own_batch_gradient(train, monkeypatch, settings):
    """Training never zero-fills whole tables: each step overwrites the output layer's gradient
    (full softmax) and clears only the rows the previous step wrote. At every optimizer step the
    gradients must still be exactly those of that step's batch, as plain autograd gives them."""
    from via.rec.models.neural.common import RowGradients
    from via.rec.models.neural.lstm import _LSTMNet

    seen, checked = {}, []
    encode, publish = _LSTMNet.encode, RowGradients.publish_dense

    def recording_encode(self, padded, lengths, rows=None):
        seen["batch"] = (padded, lengths)
        return encode(self, padded, lengths, rows)

    def recording_publish(self):
        seen["rows"] = [(table, local.grad.clone(), ids) for table, local, ids in self.gathered
                        if local.grad is not None]
        publish(self)

    monkeypatch.setattr(_LSTMNet, "encode", recording_encode)
    monkeypatch.setattr(RowGradients, "publish_dense", recording_publish)
    model = ThesisLSTM(**dict(SMALL, dropout=0.0), n_epochs=2, verbose=False, **settings)
    weight = settings["diversity_weight"]
    make_optimizer = ThesisLSTM._make_optimizer

    def checking_optimizer(self):
        optimizer = make_optimizer(self)
        step = optimizer.step

        def checked_step(*args, **kwargs):
            net = self.module
            expected = {name: torch.zeros_like(p) for name, p in net.named_parameters()}
            if weight > 0:
                table = net.embedding.weight.detach().clone().requires_grad_()
                expected["embedding.weight"] += torch.autograd.grad(
                    weight * diversity_loss(table), table
                )[0]
            if self.n_sample == 0:  # the whole loss again, through torch's own layers
                reference = _LSTMNet(self.n_items, SMALL["embedding_dim"], SMALL["hidden_units"], 0.0)
                reference.load_state_dict(net.state_dict())
                padded, lengths = seen["batch"]
                hidden = reference.encode(padded, lengths)
                F.cross_entropy(reference.output(hidden), seen["targets"]).backward()
                for name, p in reference.named_parameters():
                    expected[name] += p.grad
            else:  # the sampled loss's own row gradients, scattered into clean tables
                names = {id(p): name for name, p in net.named_parameters()}
                for table, grad, ids in seen["rows"]:
                    expected[names[id(table)]].index_add_(0, ids, grad)
            for name, p in net.named_parameters():
                if self.n_sample == 0 or name in ("embedding.weight", "output.weight", "output.bias"):
                    torch.testing.assert_close(p.grad, expected[name], rtol=1e-4, atol=1e-6,
                                               msg=lambda m: f"{name}: {m}")
            checked.append(1)
            return step(*args, **kwargs)

        optimizer.step = checked_step
        return optimizer

    targets_of = ThesisLSTM._full_softmax_step if model.n_sample == 0 else ThesisLSTM._sampled_loss

    def recording_loss(self, hidden, targets, *rest):
        seen["targets"] = targets
        return targets_of(self, hidden, targets, *rest)

    monkeypatch.setattr(ThesisLSTM, "_make_optimizer", checking_optimizer)
    name = "_full_softmax_step" if model.n_sample == 0 else "_sampled_loss"
    monkeypatch.setattr(ThesisLSTM, name, recording_loss)
    model.fit(train)
    per_epoch = -(-len(all_prefixes(validation_split(train, 0.1)[0])) // SMALL["batch_size"])
    assert len(checked) == 2 * per_epoch
