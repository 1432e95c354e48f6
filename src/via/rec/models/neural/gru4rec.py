"""GRU4Rec: Hidasi et al., "Session-based Recommendations with Recurrent Neural Networks"
(ICLR 2016) and Hidasi & Karatzoglou, "Recurrent Neural Networks with Top-k Gains for
Session-based Recommendations" (CIKM 2018), as the authors' official PyTorch implementation
(github.com/hidasib/GRU4Rec_PyTorch_Official, read, not copied) documents and does it.

What it implements:
- Session-parallel mini-batches (2016, section 3.1.1): `batch_size` sessions side by side in
  training-file order (time order); each step feeds every slot's current click and asks for its
  next one; a finished session's slot takes the next session with its hidden state reset to zero;
  when no session is left the batch shrinks. Gradients do not flow across steps (the hidden state
  is detached after every step, as in the official code).
- Shared negative samples (2018, section 3.1): the scores of each step cover the mini-batch's own
  targets plus `n_sample` items drawn once per step with probability proportional to
  popularity ** `sample_alpha`.
- Losses: `cross-entropy` over the softmax of those scores, with the logQ correction
  (`logq` times the log sampling probability subtracted: popularity for the mini-batch targets,
  popularity ** alpha for the sampled ones); `bpr-max` (2018, equation 11 with the score
  regularisation of section 3.2, weight `bpreg`) over ELU(`elu_param`) scores (linear if 0).
  The loss of a step is the sum over its sessions divided by `batch_size`.
- Constrained embeddings: with `constrained_embedding`, the input embedding of an item is its row
  of the output weight matrix Wy (so the last layer's size is the embedding size); otherwise a
  separate embedding of size `embedding`.
- GRU layers `layers` with dropout `dropout_p_embed` on the input embedding and
  `dropout_p_hidden` on every layer's output; as in the official code the dropped-out output is
  also the hidden state carried to the next step.
- Adagrad with momentum (the official `IndexedAdagradM`): acc += g^2;
  m = momentum * m - lr * g / sqrt(acc + 1e-6); w += m. The item matrices (Wy, By, E) get sparse
  gradients, and only their rows touched in a step are updated (accumulator and momentum
  included).
- Initialisation as the official compatibility mode: every gate block and item matrix
  U(-s, s) with s = sqrt(6 / (fan_in + fan_out)), biases zero.
- Scoring a prefix runs the GRU over its clicks from a zero state and scores every item by
  h . Wy_i + By_i (the ELU is monotonic and is left out of scoring, as in the official code).

Defaults are the official class defaults; the published best settings of the official
`paramfiles/` for Diginetica and Yoochoose live in `via.rec.models.presets` (the `published`
preset, which `via rec benchmark` applies) and `GRU4Rec.from_preset("diginetica")`. Our
yoochoose1_64 is the SR-GNN preprocessing of RSC15 (no deduplication); the official
"Yoochoose" settings were tuned on a deduplicated version, so they may not be optimal here.

Departures: the official one-hot input mode (`embedding=0` with `constrained_embedding=False`)
is not implemented and is refused; validation sessions passed to `fit` are not used (GRU4Rec
trains for a fixed number of epochs); negative samples come from NumPy's generator seeded per
epoch instead of a pre-generated GPU sample cache (the same distribution); the cross-entropy is
computed with log-softmax rather than log(softmax + 1e-24).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models.neural.common import (
    PopularitySampler,
    RowGradients,
    TorchSessionModel,
    TrainingProgress,
    catalog_scores,
    item_counts,
    left_aligned,
)
from via.rec.models.presets import preset_params

LOSSES = ("cross-entropy", "bpr-max")


def _glorot_blocks(tensor: torch.Tensor, blocks: int = 1) -> None:
    """U(-s, s), s = sqrt(6 / (fan_in + fan_out)) of each of `blocks` stacked gate matrices."""
    rows, cols = tensor.shape
    bound = math.sqrt(6.0 / (rows / blocks + cols))
    nn.init.uniform_(tensor, -bound, bound)


class _GRU4RecNet(nn.Module):
    def __init__(self, n_items: int, layers: list[int], embedding: int, constrained: bool):
        super().__init__()
        if not constrained and embedding <= 0:
            raise ValueError(
                "one-hot input (embedding=0 with constrained_embedding=False) is not implemented;"
                " use constrained_embedding=True or embedding > 0"
            )
        rows = n_items + 1  # row 0 is padding, never scored
        self.constrained = constrained
        self.Wy = nn.Parameter(torch.empty(rows, layers[-1]))
        self.By = nn.Parameter(torch.zeros(rows, 1))
        self.E = None if constrained else nn.Parameter(torch.empty(rows, embedding))
        n_input = layers[-1] if constrained else embedding
        sizes = [n_input, *layers]
        self.cells = nn.ModuleList(nn.GRUCell(sizes[i], sizes[i + 1]) for i in range(len(layers)))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        _glorot_blocks(self.Wy)
        nn.init.zeros_(self.By)
        if self.E is not None:
            _glorot_blocks(self.E)
        for cell in self.cells:
            _glorot_blocks(cell.weight_ih, blocks=3)
            _glorot_blocks(cell.weight_hh, blocks=3)
            nn.init.zeros_(cell.bias_ih)
            nn.init.zeros_(cell.bias_hh)

    def embed(self, items: torch.Tensor) -> torch.Tensor:
        return F.embedding(items, self.Wy if self.constrained else self.E)

    def train_step(self, items, columns, hidden, dropout_embed, dropout_hidden):
        """Scores (batch, len(columns)) of one session-parallel step; updates `hidden` in place.

        The item tables take part only through the rows the step touches, gathered once into
        small leaf tensors; `RowGradients.publish_sparse` turns their gradients into the tables'
        row-sparse gradients after backward. The output product runs over the gathered rows
        themselves and its columns are then picked as `columns` asks: the same scores (and the
        same gradients, summed over repeated columns) without copying Wy's rows once per column.
        """
        rows = RowGradients()
        n_in = len(items)
        if self.constrained:  # one gather, so an item used as input and output is one row
            local, inverse = rows.gather(self.Wy, torch.cat([items, columns]))
            x = local.index_select(0, inverse[:n_in])
            out, where = local, inverse[n_in:]
        else:
            local, inverse = rows.gather(self.E, items)
            x = local.index_select(0, inverse)
            out, where = rows.gather(self.Wy, columns)
        local, inverse = rows.gather(self.By, columns)
        bias = local.index_select(0, inverse)
        x = F.dropout(x, dropout_embed, training=True)
        for i, cell in enumerate(self.cells):
            x = F.dropout(cell(x, hidden[i]), dropout_hidden, training=True)
            hidden[i] = x
        return torch.mm(x, out.T).index_select(1, where).add_(bias.T), rows

    def final_state(self, padded: torch.Tensor, lengths: np.ndarray) -> torch.Tensor:
        """The last layer's state after the clicks of left-aligned padded prefixes (inference).

        Prefixes run longest first, so step t updates only the rows still going: the cost is
        the number of clicks, not batch x longest prefix.
        """
        order = np.argsort(-lengths, kind="stable")
        ids = padded[torch.from_numpy(order).to(padded.device)]
        active = (lengths[order][None, :] > np.arange(padded.shape[1])[:, None]).sum(axis=1)
        hidden = [
            ids.new_zeros((len(order), c.hidden_size), dtype=torch.float32) for c in self.cells
        ]
        for t, rows in enumerate(active.tolist()):
            x = self.embed(ids[:rows, t])
            for i, cell in enumerate(self.cells):
                x = cell(x, hidden[i][:rows])
                hidden[i][:rows] = x
        state = torch.empty_like(hidden[-1])
        state[torch.from_numpy(order).to(padded.device)] = hidden[-1]
        return state


class AdagradMomentum:
    """Adagrad with momentum over dense and row-sparse gradients (the official IndexedAdagradM)."""

    def __init__(self, params: list[nn.Parameter], lr: float, momentum: float, eps: float = 1e-6):
        self.params, self.lr, self.momentum, self.eps = list(params), lr, momentum, eps
        self.acc = [torch.zeros_like(p) for p in self.params]
        self.mom = [torch.zeros_like(p) for p in self.params] if momentum > 0 else []

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for k, p in enumerate(self.params):
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                grad = p.grad.coalesce()  # a no-op for RowGradients' gradients
                rows, values = grad.indices()[0], grad.values()
                acc = self.acc[k].index_select(0, rows).addcmul_(values, values)
                self.acc[k].index_copy_(0, rows, acc)
                scale = acc.add_(self.eps).rsqrt_()
                if self.momentum > 0:
                    update = self.mom[k].index_select(0, rows).mul_(self.momentum)
                    update.addcmul_(values, scale, value=-self.lr)
                    self.mom[k].index_copy_(0, rows, update)
                else:
                    update = scale.mul_(values).mul_(-self.lr)
                p.index_add_(0, rows, update)
            else:
                scale = self.acc[k].addcmul_(p.grad, p.grad).add(self.eps).rsqrt_()
                if self.momentum > 0:
                    self.mom[k].mul_(self.momentum).addcmul_(p.grad, scale, value=-self.lr)
                    p.add_(self.mom[k])
                else:
                    p.addcmul_(p.grad, scale, value=-self.lr)

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        return {"acc": self.acc, "mom": self.mom}

    def load_state_dict(self, state: dict[str, list[torch.Tensor]]) -> None:
        for mine, saved in ((self.acc, state["acc"]), (self.mom, state["mom"])):
            if len(mine) != len(saved):
                raise ValueError("optimizer state does not match the model's parameters")
            for tensor, value in zip(mine, saved, strict=True):
                tensor.copy_(value)


def session_parallel_steps(
    sessions: Sessions, batch_size: int, min_batch: int = 1
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]]:
    """Yield (clicks, next clicks, keep, reset) for every session-parallel step.

    Before a step, the caller keeps the hidden-state rows `keep` (None = all; slots whose session
    ended when no session was left are dropped) and then zeroes the rows `reset` (slots that start
    a new session). Iteration stops when fewer than `min_batch` slots remain.
    """
    offsets, items = sessions.offsets, sessions.items
    queue = np.flatnonzero(sessions.lengths >= 2)
    slots = min(batch_size, len(queue))
    position = offsets[queue[:slots]].copy()
    end = offsets[queue[:slots] + 1].copy()
    next_session = slots
    keep, reset = None, np.ones(slots, dtype=bool)
    while len(position) >= max(min_batch, 1):
        yield items[position], items[position + 1], keep, reset
        position += 1
        finished = np.flatnonzero(position + 1 >= end)
        keep, reset = None, np.zeros(len(position), dtype=bool)
        if len(finished) == 0:
            continue
        refill = finished[: len(queue) - next_session]
        new = queue[next_session : next_session + len(refill)]
        next_session += len(refill)
        position[refill], end[refill], reset[refill] = offsets[new], offsets[new + 1], True
        dropped = finished[len(refill) :]
        if len(dropped):
            keep = np.setdiff1d(np.arange(len(position)), dropped)
            position, end, reset = position[keep], end[keep], reset[keep]


@dataclass
class _GRU4RecData:
    train: Sessions
    sampler: PopularitySampler | None


class GRU4Rec(TorchSessionModel):
    """GRU4Rec with session-parallel mini-batches, shared negatives and BPR-max / XE + logQ."""

    name = "gru4rec"
    throughput_unit = "events"

    def __init__(
        self,
        *,
        layers: list[int] | tuple[int, ...] = (100,),
        loss: str = "cross-entropy",
        batch_size: int = 64,
        dropout_p_embed: float = 0.0,
        dropout_p_hidden: float = 0.0,
        learning_rate: float = 0.05,
        momentum: float = 0.0,
        sample_alpha: float = 0.5,
        n_sample: int = 2048,
        embedding: int = 0,
        constrained_embedding: bool = True,
        n_epochs: int = 10,
        bpreg: float = 1.0,
        elu_param: float = 0.5,
        logq: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = True,
    ):
        super().__init__(seed=seed, device=device, verbose=verbose)
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        if not layers or any(int(size) <= 0 for size in layers):
            raise ValueError(f"layers must be a non-empty list of positive sizes, got {layers!r}")
        self.layers = [int(size) for size in layers]
        self.loss = loss
        self.batch_size = batch_size
        self.dropout_p_embed = dropout_p_embed
        self.dropout_p_hidden = dropout_p_hidden
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.sample_alpha = sample_alpha
        self.n_sample = n_sample
        self.embedding = embedding
        self.constrained_embedding = constrained_embedding
        self.n_epochs = n_epochs
        self.bpreg = bpreg
        self.elu_param = elu_param
        self.logq = logq

    @classmethod
    def from_preset(cls, dataset: str, **overrides) -> GRU4Rec:
        """The official best hyperparameters for a data set (`diginetica`, `yoochoose1_64`), as
        kept in `via.rec.models.presets`, plus overrides."""
        params = preset_params("published", dataset, cls.name)
        if not params:
            raise ValueError(f"no published GRU4Rec hyperparameters for {dataset!r}")
        return cls(**{**params, **overrides})

    def _build_module(self) -> nn.Module:
        return _GRU4RecNet(self.n_items, self.layers, self.embedding, self.constrained_embedding)

    def _prepare(self, train: Sessions, valid: Sessions | None) -> _GRU4RecData:
        sampler = None
        if self.n_sample > 0 or (self.loss == "cross-entropy" and self.logq > 0):
            sampler = PopularitySampler(item_counts(train, self.n_items), self.sample_alpha)
        return _GRU4RecData(train, sampler)

    def _make_optimizer(self) -> AdagradMomentum:
        return AdagradMomentum(list(self.module.parameters()), self.learning_rate, self.momentum)

    def _step_loss(self, scores: torch.Tensor, columns: torch.Tensor, sampler) -> torch.Tensor:
        """Summed loss of one step; column i < batch is session i's target."""
        batch = scores.shape[0]
        diagonal = torch.arange(batch, device=scores.device)
        if self.loss == "cross-entropy":
            if self.logq > 0:
                scores = scores - self.logq * sampler.log_q(columns, batch)
            return -torch.log_softmax(scores, dim=1)[diagonal, diagonal].sum()
        if self.elu_param > 0:
            scores = F.elu(scores, self.elu_param)
        target = scores[diagonal, diagonal].unsqueeze(1)
        is_target = torch.zeros_like(scores, dtype=torch.bool)
        is_target[diagonal, diagonal] = True
        negative_weight = torch.softmax(scores.masked_fill(is_target, float("-inf")), dim=1)
        ranking = torch.sum(torch.sigmoid(target - scores) * negative_weight, dim=1)
        regulariser = torch.sum(scores * scores * negative_weight, dim=1)
        return torch.sum(-torch.log(ranking + 1e-24) + self.bpreg * regulariser)

    def _train_epoch(
        self, data: _GRU4RecData, optimizer, rng: np.random.Generator, progress: TrainingProgress
    ) -> tuple[float, int]:
        device = next(self.module.parameters()).device
        hidden = [torch.zeros((self.batch_size, size), device=device) for size in self.layers]
        total, events = 0.0, 0
        # with mini-batch negatives only, a single session has nothing to rank against
        min_batch = 1 if self.n_sample > 0 else 2
        for clicks, targets, keep, reset in session_parallel_steps(
            data.train, self.batch_size, min_batch
        ):
            if keep is not None:
                rows = torch.from_numpy(keep).to(device)
                hidden = [h[rows] for h in hidden]
            hidden = [h[: len(clicks)] for h in hidden]
            if reset.any():
                fresh = torch.from_numpy(reset).to(device).unsqueeze(1)
                hidden = [h.masked_fill(fresh, 0.0) for h in hidden]
            columns = torch.from_numpy(targets.astype(np.int64)).to(device)
            if self.n_sample > 0:
                negatives = data.sampler.sample(rng, self.n_sample)
                columns = torch.cat([columns, torch.from_numpy(negatives).to(device)])
            items = torch.from_numpy(clicks.astype(np.int64)).to(device)
            scores, rows = self.module.train_step(
                items, columns, hidden, self.dropout_p_embed, self.dropout_p_hidden
            )
            loss = self._step_loss(scores, columns, data.sampler) / self.batch_size
            optimizer.zero_grad()
            loss.backward()
            rows.publish_sparse()
            optimizer.step()
            hidden = [h.detach() for h in hidden]
            progress.step += 1
            total += loss.item() * self.batch_size
            events += len(clicks)
        return total / max(events, 1), events

    def _score_batch(self, prefixes: PrefixBatch, device: torch.device) -> np.ndarray:
        net = self.module
        if len(prefixes) == 0:
            return np.empty((0, self.n_items + 1), dtype=np.float32)
        state = net.final_state(*left_aligned(prefixes, device))
        return catalog_scores(state, net.Wy, net.By[:, 0])
