"""Sparse-matrix helpers shared by the counting and neighbourhood models."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from via.rec.data.sessions import Sessions


def session_item_matrix(sessions: Sessions, n_items: int) -> sp.csr_matrix:
    """Binary (n_sessions, n_items + 1) matrix: 1 where the session clicked the item."""
    rows = sessions.session_index
    m = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, sessions.items.astype(np.int64))),
        shape=(len(sessions), n_items + 1),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def rank_within_rows(rows: np.ndarray, values: np.ndarray, tie_break: np.ndarray) -> np.ndarray:
    """Sort entries by (row, value descending, tie_break descending); return order and ranks."""
    order = np.lexsort((-tie_break, -values, rows))
    sorted_rows = rows[order]
    starts = np.searchsorted(sorted_rows, sorted_rows, side="left")
    return order, np.arange(len(order)) - starts


def keep_top_per_row(matrix: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the n largest entries of every row (ties: larger column index first)."""
    coo = matrix.tocoo()
    order, rank = rank_within_rows(coo.row, coo.data, coo.col)
    keep = order[rank < n]
    return sp.csr_matrix(
        (coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape
    )
