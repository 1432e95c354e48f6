"""Session-based nearest neighbours: SKNN, V-SKNN and STAN, on one vectorised core.

All three find, for the current session s, the k most similar past sessions among the
`sample_size` most recent training sessions that share an item with s, and score an item by the
similarities of the neighbours that contain it. They differ in three weights:

* SKNN (Jannach & Ludewig, RecSys 2017; Ludewig & Jannach, UMUAI 2018): binary cosine
  similarity |s ∩ n| / sqrt(|s| |n|); every item of a neighbour gets its similarity.
* V-SKNN (same papers, "vector multiplication" kNN): the current session's items are weighted
  by their position (default quadratic, (p / l)²), similarity is Σ_{i ∈ s ∩ n} w_i / |s|; a
  neighbour's items are weighted by 1 / step, where step counts back from the end of s to the
  most recent item that the neighbour also holds, and by an IDF term (1 + idf(i) · idf_weighting),
  idf(i) = log(#sessions / #clicks of i).
* STAN (Garg et al., "Sequence and Time Aware Neighborhood for Session-based
  Recommendations", SIGIR 2019): item weights w1 = exp((p - l) / λ_spw) in a cosine similarity
  (eq. 1-2), a session-recency weight w2 = exp(-(t_s - t_n) / λ_snh) (eq. 3), and a neighbour
  item's weight w3 = exp(-|p(i, n) - p*(s, n)| / λ_inh) (eq. 4), with p*(s, n) the last position
  in n of an item of s.

As in the reference implementation of these papers (session-rec, Ludewig et al. 2021), sessions
and items are sets for similarity (an item's position is its last click), positions count
clicks, and "recent" means later in the training data. Departures: the benchmark files carry
no timestamps, so training sessions are ordered by file order (which is time order in these
files) and STAN's time decay λ_snh is applied in units of training sessions when set
(`lambda_snh=None`, the default here, turns it off); ties between equally similar neighbours go
to the more recent session. `popularity_fallback=True` (off by default, as in the papers) ranks
the items no neighbour scored by global popularity, below every scored item, instead of leaving
them tied at 0.

Everything is computed for a whole batch of prefixes with sparse matrix products and sorts; the
saved "weights" are the training sessions themselves, from which `load` rebuilds the index.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models.base import SessionModel
from via.rec.models.sparse import rank_within_rows, session_item_matrix


def ragged_ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenation of arange(starts[i], starts[i] + counts[i]) for every i."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - (np.cumsum(counts) - counts), counts)
    return shift + np.arange(total, dtype=np.int64)


class _Query:
    """The unique items of each prefix with the 1-based position of their last click."""

    def __init__(self, prefixes: PrefixBatch, n_items: int) -> None:
        lengths = prefixes.lengths
        rows = np.repeat(np.arange(len(prefixes), dtype=np.int64), lengths)
        positions = prefixes.sessions.positions + 1
        keys = rows * (n_items + 1) + prefixes.items
        order = np.lexsort((positions, keys))
        keys, positions = keys[order], positions[order]
        last = np.ones(len(keys), dtype=bool)
        last[:-1] = keys[1:] != keys[:-1]
        keys, self.position = keys[last], positions[last].astype(np.float64)
        self.row, self.item = np.divmod(keys, n_items + 1)
        self.row_length = lengths.astype(np.float64)  # clicks in each prefix
        self.length = self.row_length[self.row]
        self.n_unique = np.bincount(self.row, minlength=len(prefixes)).astype(np.float64)
        self.indptr = np.zeros(len(prefixes) + 1, dtype=np.int64)
        np.cumsum(self.n_unique.astype(np.int64), out=self.indptr[1:])


class SessionNeighbourhood(SessionModel):
    """The shared core; subclasses define the three weights."""

    def __init__(self, k: int, sample_size: int, popularity_fallback: bool = False) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if sample_size < 0:
            raise ValueError(f"sample_size must be 0 (all sessions) or positive, got {sample_size}")
        self.k = int(k)
        self.sample_size = int(sample_size)
        self.popularity_fallback = bool(popularity_fallback)
        self._train = Sessions.from_lists([])

    # --- the three weights (overridden) ---------------------------------------------------------
    def _query_weights(self, query: _Query) -> np.ndarray:
        return np.ones(len(query.item))

    def _similarity(self, overlap, query, rows, sessions, query_norm) -> np.ndarray:
        return overlap / np.sqrt(query.n_unique[rows] * self._n_unique[sessions])

    def _needs_match_positions(self) -> bool:
        return False

    def _item_weights(self, pair_rows, pair_sessions, pair_of_entry, items, match, query):
        return 1.0

    # --- fitting ----------------------------------------------------------------------------------
    def fit(self, train: Sessions, valid: Sessions | None = None, *, n_items: int | None = None):
        self.n_items = self._catalog_size(train, n_items)
        self._index(train)
        return self

    def _index(self, train: Sessions) -> None:
        self._train = train
        n = self.n_items + 1
        occurrences = session_item_matrix(train, self.n_items)
        occurrences.sort_indices()
        self._occurrences = occurrences
        self._n_unique = np.diff(occurrences.indptr).astype(np.float64)
        self._item_sessions = occurrences.T.tocsr()
        self._item_sessions.sort_indices()
        # last 1-based click position of each (session, item), searchable by key session * n + item
        keys = train.session_index * n + train.items
        positions = train.positions + 1
        order = np.lexsort((positions, keys))
        keys, positions = keys[order], positions[order]
        last = np.ones(len(keys), dtype=bool)
        last[:-1] = keys[1:] != keys[:-1]
        self._keys, self._last_position = keys[last], positions[last].astype(np.float64)
        clicks = np.bincount(train.items, minlength=n).astype(np.float64)
        self._popularity = clicks / (clicks.max(initial=0.0) + 1.0)  # in [0, 1)
        with np.errstate(divide="ignore"):
            self._idf = np.where(clicks > 0, np.log(max(len(train), 1) / np.maximum(clicks, 1)), 0.0)

    def _lookup_positions(self, sessions: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Last position of `items[j]` in training session `sessions[j]`, 0 where absent."""
        keys = sessions * (self.n_items + 1) + items
        at = np.searchsorted(self._keys, keys)
        at = np.minimum(at, len(self._keys) - 1)
        found = self._keys[at] == keys
        return np.where(found, self._last_position[at], 0.0)

    # --- scoring ----------------------------------------------------------------------------------
    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        self._check_fitted()
        n = self.n_items + 1
        batch = len(prefixes)
        query = _Query(prefixes, self.n_items)
        weights = self._query_weights(query)
        query_norm = np.sqrt(np.bincount(query.row, weights=weights**2, minlength=batch))
        # Candidates are all training sessions sharing an item with the prefix, whatever the
        # weights (a weight can underflow to 0 or be negative). The product of the weights
        # shifted to >= 1 has exactly the structure of the binary product; subtracting
        # shift x |s ∩ n| leaves Σ_{i ∈ s ∩ n} w_i for every candidate.
        shift = 1.0 - min(0.0, float(weights.min(initial=0.0)))
        shape = (batch, n)
        shared = (sp.csr_matrix((np.ones(len(weights)), (query.row, query.item)), shape=shape)
                  @ self._item_sessions).tocsr()
        shifted = (sp.csr_matrix((weights + shift, (query.row, query.item)), shape=shape)
                   @ self._item_sessions).tocsr()
        shared.sort_indices()
        shifted.sort_indices()
        if shared.nnz != shifted.nnz or not np.array_equal(shared.indices, shifted.indices):
            raise AssertionError("weighted and binary candidate sets differ")  # cannot happen
        overlap = shifted
        overlap.data = shifted.data - shift * shared.data
        counts = np.diff(overlap.indptr)
        rows = np.repeat(np.arange(batch, dtype=np.int64), counts)
        sessions = overlap.indices.astype(np.int64)
        values = overlap.data
        if self.sample_size:
            # the sample_size most recent candidate sessions (largest index = most recent)
            from_end = np.repeat(overlap.indptr[1:], counts) - 1 - np.arange(len(rows))
            keep = from_end < self.sample_size
            rows, sessions, values = rows[keep], sessions[keep], values[keep]
        similarity = self._similarity(values, query, rows, sessions, query_norm)
        order, rank = rank_within_rows(rows, similarity, sessions)
        chosen = order[(rank < self.k)]
        chosen = chosen[similarity[chosen] > 0]
        pair_rows, pair_sessions, pair_sim = rows[chosen], sessions[chosen], similarity[chosen]

        match = None
        if self._needs_match_positions() and len(pair_rows):
            match = self._match_positions(query, pair_rows, pair_sessions)
        # expand every neighbour into its items
        sizes = self._n_unique[pair_sessions].astype(np.int64)
        entries = ragged_ranges(self._occurrences.indptr[pair_sessions], sizes)
        pair_of_entry = np.repeat(np.arange(len(pair_rows)), sizes)
        items = self._occurrences.indices[entries].astype(np.int64)
        weight = pair_sim[pair_of_entry] * self._item_weights(
            pair_rows, pair_sessions, pair_of_entry, items, match, query
        )
        flat = pair_rows[pair_of_entry] * n + items
        out = np.bincount(flat, weights=weight, minlength=batch * n).reshape(batch, n)
        if self.popularity_fallback:
            out = self._fill_with_popularity(out)
        out = out.astype(np.float32)
        out[:, 0] = -np.inf
        return out

    def _fill_with_popularity(self, out: np.ndarray) -> np.ndarray:
        """Rank the items no neighbour scored by popularity, below every scored item.

        Without it they all tie at 0, and a short session with few neighbours shows an
        arbitrary tail (and the evaluation counts the whole tie against the model).
        """
        positive = out > 0
        floor = np.where(positive, out, np.inf).min(axis=1)
        floor = np.where(np.isfinite(floor), floor, 1.0)
        return np.where(positive, out, self._popularity[None, :] * (0.5 * floor[:, None]))

    def _match_positions(self, query: _Query, pair_rows, pair_sessions):
        """Per neighbour pair: the latest prefix position of a shared item, and the latest
        position in the neighbour of an item of the prefix (0 if none)."""
        per_pair = (query.indptr[pair_rows + 1] - query.indptr[pair_rows]).astype(np.int64)
        q = ragged_ranges(query.indptr[pair_rows], per_pair)
        pair = np.repeat(np.arange(len(pair_rows)), per_pair)
        in_neighbour = self._lookup_positions(pair_sessions[pair], query.item[q])
        shared = in_neighbour > 0
        prefix_position = np.zeros(len(pair_rows))
        np.maximum.at(prefix_position, pair[shared], query.position[q][shared])
        neighbour_position = np.zeros(len(pair_rows))
        np.maximum.at(neighbour_position, pair[shared], in_neighbour[shared])
        return prefix_position, neighbour_position

    # --- persistence: the training sessions are the model ----------------------------------------
    def _weights(self) -> dict[str, np.ndarray]:
        return {"items": self._train.items, "offsets": self._train.offsets}

    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        train = Sessions(arrays["items"], arrays["offsets"])
        if train.max_item() > self.n_items or (len(train.items) and train.items.min() < 1):
            raise ValueError(f"saved sessions hold item ids outside 1..{self.n_items}")
        self._index(train)


