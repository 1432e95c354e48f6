"""Rerank: features, the listwise ranker trained on validation, scores, persistence, runner."""

from __future__ import annotations

import json

import numpy as np
import pytest

from via.rec.data.sessions import PrefixBatch, Sessions
from via.rec.evaluate import evaluate
from via.rec.models import ModelFileError, create_model
from via.rec.models.blend import Blend
from via.rec.models.rerank import Rerank, n_features, session_features

from .neural_synthetic import (  # noqa: F401 (pytest finds the fixtures by their names)
    RUNNER_GRU,
    RUNNER_STAN,
    cycle_sessions,
    hit_rate,
    one_thread_fixture,
    runner_members,
    train_fixture,
)

GRU, STAN = RUNNER_GRU, RUNNER_STAN
PREFIXES = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3], [7, 8, 7]])


@pytest.fixture(scope="module", name="fitted")
def fitted_fixture(train):
    members = [create_model("gru4rec", **GRU), create_model("stan", **STAN)]
    ranker = Rerank(Blend(members, grid_step=0.25, valid_cases=400), top=10, n_epochs=4)
    return ranker.fit(train)


def test_session_features_count_clicks_last_click_and_recency():
    prefixes = PrefixBatch.from_lists([[4, 2, 4, 9], [2]])
    candidates = np.array([[4, 9, 2, 7], [2, 4, 9, 7]])
    got = session_features(prefixes, candidates)
    assert got[0, :, 0].tolist() == pytest.approx([2 / 5, 1 / 5, 1 / 5, 0.0])
    assert got[0, :, 1].tolist() == [0.0, 1.0, 0.0, 0.0]
    # clicks since the last click on the item: 4 -> 1, 9 -> 0, 2 -> 2, 7 never
    assert got[0, :, 2].tolist() == pytest.approx([1 / 2, 1.0, 1 / 3, 0.0])
    assert got[1, :, 0].tolist() == pytest.approx([1 / 5, 0, 0, 0])
    assert got[1, :, 1].tolist() == [1.0, 0, 0, 0]


def test_candidates_are_the_members_tops_each_once(fitted):
    candidates, mask, features, fused = fitted.candidates_and_features(PREFIXES)
    assert features.shape == (4, candidates.shape[1], n_features(2))
    for row in range(4):
        kept = candidates[row][mask[row]]
        assert len(set(kept.tolist())) == len(kept)  # duplicates masked
        for member in fitted.blend.members:
            scores = member.scores(PrefixBatch.from_lists([PREFIXES.sessions[row].tolist()]))
            best = int(np.argmax(scores[0, 1:])) + 1
            assert best in set(kept.tolist())
    assert fused.shape == (4, fitted.n_items + 1)


def test_ranker_learns_the_cycle_and_candidates_rank_first(fitted):
    assert hit_rate(fitted, cycle_sessions(100, seed=2), k=5) > 0.9
    assert 1 <= fitted.chosen_epoch_ <= 4 and len(fitted.history_) >= fitted.chosen_epoch_
    scores = fitted.scores(PREFIXES)
    candidates, mask, _, _ = fitted.candidates_and_features(PREFIXES)
    for row in range(4):
        inside = scores[row, candidates[row][mask[row]]]
        outside = np.delete(scores[row, 1:], candidates[row][mask[row]] - 1)
        assert inside.min() > outside.max()
    assert scores[:, 0].tolist() == [-np.inf] * 4


def test_an_empty_prefix_gets_the_blends_scores(fitted):
    # every click of a test prefix may be on an item the members never saw (evaluate drops
    # them): the ranker has no session to read, so the Blend's own scores rank the catalog
    prefixes = PrefixBatch.from_lists([[3, 4, 5], [], [7]])
    scores = fitted.scores(prefixes)
    assert np.isfinite(scores[:, 1:]).all()
    fused = fitted.candidates_and_features(prefixes)[3]
    assert np.array_equal(scores[1, 1:], fused[1, 1:].astype(np.float32))
    assert np.array_equal(scores[[0, 2]], fitted.scores(PrefixBatch.from_lists([[3, 4, 5], [7]])))
    n = fitted.n_items
    unknown = Sessions.from_lists([[0, 0, 3], [4, 5, 6]])  # a first prefix of unknown items only
    assert unknown.max_item() <= n
    assert evaluate(fitted, unknown).n_cases == 4


