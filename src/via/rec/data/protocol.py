"""The standard preprocessing protocol of session-based recommendation.

Following Hidasi et al. (GRU4Rec) and Wu et al. (SR-GNN), as the thesis does (section 3.5.1):

1. build sessions from the event log (clicks ordered by time inside a session);
2. optionally collapse consecutive repeats of the same item;
3. drop sessions of length 1 and items clicked fewer than 5 times, repeated until neither
   filter removes anything (one item filter can create new length-1 sessions and vice versa);
4. split by time: sessions that end in the last `test_days` days are the test set;
5. drop test clicks on items absent from training, then test sessions shorter than 2;
6. map the remaining item ids to contiguous ids 1..n (sorted by raw id).

A validation split for model selection is carved from the end of training the same way (last
sessions by time), never from the test set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from via.rec.data.events import EventLog
from via.rec.data.sessions import Sessions

DAY = 86400.0


@dataclass(frozen=True)
class TimedSessions:
    """Sessions of raw item ids with the time of their first and last click, oldest first."""

    sessions: Sessions  # raw item ids; may exceed int32, so kept as codes into `vocabulary`
    vocabulary: np.ndarray  # raw item id of each code
    start: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.sessions)

    def raw_items(self) -> np.ndarray:
        return self.vocabulary[self.sessions.items]

    def select(self, mask: np.ndarray) -> TimedSessions:
        return TimedSessions(self.sessions.select(mask), self.vocabulary, self.start[mask], self.end[mask])

    def filter_clicks(self, keep: np.ndarray) -> TimedSessions:
        return TimedSessions(self.sessions.filter_clicks(keep), self.vocabulary, self.start, self.end)


def sessions_from_events(log: EventLog) -> TimedSessions:
    """Group clicks by session; clicks ordered by time (file order among equal times), sessions
    ordered by their last click (then by key)."""
    if not log.has_sessions:
        raise ValueError("cut the log into sessions first (split_by_inactivity)")
    if len(log) == 0:
        empty = Sessions.from_lists([])
        return TimedSessions(empty, np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
    order = np.lexsort((np.arange(len(log)), log.time, log.session))
    key, time = log.session[order], log.time[order]
    vocabulary, codes = np.unique(log.item[order], return_inverse=True)
    boundary = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    offsets = np.r_[boundary, len(key)]
    start = time[boundary]
    end = time[offsets[1:] - 1]
    by_end = np.lexsort((key[boundary], end))
    grouped = Sessions(codes.astype(np.int32), offsets)
    return TimedSessions(grouped.select(by_end), vocabulary, start[by_end], end[by_end])


def remove_consecutive_repeats(data: TimedSessions) -> TimedSessions:
    """[a, a, b, a] -> [a, b, a]: a click on the item just clicked is not a new event."""
    s = data.sessions
    keep = np.ones(len(s.items), dtype=bool)
    same = s.items[1:] == s.items[:-1]
    same_session = s.session_index[1:] == s.session_index[:-1]
    keep[1:] = ~(same & same_session)
    return data.filter_clicks(keep)


def filter_sessions_and_items(
    data: TimedSessions, min_session_length: int = 2, min_item_support: int = 5
) -> TimedSessions:
    """Drop short sessions and rare items until both hold for every remaining click."""
    while True:
        lengths = data.sessions.lengths
        if (lengths < min_session_length).any():
            data = data.select(lengths >= min_session_length)
        support = np.bincount(data.sessions.items, minlength=len(data.vocabulary))
        rare = support[data.sessions.items] < min_item_support
        if not rare.any():
            lengths = data.sessions.lengths
            if not (lengths < min_session_length).any():
                return data
            continue
        data = data.filter_clicks(~rare)


def split_by_time(data: TimedSessions, test_days: float) -> tuple[TimedSessions, TimedSessions]:
    """Sessions ending within `test_days` days of the last click are the test set."""
    if len(data) == 0:
        return data, data
    cut = data.end.max() - test_days * DAY
    return data.select(data.end <= cut), data.select(data.end > cut)


def keep_known_items(
    test: TimedSessions, train: TimedSessions, min_session_length: int = 2
) -> TimedSessions:
    """Drop test clicks on items absent from training, then sessions that became too short."""
    known = np.zeros(len(test.vocabulary), dtype=bool)
    known[train.sessions.items] = True
    test = test.filter_clicks(known[test.sessions.items])
    return test.select(test.sessions.lengths >= min_session_length)


@dataclass(frozen=True)
class ProtocolResult:
    train: Sessions  # item ids 1..n_items
    test: Sessions
    item_ids: np.ndarray  # raw id of item i at index i (index 0 unused, -1)
    train_times: tuple[np.ndarray, np.ndarray]
    test_times: tuple[np.ndarray, np.ndarray]

    @property
    def n_items(self) -> int:
        return len(self.item_ids) - 1


def remap_items(train: TimedSessions, test: TimedSessions) -> ProtocolResult:
    """Map the codes of the items left in training to 1..n, ordered by raw id."""
    used = np.unique(train.sessions.items)
    new_id = np.zeros(len(train.vocabulary), dtype=np.int32)
    # vocabulary is sorted by raw id, so sorted codes keep raw-id order
    new_id[used] = np.arange(1, len(used) + 1, dtype=np.int32)

    def mapped(part: TimedSessions) -> Sessions:
        return Sessions(new_id[part.sessions.items], part.sessions.offsets)

    return ProtocolResult(
        train=mapped(train),
        test=mapped(test),
        item_ids=np.r_[-1, train.vocabulary[used]],
        train_times=(train.start, train.end),
        test_times=(test.start, test.end),
    )


def apply_protocol(
    log: EventLog,
    *,
    test_days: float = 7.0,
    min_session_length: int = 2,
    min_item_support: int = 5,
    remove_repeats: bool = False,
) -> ProtocolResult:
    """Event log -> train and test sessions over items 1..n, by the standard protocol."""
    data = sessions_from_events(log)
    if remove_repeats:
        data = remove_consecutive_repeats(data)
    data = filter_sessions_and_items(data, min_session_length, min_item_support)
    train, test = split_by_time(data, test_days)
    test = keep_known_items(test, train, min_session_length)
    return remap_items(train, test)


def validation_split(
    train: Sessions, fraction: float = 0.1, min_session_length: int = 2
) -> tuple[Sessions, Sessions]:
    """Carve the last `fraction` of training sessions (time order) off as a validation set.

    Validation clicks on items that the remaining training sessions never show are dropped,
    as for the test set, so that validation mirrors the test protocol.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    n_valid = max(1, int(round(len(train) * fraction)))
    cut = len(train) - n_valid
    fit_part = train.select(np.arange(cut))
    valid = train.select(np.arange(cut, len(train)))
    known = np.zeros(max(train.max_item(), 0) + 1, dtype=bool)
    known[fit_part.items] = True
    valid = valid.filter_clicks(known[valid.items])
    valid = valid.select(valid.lengths >= min_session_length)
    return fit_part, valid


