"""The next-item protocol: score every prefix of every test session against the item after it.

Batched: each batch of prefixes is scored by one `model.scores` call and ranked with matrix
operations; no Python code runs per prefix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from via.rec.data.sessions import PrefixBatch, Sessions, all_prefixes
from via.rec.metrics import (
    hit_rate_at,
    mrr_at,
    ndcg_at,
    target_ranks,
    top_k,
)
from via.rec.models.base import SessionModel

DEFAULT_KS = (5, 10, 20)


@dataclass
class EvaluationResult:
    """Metrics per cut-off k, in fractions (not percent)."""

    n_cases: int
    ks: tuple[int, ...]
    hit_rate: dict[int, float]
    mrr: dict[int, float]
    ndcg: dict[int, float]
    coverage: dict[int, float]
    popularity: dict[int, float]
    seconds: float
    ranks: np.ndarray = field(repr=False)

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = {"cases": self.n_cases, "seconds": round(self.seconds, 3)}
        for k in self.ks:
            out[f"HR@{k}"] = self.hit_rate[k]
            out[f"MRR@{k}"] = self.mrr[k]
            out[f"NDCG@{k}"] = self.ndcg[k]
            out[f"Coverage@{k}"] = self.coverage[k]
            out[f"Popularity@{k}"] = self.popularity[k]
        return out


def drop_unknown(prefixes: PrefixBatch) -> PrefixBatch:
    """Remove clicks on items the model does not know (id 0) from the prefixes."""
    keep = prefixes.items != 0
    if keep.all():
        return prefixes
    filtered = prefixes.sessions.filter_clicks(keep)
    return PrefixBatch(filtered.items, filtered.offsets)


def evaluate(
    model: SessionModel,
    test: Sessions,
    ks: Sequence[int] = DEFAULT_KS,
    *,
    item_counts: np.ndarray | None = None,
    batch_size: int = 512,
    max_length: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationResult:
    """Evaluate `model` over every prefix of every session of `test`.

    `item_counts` (training clicks per item id, index 0 unused) gives the popularity metric;
    without it popularity is reported as 0.
    """
    ks = tuple(sorted(set(int(k) for k in ks)))
    if not ks or ks[0] < 1:
        raise ValueError(f"cut-offs must be positive integers, got {ks}")
    n_items = model.n_items
    if test.max_item() > n_items:
        raise ValueError(
            f"test sessions hold item id {test.max_item()}, but the model knows items 1..{n_items}; "
            "map unknown items to 0"
        )
    cases = all_prefixes(test, max_length=max_length)
    kmax = min(max(ks), n_items)
    ranks = np.empty(len(cases), dtype=np.int64)
    seen = {k: np.zeros(n_items + 1, dtype=bool) for k in ks}
    popularity_sum = dict.fromkeys(ks, 0.0)
    counts = None
    if item_counts is not None:
        counts = np.asarray(item_counts, dtype=np.float64)
        if len(counts) != n_items + 1:
            raise ValueError(f"item_counts has {len(counts)} entries, expected {n_items + 1}")
        counts = counts / max(counts.max(), 1.0)
    start = time.perf_counter()
    for lo in range(0, len(cases), batch_size):
        hi = min(lo + batch_size, len(cases))
        prefixes, targets = cases.batch(lo, hi)
        scores = np.asarray(model.scores(drop_unknown(prefixes)), dtype=np.float32)
        if scores.shape != (hi - lo, n_items + 1):
            raise ValueError(
                f"{type(model).__name__}.scores returned shape {scores.shape}, "
                f"expected {(hi - lo, n_items + 1)}"
            )
        if np.isnan(scores).any():
            row = int(np.flatnonzero(np.isnan(scores).any(axis=1))[0])
            raise ValueError(
                f"{type(model).__name__}.scores returned NaN for prefix {lo + row} "
                f"(items {prefixes.sessions[row].tolist()}); a score must be a number"
            )
        scores[:, 0] = -np.inf
        ranks[lo:hi] = target_ranks(scores, targets)
        best = top_k(scores, kmax)
        for k in ks:
            seen[k][best[:, :k]] = True
            if counts is not None:
                popularity_sum[k] += float(counts[best[:, :k]].mean(axis=1).sum())
        if progress is not None:
            progress(hi, len(cases))
    seconds = time.perf_counter() - start
    n = max(len(cases), 1)
    return EvaluationResult(
        n_cases=len(cases),
        ks=ks,
        hit_rate={k: hit_rate_at(ranks, k) for k in ks},
        mrr={k: mrr_at(ranks, k) for k in ks},
        ndcg={k: ndcg_at(ranks, k) for k in ks},
        coverage={k: float(seen[k][1:].sum()) / n_items for k in ks},
        popularity={k: popularity_sum[k] / n for k in ks},
        seconds=seconds,
        ranks=ranks,
    )


__all__ = ["DEFAULT_KS", "EvaluationResult", "evaluate"]