class SKNN(SessionNeighbourhood):
    """Session-based kNN with binary cosine similarity."""

    name = "sknn"

    def __init__(self, k: int = 100, sample_size: int = 500, popularity_fallback: bool = False) -> None:
        super().__init__(k, sample_size, popularity_fallback)


# As in session-rec's VMContextKNN, including its quirks: "linear" gives negative weights to
# clicks more than 10 back (query) and to steps 11..100 (score).
VSKNN_QUERY_WEIGHTS = {
    "same": lambda p, l: np.ones_like(p),
    "div": lambda p, l: p / l,
    "linear": lambda p, l: np.where(p <= 10, 1 - 0.1 * (l - p), 0.0),
    "quadratic": lambda p, l: (p / l) ** 2,
    "log": lambda p, l: 1 / np.log10(l - p + 1.7),
}
VSKNN_STEP_WEIGHTS = {
    "same": lambda step: np.ones_like(step),
    "div": lambda step: 1.0 / step,
    "linear": lambda step: np.where(step <= 100, 1 - 0.1 * step, 0.0),
    "quadratic": lambda step: 1.0 / step**2,
    "log": lambda step: 1 / np.log10(step + 1.7),
}


class VSKNN(SessionNeighbourhood):
    """Vector-multiplication session kNN: position-weighted sessions, step decay, IDF."""

    name = "vsknn"

    def __init__(
        self,
        k: int = 500,
        sample_size: int = 5000,
        weighting: str = "quadratic",
        weighting_score: str = "div",
        idf_weighting: float = 5.0,
        popularity_fallback: bool = False,
    ) -> None:
        super().__init__(k, sample_size, popularity_fallback)
        for label, value, table in (
            ("weighting", weighting, VSKNN_QUERY_WEIGHTS),
            ("weighting_score", weighting_score, VSKNN_STEP_WEIGHTS),
        ):
            if value not in table:
                raise ValueError(f"{label} must be one of {sorted(table)}, got {value!r}")
        self.weighting = weighting
        self.weighting_score = weighting_score
        self.idf_weighting = float(idf_weighting)

    def _query_weights(self, query: _Query) -> np.ndarray:
        return VSKNN_QUERY_WEIGHTS[self.weighting](query.position, query.length)

    def _similarity(self, overlap, query, rows, sessions, query_norm) -> np.ndarray:
        return overlap / query.n_unique[rows]

    def _needs_match_positions(self) -> bool:
        return True

    def _item_weights(self, pair_rows, pair_sessions, pair_of_entry, items, match, query):
        prefix_position, _ = match
        step = query.row_length[pair_rows] - prefix_position + 1
        decay = VSKNN_STEP_WEIGHTS[self.weighting_score](step)[pair_of_entry]
        return decay * (1.0 + self._idf[items] * self.idf_weighting)


