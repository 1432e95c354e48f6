"""The thesis' LSTM next-item model (thesis 000_..., section 3.3, equations 3.1 to 3.12).

What it implements, equation by equation:
- 3.2: prefixes are padded with item 0 to the batch's longest prefix (at most `max_length` = T
  clicks, the most recent ones; `None` keeps whole prefixes, i.e. T = the longest session) and
  masked: only the real clicks are looked up and run through the LSTM (as packed sequences), so
  its final state is the state after the last real click and a prefix scores the same with or
  without padding.
- 3.3: item embedding E of dimension `embedding_dim` (512), row 0 = padding (kept at zero).
- 3.4: one LSTM layer of `hidden_units` (300) units; h_T is its state after the last click.
  Its parameters are `nn.LSTM`'s, but training runs `_PackedLSTM`, the same function with a
  hand-written backward (tested against `nn.LSTM`), because PyTorch's CPU LSTM on packed input
  spends more time zero-filling per-step gradients than computing.
- 3.5: dropout `dropout` (0.7) on h_T, then a dense layer with softmax over all items.
- 3.6: sparse categorical cross-entropy, the mean over the batch; dense layer, softmax and
  cross-entropy are one fused computation that writes the 512 x (n + 1) logits into one buffer
  reused every step and never materialises them twice: in training `_full_softmax_step`, which
  writes the output layer's gradients straight into its `.grad` (tested against autograd step
  by step); as an autograd function, `linear_cross_entropy` (same values and gradients as
  `F.cross_entropy(F.linear(...))`, tested). No table's gradient is zero-filled whole a step:
  only the rows the previous step wrote.
- 3.7, 3.8: Adam (lr 0.001) with the learning rate decayed continuously as
  lr_t = 0.001 * 0.9 ** (t / 1000), t the number of optimizer steps taken.
- 3.9 to 3.12: embedding-diversity regulariser lambda * sum_ij S_ij^2 with
  S = X^ X^T, X^ the row-normalised item embeddings (v / (|v| + eps)). It is computed as
  ||X^T X^||_F^2 (a d x d Gram matrix G, equal to the n x n sum) with a hand-written backward
  (4 X^ G, then through the normalisation), so one step costs two n x d x d products and never
  forms an n x n matrix.
- Training on prefix-augmented sessions (every prefix with its next item), batch 512, shuffled
  every epoch, at most 16 epochs, early stopping with patience 5 on the validation loss.

Departures and choices the thesis leaves open (each one a constructor argument):
- The thesis gives no value for lambda: `diversity_weight` defaults to 1e-6. The regulariser
  covers the item rows 1..n, not the padding row; eps = 1e-8.
- `diversity_every = k > 1` (a departure; 1, the default, is exact): the regulariser's gradient
  (two n x d x d products, 45 GFLOP a step on Diginetica, more than the full softmax's 40) is
  recomputed every k optimizer steps and at the start of every epoch, and the same gradient is
  added in the steps between. Not the "lazy regularisation" of StyleGAN2 (weight k * lambda every
  k steps): under Adam, a gradient that comes once every k steps, k times larger, does not move
  the weights as k small ones do (Adam divides by the root of the mean squared gradient, so the
  rows that only the regulariser touches would move about sqrt(k) instead of k steps' worth).
  Reusing a stale gradient keeps Adam's statistics; its error is how far the gradient drifts in
  k steps.
- Validation: when `fit` gets no validation sessions it cuts the last `valid_fraction` (10%) of
  the training sessions (file order = time order) with `via.rec.data.protocol.validation_split`
  and trains on the rest, as Keras' `validation_split` takes the end of the data. The monitored
  loss is the validation cross-entropy (without the regulariser), and the weights of the best
  epoch are kept.
- Initialisation follows Keras' defaults: embedding U(-0.05, 0.05), Glorot-uniform input and
  dense kernels, orthogonal recurrent kernel, zero biases with forget-gate bias 1; Adam eps 1e-7.
- The dense layer has n + 1 outputs, as a Keras model over ids 0..n would: the padding class 0
  is never a target (its score only drops during training) and is masked (-inf) when scoring.
- `n_sample > 0` selects a sampled softmax (not in the thesis): each batch scores its own targets
  plus `n_sample` shared negatives drawn with probability proportional to popularity **
  `sample_alpha`, with the logQ correction and accidental hits removed. `diversity_sample > 0`
  estimates the regulariser on that many uniformly drawn rows, scaled by n(n-1)/(m(m-1)) so that
  its gradient is unbiased (the diagonal is constant); 0 computes it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from via.rec.data.protocol import validation_split
from via.rec.data.sessions import PrefixBatch, PrefixTargets, Sessions, all_prefixes
from via.rec.models.neural.common import (
    PopularitySampler,
    RowGradients,
    TorchSessionModel,
    TrainingProgress,
    catalog_scores,
    item_counts,
    left_aligned,
    matmul,
)

DIVERSITY_EPS = 1e-8


class _DiversityLoss(torch.autograd.Function):
    """sum_ij (u_i . u_j)^2 = ||U^T U||_F^2 with u_i = v_i / (|v_i| + eps), differentiated by hand.

    Forward: row norms, U, the d x d Gram matrix G. Backward: dL/dU = 4 U G, then through the
    normalisation dL/dv_i = (g_i - u_i (u_i . g_i) (|v_i| + eps) / |v_i|) / (|v_i| + eps). Two
    n x d x d products and a few passes over the n x d matrix; a zero row (padding) has u = 0,
    adds nothing and gets a zero gradient.
    """

    @staticmethod
    def forward(ctx, embeddings: torch.Tensor, eps: float) -> torch.Tensor:
        unit, norms, inverse, gram = _diversity_forward(embeddings, eps)
        ctx.save_for_backward(unit, norms, inverse, gram)
        return (gram * gram).sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        unit, norms, inverse, gram = ctx.saved_tensors
        return _diversity_backward(unit, norms, inverse, gram, 4.0 * grad), None


def _diversity_forward(embeddings: torch.Tensor, eps: float, unit: torch.Tensor | None = None):
    """(U, the row norms |v_i|, 1 / (|v_i| + eps), G = U^T U); U written into `unit` if given."""
    norms = torch.linalg.vector_norm(embeddings, dim=1, keepdim=True)
    inverse = (norms + eps).reciprocal_()
    unit = torch.mul(embeddings, inverse, out=unit) if unit is not None else embeddings * inverse
    return unit, norms, inverse, matmul(unit.T, unit)


_ROW_SLICE = 2048


def _diversity_backward(unit, norms, inverse, gram, factor, out: torch.Tensor | None = None):
    """`factor` times dL/dV from the forward's values (see `_DiversityLoss`), into `out` if
    given; the only n x d tensor it creates is U G, and not even that with `out`."""
    g = matmul(unit, gram, out=out)
    # u_i . g_i row by row, in slices: (unit * g).sum(1) would allocate another n x d tensor
    along = torch.empty_like(norms)
    for start in range(0, len(g), _ROW_SLICE):
        rows = slice(start, start + _ROW_SLICE)
        torch.linalg.vecdot(unit[rows], g[rows], dim=1, out=along[rows, 0])
    along.mul_(torch.where(norms > 0, 1.0 / (norms * inverse), 0.0))
    g.addcmul_(unit, along, value=-1.0)
    return g.mul_(inverse * factor)


def diversity_loss(embeddings: torch.Tensor, eps: float = DIVERSITY_EPS) -> torch.Tensor:
    """sum_ij S_ij^2, S the cosine similarities of the rows of `embeddings` (eqs. 3.9 to 3.11)."""
    return _DiversityLoss.apply(embeddings, eps)


def diversity_gradient(
    embeddings: torch.Tensor,
    eps: float = DIVERSITY_EPS,
    *,
    out: torch.Tensor | None = None,
    unit: torch.Tensor | None = None,
) -> torch.Tensor:
    """d(sum_ij S_ij^2)/d`embeddings`, what `diversity_loss`'s backward gives, without autograd
    and with the two n x d intermediates written into `unit` and `out` when given: for the
    whole embedding table (43k x 512 on Diginetica) a fresh 88 MB tensor has to be paged in by
    the kernel, and through autograd the regulariser made four of them a step. Returns `out`."""
    unit, norms, inverse, gram = _diversity_forward(embeddings, eps, unit)
    return _diversity_backward(unit, norms, inverse, gram, 4.0, out=out)


# exp(-87.3) is float32's smallest normal number; a row's log-sum-exp exceeds its maximum by at
# most log(n + 1) (11 for 43k items, 17 for 36 million), so a gap under 70 keeps p_y normal
_UNDERFLOW_GAP = 70.0


def _softmax_cross_entropy(hidden, weight, bias, targets, logits) -> torch.Tensor:
    """The mean cross-entropy of softmax(h W^T + c) (eqs. 3.5, 3.6); `logits` ((batch, n + 1),
    a reused buffer) is left holding the probabilities. A row's loss is -log p_y, read off the
    probabilities (no pass over the matrix for it); where p_y could underflow in float32 (the
    target's logit more than `_UNDERFLOW_GAP` below the row's maximum m) it is
    m - log(max p) - x_y instead, the same value without the underflow (max p >= 1 / (n + 1))."""
    matmul(hidden, weight.T, out=logits).add_(bias)
    top = logits.amax(dim=1)
    target_logit = logits.gather(1, targets[:, None]).squeeze(1)
    torch.ops.aten._softmax.out(logits, 1, False, out=logits)
    loss = logits.gather(1, targets[:, None]).squeeze(1).log().neg_()
    far = (top - target_logit > _UNDERFLOW_GAP).nonzero().squeeze(1)
    if len(far):
        loss[far] = top[far] - logits[far].amax(dim=1).log() - target_logit[far]
    return loss.mean()


def _column_sums(matrix: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """`matrix.sum(dim=0)` (into `out` if given) as a matrix-vector product: 3.3 against 9.5 ms
    for 512 x 43,099 floats, one thread, AMD EPYC (torch's column reduction is slower)."""
    ones = matrix.new_ones(len(matrix))
    return torch.mv(matrix.T, ones) if out is None else torch.mv(matrix.T, ones, out=out)


def _softmax_cross_entropy_delta(probabilities, targets) -> torch.Tensor:
    """p - onehot(y), in place in the probabilities: d loss / d logits up to the factor
    scale / batch, which the callers apply to the small products' inputs or results instead of
    to this (batch, n + 1) matrix (one pass over it fewer)."""
    probabilities[torch.arange(len(targets), device=probabilities.device), targets] -= 1.0
    return probabilities


class _LinearCrossEntropy(torch.autograd.Function):
    """mean_b -log softmax(h_b W^T + c)[y_b] (eqs. 3.5, 3.6), fused, differentiated by hand.

    Forward: the (batch, n + 1) logits, written into `workspace` (a buffer reused from step to
    step: no fresh 88 MB a step to page in) and turned into probabilities in place. Backward:
    p - onehot(y) in the same buffer, then the three products, the factor grad / batch applied to
    their small operands or results. Same values as
    `F.cross_entropy(F.linear(h, W, c), y)` with three fewer passes over the logits and no
    allocation of them; the backward may run only once per forward. (Training does the same
    without autograd for the output layer: `ThesisLSTM._full_softmax_step`.)
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, workspace):
        x = workspace[: len(hidden) * len(weight)].view(len(hidden), len(weight))
        loss = _softmax_cross_entropy(hidden, weight, bias, targets, x)
        ctx.save_for_backward(hidden, weight, targets, x)
        return loss

    @staticmethod
    def backward(ctx, grad):
        hidden, weight, targets, x = ctx.saved_tensors
        x = _softmax_cross_entropy_delta(x, targets)
        factor = float(grad) / len(targets)
        return (
            matmul(x, weight).mul_(factor),
            matmul(x.T, hidden * factor),
            _column_sums(x).mul_(factor),
            None,
            None,
        )


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    targets: torch.Tensor,
    workspace: torch.Tensor | None = None,
) -> torch.Tensor:
    """`F.cross_entropy(F.linear(hidden, weight, bias), targets)`, fused (full softmax).

    `workspace`, at least len(hidden) x len(weight) floats, holds the logits; it is overwritten
    and must not be used again before this loss's backward has run."""
    if workspace is None:
        workspace = hidden.new_empty(len(hidden) * len(weight))
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, workspace)


