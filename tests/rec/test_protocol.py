"""The preprocessing protocol on tiny logs whose correct result is written out by hand."""

import numpy as np
import pytest

from via.rec.data.events import EventLog, split_by_inactivity
from via.rec.data.protocol import (
    DAY,
    apply_protocol,
    filter_sessions_and_items,
    remove_consecutive_repeats,
    sessions_from_events,
    statistics,
    validation_split,
)
from via.rec.data.sessions import Sessions


def log_of(rows):
    """rows: (session, time in seconds, raw item id)."""
    s, t, i = zip(*rows)
    return EventLog(np.array(s), np.array(t, dtype=float), np.array(i))


def raw_lists(timed):
    return [timed.vocabulary[x].tolist() for x in timed.sessions]


def test_sessions_are_ordered_by_time_inside_and_by_end_between():
    log = log_of([(2, 50, 7), (1, 10, 5), (2, 40, 8), (1, 20, 6), (3, 5, 9)])
    timed = sessions_from_events(log)
    assert raw_lists(timed) == [[9], [5, 6], [8, 7]]
    assert timed.end.tolist() == [5, 20, 50]


def test_filters_repeat_until_stable():
    # item 9 is clicked 5 times (kept); item 4 is clicked 5 times, but once in the session
    # [4, 8], which loses 8 (rare) and becomes length 1; dropping that session leaves item 4
    # with 4 clicks, so the second round removes item 4 and with it session [1, 4]...
    sessions = [[9, 4], [9, 4], [9, 4], [9, 4], [4, 8], [9, 1], [1, 1], [1, 1]]
    rows = [(k, j, item) for k, s in enumerate(sessions) for j, item in enumerate(s)]
    timed = filter_sessions_and_items(sessions_from_events(log_of(rows)), 2, 5)
    # round 1: items with < 5 clicks: 8 (1 click) -> [4, 8] becomes [4] -> dropped
    # round 2: item 4 now has 4 clicks -> dropped -> [9, 4] x4 become [9] -> dropped
    # round 3: item 9 has 1 click left -> dropped -> [9, 1] becomes [1] -> dropped
    # round 4: item 1 has 4 clicks ([1, 1] x2) -> dropped -> nothing left
    assert raw_lists(timed) == []
    sessions[6:] = [[1, 1], [1, 1], [1, 1]]  # now item 1 keeps 6 clicks after [9, 1] goes
    rows = [(k, j, item) for k, s in enumerate(sessions) for j, item in enumerate(s)]
    timed = filter_sessions_and_items(sessions_from_events(log_of(rows)), 2, 5)
    assert raw_lists(timed) == [[1, 1], [1, 1], [1, 1]]


def test_consecutive_repeats_collapse_only_within_a_session():
    log = log_of([(1, 1, 5), (1, 2, 5), (1, 3, 6), (1, 4, 5), (2, 5, 5), (2, 6, 5)])
    timed = remove_consecutive_repeats(sessions_from_events(log))
    assert raw_lists(timed) == [[5, 6, 5], [5]]


def test_protocol_split_filter_and_remap_written_out():
    day = DAY
    train_sessions = [[10, 20, 30]] * 5 + [[30, 40]] * 5  # ends before the last day
    rows = []
    for k, s in enumerate(train_sessions):
        rows += [(k, k * 100 + j, item) for j, item in enumerate(s)]
    # test sessions in the last day: one with an item unseen in training (99, kept in the
    # raw log 5 times so that the support filter does not remove it first)
    last = 10 * day
    rows += [(100, last - 50, 20), (100, last - 40, 99), (100, last - 30, 40)]
    rows += [(101, last - 20, 99), (101, last - 10, 10)]
    rows += [(102 + j, 2 * day + j, 99) for j in range(3)]  # old single clicks: dropped
    rows += [(110, 5 * day, 99), (110, 5 * day + 1, 99), (110, 5 * day + 2, 99)]
    result = apply_protocol(log_of(rows), test_days=1, min_item_support=5)
    # training: the 10 short sessions and session 110 ([99, 99, 99]) which ends on day 5
    assert result.item_ids.tolist() == [-1, 10, 20, 30, 40, 99]
    assert result.train.to_lists() == [[1, 2, 3]] * 5 + [[3, 4]] * 5 + [[5, 5, 5]]
    # test: session 100 keeps all (99 is in training); session 101 too
    assert result.test.to_lists() == [[2, 5, 4], [5, 1]]


def test_test_items_unknown_to_training_are_dropped():
    day = DAY
    rows = []
    for k in range(5):
        rows += [(k, k * 10, 1), (k, k * 10 + 1, 2)]
    # item 3 appears only in the test period, 5 times, in two test sessions
    end = 30 * day
    rows += [(50, end - 5, 1), (50, end - 4, 3), (50, end - 3, 2)]
    rows += [(51, end - 2, 3), (51, end - 1, 3), (51, end, 3), (51, end + 1, 3)]
    result = apply_protocol(log_of(rows), test_days=7, min_item_support=5)
    assert result.item_ids.tolist() == [-1, 1, 2]
    assert result.test.to_lists() == [[1, 2]]  # 51 vanished: only unseen items


def test_split_by_inactivity_cuts_after_thirty_minutes():
    gap = 30 * 60
    log = log_of([(7, 0, 1), (7, gap, 2), (7, 2 * gap + 1, 3), (8, 10, 4), (7, 2 * gap + 5, 5)])
    log.has_sessions = False
    split = split_by_inactivity(log)
    timed = sessions_from_events(split)
    assert raw_lists(timed) == [[4], [1, 2], [3, 5]]


def test_validation_split_comes_from_the_end_of_training():
    train = Sessions.from_lists([[1, 2], [2, 3], [1, 3], [3, 4], [4, 9, 1]])
    fit_part, valid = validation_split(train, fraction=0.4)
    assert fit_part.to_lists() == [[1, 2], [2, 3], [1, 3]]
    # [3, 4]: item 4 never in fit_part -> [3] -> too short; [4, 9, 1] -> [1] -> dropped
    assert valid.to_lists() == []
    fit_part, valid = validation_split(Sessions.from_lists([[1, 2], [2, 1], [1, 2, 3]]), 0.34)
    assert valid.to_lists() == [[1, 2]]
    with pytest.raises(ValueError):
        validation_split(train, fraction=1.5)


def test_statistics_columns():
    stats = statistics("toy", Sessions.from_lists([[1, 2, 3], [2, 2]]))
    assert stats["clicks"] == 5
    assert stats["sequences"] == 3  # [1]->2, [1,2]->3, [2]->2
    assert stats["items"] == 3
    # sequences with target: lengths 2, 3, 2
    assert stats["avg_length"] == pytest.approx(7 / 3)
    assert stats["avg_session_length"] == pytest.approx(2.5)
