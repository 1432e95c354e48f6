"""Malformed input rows: reported with file and line, then either stop or skip-and-count."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


@dataclass(frozen=True)
class MalformedRow:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class MalformedInputError(ValueError):
    """Raised on the first malformed row when the caller chose to stop."""

    def __init__(self, row: MalformedRow) -> None:
        super().__init__(str(row))
        self.row = row


@dataclass
class RowErrors:
    """Collects malformed rows. `on_error="stop"` raises at the first, `"skip"` counts them."""

    on_error: str = "stop"
    rows: list[MalformedRow] = field(default_factory=list)
    keep: int = 20  # how many rows to keep for the report; all are counted

    def __post_init__(self) -> None:
        if self.on_error not in ("stop", "skip"):
            raise ValueError(f"on_error must be 'stop' or 'skip', got {self.on_error!r}")
        self.count = 0

    def add(self, row: MalformedRow) -> None:
        if self.on_error == "stop":
            raise MalformedInputError(row)
        self.count += 1
        if len(self.rows) < self.keep:
            self.rows.append(row)

    def report(self, stream: TextIO = sys.stderr) -> None:
        """Print how many rows were skipped, with the first ones; silent when none were."""
        if not self.count:
            return
        print(f"skipped {self.count} malformed row(s):", file=stream)
        for row in self.rows:
            print(f"  {row}", file=stream)
        if self.count > len(self.rows):
            print(f"  ... and {self.count - len(self.rows)} more", file=stream)