def test_save_and_load_give_the_same_scores(fitted, tmp_path):
    fitted.save(tmp_path / "r")
    loaded = Rerank.load(tmp_path / "r")
    assert np.array_equal(loaded.scores(PREFIXES), fitted.scores(PREFIXES))
    (tmp_path / "r" / "ranker.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="cannot read the ranker"):
        Rerank.load(tmp_path / "r")


def test_runner_trains_on_validation_and_tests_on_all_members(train, tmp_path):
    from via.rec.cli import main as rec_main
    from via.rec.models.blend import main as blend_main
    from via.rec.models.rerank import main

    data = runner_members(tmp_path, train)
    weights = tmp_path / "w.json"
    blend_main(["choose", "--data", data, "--members", str(tmp_path / "g_fit"),
                str(tmp_path / "s_fit"), "--grid-step", "0.25", "--length-buckets", "3",
                "--out", str(weights)])
    with pytest.raises(SystemExit, match="give --one-set"):
        main(["train", "--data", data, "--members", str(tmp_path / "g_fit"),
              str(tmp_path / "s_fit"), "--weights", str(weights), "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit, match="not on cycle"):
        main(["train", "--data", data, "--members", str(tmp_path / "g_all"),
              str(tmp_path / "s_fit"), "--weights", str(weights), "--one-set",
              "--out", str(tmp_path / "x")])
    main(["train", "--data", data, "--members", str(tmp_path / "g_fit"), str(tmp_path / "s_fit"),
          "--weights", str(weights), "--one-set", "--top", "10", "--epochs", "3",
          "--out", str(tmp_path / "ranker")])
    trained = json.loads((tmp_path / "ranker" / "rerank.json").read_text())
    one_set = json.loads(weights.read_text())["one_set"]
    assert trained["weights"] == one_set["weights"] and trained["powers"] == one_set["powers"]
    assert 1 <= trained["chosen_epoch"] <= 3 and trained["params"]["top"] == 10
    best = max(trained["history"], key=lambda h: h["newer_hr20"] + h["newer_mrr20"])
    assert trained["newer_ranker"]["hr20"] == pytest.approx(best["newer_hr20"])
    assert trained["older_cases"] + trained["newer_cases"] > 0
    main(["test", "--data", data, "--members", str(tmp_path / "g_all"), str(tmp_path / "s_all"),
          "--ranker", str(tmp_path / "ranker"), "--out", str(tmp_path / "r.json"),
          "--save", str(tmp_path / "saved")])
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["model"] == "rerank:gru4rec+stan" and record["metrics"]["HR@5"] > 0.9
    # the saved ranker is what `via rec evaluate --load` reads, with the same figures
    out = tmp_path / "ev.json"
    assert rec_main(["evaluate", "--data", data, "--load", str(tmp_path / "saved"),
                     "--json", str(out)]) == 0
    again = json.loads(out.read_text())["metrics"]
    assert again["HR@20"] == pytest.approx(record["metrics"]["HR@20"], abs=1e-12)
    assert again["MRR@20"] == pytest.approx(record["metrics"]["MRR@20"], abs=1e-12)
    # members made with other settings than the ranker was trained with are refused
    blend_main(["member", "--data", data, "--model", "stan", "--part", "all",
                "--out", str(tmp_path / "s_other"), "--param", "k=20", "sample_size=200"])
    with pytest.raises(SystemExit, match="differs"):
        main(["test", "--data", data, "--members", str(tmp_path / "g_all"),
              str(tmp_path / "s_other"), "--ranker", str(tmp_path / "ranker"),
              "--out", str(tmp_path / "x.json")])
