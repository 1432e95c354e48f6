"""What every PyTorch session model shares: device and seed handling, the epoch loop with a
progress line per epoch, early stopping, resumable checkpoints, safe weight files, batched scoring
and the popularity sampler with its logQ correction.

A checkpoint is one file, `checkpoint.pt`, written after every epoch (to a temporary name, then
renamed) and read with `torch.load(weights_only=True)`, so resuming never unpickles arbitrary
objects. Every epoch draws its randomness (shuffling, dropout, negative samples) from generators
seeded by `(seed, epoch)`, so a run resumed after epoch k continues exactly as the uninterrupted
run would have.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import sys
import time
from abc import abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models.base import ModelFileError, SessionModel

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_VERSION = 1
# Hyperparameters that may differ between a checkpointed run and its resumption.
RESUMABLE_PARAMS = frozenset({"n_epochs", "device", "verbose"})


def resolve_device(device: str) -> torch.device:
    """`cpu` (the default), `cuda`/`cuda:N` when present, or `auto` (CUDA if present, else CPU)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    expected = f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}"
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(expected) from None
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(expected)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but this machine has no CUDA device")
    return resolved


def epoch_generators(seed: int, epoch: int) -> np.random.Generator:
    """Seed torch's global generator for this epoch and return NumPy's generator for it."""
    torch.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    return np.random.default_rng([seed, epoch])


def known_items_only(prefixes: PrefixBatch) -> PrefixBatch:
    """Drop item 0 (an item unknown to the model) from every prefix."""
    if len(prefixes.items) == 0 or prefixes.items.min() > 0:
        return prefixes
    kept = prefixes.sessions.filter_clicks(prefixes.items > 0)
    return PrefixBatch(kept.items, kept.offsets)


CPU_BLAS_ENV = "VIA_CPU_BLAS"


def cpuinfo_field(name: str) -> str:
    """The first `name` line of /proc/cpuinfo (`vendor_id`, `model name`), or '' without one."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


@functools.cache
def cpu_blas() -> str:
    """The library that runs `matmul` and `catalog_scores` on float32 CPU tensors.

    `numpy` (NumPy's OpenBLAS) or `torch` (PyTorch's MKL). `VIA_CPU_BLAS=numpy|torch` chooses;
    unset or `auto`, it is MKL on Intel CPUs when torch is built with it, OpenBLAS elsewhere.
    Measured for the three thin products of a thesis-LSTM step (512 x 300 x 43,099, one
    thread): on AMD EPYC MKL took 0.79 to 0.93 s against OpenBLAS' 0.51 to 0.62 s; on an Intel
    Xeon (Sapphire Rapids class), into preallocated results, 0.275 to 0.291 s against 0.303 to
    0.331 s (docs/neural.md). The choice is fixed for the process (read once), so a run and its
    resumption use the same kernels when they run on the same machine."""
    choice = os.environ.get(CPU_BLAS_ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "numpy", "torch"):
        raise ValueError(f"{CPU_BLAS_ENV} must be auto, numpy or torch, got {choice!r}")
    if choice == "auto":
        intel = cpuinfo_field("vendor_id") == "GenuineIntel"
        choice = "torch" if intel and torch.backends.mkl.is_available() else "numpy"
    return choice


KEEP_FREED_MEMORY_ENV = "VIA_KEEP_FREED_MEMORY"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


@functools.cache
def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for reuse in this process, instead of handing large
    blocks back to the kernel; True if it took effect. Called when a model trains on the CPU.

    A training step allocates the same large tensors every step: a full softmax's logits, their
    log-probabilities and gradients, 35 MB each for a batch of 512 over Yoochoose 1/64's items
    and 88 MB over Diginetica's. By default glibc serves each from a fresh `mmap` (above its
    32 MiB ceiling for the heap) and unmaps it when freed, so every step faults them in again, 4
    KiB at a time: NARM's 30-epoch Yoochoose run spent 1,148 of its 3,912 CPU s in the kernel.
    Raising the mmap and trim thresholds to their maximum keeps such blocks on the heap and
    reuses them: NARM's epoch on 10 % of Yoochoose 1/64 took 9.0 to 9.1 CPU s instead of 11.6 to
    11.9, on 5 % of Diginetica 14.9 to 15.0 instead of 22.6 to 22.8 (docs/neural-baselines.md).
    The cost: the process keeps its peak heap until it exits (100 to 320 MiB more peak
    memory). `VIA_KEEP_FREED_MEMORY=0` leaves malloc alone; on a C library without `mallopt`
    (musl keeps it as a no-op, macOS lacks it) nothing changes."""
    if os.environ.get(KEEP_FREED_MEMORY_ENV, "1").strip() == "0":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    limit = 2**31 - 1
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))