class _PackedLSTM(torch.autograd.Function):
    """One LSTM layer over packed sequences (longest first), returning each one's last state.

    The same function as `nn.LSTM` (gate order i, f, g, o; zero initial state), with
    backpropagation through time written by hand: the input projections of all clicks are one
    product, the loop over time steps touches only the rows still running, and the weight
    gradients are one product each at the end. Those four large products run in `matmul`, in the
    BLAS `cpu_blas()` picks for the CPU: in NumPy's OpenBLAS on AMD EPYC, 125 against 159 ms a
    step in torch's kernel for 2,000 clicks, one thread. (PyTorch's CPU LSTM on packed input
    builds a zero-filled gradient of the whole input for every time step.)
    """

    @staticmethod
    def forward(ctx, x, batch_sizes, weight_ih, weight_hh, bias_ih, bias_hh):
        sizes = batch_sizes.tolist()
        units = weight_hh.shape[1]
        gates = matmul(x, weight_ih.T).add_(bias_ih + bias_hh)  # (clicks, 4 units), in place
        h = x.new_zeros(sizes[0], units)
        c = torch.zeros_like(h)
        h_before, c_before, c_after = (x.new_empty(len(x), units) for _ in range(3))
        start = 0
        for size in sizes:
            rows = slice(start, start + size)
            step = gates[rows].addmm_(h[:size], weight_hh.T)
            step[:, : 2 * units].sigmoid_()
            step[:, 2 * units : 3 * units].tanh_()
            step[:, 3 * units :].sigmoid_()
            i, f, g, o = step.split(units, dim=1)
            h_before[rows], c_before[rows] = h[:size], c[:size]
            c[:size] = f * c[:size] + i * g
            c_after[rows] = c[:size]
            h[:size] = o * torch.tanh(c[:size])
            start += size
        ctx.sizes = sizes
        ctx.save_for_backward(x, weight_ih, weight_hh, gates, h_before, c_before, c_after)
        return h

    @staticmethod
    def backward(ctx, grad_h):
        x, weight_ih, weight_hh, gates, h_before, c_before, c_after = ctx.saved_tensors
        units = weight_hh.shape[1]
        dh, dc = grad_h.clone(), torch.zeros_like(grad_h)
        d_gates = torch.empty_like(gates)
        end = len(x)
        for size in reversed(ctx.sizes):
            rows = slice(end - size, end)
            i, f, g, o = gates[rows].split(units, dim=1)
            tanh_c = torch.tanh(c_after[rows])
            dh_t = dh[:size]
            dc_t = dc[:size].addcmul_(dh_t * o, 1 - tanh_c * tanh_c)
            di, df, dg, do = d_gates[rows].split(units, dim=1)
            torch.mul(dc_t * g, i * (1 - i), out=di)
            torch.mul(dc_t * c_before[rows], f * (1 - f), out=df)
            torch.mul(dc_t * i, 1 - g * g, out=dg)
            torch.mul(dh_t * tanh_c, o * (1 - o), out=do)
            dc_t.mul_(f)
            torch.mm(d_gates[rows], weight_hh, out=dh_t)
            end -= size
        d_bias = d_gates.sum(dim=0)
        return (
            matmul(d_gates, weight_ih),
            None,
            matmul(d_gates.T, x),
            matmul(d_gates.T, h_before),
            d_bias,
            d_bias,
        )