class STAN(SessionNeighbourhood):
    """Sequence and Time Aware Neighbourhood (Garg et al., SIGIR 2019)."""

    name = "stan"

    def __init__(
        self,
        k: int = 500,
        sample_size: int = 10000,
        lambda_spw: float = 1.225,
        lambda_snh: float | None = None,
        lambda_inh: float = 4.9,
        popularity_fallback: bool = False,
    ) -> None:
        super().__init__(k, sample_size, popularity_fallback)
        for label, value in (("lambda_spw", lambda_spw), ("lambda_inh", lambda_inh)):
            if value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        if lambda_snh is not None and lambda_snh <= 0:
            raise ValueError(f"lambda_snh must be positive or None, got {lambda_snh}")
        self.lambda_spw = float(lambda_spw)
        self.lambda_snh = None if lambda_snh is None else float(lambda_snh)
        self.lambda_inh = float(lambda_inh)

    def _query_weights(self, query: _Query) -> np.ndarray:
        return np.exp((query.position - query.length) / self.lambda_spw)

    def _similarity(self, overlap, query, rows, sessions, query_norm) -> np.ndarray:
        similarity = overlap / (query_norm[rows] * np.sqrt(self._n_unique[sessions]))
        if self.lambda_snh is not None:
            age = len(self._train) - sessions  # 1 for the most recent training session
            similarity = similarity * np.exp(-age / self.lambda_snh)
        return similarity

    def _needs_match_positions(self) -> bool:
        return True

    def _item_weights(self, pair_rows, pair_sessions, pair_of_entry, items, match, query):
        _, neighbour_position = match
        own = self._lookup_positions(pair_sessions[pair_of_entry], items)
        return np.exp(-np.abs(own - neighbour_position[pair_of_entry]) / self.lambda_inh)