def _result_buffer(rows: int, columns: int) -> torch.Tensor:
    """A fresh float32 result for a product, allocated by NumPy (which asks the kernel for huge
    pages for large arrays: a fresh 88 MB torch tensor is faulted in 4 KiB page by page)."""
    return torch.from_numpy(np.empty((rows, columns), dtype=np.float32))


def matmul(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """`a @ b` (into `out` if given) for 2-d tensors: on float32 CPU tensors through the library
    `cpu_blas()` names, torch otherwise. Same product, other kernel: which BLAS is faster for the
    thin products of a softmax over 43k items depends on the CPU (`cpu_blas`). `x.T @ x` always
    runs in NumPy, which computes it with a symmetric rank-k update, half the work. For use
    inside hand-written autograd functions: the result carries no graph."""
    if a.device.type != "cpu" or a.dtype != torch.float32 or b.dtype != torch.float32:
        return torch.mm(a, b) if out is None else torch.mm(a, b, out=out)
    a, b = a.detach(), b.detach()
    gram = a.data_ptr() == b.data_ptr() and a.shape == b.T.shape and a.stride() == b.T.stride()
    if cpu_blas() == "torch" and not gram:
        result = _result_buffer(len(a), b.shape[1]) if out is None else out.detach()
        torch.mm(a, b, out=result)
        return result if out is None else out
    x, y = a.numpy(), b.numpy()
    if out is None:
        return torch.from_numpy(np.matmul(x, y))
    np.matmul(x, y, out=out.detach().numpy())
    return out


def catalog_scores(
    vectors: torch.Tensor, matrix: torch.Tensor, bias: torch.Tensor | None = None
) -> np.ndarray:
    """`vectors @ matrix.T (+ bias)`: (batch, n_items + 1) float32 scores as a NumPy array.

    On the CPU the product runs in the BLAS `cpu_blas()` names (OpenBLAS through NumPy, or MKL
    through torch) on zero-copy views of the tensors, writing straight into the NumPy array the
    caller gets. Torch's MKL kernel is much slower for these thin products on AMD EPYC (k = 100 to
    512 against 43k rows: 512 x 100 x 43,098 took 216.8 ms in torch, a whole VIANet `scores`
    call through NumPy 119.8 ms, one thread, docs/neural.md "Serving time on one core"), partly
    because a fresh 88 MB torch buffer is faulted in page by page: the result is always
    allocated by NumPy. One row is a matrix-vector product, cheaper than a 1-row matrix
    product. On CUDA the product stays on the device.
    """
    if vectors.device.type != "cpu":
        out = vectors @ matrix.T if bias is None else torch.addmm(bias, vectors, matrix.T)
        return out.float().cpu().numpy()
    vectors, matrix = vectors.detach().float(), matrix.detach()
    if cpu_blas() == "torch" and matrix.dtype == torch.float32:
        out = np.empty((len(vectors), len(matrix)), dtype=np.float32)
        result = torch.from_numpy(out)
        if len(vectors) == 1:
            torch.mv(matrix, vectors[0], out=result[0])
        else:
            torch.mm(vectors, matrix.T, out=result)
    elif len(vectors) == 1:  # one session (the shop's case): a matrix-vector product is cheaper
        out = (matrix.numpy() @ vectors[0].numpy())[None, :]
    else:
        out = np.matmul(vectors.numpy(), matrix.numpy().T)
    if bias is not None:
        out += bias.detach().numpy()
    return out


def training_fingerprint(model: SessionModel, train: Sessions, n_items: int) -> str:
    """Identifies the data and hyperparameters a checkpoint belongs to."""
    digest = hashlib.sha256()
    params = {k: v for k, v in model.get_params().items() if k not in RESUMABLE_PARAMS}
    digest.update(json.dumps([model.name, n_items, params], sort_keys=True).encode())
    digest.update(train.items.tobytes())
    digest.update(train.offsets.tobytes())
    return digest.hexdigest()


class PopularitySampler:
    """Shared negative samples drawn with probability proportional to popularity ** alpha.

    `log_q(columns, n_targets)` gives the log sampling probability (up to a constant) of each
    score column for the logQ correction: the first `n_targets` columns are the mini-batch's own
    targets, which occur with probability proportional to popularity; the others were sampled.
    """

    def __init__(self, counts: np.ndarray, alpha: float):
        counts = np.asarray(counts, dtype=np.float64)
        weights = counts**alpha
        weights[0] = 0.0
        if weights.sum() <= 0:
            raise ValueError("cannot sample negatives: no item has a positive count")
        self.alpha = alpha
        self.cdf = np.cumsum(weights) / weights.sum()
        self.cdf[-1] = 1.0
        self.log_counts = torch.from_numpy(np.log(np.maximum(counts, 1.0)).astype(np.float32))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.searchsorted(self.cdf, rng.random(size), side="right").astype(np.int64)

    def log_q(self, columns: torch.Tensor, n_targets: int) -> torch.Tensor:
        log_counts = self.log_counts.to(columns.device)[columns]
        scale = torch.full_like(log_counts, self.alpha)
        scale[:n_targets] = 1.0
        return log_counts * scale


def item_counts(train: Sessions, n_items: int) -> np.ndarray:
    return np.bincount(train.items, minlength=n_items + 1).astype(np.int64)


class RowGradients:
    """The rows of item tables one training step touches, as leaf tensors of their own.

    Gathering the distinct rows once keeps the backward pass from building a zero-filled
    gradient of the whole table per lookup; after backward, the rows' gradients are handed to
    the tables either as row-sparse gradients or added into their existing dense gradients.
    """

    def __init__(self) -> None:
        self.gathered: list[tuple[nn.Parameter, torch.Tensor, torch.Tensor]] = []

    def gather(self, table: nn.Parameter, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the distinct rows of `table` among `ids`, the position of each id in them)."""
        rows, inverse = torch.unique(ids, return_inverse=True)
        local = table.detach().index_select(0, rows).requires_grad_()
        self.gathered.append((table, local, rows))
        return local, inverse

    def lookup(self, table: nn.Parameter, ids: torch.Tensor) -> torch.Tensor:
        """`table[ids]` (any shape of ids) through gathered rows."""
        local, inverse = self.gather(table, ids.reshape(-1))
        return local.index_select(0, inverse).view(*ids.shape, *table.shape[1:])

    def publish_sparse(self) -> None:
        """Give every table the row-sparse (already coalesced) gradient of its gathered rows."""
        for table, local, rows in self.gathered:
            table.grad = torch.sparse_coo_tensor(
                rows.unsqueeze(0),
                local.grad,
                table.shape,
                is_coalesced=True,
                check_invariants=False,
            )

    def publish_dense(self) -> None:
        """Add the gathered rows' gradients into the tables' dense gradients."""
        for table, local, rows in self.gathered:
            if local.grad is None:
                continue
            if table.grad is None:
                table.grad = torch.zeros_like(table)
            table.grad.index_add_(0, rows, local.grad)


@dataclass
class TrainingProgress:
    """The part of a run's state that is not tensors: where it is and how it went."""

    epoch: int = 0
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_loss: float = float("inf")
    best_epoch: int = 0
    stopped_early: bool = False


class TorchSessionModel(SessionModel):
    """A `SessionModel` whose learned state is a `torch.nn.Module`.

    Subclasses set the hyperparameters (including `seed`, `device`, `n_epochs`, `verbose` and,
    for early stopping, `patience`) and implement `_build_module`, `_prepare`,
    `_make_optimizer`, `_train_epoch` and `_score_batch`; `_validation_loss` enables early
    stopping.
    """

    throughput_unit: str = "events"

    def __init__(self, *, seed: int, device: str, verbose: bool) -> None:
        super().__init__()
        self.seed, self.device, self.verbose = seed, device, verbose
        self.module: nn.Module | None = None
        self.history_: list[dict[str, float]] = []

    # --- what a model family provides ------------------------------------------------------
    @abstractmethod
    def _build_module(self) -> nn.Module:
        """A freshly initialised module for `self.n_items` items (uses torch's global RNG)."""

    @abstractmethod
    def _prepare(self, train: Sessions, valid: Sessions | None) -> Any:
        """Turn the sessions into whatever `_train_epoch` iterates over."""

    @abstractmethod
    def _make_optimizer(self) -> Any:
        """An object with `state_dict()` and `load_state_dict()`."""

    @abstractmethod
    def _train_epoch(
        self, data: Any, optimizer: Any, rng: np.random.Generator, progress: TrainingProgress
    ) -> tuple[float, int]:
        """One pass over the training data; returns (mean loss, number of training cases)."""

    def _validation_loss(self, data: Any) -> float | None:
        return None

    @abstractmethod
    def _score_batch(self, prefixes: PrefixBatch, device: torch.device) -> np.ndarray:
        """(len(prefixes), n_items + 1) float32 scores (a fresh array the caller may change) for
        non-empty or empty prefixes of known items; `catalog_scores` makes the final product."""

    # --- training ---------------------------------------------------------------------------
    def fit(
        self,
        train: Sessions,
        valid: Sessions | None = None,
        *,
        n_items: int | None = None,
        checkpoint_dir: str | Path | None = None,
    ):
        """Train; with `checkpoint_dir`, save after every epoch and resume from what is there."""
        self.n_items = self._catalog_size(train, n_items)
        device = resolve_device(self.device)
        if device.type == "cpu":
            keep_freed_memory()  # the steps' large tensors, reused instead of faulted in afresh
        torch.manual_seed(self.seed)
        self.module = self._build_module().to(device)
        data = self._prepare(train, valid)
        optimizer = self._make_optimizer()
        progress = TrainingProgress()
        best_state: dict[str, torch.Tensor] | None = None
        checkpoint = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir else None
        fingerprint = training_fingerprint(self, train, self.n_items)
        if checkpoint is not None and checkpoint.exists():
            progress, best_state = self._resume(checkpoint, fingerprint, optimizer, device)
            self._log(f"{self.name}: resumed from {checkpoint} after epoch {progress.epoch}")
        elif checkpoint is not None:  # a mistyped directory would otherwise start silently
            self._log(f"{self.name}: no checkpoint at {checkpoint}; training from the first epoch")
        patience = getattr(self, "patience", 0)
        while progress.epoch < self.n_epochs and not progress.stopped_early:
            epoch = progress.epoch + 1
            rng = epoch_generators(self.seed, epoch)
            self.module.train()
            start = time.perf_counter()
            loss, cases = self._train_epoch(data, optimizer, rng, progress)
            seconds = time.perf_counter() - start
            record = {
                "epoch": epoch,
                "loss": loss,
                "seconds": seconds,
                f"{self.throughput_unit}_per_second": cases / seconds,
            }
            self.module.eval()
            valid_loss = self._validation_loss(data)
            if valid_loss is not None:
                record["valid_loss"] = valid_loss
                if valid_loss < progress.best_loss:
                    progress.best_loss, progress.best_epoch = valid_loss, epoch
                    best_state = {
                        k: v.detach().clone() for k, v in self.module.state_dict().items()
                    }
                elif patience and epoch - progress.best_epoch >= patience:
                    progress.stopped_early = True
            progress.epoch = epoch
            progress.history.append(record)
            self._log(self._progress_line(record))
            if checkpoint is not None:
                self._write_checkpoint(checkpoint, fingerprint, optimizer, progress, best_state)
        if best_state is not None:  # early stopping keeps the weights of the best epoch
            self.module.load_state_dict(best_state)
        self.module.eval()
        self.history_ = progress.history
        return self

    def _progress_line(self, record: dict[str, float]) -> str:
        unit = self.throughput_unit
        line = (
            f"{self.name} epoch {record['epoch']}/{self.n_epochs}: loss {record['loss']:.4f}"
            f" | {record[f'{unit}_per_second']:,.0f} {unit}/s | {record['seconds']:.1f} s"
        )
        if "valid_loss" in record:
            line += f" | valid loss {record['valid_loss']:.4f}"
        return line

    def _log(self, line: str) -> None:
        if self.verbose:
            print(line, file=sys.stderr, flush=True)

    # --- checkpoints ------------------------------------------------------------------------
    def _write_checkpoint(self, path, fingerprint, optimizer, progress, best_state) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": CHECKPOINT_VERSION,
            "fingerprint": fingerprint,
            "progress": json.dumps(asdict(progress)),
            "module": self.module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "best_module": best_state or {},
        }
        tmp = path.with_suffix(".tmp")
        torch.save(payload, tmp)
        tmp.replace(path)

    def _resume(self, path, fingerprint, optimizer, device):
        try:
            payload = torch.load(path, map_location=device, weights_only=True)
        except Exception as exc:
            raise ModelFileError(f"{path}: cannot read checkpoint ({exc})") from exc
        if payload.get("version") != CHECKPOINT_VERSION:
            raise ModelFileError(f"{path}: checkpoint version {payload.get('version')}")
        if payload["fingerprint"] != fingerprint:
            raise ModelFileError(
                f"{path}: checkpoint belongs to other data or hyperparameters; "
                "use another directory or delete it"
            )
        self.module.load_state_dict(payload["module"])
        optimizer.load_state_dict(payload["optimizer"])
        progress = TrainingProgress(**json.loads(payload["progress"]))
        return progress, (payload["best_module"] or None)

    @property
    def best_epoch_(self) -> int:
        """The epoch whose weights the model holds: the lowest validation loss (the first of
        equal ones, as early stopping keeps it), or the last epoch without validation."""
        scored = [r for r in self.history_ if "valid_loss" in r]
        if not scored:
            return len(self.history_)
        return int(min(scored, key=lambda r: r["valid_loss"])["epoch"])

    def refitted(
        self, train: Sessions, *, checkpoint_dir: str | Path | None = None
    ) -> TorchSessionModel:
        """A new model of the same hyperparameters (and seed), trained on all of `train` for
        the epochs this one chose on its validation split: the usual last step of a validation
        protocol. The split is the last `valid_fraction` of the training sessions, the ones
        closest in time to what the model is tested or served on; this step trains on them too.
        Every choice stays made on validation."""
        self._check_fitted()
        if getattr(self, "valid_fraction", 0) <= 0:
            raise ValueError(
                f"{self.name} was trained without a validation split (valid_fraction=0 or none "
                "to set): there is no choice to refit with, it already trains on all sessions"
            )
        if not any("valid_loss" in r for r in self.history_):
            raise ValueError(f"{self.name} has no validation history to take the epochs from")
        params = dict(self.get_params(), n_epochs=self.best_epoch_, valid_fraction=0.0)
        params.update(self._refit_params())
        return type(self)(**params).fit(train, n_items=self.n_items, checkpoint_dir=checkpoint_dir)

    def _refit_params(self) -> dict:
        """Further choices made on validation that `refitted` keeps (VIANet: its fusion weight)."""
        return {}

    # --- scoring ----------------------------------------------------------------------------
    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        self._check_fitted()
        if self.module is None:
            raise RuntimeError(f"{type(self).__name__} has no weights; call fit() or load()")
        device = next(self.module.parameters()).device
        if self.module.training:  # eval() walks every submodule: 0.3 ms of a 3 ms serving call
            self.module.eval()
        with torch.inference_mode():
            result = self._score_batch(known_items_only(prefixes), device)
        result[:, 0] = -np.inf
        return result

    # --- persistence ------------------------------------------------------------------------
    def _weights(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}

    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        try:
            device = resolve_device(self.device)
        except ValueError:  # saved on a CUDA machine, loaded on one without: score on the CPU
            device = torch.device("cpu")
        self.module = self._build_module()
        state = {k: torch.from_numpy(np.array(arrays[k])) for k in self.module.state_dict()}
        self.module.load_state_dict(state)
        self.module.to(device).eval()


def left_aligned(prefixes: PrefixBatch, device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """(batch, T) item ids with each prefix's oldest click first, padded with 0, and the lengths."""
    return torch.from_numpy(prefixes.padded(align="left")).to(device), prefixes.lengths
