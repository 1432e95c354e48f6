"""Ranking metrics of the next-item protocol: HR@k, MRR@k, NDCG@k, coverage@k, popularity@k.

Ranks are 0-based and computed over the whole catalog. Ties are broken against the model: every
item whose score equals the target's counts as ranked above it, so a model that gives all items
the same score ranks every target last, not first.
"""

from __future__ import annotations

import numpy as np


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each target among columns 1.. of `scores`, ties counted against it.

    A target of 0 (an item unknown to the model) gets rank n_items, a certain miss.
    """
    n_items = scores.shape[1] - 1
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    above_or_tied = (scores[:, 1:] >= target_scores[:, None]).sum(axis=1)
    ranks = above_or_tied - 1  # the target itself is among the >= items
    ranks = np.where(targets == 0, n_items, ranks)
    ranks = np.where(np.isnan(target_scores), n_items, ranks)
    return np.minimum(ranks, n_items).astype(np.int64)


def hit_rate_at(ranks: np.ndarray, k: int) -> float:
    """Share of cases whose target is in the top k (HR@k, called Recall@k in SR-GNN)."""
    return float(np.mean(ranks < k)) if len(ranks) else 0.0


def mrr_at(ranks: np.ndarray, k: int) -> float:
    """Mean reciprocal rank, counting 0 for targets outside the top k."""
    if not len(ranks):
        return 0.0
    return float(np.mean(np.where(ranks < k, 1.0 / (ranks + 1.0), 0.0)))


def ndcg_at(ranks: np.ndarray, k: int) -> float:
    """NDCG@k with one relevant item: 1 / log2(rank + 2) inside the top k, else 0."""
    if not len(ranks):
        return 0.0
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The k best item ids per row (column 0 excluded), best first.

    Instead of partitioning every full row, a threshold is taken from block maxima: the k-th
    largest of the rows' block maxima is at most the row's k-th largest score, so only scores at
    or above it can be in the top k. Those few candidates are then sorted.
    """
    body = scores[:, 1:]
    n_rows, n_cols = body.shape
    k = min(k, n_cols)
    block = 64
    n_blocks = n_cols // block
    if n_rows == 0 or n_blocks < 4 * k:
        part = np.argpartition(-body, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(body, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1) + 1
    maxima = body[:, : n_blocks * block].reshape(n_rows, n_blocks, block).max(axis=2)
    if n_blocks * block < n_cols:
        maxima = np.concatenate([maxima, body[:, n_blocks * block :].max(axis=1, keepdims=True)], 1)
    threshold = -np.partition(-maxima, k - 1, axis=1)[:, k - 1]
    # scores above the threshold lie in fewer than k + ties blocks, so they are few
    flat = np.flatnonzero(body > threshold[:, None])  # flatnonzero is ~8x faster than nonzero
    rows, cols = np.divmod(flat, n_cols)
    short = k - np.bincount(rows, minlength=n_rows)
    fill = np.flatnonzero(short > 0)
    if len(fill):
        # rows completed by scores equal to the threshold (often 0 for sparse models): the
        # first ones in column order, without listing every tied column
        tied = body[fill] == threshold[fill, None]
        take = tied & (np.cumsum(tied, axis=1) <= short[fill, None])
        fill_rows, fill_cols = np.divmod(np.flatnonzero(take), n_cols)
        rows = np.concatenate([rows, fill[fill_rows]])
        cols = np.concatenate([cols, fill_cols])
    values = body[rows, cols]
    order = np.lexsort((cols, -values, rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    rank_in_row = np.arange(len(rows)) - starts[rows]
    keep = rank_in_row < k
    out = np.empty((n_rows, k), dtype=np.int64)
    out[rows[keep], rank_in_row[keep]] = cols[keep] + 1
    return out


def catalog_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the catalog that appears in at least one list of `recommended`."""
    return len(np.unique(recommended)) / n_items if n_items else 0.0


def mean_popularity(recommended: np.ndarray, item_counts: np.ndarray) -> float:
    """Mean popularity of recommended items, each item's count divided by the largest count."""
    peak = item_counts.max() if len(item_counts) else 0
    if not recommended.size or not peak:
        return 0.0
    return float(np.mean(item_counts[recommended] / peak))
