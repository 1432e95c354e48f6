"""SKNN, V-SKNN and STAN against a plain per-session implementation of their definitions.

The reference below follows the published algorithms one prefix at a time with dicts and loops,
the way the papers' reference code does; the vectorised models must give the same scores.
"""

import math

import numpy as np
import pytest

from via.rec.data.sessions import PrefixBatch, Sessions, all_prefixes
from via.rec.models.neighbourhood import SKNN, STAN, VSKNN


def reference_scores(model, train, prefix, n_items):
    """Scores of one prefix, computed directly from the definitions."""
    sessions = [list(s) for s in train.to_lists()]
    length = len(prefix)
    last_pos = {item: p for p, item in enumerate(prefix, start=1)}
    items = set(prefix)
    candidates = [i for i, s in enumerate(sessions) if items & set(s)]  # any shared item
    if model.sample_size:
        candidates = sorted(candidates)[-model.sample_size :]  # most recent = latest in file
    name = model.name

    def query_weight(p):
        if name == "sknn":
            return 1.0
        if name == "vsknn":
            return (p / length) ** 2
        return math.exp((p - length) / model.lambda_spw)

    weights = {i: query_weight(p) for i, p in last_pos.items()}
    neighbours = []
    for c in candidates:
        n_set = set(sessions[c])
        shared = items & n_set
        if name == "sknn":
            sim = len(shared) / math.sqrt(len(items) * len(n_set))
        elif name == "vsknn":
            sim = sum(weights[i] for i in shared) / len(items)
        else:
            norm = math.sqrt(sum(w * w for w in weights.values()))
            sim = sum(weights[i] for i in shared) / (norm * math.sqrt(len(n_set)))
            if model.lambda_snh is not None:  # recency in training sessions (file order)
                sim *= math.exp(-(len(sessions) - c) / model.lambda_snh)
        neighbours.append((sim, c))
    neighbours.sort(key=lambda x: (-x[0], -x[1]))  # ties: more recent session first
    neighbours = [x for x in neighbours[: model.k] if x[0] > 0]
    clicks = np.bincount(train.items, minlength=n_items + 1)
    scores = np.zeros(n_items + 1)
    for sim, c in neighbours:
        n_items_list = sessions[c]
        n_last = {item: p for p, item in enumerate(n_items_list, start=1)}
        if name == "vsknn":
            step = next(s for s, item in enumerate(reversed(prefix), start=1) if item in n_last)
            decay = 1.0 / step
        if name == "stan":
            p_star = max(p for p, item in enumerate(n_items_list, start=1) if item in items)
        for item in set(n_items_list):
            if name == "sknn":
                scores[item] += sim
            elif name == "vsknn":
                idf = math.log(len(sessions) / clicks[item])
                scores[item] += sim * (1 + idf * model.idf_weighting) * decay
            else:
                scores[item] += sim * math.exp(-abs(n_last[item] - p_star) / model.lambda_inh)
    return scores[1:]


def random_sessions(rng, n_sessions, n_items, max_len=6):
    return Sessions.from_lists(
        [rng.integers(1, n_items + 1, size=rng.integers(2, max_len + 1)) for _ in range(n_sessions)]
    )


@pytest.mark.parametrize(
    "model",
    [
        SKNN(k=5, sample_size=12),
        SKNN(k=50, sample_size=0),
        VSKNN(k=4, sample_size=10),
        VSKNN(k=50, sample_size=0, idf_weighting=2.0),
        STAN(k=6, sample_size=15, lambda_spw=1.5, lambda_inh=2.0),
        STAN(k=50, sample_size=0),
        # weights that underflow to 0 must not shrink the candidate sample
        STAN(k=6, sample_size=15, lambda_spw=1e-05, lambda_inh=2.0),
        STAN(k=4, sample_size=8, lambda_spw=1e-05, lambda_snh=30.0),
    ],
    ids=lambda m: f"{m.name}-k{m.k}-m{m.sample_size}",
)
def test_vectorised_scores_equal_the_definition(model):
    rng = np.random.default_rng(3)
    n_items = 25
    train = random_sessions(rng, 80, n_items)
    test = random_sessions(rng, 15, n_items, max_len=7)  # repeats inside sessions included
    model.fit(train, n_items=n_items)
    cases = all_prefixes(test)
    got = model.scores(cases.prefixes)
    assert got.shape == (len(cases), n_items + 1)
    assert np.isneginf(got[:, 0]).all()
    for row, prefix in enumerate(cases.prefixes.sessions):
        want = reference_scores(model, train, prefix.tolist(), n_items)
        np.testing.assert_allclose(got[row, 1:], want, rtol=1e-5, atol=1e-6)


def test_empty_prefix_scores_nothing():
    model = SKNN().fit(Sessions.from_lists([[1, 2], [2, 3]]))
    out = model.scores(PrefixBatch.from_lists([[], [1]]))
    assert (out[0, 1:] == 0).all()
    assert out[1, 2] > 0


def test_hyperparameters_are_checked():
    with pytest.raises(ValueError, match="k must be"):
        SKNN(k=0)
    with pytest.raises(ValueError, match="weighting"):
        VSKNN(weighting="cubic")
    with pytest.raises(ValueError, match="lambda_spw"):
        STAN(lambda_spw=0)


@pytest.mark.parametrize("cls", [SKNN, VSKNN, STAN])
def test_popularity_fallback_orders_only_the_unscored_tail(cls):
    rng = np.random.default_rng(5)
    n_items = 40
    train = random_sessions(rng, 60, n_items)
    prefixes = all_prefixes(random_sessions(rng, 10, n_items)).prefixes
    plain = cls(k=3, sample_size=0).fit(train, n_items=n_items).scores(prefixes)
    filled = cls(k=3, sample_size=0, popularity_fallback=True).fit(train, n_items=n_items).scores(prefixes)
    clicks = np.bincount(train.items, minlength=n_items + 1)
    for row in range(len(prefixes)):
        scored = plain[row, 1:] > 0
        # scored items keep their scores, and every one stays above every unscored item
        np.testing.assert_array_equal(filled[row, 1:][scored], plain[row, 1:][scored])
        if scored.any() and (~scored).any():
            assert filled[row, 1:][scored].min() > filled[row, 1:][~scored].max()
        # unscored items are ordered by training clicks
        tail = np.flatnonzero(~scored) + 1
        order = tail[np.argsort(-filled[row, tail], kind="stable")]
        assert (np.diff(clicks[order]) <= 0).all()
