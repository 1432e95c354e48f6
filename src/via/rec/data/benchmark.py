"""The benchmark format of ../shared/data/benchmarks: gzip text, one session per line.

Each line holds the item ids of one session separated by single spaces, in click order.
`load_benchmark(dir)` maps the ids seen in training to contiguous ids 1..n_items (sorted by raw
id, so contiguous raw ids are kept as they are); a test item never seen in training becomes 0,
which no model can recommend: as a target it is a miss, in a prefix it is dropped.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from via.rec.data.errors import MalformedRow, RowErrors
from via.rec.data.sessions import ITEM_DTYPE, Sessions

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[4].parent / "shared" / "data"


def data_root() -> Path:
    """The shared data folder: $VIA_DATA, else ../shared/data beside the project."""
    return Path(os.environ.get("VIA_DATA", DEFAULT_DATA_ROOT))


def benchmark_dir(name: str) -> Path:
    """A benchmark by name (`diginetica`) or by path."""
    path = Path(name)
    if path.is_dir():
        return path
    return data_root() / "benchmarks" / name


@dataclass(frozen=True)
class SessionDataset:
    """Training and test sessions over one catalog of items 1..n_items."""

    name: str
    train: Sessions
    test: Sessions
    n_items: int
    item_ids: np.ndarray  # item_ids[i] is the raw id of internal item i (item_ids[0] = -1)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_session_lines(path: str | Path, errors: RowErrors | None = None) -> list[np.ndarray]:
    """Raw item-id arrays of a benchmark file; malformed lines go to `errors` (default: raise)."""
    path = Path(path)
    errors = errors if errors is not None else RowErrors("stop")
    sessions: list[np.ndarray] = []
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                errors.add(MalformedRow(path, line_number, "empty line; expected item ids"))
                continue
            bad = next((f for f in fields if not (f.isascii() and f.isdigit())), None)
            if bad is not None:
                reason = "is negative" if bad[1:].isdigit() and bad[0] == "-" else "is not an integer"
                errors.add(MalformedRow(path, line_number, f"item id {bad!r} {reason}"))
                continue
            ids = np.array([int(f) for f in fields], dtype=np.int64)
            sessions.append(ids)
    return sessions


def write_session_lines(path: str | Path, sessions: Sessions) -> None:
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for session in sessions:
            handle.write(" ".join(map(str, session.tolist())) + "\n")


def _concat(raw: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) for s in raw], dtype=np.int64)
    offsets = np.zeros(len(raw) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    items = np.concatenate(raw) if raw else np.zeros(0, dtype=np.int64)
    return items, offsets


def load_benchmark(name: str | Path, errors: RowErrors | None = None) -> SessionDataset:
    """Load `train.txt(.gz)` and `test.txt(.gz)` of a benchmark folder."""
    directory = benchmark_dir(str(name))

    def find(stem: str) -> Path:
        for candidate in (directory / f"{stem}.txt.gz", directory / f"{stem}.txt"):
            if candidate.exists():
                return candidate
        raise FileNotFoundError(f"{directory}: no {stem}.txt.gz or {stem}.txt")

    train_raw, train_offsets = _concat(read_session_lines(find("train"), errors))
    test_raw, test_offsets = _concat(read_session_lines(find("test"), errors))
    if not len(train_raw):
        raise ValueError(f"{find('train')}: no training sessions")
    item_ids = np.unique(train_raw)
    train_items = np.searchsorted(item_ids, train_raw) + 1
    position = np.searchsorted(item_ids, test_raw)
    position = np.minimum(position, len(item_ids) - 1)
    known = item_ids[position] == test_raw
    test_items = np.where(known, position + 1, 0)
    return SessionDataset(
        name=directory.name,
        train=Sessions(train_items.astype(ITEM_DTYPE), train_offsets),
        test=Sessions(test_items.astype(ITEM_DTYPE), test_offsets),
        n_items=len(item_ids),
        item_ids=np.concatenate([[-1], item_ids]),
    )
