"""Readers for raw click logs: one event per row, columns and delimiter configurable.

Built-in formats:

* `diginetica`: `session_id;user_id;item_id;timeframe;eventdate` (CIKM Cup 2016); the time of a
  click is its date plus `timeframe` milliseconds.
* `yoochoose`: `session,timestamp,item,category` without a header (RecSys Challenge 2015);
  ISO-8601 timestamps.
* `gru4rec`: tab-separated `SessionId  ItemId  Time` with a header, Unix seconds.
* `visitor`: `visitor,timestamp,item,event` with a header and Unix milliseconds (as in the
  Retailrocket log): no session id, so a visitor's clicks are cut into sessions after
  `session_gap` seconds (30 minutes) of inactivity.

A row with a missing field, a non-integer id or an unparsable time is a `MalformedRow` naming the
file and line; `RowErrors("stop")` raises on the first, `RowErrors("skip")` counts them.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from via.rec.data.errors import MalformedRow, RowErrors

SESSION_GAP_SECONDS = 30 * 60


@dataclass(frozen=True)
class EventLogFormat:
    """Where the fields of a click are in a delimited text log."""

    delimiter: str
    item: str | int
    time: str | int
    time_unit: str  # "seconds", "milliseconds", "iso" or "date+ms"
    session: str | int | None = None
    user: str | int | None = None  # used to cut sessions when there is no session column
    date: str | int | None = None  # with time_unit "date+ms": the column holding the date
    event: str | int | None = None
    header: bool = True
    session_gap: float = SESSION_GAP_SECONDS

    def __post_init__(self) -> None:
        if self.time_unit not in ("seconds", "milliseconds", "iso", "date+ms"):
            raise ValueError(f"unknown time unit {self.time_unit!r}")
        if self.session is None and self.user is None:
            raise ValueError("a log needs a session column or a user column to cut sessions")
        if self.time_unit == "date+ms" and self.date is None:
            raise ValueError("time unit 'date+ms' needs the date column")
        names = [c for c in (self.item, self.time, self.session, self.user, self.date, self.event)]
        if not self.header and any(isinstance(c, str) for c in names if c is not None):
            raise ValueError("a log without a header names its columns by index")


FORMATS: dict[str, EventLogFormat] = {
    "diginetica": EventLogFormat(
        delimiter=";", session="session_id", item="item_id", time="timeframe",
        date="eventdate", time_unit="date+ms",
    ),
    "yoochoose": EventLogFormat(
        delimiter=",", session=0, time=1, item=2, time_unit="iso", header=False
    ),
    "gru4rec": EventLogFormat(delimiter="\t", session="SessionId", item="ItemId", time="Time",
                              time_unit="seconds"),
    "visitor": EventLogFormat(delimiter=",", user="visitor", time="timestamp", item="item",
                              event="event", time_unit="milliseconds"),
}


def get_format(name: str, **overrides) -> EventLogFormat:
    try:
        fmt = FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown log format {name!r}; known: {', '.join(FORMATS)}") from None
    return replace(fmt, **overrides) if overrides else fmt


@dataclass
class EventLog:
    """Clicks in file order: session key (or user key), time in seconds, raw item id."""

    session: np.ndarray
    time: np.ndarray
    item: np.ndarray
    event: list[str] = field(default_factory=list)
    has_sessions: bool = True

    def __len__(self) -> int:
        return len(self.item)


def _open(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _parse_time(value: str, unit: str, date: str | None) -> float:
    if unit == "seconds":
        return float(value)
    if unit == "milliseconds":
        return float(value) / 1000.0
    if unit == "iso":
        stamp = datetime.fromisoformat(value)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=timezone.utc)
        return stamp.timestamp()
    day = datetime.strptime(date or "", "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return day.timestamp() + float(value) / 1000.0


def _parse_id(value: str, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not an integer") from None
    if number < 0:
        raise ValueError(f"{what} {number} is negative")
    return number


def read_event_log(
    paths: str | Path | list[str | Path],
    fmt: EventLogFormat | str,
    errors: RowErrors | None = None,
) -> EventLog:
    """Read one or more files of the same format into one `EventLog`."""
    fmt = get_format(fmt) if isinstance(fmt, str) else fmt
    errors = errors if errors is not None else RowErrors("stop")
    paths = [Path(p) for p in (paths if isinstance(paths, list) else [paths])]
    key_column = fmt.session if fmt.session is not None else fmt.user
    sessions: list[int] = []
    times: list[float] = []
    items: list[int] = []
    events: list[str] = []
    for path in paths:
        with _open(path) as handle:
            reader = csv.reader(handle, delimiter=fmt.delimiter)
            start_line = 1
            if fmt.header:
                header = next(reader, None)
                if header is None:
                    errors.add(MalformedRow(path, 1, "empty file; expected a header"))
                    continue
                start_line = 2
                wanted = [c for c in (key_column, fmt.item, fmt.time, fmt.date, fmt.event) if c is not None]
                missing = [c for c in wanted if c not in header]
                if missing:
                    raise ValueError(f"{path}:1: header {header} lacks column(s) {missing}")
                index = {c: header.index(c) for c in wanted}
                width = len(header)
            else:
                index = {c: c for c in (key_column, fmt.item, fmt.time, fmt.date, fmt.event) if c is not None}
                width = max(index.values()) + 1
            for line, row in enumerate(reader, start=start_line):
                if not row:
                    continue  # blank line
                if len(row) < width:
                    errors.add(MalformedRow(path, line, f"{len(row)} field(s), expected {width}"))
                    continue
                try:
                    key = _parse_id(row[index[key_column]], "session id" if fmt.session is not None else "user id")
                    item = _parse_id(row[index[fmt.item]], "item id")
                except ValueError as exc:
                    errors.add(MalformedRow(path, line, str(exc)))
                    continue
                raw_time = row[index[fmt.time]]
                date = row[index[fmt.date]] if fmt.date is not None else None
                try:
                    stamp = _parse_time(raw_time, fmt.time_unit, date)
                except ValueError:
                    shown = f"{date} + {raw_time} ms" if date is not None else raw_time
                    errors.add(MalformedRow(path, line, f"time {shown!r} cannot be parsed ({fmt.time_unit})"))
                    continue
                if not np.isfinite(stamp):
                    errors.add(MalformedRow(path, line, f"time {raw_time!r} is not finite"))
                    continue
                sessions.append(key)
                times.append(stamp)
                items.append(item)
                if fmt.event is not None:
                    events.append(row[index[fmt.event]])
    log = EventLog(
        session=np.array(sessions, dtype=np.int64),
        time=np.array(times, dtype=np.float64),
        item=np.array(items, dtype=np.int64),
        event=events,
        has_sessions=fmt.session is not None,
    )
    if not log.has_sessions:
        log = split_by_inactivity(log, fmt.session_gap)
    return log


def split_by_inactivity(log: EventLog, gap: float = SESSION_GAP_SECONDS) -> EventLog:
    """Turn user keys into session keys: a new session after `gap` seconds without a click."""
    order = np.lexsort((np.arange(len(log)), log.time, log.session))
    user, time = log.session[order], log.time[order]
    new_session = np.ones(len(order), dtype=bool)
    new_session[1:] = (user[1:] != user[:-1]) | (time[1:] - time[:-1] > gap)
    session_sorted = np.cumsum(new_session) - 1
    session = np.empty(len(order), dtype=np.int64)
    session[order] = session_sorted
    return EventLog(session=session, time=log.time, item=log.item, event=log.event, has_sessions=True)
