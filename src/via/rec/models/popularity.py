"""Counting baselines: POP (global popularity) and S-POP (popularity inside the session).

As described in Hidasi et al. (ICLR 2016), section 4.1: POP always recommends the items with the
most training clicks; S-POP recommends the items clicked most often in the current session, ties
(and every item not in the session) broken by global popularity.
"""

from __future__ import annotations

import numpy as np

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models.base import SessionModel


def click_counts(train: Sessions, n_items: int) -> np.ndarray:
    """Training clicks per item id (index 0 is the padding id and stays 0)."""
    counts = np.bincount(train.items, minlength=n_items + 1).astype(np.float64)
    counts[0] = 0
    return counts


class Pop(SessionModel):
    """Recommends the globally most clicked items to every session."""

    name = "pop"

    def __init__(self) -> None:
        super().__init__()
        self.popularity = np.zeros(1, dtype=np.float32)

    def fit(self, train: Sessions, valid: Sessions | None = None, *, n_items: int | None = None):
        self.n_items = self._catalog_size(train, n_items)
        counts = click_counts(train, self.n_items)
        # scaled into [0, 1) so that S-POP can add it to in-session counts as a tie-breaker
        self.popularity = (counts / (counts.max() + 1.0)).astype(np.float32)
        return self

    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        self._check_fitted()
        out = np.empty((len(prefixes), self.n_items + 1), dtype=np.float32)
        out[:] = self.popularity
        out[:, 0] = -np.inf
        return out

    def _weights(self) -> dict[str, np.ndarray]:
        return {"popularity": self.popularity}

    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        popularity = arrays["popularity"].astype(np.float32)
        if popularity.shape != (self.n_items + 1,):
            raise ValueError(f"popularity has shape {popularity.shape}, expected ({self.n_items + 1},)")
        self.popularity = popularity


class SessionPop(Pop):
    """Items of the current session by how often it clicked them, then global popularity."""

    name = "spop"

    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        out = super().scores(prefixes)
        rows = np.repeat(np.arange(len(prefixes)), prefixes.lengths)
        # one click adds 1 > any popularity share, so in-session counts always dominate
        np.add.at(out, (rows, prefixes.items), 1.0)
        out[:, 0] = -np.inf
        return out
