"""Sessions as ragged integer arrays, and the prefixes the next-item protocol evaluates.

Item ids inside the engine are contiguous integers 1..n_items; 0 is the padding / unknown id and
is never recommended. A `Sessions` object stores many sessions in two flat arrays (CSR layout), so
that filtering, augmentation and batching are NumPy operations instead of Python loops.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

ITEM_DTYPE = np.int32


@dataclass(frozen=True)
class Sessions:
    """Many click sequences: session `i` is `items[offsets[i]:offsets[i + 1]]`, in click order."""

    items: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", np.ascontiguousarray(self.items, dtype=ITEM_DTYPE))
        object.__setattr__(self, "offsets", np.ascontiguousarray(self.offsets, dtype=np.int64))
        if self.offsets.ndim != 1 or len(self.offsets) == 0 or self.offsets[0] != 0:
            raise ValueError("offsets must be a 1-d array starting at 0")
        if self.offsets[-1] != len(self.items) or np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must be non-decreasing and end at len(items)")

    @classmethod
    def from_lists(cls, sessions: Iterable[Sequence[int]]) -> Sessions:
        lists = [np.asarray(s, dtype=ITEM_DTYPE) for s in sessions]
        lengths = np.array([len(s) for s in lists], dtype=np.int64)
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        items = np.concatenate(lists) if lists else np.zeros(0, dtype=ITEM_DTYPE)
        return cls(items, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        return self.items[self.offsets[index] : self.offsets[index + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def to_lists(self) -> list[list[int]]:
        return [s.tolist() for s in self]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_clicks(self) -> int:
        return int(len(self.items))

    @property
    def session_index(self) -> np.ndarray:
        """For every click, the index of the session it belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    @property
    def positions(self) -> np.ndarray:
        """For every click, its 0-based position inside its session."""
        return np.arange(len(self.items), dtype=np.int64) - np.repeat(self.offsets[:-1], self.lengths)

    def select(self, mask_or_index: np.ndarray) -> Sessions:
        """The sessions picked by a boolean mask or an index array, in that order."""
        index = np.asarray(mask_or_index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        lengths = self.lengths[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = np.repeat(self.offsets[:-1][index], lengths)
        within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        return Sessions(self.items[starts + within], offsets)

    def filter_clicks(self, keep: np.ndarray) -> Sessions:
        """Drop the clicks where `keep` (one flag per click) is False; sessions may become empty."""
        counts = np.bincount(self.session_index[keep], minlength=len(self))
        offsets = np.zeros(len(self) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Sessions(self.items[keep], offsets)

    def max_item(self) -> int:
        return int(self.items.max()) if len(self.items) else 0


@dataclass(frozen=True)
class PrefixBatch:
    """A batch of session prefixes (ragged, oldest click first) for `SessionModel.scores`."""

    items: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_lists(cls, prefixes: Iterable[Sequence[int]]) -> PrefixBatch:
        s = Sessions.from_lists(prefixes)
        return cls(s.items, s.offsets)

    @property
    def sessions(self) -> Sessions:
        return Sessions(self.items, self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def last_items(self) -> np.ndarray:
        """The most recent item of every prefix (0 for an empty prefix)."""
        lengths = self.lengths
        last = np.zeros(len(self), dtype=ITEM_DTYPE)
        nonempty = lengths > 0
        last[nonempty] = self.items[self.offsets[1:][nonempty] - 1]
        return last

    def padded(self, max_length: int | None = None, *, align: str = "right") -> np.ndarray:
        """A (batch, T) matrix with 0 as padding, keeping the T most recent clicks.

        `align="right"` puts the most recent click in the last column, `"left"` in column
        length-1 (as recurrent models with packed sequences expect).
        """
        lengths = self.lengths
        width = int(lengths.max()) if len(lengths) else 0
        if max_length is not None:
            width = min(width, max_length)
        kept = np.minimum(lengths, width)
        out = np.zeros((len(self), max(width, 1)), dtype=np.int64)
        rows = np.repeat(np.arange(len(self)), kept)
        row_kept = np.repeat(kept, kept)
        # k: position among the kept clicks of its prefix, 0 = oldest kept click
        k = np.arange(int(kept.sum())) - np.repeat(np.cumsum(kept) - kept, kept)
        source = np.repeat(self.offsets[1:], kept) - row_kept + k
        if align == "right":
            cols = width - row_kept + k
        elif align == "left":
            cols = k
        else:
            raise ValueError(f"align must be 'right' or 'left', got {align!r}")
        out[rows, cols] = self.items[source]
        return out


@dataclass(frozen=True)
class PrefixTargets:
    """Every prefix of every session with the item that follows it (n-1 cases per session)."""

    prefixes: PrefixBatch
    targets: np.ndarray
    session_of: np.ndarray

    def __len__(self) -> int:
        return len(self.targets)

    def batch(self, start: int, stop: int) -> tuple[PrefixBatch, np.ndarray]:
        offsets = self.prefixes.offsets[start : stop + 1]
        items = self.prefixes.items[offsets[0] : offsets[-1]]
        return PrefixBatch(items, offsets - offsets[0]), self.targets[start:stop]


def all_prefixes(sessions: Sessions, max_length: int | None = None) -> PrefixTargets:
    """Every (prefix, next item) pair, i.e. the prefix augmentation of Tan et al. (2016).

    Session [a, b, c, d] gives ([a], b), ([a, b], c), ([a, b, c], d). With `max_length`, each
    prefix keeps only its `max_length` most recent clicks.
    """
    lengths = sessions.lengths
    n_cases = np.maximum(lengths - 1, 0)
    session_of = np.repeat(np.arange(len(sessions), dtype=np.int64), n_cases)
    # prefix length of each case: 1 .. n-1 inside its session
    prefix_len = np.arange(int(n_cases.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(n_cases) - n_cases, n_cases
    ) + 1
    starts = sessions.offsets[session_of]
    targets = sessions.items[starts + prefix_len]
    if max_length is not None:
        cut = np.maximum(prefix_len - max_length, 0)
        starts = starts + cut
        prefix_len = prefix_len - cut
    offsets = np.zeros(len(prefix_len) + 1, dtype=np.int64)
    np.cumsum(prefix_len, out=offsets[1:])
    within = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], prefix_len)
    items = sessions.items[np.repeat(starts, prefix_len) + within]
    return PrefixTargets(PrefixBatch(items, offsets), targets.astype(ITEM_DTYPE), session_of)
