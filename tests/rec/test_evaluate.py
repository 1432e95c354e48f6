"""The next-item protocol end to end on a case small enough to rank by hand."""

import numpy as np
import pytest

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.evaluate import evaluate
from via.rec.models import create_model
from via.rec.models.base import SessionModel
from via.rec.models.popularity import click_counts


def test_pop_evaluated_by_hand():
    train = Sessions.from_lists([[1, 2, 2], [2, 3]])  # clicks 1:1, 2:3, 3:1 -> 1 and 3 tie
    model = create_model("pop").fit(train)
    test = Sessions.from_lists([[3, 1, 2], [0, 2, 0]])
    # cases: [3]->1 (rank 2: item 2 above, item 3 tied), [3,1]->2 (rank 0),
    #        []->2 (the unknown click is dropped; rank 0), [2]->0 (unknown target: a miss)
    result = evaluate(model, test, ks=(1, 3), item_counts=click_counts(train, 3))
    assert result.n_cases == 4
    assert result.ranks.tolist() == [2, 0, 0, 3]
    assert result.hit_rate[1] == pytest.approx(2 / 4)
    assert result.hit_rate[3] == pytest.approx(3 / 4)
    assert result.mrr[3] == pytest.approx((1 / 3 + 1 + 1) / 4)
    assert result.ndcg[3] == pytest.approx((1 / np.log2(4) + 1 + 1) / 4)
    # POP recommends item 2 first to everyone: coverage@1 = 1/3, popularity@1 = 3/3
    assert result.coverage[1] == pytest.approx(1 / 3)
    assert result.popularity[1] == pytest.approx(1.0)


class ConstantModel(SessionModel):
    """Gives every item the same score: every target must come out last."""

    name = "constant"

    def fit(self, train, valid=None, *, n_items=None):
        self.n_items = self._catalog_size(train, n_items)
        return self

    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        return np.ones((len(prefixes), self.n_items + 1), dtype=np.float32)

    def _weights(self):
        return {}

    def _set_weights(self, arrays):
        pass


def test_ties_are_never_rewarded():
    train = Sessions.from_lists([[1, 2, 3, 4, 5]])
    result = evaluate(ConstantModel().fit(train), Sessions.from_lists([[1, 2, 3]]), ks=(4, 5))
    assert result.ranks.tolist() == [4, 4]
    assert result.hit_rate[4] == 0.0 and result.hit_rate[5] == 1.0


def test_batches_do_not_change_results():
    rng = np.random.default_rng(0)
    train = Sessions.from_lists([rng.integers(1, 30, size=rng.integers(2, 8)) for _ in range(200)])
    test = Sessions.from_lists([rng.integers(1, 30, size=rng.integers(2, 8)) for _ in range(50)])
    model = create_model("sknn", k=20, sample_size=50).fit(train, n_items=30)
    one = evaluate(model, test, (5, 20), batch_size=7)
    other = evaluate(model, test, (5, 20), batch_size=1000)
    np.testing.assert_array_equal(one.ranks, other.ranks)
    assert one.coverage == other.coverage


def test_wrong_shape_from_a_model_is_reported():
    class Broken(ConstantModel):
        def scores(self, prefixes):
            return np.ones((len(prefixes), 2), dtype=np.float32)

    with pytest.raises(ValueError, match="expected"):
        evaluate(Broken().fit(Sessions.from_lists([[1, 2, 3]])), Sessions.from_lists([[1, 2]]))


def test_nan_scores_from_a_model_are_reported_with_the_prefix():
    class Broken(ConstantModel):
        def scores(self, prefixes):
            out = super().scores(prefixes)
            out[prefixes.lengths == 2] = np.nan
            return out

    model = Broken().fit(Sessions.from_lists([[1, 2, 3]]))
    with pytest.raises(ValueError, match=r"NaN for prefix 1 \(items \[1, 2\]\)"):
        evaluate(model, Sessions.from_lists([[1, 2, 3]]))
