"""The shared trainer of the neural session models that read a whole prefix at once (NARM,
STAMP, SR-GNN, VIANet): prefix augmentation, full-softmax cross-entropy, Adam with step decay,
validation-based epoch choice and one-matmul batched scoring.

A model family provides a `SessionEncoder`: a module with `item_embedding`
(`nn.Embedding(n_items + 1, d, padding_idx=0)`), `forward(items, lengths) -> (B, d)` over
left-aligned, 0-padded prefixes (oldest click first), and `item_matrix() -> (n_items + 1, d)`,
the matrix scores are taken against (the item embeddings unless the encoder overrides it). The
model class implements `_build_encoder`; everything else lives here:

- Training cases are every prefix of every training session with the click that follows it
  (Tan et al. 2016), each prefix cut to its `max_length` most recent clicks, shuffled every epoch
  and padded per mini-batch to the batch's longest prefix.
- The loss is the softmax cross-entropy over all items 1..n (`n_sample=0`), or over the batch's
  own targets plus `n_sample` shared negatives drawn by popularity ** `sample_alpha`, with the
  logQ correction (as GRU4Rec's sampled softmax, for catalogs where the full softmax is too slow).
- Adam with L2 `weight_decay`; the learning rate is `learning_rate * lr_decay ** k` in epoch
  `k * lr_decay_epochs + 1 ...` (the step decay of SR-GNN and its successors); gradient norm
  clipped to `clip_norm` when positive.
- Validation: `fit(train)` without validation sessions cuts the last `valid_fraction` of the
  training sessions (time order) off as its validation split (`validation_split`: clicks on items
  the rest never shows are dropped, as for the test set); `valid_fraction=0` trains on all.
- With validation sessions, every epoch scores all their prefixes against the whole catalog and
  records the cross-entropy (`valid_loss`) and `valid_hr20` / `valid_mrr20`; the epoch with the
  best `select_on` criterion is kept (its weights are restored after training) and `patience`
  epochs without improvement stop training.
- Scoring: `encoder(prefixes) @ item_matrix().T` in `torch.inference_mode`, one batch at a time,
  no per-prefix Python code; an empty prefix scores every item 0.
"""

from __future__ import annotations

import inspect
from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from via.rec.data.protocol import validation_split
from via.rec.data.sessions import PrefixBatch, PrefixTargets, Sessions, all_prefixes
from via.rec.models.neural.common import (
    PopularitySampler,
    TorchSessionModel,
    TrainingProgress,
    catalog_scores,
    item_counts,
)

SELECT_ON = ("loss", "hr@20", "mrr@20")
VALID_BATCH = 1024


