"""Serving latency of a fitted model: batches of prefixes scored against the whole catalog, and
one session's top-k as the shop asks for it (issue 3: 512 prefixes < 150 ms, top-20 < 5 ms p99,
on one CPU core).

The prefixes are the benchmark's own test prefixes (every prefix of every test session, unknown
items dropped), drawn at random with a fixed seed, so the lengths are those a model meets in
evaluation. Times are wall-clock `perf_counter` around `scores` and `recommend`; the first calls
are run and discarded (warm-up: lazy imports, allocator, torch's first-call overhead).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from via.rec.data.sessions import PrefixBatch, Sessions, all_prefixes
from via.rec.evaluate import drop_unknown
from via.rec.models.base import SessionModel


@dataclass
class LatencyReport:
    threads: int
    batch_size: int
    batches: int
    batch_ms_median: float
    batch_ms_p90: float
    batch_ms_max: float
    top_k: int
    sessions: int
    session_ms_median: float
    session_ms_p99: float
    session_ms_max: float

    def as_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        return [
            f"{self.batches} batches of {self.batch_size} prefixes, {self.threads} thread(s): "
            f"median {self.batch_ms_median:.1f} ms, p90 {self.batch_ms_p90:.1f} ms, "
            f"max {self.batch_ms_max:.1f} ms",
            f"{self.sessions} single sessions, top-{self.top_k}: median "
            f"{self.session_ms_median:.2f} ms, p99 {self.session_ms_p99:.2f} ms, "
            f"max {self.session_ms_max:.2f} ms",
        ]


def limit_threads(threads: int) -> None:
    """Pin the numeric libraries to `threads` threads: the BLAS NumPy loaded (the catalog
    products of the neural models run there), OpenMP, and torch if it is installed."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    threadpool_limits(threads)  # already-loaded OpenBLAS / OpenMP pools ignore the variable
    try:
        import torch
    except ImportError:  # the counting models do not need it
        return
    torch.set_num_threads(threads)


def serving_prefixes(test: Sessions, n_items: int) -> PrefixBatch:
    """Every non-empty prefix of the test sessions, restricted to the model's catalog."""
    prefixes = drop_unknown(all_prefixes(test).prefixes)
    items = np.where(prefixes.items <= n_items, prefixes.items, 0)
    prefixes = drop_unknown(PrefixBatch(items, prefixes.offsets))
    keep = np.flatnonzero(prefixes.lengths > 0)
    return subset(prefixes, keep)


def subset(prefixes: PrefixBatch, rows: np.ndarray) -> PrefixBatch:
    lists = [prefixes.items[prefixes.offsets[i] : prefixes.offsets[i + 1]] for i in rows]
    return PrefixBatch.from_lists(lists)


def measure(
    model: SessionModel,
    test: Sessions,
    *,
    batch_size: int = 512,
    batches: int = 20,
    sessions: int = 1000,
    top_k: int = 20,
    threads: int = 1,
    seed: int = 0,
    warmup: int = 3,
) -> LatencyReport:
    limit_threads(threads)
    pool = serving_prefixes(test, model.n_items)
    if len(pool) == 0:
        raise ValueError("the test sessions have no prefix of items the model knows")
    rng = np.random.default_rng(seed)
    batch_times = []
    for i in range(warmup + batches):
        batch = subset(pool, rng.choice(len(pool), size=batch_size, replace=True))
        start = time.perf_counter()
        model.scores(batch)
        if i >= warmup:
            batch_times.append(1000 * (time.perf_counter() - start))
    session_times = []
    for i, row in enumerate(rng.choice(len(pool), size=warmup + sessions, replace=True)):
        one = subset(pool, np.array([row]))
        start = time.perf_counter()
        model.recommend(one, top_k)
        if i >= warmup:
            session_times.append(1000 * (time.perf_counter() - start))
    b, s = np.array(batch_times), np.array(session_times)
    return LatencyReport(
        threads=threads,
        batch_size=batch_size,
        batches=batches,
        batch_ms_median=float(np.median(b)),
        batch_ms_p90=float(np.percentile(b, 90)),
        batch_ms_max=float(b.max()),
        top_k=top_k,
        sessions=sessions,
        session_ms_median=float(np.median(s)),
        session_ms_p99=float(np.percentile(s, 99)),
        session_ms_max=float(s.max()),
    )
