"""Ragged sessions, prefix augmentation and padding."""

import numpy as np
import pytest

from via.rec.data.sessions import PrefixBatch, Sessions, all_prefixes


def test_prefix_augmentation_written_out():
    sessions = Sessions.from_lists([[1, 2, 3, 4], [5], [6, 7]])
    cases = all_prefixes(sessions)
    got = [(p.tolist(), int(t)) for p, t in zip(cases.prefixes.sessions, cases.targets)]
    assert got == [([1], 2), ([1, 2], 3), ([1, 2, 3], 4), ([6], 7)]
    assert cases.session_of.tolist() == [0, 0, 0, 2]


def test_prefix_augmentation_with_max_length():
    cases = all_prefixes(Sessions.from_lists([[1, 2, 3, 4]]), max_length=2)
    assert cases.prefixes.sessions.to_lists() == [[1], [1, 2], [2, 3]]
    assert cases.targets.tolist() == [2, 3, 4]


def test_padding_right_and_left_keep_most_recent():
    batch = PrefixBatch.from_lists([[1, 2, 3], [4], [5, 6, 7, 8, 9]])
    assert batch.padded(4).tolist() == [[0, 1, 2, 3], [0, 0, 0, 4], [6, 7, 8, 9]]
    assert batch.padded(4, align="left").tolist() == [[1, 2, 3, 0], [4, 0, 0, 0], [6, 7, 8, 9]]
    assert batch.last_items().tolist() == [3, 4, 9]


def test_select_and_filter_clicks():
    sessions = Sessions.from_lists([[1, 2], [3], [4, 5, 6]])
    assert sessions.select(np.array([2, 0])).to_lists() == [[4, 5, 6], [1, 2]]
    assert sessions.select(np.array([False, True, True])).to_lists() == [[3], [4, 5, 6]]
    kept = sessions.filter_clicks(sessions.items % 2 == 0)
    assert kept.to_lists() == [[2], [], [4, 6]]


def test_bad_offsets_are_refused():
    with pytest.raises(ValueError, match="offsets"):
        Sessions(np.array([1, 2, 3]), np.array([0, 2]))
