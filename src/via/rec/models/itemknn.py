"""Item-KNN: the item-to-item baseline of Hidasi et al., "Session-based Recommendations with
Recurrent Neural Networks" (ICLR 2016), section 4.1.

Two items are similar when they occur in the same sessions: the cosine similarity of their
session-occurrence vectors, regularised against rare items,

    sim(i, j) = |S_i ∩ S_j| / ((|S_i| + λ)^α · (|S_j| + λ)^(1-α)),

with S_i the training sessions that contain item i, λ = 20 and α = 0.5 (α = 0.5 is the cosine,
shrunk by λ). Departure: the GRU4Rec authors' baseline code counts clicks (an item clicked twice
in a session counts twice in its support and its co-occurrences); this one counts sessions, as
the paper's "vector of their sessions" reads. Each item keeps its `n_sims` most similar items; a
session is scored by the similarities of its last item only.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models.base import SessionModel
from via.rec.models.sparse import keep_top_per_row, session_item_matrix


class ItemKNN(SessionModel):
    name = "itemknn"

    def __init__(self, n_sims: int = 100, lmbd: float = 20.0, alpha: float = 0.5) -> None:
        super().__init__()
        if n_sims < 1:
            raise ValueError(f"n_sims must be at least 1, got {n_sims}")
        self.n_sims = int(n_sims)
        self.lmbd = float(lmbd)
        self.alpha = float(alpha)
        self.similarity = sp.csr_matrix((1, 1), dtype=np.float32)

    def fit(self, train: Sessions, valid: Sessions | None = None, *, n_items: int | None = None):
        self.n_items = self._catalog_size(train, n_items)
        occurrences = session_item_matrix(train, self.n_items)
        support = np.asarray(occurrences.sum(axis=0)).ravel()
        co = (occurrences.T @ occurrences).tocsr()
        co.setdiag(0)
        co.eliminate_zeros()
        co = co.tocoo()
        denominator = (support[co.row] + self.lmbd) ** self.alpha * (
            support[co.col] + self.lmbd
        ) ** (1.0 - self.alpha)
        sim = sp.csr_matrix(
            ((co.data / denominator).astype(np.float32), (co.row, co.col)), shape=co.shape
        )
        self.similarity = keep_top_per_row(sim, self.n_sims)
        return self

    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        self._check_fitted()
        out = self.similarity[prefixes.last_items()].toarray()
        out[:, 0] = -np.inf
        return out

    def _weights(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"indptr": s.indptr, "indices": s.indices, "data": s.data}

    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        shape = (self.n_items + 1, self.n_items + 1)
        self.similarity = sp.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape
        )
        self.similarity.check_format(full_check=True)