class _LSTMNet(nn.Module):
    def __init__(self, n_items: int, embedding_dim: int, hidden_units: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(n_items + 1, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_units, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        # row i scores item i; row 0 is the padding class, never a target, masked when scoring
        self.output = nn.Linear(hidden_units, n_items + 1)
        self._keras_init()

    @torch.no_grad()
    def _keras_init(self) -> None:
        nn.init.uniform_(self.embedding.weight, -0.05, 0.05)
        self.embedding.weight[0].zero_()
        units = self.lstm.hidden_size
        nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
        nn.init.orthogonal_(self.lstm.weight_hh_l0)  # Keras: one orthogonal (units, 4 units)
        nn.init.zeros_(self.lstm.bias_ih_l0)
        nn.init.zeros_(self.lstm.bias_hh_l0)
        self.lstm.bias_ih_l0[units : 2 * units] = 1.0  # gate order i, f, g, o: forget bias 1
        nn.init.xavier_uniform_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def encode(
        self, padded: torch.Tensor, lengths: torch.Tensor, rows: RowGradients | None = None
    ) -> torch.Tensor:
        """h_T for left-aligned padded prefixes: the state after each prefix's last click.

        In training, `rows` looks the embeddings up through gathered rows (same values, a
        gradient for the touched rows only)."""
        ids, batch_sizes, _order, unorder = _packed_ids(padded, lengths)
        x = self.embedding(ids) if rows is None else rows.lookup(self.embedding.weight, ids)
        lstm = self.lstm
        h = _PackedLSTM.apply(
            x, batch_sizes, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0
        )
        return h.index_select(0, unorder)


def _packed_ids(padded: torch.Tensor, lengths: torch.Tensor):
    """The real clicks of left-aligned padded prefixes in packed-sequence order.

    Returns what `pack_padded_sequence(embedding(padded), lengths, enforce_sorted=False)` would
    hold, but as item ids, so that only the real clicks are looked up (and get gradients):
    (ids, batch sizes per step, the longest-first order of the prefixes, its inverse)."""
    sorted_lengths, order = torch.sort(lengths, descending=True)
    steps = torch.arange(int(sorted_lengths[0]))
    real = steps[:, None] < sorted_lengths[None, :]  # (T, B): a prefix of each row is True
    order = order.to(padded.device)
    ids = padded[order, : len(steps)].T[real.to(padded.device)]
    unorder = torch.empty_like(order)
    unorder[order] = torch.arange(len(order), device=order.device)
    return ids, real.sum(dim=1), order, unorder


@dataclass
class _LSTMData:
    train: PrefixTargets
    valid: PrefixTargets | None
    sampler: PopularitySampler | None


def _prefix_tensors(prefixes: PrefixBatch, device: torch.device):
    """Left-aligned padded ids and lengths for packing (an empty prefix is one padding click)."""
    padded, lengths = left_aligned(prefixes, device)
    return padded, torch.from_numpy(np.maximum(lengths, 1))


class ThesisLSTM(TorchSessionModel):
    """Embedding 512 -> LSTM 300 -> dropout 0.7 -> softmax over all items (thesis section 3.3)."""

    name = "lstm"
    throughput_unit = "prefixes"

    def __init__(
        self,
        *,
        embedding_dim: int = 512,
        hidden_units: int = 300,
        dropout: float = 0.7,
        learning_rate: float = 0.001,
        decay_rate: float = 0.9,
        decay_steps: int = 1000,
        diversity_weight: float = 1e-6,
        diversity_sample: int = 0,
        diversity_every: int = 1,
        batch_size: int = 512,
        n_epochs: int = 16,
        patience: int = 5,
        valid_fraction: float = 0.1,
        max_length: int | None = None,
        n_sample: int = 0,
        sample_alpha: float = 0.75,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = True,
    ):
        super().__init__(seed=seed, device=device, verbose=verbose)
        if diversity_every < 1:
            raise ValueError(f"diversity_every must be >= 1, got {diversity_every}")
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.learning_rate = learning_rate
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps
        self.diversity_weight = diversity_weight
        self.diversity_sample = diversity_sample
        self.diversity_every = diversity_every
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.patience = patience
        self.valid_fraction = valid_fraction
        self.max_length = max_length
        self.n_sample = n_sample
        self.sample_alpha = sample_alpha

    def _build_module(self) -> nn.Module:
        return _LSTMNet(self.n_items, self.embedding_dim, self.hidden_units, self.dropout)

    def _prepare(self, train: Sessions, valid: Sessions | None) -> _LSTMData:
        if valid is None and self.valid_fraction > 0:
            train, valid = validation_split(train, self.valid_fraction)
        sampler = None
        if self.n_sample > 0:
            sampler = PopularitySampler(item_counts(train, self.n_items), self.sample_alpha)
        valid_cases = all_prefixes(valid, self.max_length) if valid is not None else None
        if valid_cases is not None and len(valid_cases) == 0:
            valid_cases = None
        return _LSTMData(all_prefixes(train, self.max_length), valid_cases, sampler)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        fused = next(self.module.parameters()).device.type in ("cpu", "cuda")
        return torch.optim.Adam(
            self.module.parameters(), lr=self.learning_rate, eps=1e-7, fused=fused
        )

    def _sampled_regulariser(self, rng: np.random.Generator, rows: RowGradients) -> torch.Tensor:
        table = self.module.embedding.weight
        n, m = self.n_items, self.diversity_sample
        ids = torch.from_numpy(rng.choice(n, size=m, replace=False) + 1).to(table.device)
        sample, _ = rows.gather(table, ids)  # distinct ids: the rows, in sorted order
        return diversity_loss(sample) * (n * (n - 1) / (m * (m - 1)))

    def _regulariser_gradient(self) -> torch.Tensor:
        """lambda * d(sum_ij S_ij^2)/dE over the whole embedding table, exactly, into two
        table-sized buffers kept for the epoch (recomputed in place every time)."""
        # the padding row is zero: the whole table gives the sum over items 1..n
        table = self.module.embedding.weight.detach()
        buffers = getattr(self, "_diversity_buffers", None)
        if buffers is None or buffers[0].shape != table.shape:
            buffers = (torch.empty_like(table), torch.empty_like(table))
            self._diversity_buffers = buffers
        gradient = diversity_gradient(table, out=buffers[0], unit=buffers[1])
        return gradient.mul_(self.diversity_weight)

    def _full_softmax_step(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The full-softmax loss; its gradients written straight into the output layer's
        `.grad` (overwritten, never accumulated: no zero-filling of the 43k x 300 table a step)
        and back-propagated from `hidden` into the network below."""
        output = self.module.output
        weight, bias = output.weight, output.bias
        logits = self._logits_workspace[: len(hidden) * len(weight)].view(len(hidden), len(weight))
        h = hidden.detach()
        loss = _softmax_cross_entropy(h, weight.detach(), bias.detach(), targets, logits)
        delta = _softmax_cross_entropy_delta(logits, targets)  # (p - onehot), unscaled
        factor = 1.0 / len(targets)  # d mean / d loss_b, applied to the small operands
        for parameter in (weight, bias):
            if parameter.grad is None:
                parameter.grad = torch.empty_like(parameter)
        matmul(delta.T, h * factor, out=weight.grad)
        _column_sums(delta, out=bias.grad).mul_(factor)
        hidden.backward(matmul(delta, weight.detach()).mul_(factor))
        return loss

    def _sampled_loss(self, hidden, targets, rng, sampler, rows: RowGradients) -> torch.Tensor:
        """Cross-entropy of the next items over the targets and shared sampled negatives, with
        the logQ correction and accidental hits removed."""
        negatives = torch.from_numpy(sampler.sample(rng, self.n_sample)).to(targets.device)
        columns = torch.cat([targets, negatives])
        output = self.module.output
        weight, bias = rows.lookup(output.weight, columns), rows.lookup(output.bias, columns)
        logits = F.linear(hidden, weight, bias)
        logits = logits - sampler.log_q(columns, len(targets))
        rows = torch.arange(len(targets), device=targets.device)
        accidental = columns[None, :] == targets[:, None]
        accidental[rows, rows] = False
        return F.cross_entropy(logits.masked_fill(accidental, float("-inf")), rows)

    def _train_epoch(
        self, data: _LSTMData, optimizer, rng: np.random.Generator, progress: TrainingProgress
    ) -> tuple[float, int]:
        device = next(self.module.parameters()).device
        cases = data.train
        order = rng.permutation(len(cases))
        total, count = 0.0, 0
        sampled_regulariser = 0 < self.diversity_sample < self.n_items
        exact = self.diversity_weight > 0 and not sampled_regulariser
        module = self.module
        embedding, output = module.embedding.weight, module.output
        # Gradients stay allocated for the epoch and are never zero-filled whole a step: the
        # output layer's are overwritten (full softmax), an item table's rows are added by
        # `RowGradients` and only the rows the previous step wrote are zeroed again, the
        # embedding's are overwritten by the exact regulariser's when there is one.
        tables = [embedding, output.weight, output.bias]
        others = [p for p in module.parameters() if all(p is not t for t in tables)]
        for table in tables:
            if table.grad is None:
                table.grad = torch.zeros_like(table)
            else:
                table.grad.zero_()
        written: list[tuple[torch.Tensor, torch.Tensor]] = []
        if data.sampler is None:  # one logits buffer for the epoch's steps
            self._logits_workspace = torch.empty(
                self.batch_size * (self.n_items + 1), device=device
            )
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            chosen = cases.prefixes.sessions.select(index)
            padded, lengths = _prefix_tensors(PrefixBatch(chosen.items, chosen.offsets), device)
            targets = torch.from_numpy(cases.targets[index].astype(np.int64)).to(device)
            lr = self.learning_rate * self.decay_rate ** (progress.step / self.decay_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            for parameter in others:
                if parameter.grad is not None:
                    parameter.grad.zero_()
            for table, rows_written in written:
                table.grad.index_fill_(0, rows_written, 0.0)
            if exact:
                # recomputed every `diversity_every` steps and at the start of every epoch (a
                # resumed run recomputes where the uninterrupted one did), reused in between;
                # it overwrites the whole embedding gradient, the rows' gradients add to it
                if start == 0 or progress.step % self.diversity_every == 0:
                    regulariser_grad = self._regulariser_gradient()
                embedding.grad.copy_(regulariser_grad)
            rows = RowGradients()
            hidden = module.dropout(module.encode(padded, lengths, rows))
            if data.sampler is None:
                loss = self._full_softmax_step(hidden, targets)
            else:
                loss = self._sampled_loss(hidden, targets, rng, data.sampler, rows)
                objective = loss
                if self.diversity_weight > 0 and sampled_regulariser:
                    objective = loss + self.diversity_weight * self._sampled_regulariser(rng, rows)
                objective.backward()
            rows.publish_dense()
            written = [(table, rows_written) for table, _, rows_written in rows.gathered
                       if not (exact and table is embedding)]
            optimizer.step()
            progress.step += 1
            total += loss.item() * len(index)
            count += len(index)
        self._logits_workspace = self._diversity_buffers = None
        return total / max(count, 1), count

    def _validation_loss(self, data: _LSTMData) -> float | None:
        if data.valid is None:
            return None
        device = next(self.module.parameters()).device
        total = 0.0
        with torch.inference_mode():
            for start in range(0, len(data.valid), 1024):
                prefixes, targets = data.valid.batch(start, min(start + 1024, len(data.valid)))
                hidden = self.module.encode(*_prefix_tensors(prefixes, device))
                logits = self.module.output(hidden)
                target = torch.from_numpy(targets.astype(np.int64)).to(device)
                total += float(F.cross_entropy(logits, target, reduction="sum"))
        return total / len(data.valid)

    def _score_batch(self, prefixes: PrefixBatch, device: torch.device) -> np.ndarray:
        if len(prefixes) == 0:
            return np.empty((0, self.n_items + 1), dtype=np.float32)
        if self.max_length is not None:
            prefixes = _keep_recent(prefixes, self.max_length)
        net = self.module
        state = net.encode(*_prefix_tensors(prefixes, device))
        return catalog_scores(state, net.output.weight, net.output.bias)


def _keep_recent(prefixes: PrefixBatch, max_length: int) -> PrefixBatch:
    """Each prefix cut to its `max_length` most recent clicks (the T of equation 3.2)."""
    lengths = prefixes.lengths
    keep = np.minimum(lengths, max_length)
    position = np.arange(len(prefixes.items)) - np.repeat(prefixes.offsets[:-1], lengths)
    recent = position >= np.repeat(lengths - keep, lengths)
    kept = prefixes.sessions.filter_clicks(recent)
    return PrefixBatch(kept.items, kept.offsets)