def statistics(name: str, sessions: Sessions) -> dict[str, float | int | str]:
    """The columns of the thesis' Table 3.2, plus sessions and average session length.

    "Sequences" are the prefixes the protocol evaluates (clicks minus sessions); "Avg. Length"
    is the mean length of those sequences counting their target, SR-GNN's "average length"
    (Wu et al. report 5.12 for Diginetica and 6.16 for Yoochoose 1/64; the thesis prints 5.39 and
    6.39 without saying how it counts). The mean session length is given beside it.
    """
    lengths = sessions.lengths.astype(np.int64)
    n_sequences = int(np.maximum(lengths - 1, 0).sum())
    # prefixes of a session of length n have lengths 1..n-1; with their target, 2..n
    with_target = (lengths * (lengths + 1) // 2 - 1) * (lengths > 1)
    return {
        "set": name,
        "sessions": len(sessions),
        "clicks": sessions.n_clicks,
        "sequences": n_sequences,
        "items": int(len(np.unique(sessions.items[sessions.items > 0]))),
        "avg_length": float(with_target.sum() / n_sequences) if n_sequences else 0.0,
        "avg_session_length": float(lengths.mean()) if len(lengths) else 0.0,
    }


def statistics_table(rows: list[dict]) -> str:
    """A Markdown table in the layout of the thesis' Table 3.2."""
    lines = [
        "| Dataset | # of Clicks | # of Sequences | # of Items | Avg. Length | # of Sessions | Avg. Session Length |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['clicks']:,} | {r['sequences']:,} | {r['items']:,} | "
            f"{r['avg_length']:.2f} | {r['sessions']:,} | {r['avg_session_length']:.2f} |"
        )
    return "\n".join(lines)
