"""BPR-MF and FPMC: what each factorisation must learn, and their files."""

import json

import numpy as np
import pytest

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.models import ModelFileError, SessionModel, create_model
from tests.rec.neural_synthetic import cycle_sessions, hit_rate, one_thread_fixture  # noqa: F401


def two_worlds(n_sessions: int, seed: int) -> Sessions:
    """Sessions that stay inside items 1..10 or inside items 11..20, never both."""
    rng = np.random.default_rng(seed)
    sessions = []
    for s in range(n_sessions):
        low = 1 if s % 2 == 0 else 11
        sessions.append(list(rng.choice(np.arange(low, low + 10), size=4, replace=False)))
    return Sessions.from_lists(sessions)


def test_fpmc_learns_the_transitions_of_a_cycle():
    model = create_model("fpmc", k_cf=8, k_mc=8, n_epochs=15, seed=0)
    model.fit(cycle_sessions(600, seed=1), n_items=30)
    assert hit_rate(model, cycle_sessions(100, seed=2), k=1) >= 0.9


def test_bprmf_keeps_sessions_in_their_world():
    model = create_model("bprmf", n_factors=8, n_epochs=30, learning_rate=0.1, sigma=0.1, seed=0)
    model.fit(two_worlds(400, seed=1), n_items=20)
    scores = model.scores(PrefixBatch.from_lists([[1, 2], [11, 12]]))
    assert scores[0, 1:11].mean() > scores[0, 11:].mean() + 0.1
    assert scores[1, 11:].mean() > scores[1, 1:11].mean() + 0.1
    assert np.isneginf(scores[:, 0]).all()


@pytest.mark.parametrize("name", ["bprmf", "fpmc"])
def test_save_load_gives_identical_scores_and_seeds_matter(name, tmp_path):
    train, prefixes = cycle_sessions(200, seed=1), PrefixBatch.from_lists([[3], [4, 5, 6], []])
    model = create_model(name, n_epochs=2, seed=0).fit(train, n_items=30)
    again = SessionModel.load(model.save(tmp_path / name))
    np.testing.assert_array_equal(again.scores(prefixes), model.scores(prefixes))
    same = create_model(name, n_epochs=2, seed=0).fit(train, n_items=30)
    other = create_model(name, n_epochs=2, seed=1).fit(train, n_items=30)
    np.testing.assert_array_equal(same.scores(prefixes), model.scores(prefixes))
    assert not np.array_equal(other.scores(prefixes), model.scores(prefixes))
    assert len(model.history_) == 2 and model.history_[0]["seconds"] > 0


def test_weights_of_the_wrong_shape_are_refused(tmp_path):
    model = create_model("fpmc", n_epochs=1).fit(cycle_sessions(50, seed=1), n_items=30)
    path = model.save(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config["n_items"] = 40
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="expected \\(41, factors\\)"):
        SessionModel.load(path)


def test_bad_hyperparameters_are_clear_errors():
    with pytest.raises(ValueError, match="n_epochs"):
        create_model("bprmf", n_epochs=0)
    with pytest.raises(ValueError, match="at least two clicks"):
        create_model("fpmc").fit(Sessions.from_lists([[1], [2]]), n_items=2)
