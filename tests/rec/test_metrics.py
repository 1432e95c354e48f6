"""Metrics against rankings computed by hand, ties included."""

import math

import numpy as np
import pytest

from via.rec.metrics import (
    catalog_coverage,
    hit_rate_at,
    mean_popularity,
    mrr_at,
    ndcg_at,
    target_ranks,
    top_k,
)

NEG = -np.inf


def test_ranks_by_hand():
    # catalog of 5 items (columns 1..5); column 0 is padding
    scores = np.array(
        [
            [NEG, 0.1, 0.9, 0.5, 0.3, 0.2],  # target 3 (0.5): only item 2 above -> rank 0-based 1
            [NEG, 0.1, 0.9, 0.5, 0.3, 0.2],  # target 2: best -> rank 0
            [NEG, 0.1, 0.9, 0.5, 0.3, 0.2],  # target 1: worst -> rank 4
        ],
        dtype=np.float32,
    )
    targets = np.array([3, 2, 1])
    assert target_ranks(scores, targets).tolist() == [1, 0, 4]


def test_ties_count_against_the_model():
    # items 1, 3 and 4 tie with target 3; item 2 is above: 1 above + 2 tied -> rank 3
    scores = np.array([[NEG, 0.5, 0.7, 0.5, 0.5, 0.1]], dtype=np.float32)
    assert target_ranks(scores, np.array([3])).tolist() == [3]
    # a constant model ranks every target last
    flat = np.array([[NEG, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    assert target_ranks(flat, np.array([2])).tolist() == [3]


def test_unknown_target_is_a_miss():
    scores = np.array([[NEG, 0.3, 0.2]], dtype=np.float32)
    assert target_ranks(scores, np.array([0])).tolist() == [2]


def test_hr_mrr_ndcg_by_hand():
    ranks = np.array([0, 1, 4, 19, 20, 100])
    assert hit_rate_at(ranks, 5) == pytest.approx(3 / 6)
    assert hit_rate_at(ranks, 20) == pytest.approx(4 / 6)
    assert mrr_at(ranks, 5) == pytest.approx((1 + 1 / 2 + 1 / 5) / 6)
    assert mrr_at(ranks, 20) == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 20) / 6)
    expected_ndcg = (1 + 1 / math.log2(3) + 1 / math.log2(6) + 1 / math.log2(21)) / 6
    assert ndcg_at(ranks, 20) == pytest.approx(expected_ndcg)


def test_top_k_matches_full_sort_on_wide_rows_with_ties():
    rng = np.random.default_rng(7)
    scores = rng.random((64, 30001)).astype(np.float32)
    scores[:8] = np.round(scores[:8], 2)  # many ties
    scores[8:40] = np.where(scores[8:40] > 0.9995, scores[8:40], 0.0)  # sparse rows: ties at 0
    scores[40:42] = 0.0
    scores[:, 0] = NEG
    best = top_k(scores, 20)
    reference = np.argsort(-scores[:, 1:], axis=1, kind="stable")[:, :20] + 1
    got = np.take_along_axis(scores, best, axis=1)
    want = np.take_along_axis(scores, reference, axis=1)
    np.testing.assert_array_equal(got, want)
    assert all(len(set(row)) == 20 for row in best.tolist())
    assert (best >= 1).all()


def test_top_k_narrow_catalog():
    scores = np.array([[NEG, 0.2, 0.9, 0.4]], dtype=np.float32)
    assert top_k(scores, 2).tolist() == [[2, 3]]
    assert top_k(scores, 10).tolist() == [[2, 3, 1]]


def test_coverage_and_popularity():
    recommended = np.array([[1, 2], [2, 3]])
    assert catalog_coverage(recommended, 6) == pytest.approx(3 / 6)
    counts = np.array([0, 10, 5, 0, 0, 0, 0], dtype=float)
    assert mean_popularity(recommended, counts) == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)