class SessionEncoder(nn.Module):
    """What a prefix model family provides (see the module docstring)."""

    item_embedding: nn.Embedding

    def forward(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """items: (B, T) left-aligned, 0-padded; lengths: (B,) >= 1. Returns (B, d)."""
        raise NotImplementedError

    def item_matrix(self) -> torch.Tensor:
        return self.item_embedding.weight

    def item_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """`item_matrix()[ids]`; an encoder may compute just these rows (the sampled softmax)."""
        return self.item_matrix()[ids]

    def encode(
        self, items: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(session vector (B, d), click bias (B, T) or None). A click bias adds `bias[b, t]` to
        the score of item `items[b, t]` (summed over a prefix's repeated clicks; 0 at padding):
        a repeat mechanism. Without one, the scores are `session @ item_matrix().T` alone."""
        return self(items, lengths), None


def add_click_bias(
    logits: torch.Tensor, items: torch.Tensor, bias: torch.Tensor | None, first_item: int = 0
) -> torch.Tensor:
    """`logits` (B, n) whose column c scores item c + `first_item`, plus each prefix's click bias
    on the items it clicked (padding, item 0, contributes nothing)."""
    if bias is None:
        return logits
    clicked = items > 0
    index = torch.where(clicked, items - first_item, 0)
    return logits.scatter_add(1, index, torch.where(clicked, bias, 0.0))


def column_click_bias(
    items: torch.Tensor, bias: torch.Tensor, columns: torch.Tensor
) -> torch.Tensor:
    """(B, C): the click bias of each prefix on each of the item ids `columns` (repeats allowed:
    every column of an item gets its bias)."""
    unique, inverse = torch.unique(columns, return_inverse=True)
    where = torch.searchsorted(unique, items).clamp(max=len(unique) - 1)
    found = (unique[where] == items) & (items > 0)
    per_unique = torch.zeros(len(items), len(unique), dtype=bias.dtype, device=bias.device)
    per_unique = per_unique.scatter_add(1, where, torch.where(found, bias, 0.0))
    return per_unique[:, inverse]


@dataclass
class PrefixData:
    """Training (and validation) cases as ragged prefixes with their targets."""

    train: PrefixTargets
    valid: PrefixTargets | None
    sampler: PopularitySampler | None


def pad_cases(prefixes: PrefixBatch, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prefixes at `index` as a left-aligned (len(index), longest) matrix and their lengths."""
    starts = prefixes.offsets[index]
    lengths = prefixes.offsets[index + 1] - starts
    width = max(int(lengths.max()), 1)
    columns = np.arange(width)
    valid = columns[None, :] < lengths[:, None]
    source = np.where(valid, starts[:, None] + columns[None, :], 0)
    out = np.where(valid, prefixes.items[source], 0).astype(np.int64)
    return out, lengths.astype(np.int64)


def sampled_softmax_loss(
    session: torch.Tensor,
    rows: torch.Tensor,
    columns: torch.Tensor,
    targets: torch.Tensor,
    sampler: PopularitySampler,
    extra: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of each row's target among `columns` (the batch's targets, then shared
    negatives; `rows` are their item vectors, `extra` (B, C) any further score, e.g. a click
    bias), logQ-corrected; another row's identical target is not a negative for this row."""
    logits = session @ rows.T - sampler.log_q(columns, len(targets))
    if extra is not None:
        logits = logits + extra
    accidental = columns[None, :] == targets[:, None]
    accidental[:, : len(targets)].fill_diagonal_(False)
    logits = logits.masked_fill(accidental, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(targets), device=targets.device))


def trainer_params(arguments: dict) -> dict:
    """The prefix trainer's own hyperparameters among a model constructor's `locals()`."""
    names = inspect.signature(PrefixSessionModel.__init__).parameters
    return {name: value for name, value in arguments.items() if name in names and name != "self"}


class PrefixSessionModel(TorchSessionModel):
    """Base class of the prefix-trained models; subclasses implement `_build_encoder` and pass
    their own hyperparameters plus these to `__init__` (every one listed in their signature)."""

    throughput_unit = "prefixes"

    def __init__(
        self,
        *,
        embedding_dim: int = 100,
        batch_size: int = 512,
        learning_rate: float = 0.001,
        lr_decay: float = 0.1,
        lr_decay_epochs: int = 3,
        weight_decay: float = 1e-5,
        clip_norm: float = 0.0,
        n_epochs: int = 10,
        patience: int = 0,
        max_length: int = 50,
        n_sample: int = 0,
        sample_alpha: float = 0.75,
        select_on: str = "loss",
        valid_fraction: float = 0.1,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ):
        super().__init__(seed=seed, device=device, verbose=verbose)
        if not 0 <= valid_fraction < 1:
            raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
        if select_on not in SELECT_ON:
            raise ValueError(f"select_on must be one of {', '.join(SELECT_ON)}, got {select_on!r}")
        for name, value in (("embedding_dim", embedding_dim), ("batch_size", batch_size),
                            ("lr_decay_epochs", lr_decay_epochs), ("max_length", max_length)):
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        self.embedding_dim, self.batch_size = int(embedding_dim), int(batch_size)
        self.learning_rate, self.lr_decay = float(learning_rate), float(lr_decay)
        self.lr_decay_epochs, self.weight_decay = int(lr_decay_epochs), float(weight_decay)
        self.clip_norm, self.n_epochs = float(clip_norm), int(n_epochs)
        self.patience = int(patience)
        self.max_length, self.n_sample = int(max_length), int(n_sample)
        self.sample_alpha, self.select_on = float(sample_alpha), select_on
        self.valid_fraction = float(valid_fraction)
        self._valid_metrics: dict[str, float] = {}

    # --- what a model family provides ------------------------------------------------------
    @abstractmethod
    def _build_encoder(self) -> SessionEncoder:
        """A freshly initialised encoder for `self.n_items` items (uses torch's global RNG)."""

    def _build_module(self) -> nn.Module:
        return self._build_encoder()

    # --- training ---------------------------------------------------------------------------
    def split_validation(
        self, train: Sessions, valid: Sessions | None
    ) -> tuple[Sessions, Sessions | None]:
        """(sessions to train on, validation sessions): `valid` when given, else the last
        `valid_fraction` of `train` cut off (none when `valid_fraction` is 0)."""
        if valid is None and self.valid_fraction > 0:
            return validation_split(train, self.valid_fraction)
        return train, valid

    def _prepare(self, train: Sessions, valid: Sessions | None) -> PrefixData:
        train, valid = self.split_validation(train, valid)
        cases = all_prefixes(train, max_length=self.max_length)
        if len(cases) == 0:
            raise ValueError("no training session has two or more clicks")
        valid_cases = None
        if valid is not None:
            valid_cases = all_prefixes(valid, max_length=self.max_length)
            if valid_cases.targets.size and valid_cases.targets.max() > self.n_items:
                raise ValueError("validation sessions hold items outside the catalog")
            valid_cases = valid_cases if len(valid_cases) else None
        sampler = None
        if self.n_sample > 0:
            sampler = PopularitySampler(item_counts(train, self.n_items), self.sample_alpha)
        return PrefixData(cases, valid_cases, sampler)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        # the fused kernel: one pass over the item table instead of a dozen (about 10 times
        # faster on one CPU thread for SR-GNN's 4.3 M Diginetica weights; same update), on the
        # devices that have it
        fused = next(self.module.parameters()).device.type in ("cpu", "cuda")
        return torch.optim.Adam(
            self.module.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay,
            fused=fused,
        )

    def _epoch_learning_rate(self, epoch: int) -> float:
        return self.learning_rate * self.lr_decay ** ((epoch - 1) // self.lr_decay_epochs)

    def _train_epoch(
        self,
        data: PrefixData,
        optimizer: torch.optim.Optimizer,
        rng: np.random.Generator,
        progress: TrainingProgress,
    ) -> tuple[float, int]:
        for group in optimizer.param_groups:
            group["lr"] = self._epoch_learning_rate(progress.epoch + 1)
        device = next(self.module.parameters()).device
        prefixes, targets = data.train.prefixes, data.train.targets
        order = rng.permutation(len(targets))
        total, n_cases = 0.0, 0
        for lo in range(0, len(order), self.batch_size):
            index = order[lo : lo + self.batch_size]
            items, lengths = pad_cases(prefixes, index)
            batch_targets = torch.from_numpy(targets[index].astype(np.int64)).to(device)
            items = torch.from_numpy(items).to(device)
            outputs = self._training_outputs(items, torch.from_numpy(lengths).to(device))
            loss = self._training_loss(outputs, items, batch_targets, data.sampler, rng)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip_norm > 0:
                nn.utils.clip_grad_norm_(self.module.parameters(), self.clip_norm)
            optimizer.step()
            progress.step += 1
            total += loss.item() * len(index)
            n_cases += len(index)
        return total / n_cases, n_cases

    def _training_outputs(self, items: torch.Tensor, lengths: torch.Tensor):
        """What `_training_loss` gets: the encoder's (session, click bias)."""
        return self.module.encode(items, lengths)

    def _training_loss(self, outputs, items, targets, sampler, rng) -> torch.Tensor:
        session, bias = outputs
        if sampler is None:  # full softmax over items 1..n
            logits = session @ self.module.item_matrix()[1:].T
            return F.cross_entropy(add_click_bias(logits, items, bias, 1), targets - 1)
        columns = self._sampled_columns(targets, sampler, rng)
        extra = None if bias is None else column_click_bias(items, bias, columns)
        return sampled_softmax_loss(session, self.module.item_rows(columns), columns, targets,
                                    sampler, extra)

    def _sampled_columns(self, targets, sampler, rng) -> torch.Tensor:
        """The batch's targets followed by `n_sample` shared popularity-sampled negatives."""
        negatives = torch.from_numpy(sampler.sample(rng, self.n_sample)).to(targets.device)
        return torch.cat([targets, negatives])

    # --- validation -------------------------------------------------------------------------
    @torch.inference_mode()
    def _validation_loss(self, data: PrefixData) -> float | None:
        if data.valid is None:
            self._valid_metrics = {}
            return None
        device = next(self.module.parameters()).device
        matrix = self.module.item_matrix()[1:]
        cases = data.valid
        loss_sum, hits, reciprocal = 0.0, 0, 0.0
        for lo in range(0, len(cases), VALID_BATCH):
            index = np.arange(lo, min(lo + VALID_BATCH, len(cases)))
            items, lengths = pad_cases(cases.prefixes, index)
            targets = torch.from_numpy(cases.targets[index].astype(np.int64)).to(device) - 1
            items = torch.from_numpy(items).to(device)
            session, bias = self.module.encode(items, torch.from_numpy(lengths).to(device))
            logits = add_click_bias(session @ matrix.T, items, bias, 1)
            loss_sum += float(F.cross_entropy(logits, targets, reduction="sum"))
            target_scores = logits.gather(1, targets[:, None])
            ranks = (logits >= target_scores).sum(dim=1)  # 1-based, ties against the target
            hits += int((ranks <= 20).sum())
            reciprocal += float(torch.where(ranks <= 20, 1.0 / ranks, 0.0).sum())
        n = len(cases)
        self._valid_metrics = {
            "valid_ce": loss_sum / n, "valid_hr20": hits / n, "valid_mrr20": reciprocal / n
        }
        if self.select_on == "hr@20":
            return -self._valid_metrics["valid_hr20"]
        if self.select_on == "mrr@20":
            return -self._valid_metrics["valid_mrr20"]
        return self._valid_metrics["valid_ce"]

    def _progress_line(self, record: dict[str, float]) -> str:
        # called once per epoch with the record that goes into the history (and checkpoints):
        # the validation metrics of the epoch join it here
        record.update(self._valid_metrics)
        line = super()._progress_line(record)
        if "valid_hr20" in record:
            line += (
                f" | valid HR@20 {100 * record['valid_hr20']:.2f}"
                f" MRR@20 {100 * record['valid_mrr20']:.2f}"
            )
        return line

    @property
    def best_epoch_(self) -> int:
        """The epoch whose weights the model holds (the last one without validation)."""
        key = {"loss": "valid_ce", "hr@20": "valid_hr20", "mrr@20": "valid_mrr20"}[self.select_on]
        scored = [r for r in self.history_ if key in r]
        if not scored:
            return len(self.history_)
        sign = 1.0 if self.select_on == "loss" else -1.0
        return int(min(scored, key=lambda r: sign * r[key])["epoch"])

    # --- scoring ----------------------------------------------------------------------------
    def _scoring_matrix(self) -> torch.Tensor:
        """`item_matrix()`, computed once per state of the weights: normalising 43k rows at
        every call was a third of one session's serving time. The key is the module and the
        version counters of its parameters, which every in-place update (a training step, a
        load) moves, so a stale matrix is never used."""
        key = (id(self.module), tuple(p._version for p in self.module.parameters()))
        cached = getattr(self, "_matrix_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, self.module.item_matrix().detach())
            self._matrix_cache = cached
        return cached[1]

    def _score_batch(self, prefixes: PrefixBatch, device: torch.device) -> np.ndarray:
        lengths = prefixes.lengths
        matrix = self._scoring_matrix()
        if len(prefixes) and lengths.min() > 0:
            return self._catalog_scores(prefixes, matrix, device)
        out = np.zeros((len(prefixes), matrix.shape[0]), dtype=np.float32)
        nonempty = np.flatnonzero(lengths > 0)
        if len(nonempty):
            kept = prefixes.sessions.select(nonempty)
            out[nonempty] = self._catalog_scores(
                PrefixBatch(kept.items, kept.offsets), matrix, device
            )
        return out

    def _catalog_scores(
        self, prefixes: PrefixBatch, matrix: torch.Tensor, device: torch.device
    ) -> np.ndarray:
        """Scores of non-empty prefixes against the whole catalog: the product, then the click
        bias (if the encoder has one) added on each prefix's own items."""
        items, lengths = self._padded(prefixes, device)
        session, bias = self.module.encode(items, lengths)
        out = catalog_scores(session, matrix)
        if bias is not None:
            rows = np.broadcast_to(np.arange(len(out))[:, None], items.shape)
            # padding (item 0) adds 0 to the padding column
            np.add.at(out, (rows, items.cpu().numpy()), bias.float().cpu().numpy())
        return out

    def _padded(
        self, prefixes: PrefixBatch, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The prefixes' `max_length` most recent clicks, left-aligned and 0-padded, and their
        lengths."""
        items = torch.from_numpy(prefixes.padded(self.max_length, align="left")).to(device)
        lengths = torch.from_numpy(np.minimum(prefixes.lengths, self.max_length)).to(device)
        return items, lengths

    def _encode(self, prefixes: PrefixBatch, device: torch.device) -> torch.Tensor:
        return self.module(*self._padded(prefixes, device))
