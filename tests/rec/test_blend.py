"""Blend: weights on a grid chosen on validation, the members refitted on everything, relative
scores, persistence and the step-by-step runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from math import comb

import numpy as np
import pytest

from via.rec.data.protocol import validation_split
from via.rec.data.sessions import PrefixBatch, all_prefixes
from via.rec.evaluate import evaluate
from via.rec.models import ModelFileError, create_model
from via.rec.models.blend import Blend, relative_scores, simplex_grid, weight_curve

from .neural_synthetic import (  # noqa: F401 (pytest finds the fixtures by their names)
    RUNNER_GRU,
    RUNNER_STAN,
    cycle_sessions,
    gru_member,
    hit_rate,
    one_thread_fixture,
    runner_members,
    train_fixture,
    write_benchmark,
)

GRU, STAN = RUNNER_GRU, RUNNER_STAN
PREFIXES = PrefixBatch.from_lists([[1], [3, 4, 5], [30, 1, 2, 3], [7, 8]])


def members():
    return [create_model("gru4rec", **GRU), create_model("stan", **STAN), create_model("pop")]


@pytest.fixture(scope="module", name="fitted")
def fitted_fixture(train):
    return Blend(members(), grid_step=0.25, valid_cases=400).fit(train)


def test_simplex_grid_holds_every_point_once():
    grid = simplex_grid(3, 0.05)
    assert len(grid) == comb(20 + 2, 2)
    assert np.allclose(grid.sum(axis=1), 1.0) and (grid >= 0).all()
    assert len({tuple(np.round(row, 6)) for row in grid}) == len(grid)
    assert simplex_grid(1, 0.5).tolist() == [[1.0]]
    with pytest.raises(ValueError, match="divide 1"):
        simplex_grid(2, 0.3)


def test_relative_scores_are_the_softmax_or_the_score_over_the_rows_best(fitted):
    gru, stan, _ = fitted.members
    logits = gru.scores(PREFIXES)
    expected = np.exp(logits[:, 1:] - logits[:, 1:].max(axis=1, keepdims=True))
    got = relative_scores(gru, PREFIXES)
    assert np.allclose(got[:, 1:], expected, rtol=1e-5) and (got[:, 0] == 0).all()
    raw = stan.scores(PREFIXES)[:, 1:]
    got = relative_scores(stan, PREFIXES)
    assert np.allclose(got[:, 1:], raw / raw.max(axis=1, keepdims=True), rtol=1e-5)
    for member in fitted.members:
        rel = relative_scores(member, PREFIXES)
        assert np.allclose(rel.max(axis=1), 1.0) and rel.min() >= 0.0
        dist = relative_scores(member, PREFIXES, "sum")
        assert np.allclose(dist.sum(axis=1), 1.0) and (dist[:, 0] == 0).all()
        assert np.allclose(dist, rel / rel.sum(axis=1, keepdims=True), rtol=1e-5)
    with pytest.raises(ValueError, match="norm"):
        relative_scores(gru, PREFIXES, "max")


def test_two_norms_keep_the_better_one_on_validation(fitted, train):
    _, valid = validation_split(train, 0.1)
    blend = Blend(fitted.members, grid_step=0.5, valid_cases=400, norm=["best", "sum"],
                  select_on="mrr@20")
    blend.n_items = fitted.n_items
    weights = blend.choose_weights(valid)
    assert {r["norm"] for r in blend.weight_curve_} == {"best", "sum"}
    assert len(blend.weight_curve_) == 2 * len(simplex_grid(3, 0.5))
    best = max(blend.weight_curve_, key=lambda r: (r["valid_mrr20"], r["valid_hr20"]))
    assert (weights, blend.norm_) == (best["weights"], best["norm"])
    by_hand = weight_curve(fitted.members, valid, simplex_grid(3, 0.5), valid_cases=400,
                           norm="sum")
    assert [r["valid_mrr20"] for r in by_hand] == pytest.approx(
        [r["valid_mrr20"] for r in blend.weight_curve_ if r["norm"] == "sum"])
    with pytest.raises(ValueError, match="fixed weights need one norm"):
        Blend(fitted.members, [1.0, 0.0, 0.0], norm=["best", "sum"])


def test_fit_chooses_weights_on_the_end_of_training_and_refits_members_on_all(fitted, train):
    fit_part, valid = validation_split(train, 0.1)
    by_hand = members()
    for member in by_hand:
        member.fit(fit_part, n_items=train.max_item())
    curve = weight_curve(by_hand, valid, simplex_grid(3, 0.25), valid_cases=400)
    assert [r["weights"] for r in curve] == [r["weights"] for r in fitted.weight_curve_]
    assert [r["valid_hr20"] for r in curve] == pytest.approx(
        [r["valid_hr20"] for r in fitted.weight_curve_])
    # the default choice: the best HR@20 + MRR@20
    best = max(r["valid_hr20"] + r["valid_mrr20"] for r in curve)
    chosen = next(r for r in fitted.weight_curve_ if r["weights"] == fitted.weights)
    assert chosen["valid_hr20"] + chosen["valid_mrr20"] == pytest.approx(best)
    # refitted on all training sessions, not only on the part before the validation sessions
    assert len(fitted.members[1]._train) == len(train) > len(fit_part)
    assert hit_rate(fitted, cycle_sessions(100, seed=2), k=5) > 0.9


def test_the_weight_curve_is_the_evaluation_of_each_blend(fitted, train):
    _, valid = validation_split(train, 0.1)
    curve = weight_curve(fitted.members, valid, simplex_grid(3, 0.5), valid_cases=10_000)
    for row in curve:
        result = evaluate(Blend(fitted.members, row["weights"]), valid, ks=[20])
        assert row["cases"] == len(all_prefixes(valid))
        assert row["valid_hr20"] == pytest.approx(result.as_dict()["HR@20"], abs=1e-9)
        assert row["valid_mrr20"] == pytest.approx(result.as_dict()["MRR@20"], abs=1e-6)


def test_a_member_alone_ranks_as_that_member(fitted):
    for i, member in enumerate(fitted.members[:2]):
        weights = [0.0, 0.0, 0.0]
        weights[i] = 1.0
        blend = Blend(fitted.members, weights).scores(PREFIXES)
        own = member.scores(PREFIXES)
        assert (np.argsort(-blend[:, 1:], axis=1, kind="stable")[:, :10]
                == np.argsort(-own[:, 1:], axis=1, kind="stable")[:, :10]).all()


def test_save_and_load_give_the_same_scores(fitted, tmp_path):
    fitted.save(tmp_path / "b")
    loaded = Blend.load(tmp_path / "b")
    assert loaded.weights == fitted.weights and loaded.norm_ == fitted.norm_
    assert np.array_equal(loaded.scores(PREFIXES), fitted.scores(PREFIXES))
    (tmp_path / "b" / "blend.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="blend.json"):
        Blend.load(tmp_path / "b")


def test_bad_weights_and_settings_are_refused(fitted):
    with pytest.raises(ValueError, match="add up to 1"):
        Blend(fitted.members, [0.5, 0.6, 0.0])
    with pytest.raises(ValueError, match="2 weights for 3 members"):
        Blend(fitted.members, [0.5, 0.5])
    with pytest.raises(ValueError, match="select_on"):
        Blend(fitted.members, select_on="ndcg")
    with pytest.raises(RuntimeError, match="no weights"):
        Blend(fitted.members).scores(PREFIXES)
    with pytest.raises(ValueError, match="at least one member"):
        Blend([])


def test_step_by_step_runner(train, tmp_path):
    from via.rec.models.blend import main

    data = runner_members(tmp_path, train)
    info = json.loads((tmp_path / "g_fit" / "member.json").read_text())
    assert info["part"] == "fit" and info["seed"] == 1 and info["params"]["seed"] == 1
    assert len(info["history"]) == GRU["n_epochs"] and info["fit_seconds"] > 0

    weights = tmp_path / "w.json"
    main(["choose", "--data", data, "--members", str(tmp_path / "g_fit"), str(tmp_path / "s_fit"),
          "--grid-step", "0.25", "--norm", "best", "sum", "--out", str(weights)])
    chosen = json.loads(weights.read_text())
    assert len(chosen["curve"]) == 10 and chosen["norm"] in ("best", "sum") and chosen["weights"] in [r["weights"] for r in chosen["curve"]]

    # `all` members only, as the docs run it (`python -m`, the module is __main__ there)
    with pytest.raises(SystemExit, match="not on cycle"):
        main(["test", "--data", data, "--members", str(tmp_path / "g_fit"),
              str(tmp_path / "s_all"), "--weights", str(weights), "--out", str(tmp_path / "r")])
    subprocess.run([sys.executable, "-m", "via.rec.models.blend", "test", "--data", data,
                    "--members", str(tmp_path / "g_all"), str(tmp_path / "s_all"),
                    "--weights", str(weights), "--out", str(tmp_path / "r.json"),
                    "--alone-records", str(tmp_path / "alone")],
                   check=True, env=dict(os.environ, OMP_NUM_THREADS="1"))
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["params"]["weights"] == chosen["weights"]
    assert record["params"]["norm"] == chosen["norm"] and record["model"] == "blend:gru4rec+stan"
    assert record["fit_seconds"] == pytest.approx(sum(record["member_fit_seconds"]))
    assert record["metrics"]["HR@5"] > 0.9
    assert [a["model"] for a in record["alone"]] == ["gru4rec", "stan"]
    gru_alone = json.loads((tmp_path / "alone" / "gru4rec_cycle_seed1.json").read_text())
    assert gru_alone == record["alone"][0] and gru_alone["training"]["epochs"] == GRU["n_epochs"]
    assert gru_alone["metrics"]["HR@5"] > 0.9 and gru_alone["params"]["seed"] == 1

    # two seeds' blends as one: the mean of their scores; the shared kNN member is loaded once
    gru_member(data, tmp_path / "g2_all", "all", seed=2)
    main(["test", "--data", data, "--members", str(tmp_path / "g_all"), str(tmp_path / "s_all"),
          str(tmp_path / "g2_all"), str(tmp_path / "s_all"), "--weights", str(weights),
          "--alone", "gru4rec", "--out", str(tmp_path / "two.json")])
    two = json.loads((tmp_path / "two.json").read_text())
    w_gru, w_stan = chosen["weights"]
    assert two["seeds"] == [1, 0, 2] and two["model"] == "blend:gru4rec+stan, 2 seeds' blends"
    assert two["params"]["weights"] == pytest.approx([w_gru / 2, w_stan, w_gru / 2])
    assert [(a["model"], a["seed"]) for a in two["alone"]] == [("gru4rec", 1), ("gru4rec", 2)]
    with pytest.raises(SystemExit, match="for 2 members"):
        main(["test", "--data", data, "--members", str(tmp_path / "g_all"), "--weights",
              str(weights), "--out", str(tmp_path / "x")])

    # members made with other settings than the weights were chosen for are refused
    main(["member", "--data", data, "--model", "stan", "--part", "all",
          "--out", str(tmp_path / "s_other"), "--param", "k=20", "sample_size=200"])
    with pytest.raises(SystemExit, match="differs"):
        main(["test", "--data", data, "--members", str(tmp_path / "g_all"),
              str(tmp_path / "s_other"), "--weights", str(weights), "--out", str(tmp_path / "x")])


def test_powers_curve_is_the_evaluation_of_each_blend(fitted, train):
    _, valid = validation_split(train, 0.1)
    grid = simplex_grid(3, 0.5)
    curve = weight_curve(fitted.members, valid, grid, valid_cases=10_000,
                         power_grid=(0.5, 1.0, 3.0))
    # a member without weight is listed with power 1 only
    assert all(p == 1.0 for row in curve for w, p in zip(row["weights"], row["powers"]) if not w)
    points = {(tuple(r["weights"]), tuple(r["powers"])) for r in curve}
    assert len(points) == len(curve)
    assert len(curve) == sum(3 ** int((w > 0).sum()) for w in grid)
    for row in curve:
        blend = Blend(fitted.members, row["weights"], powers=row["powers"])
        result = evaluate(blend, valid, ks=[20]).as_dict()
        assert row["valid_hr20"] == pytest.approx(result["HR@20"], abs=1e-9)
        assert row["valid_mrr20"] == pytest.approx(result["MRR@20"], abs=1e-6)
    # powers change the ranking: not every power vector gives the same figures
    assert len({round(r["valid_mrr20"], 9) for r in curve
                if r["weights"] == [0.5, 0.5, 0.0]}) > 1
    with pytest.raises(ValueError, match="positive"):
        weight_curve(fitted.members, valid, grid, power_grid=(0.0, 1.0))


def test_powers_are_chosen_with_the_weights_and_saved(fitted, train, tmp_path):
    _, valid = validation_split(train, 0.1)
    blend = Blend(fitted.members, grid_step=0.5, valid_cases=400, power_grid=(0.5, 2.0),
                  select_on="mrr@20")
    blend.n_items = fitted.n_items
    weights = blend.choose_weights(valid)
    best = max(blend.weight_curve_, key=lambda r: (r["valid_mrr20"], r["valid_hr20"]))
    assert (weights, blend.powers) == (best["weights"], best["powers"])
    assert {p for r in blend.weight_curve_ for p in r["powers"]} == {0.5, 2.0}
    relative = [relative_scores(m, PREFIXES) ** np.float32(p)
                for m, p in zip(blend.members, blend.powers)]
    expected = sum(np.float32(w) * r for w, r in zip(weights, relative))
    assert np.allclose(blend.scores(PREFIXES)[:, 1:], expected[:, 1:], rtol=1e-5)
    blend.save(tmp_path / "b")
    loaded = Blend.load(tmp_path / "b")
    assert loaded.powers == blend.powers and loaded.power_grid == [0.5, 2.0]
    assert np.array_equal(loaded.scores(PREFIXES), blend.scores(PREFIXES))
    with pytest.raises(ValueError, match="one positive number per member"):
        Blend(fitted.members, [1.0, 0.0, 0.0], powers=[1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        Blend(fitted.members, power_grid=(-1.0,))


def test_runner_chooses_powers_and_tests_with_them(train, tmp_path):
    from via.rec.models.blend import main

    data = str(write_benchmark(tmp_path / "cycle", train, cycle_sessions(60, seed=3)))
    for part in ("fit", "all"):
        gru_member(data, tmp_path / f"g_{part}", part, seed=1)
        main(["member", "--data", data, "--model", "pop", "--part", part,
              "--out", str(tmp_path / f"p_{part}")])
    weights = tmp_path / "w.json"
    main(["choose", "--data", data, "--members", str(tmp_path / "g_fit"), str(tmp_path / "p_fit"),
          "--grid-step", "0.25", "--power-grid", "0.5", "1", "4", "--select-on", "mrr@20",
          "--candidates", "1000", "--out", str(weights)])
    chosen = json.loads(weights.read_text())
    # more candidates than items: the shortcut is exact
    assert chosen["best_exact"]["valid_mrr20"] == pytest.approx(chosen["best"]["valid_mrr20"])
    assert chosen["best_exact"]["powers"] == chosen["powers"]
    assert chosen["power_grid"] == [0.5, 1.0, 4.0] and chosen["powers"] == chosen["best"]["powers"]
    assert chosen["points"] == 2 * 3 + 3 * 9  # one-member points: 3 powers; mixed: 3 x 3
    assert {tuple(r["powers"]) for r in chosen["best_per_powers"]} == {
        (a, b) for a in (0.5, 1.0, 4.0) for b in (0.5, 1.0, 4.0)}
    assert all(r["powers"] == chosen["powers"] for r in chosen["curve"])
    best = max(chosen["best_per_powers"], key=lambda r: (r["valid_mrr20"], r["valid_hr20"]))
    assert best["valid_mrr20"] == chosen["best"]["valid_mrr20"]
    main(["test", "--data", data, "--members", str(tmp_path / "g_all"), str(tmp_path / "p_all"),
          "--weights", str(weights), "--no-alone", "--out", str(tmp_path / "r.json"),
          "--save", str(tmp_path / "blend")])
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["params"]["powers"] == chosen["powers"]
    assert record["params"]["weights"] == chosen["weights"]
    # the saved blend is what `via rec evaluate --load` and `via rec latency --load` read
    from via.rec.cli import main as rec_main

    out = tmp_path / "ev.json"
    assert rec_main(["evaluate", "--data", data, "--load", str(tmp_path / "blend"),
                     "--json", str(out)]) == 0
    again = json.loads(out.read_text())["metrics"]
    assert again["HR@20"] == pytest.approx(record["metrics"]["HR@20"], abs=1e-12)
    assert again["MRR@20"] == pytest.approx(record["metrics"]["MRR@20"], abs=1e-12)
    lat = tmp_path / "lat.json"
    assert rec_main(["latency", "--data", data, "--load", str(tmp_path / "blend"), "--batches",
                     "2", "--sessions", "5", "--json", str(lat)]) == 0
    assert json.loads(lat.read_text())["model"] == "blend"


def test_candidates_shortcut_only_drops_items_from_the_ranks(fitted, train):
    _, valid = validation_split(train, 0.1)
    grid = simplex_grid(3, 0.25)
    exact = weight_curve(fitted.members, valid, grid, valid_cases=10_000, power_grid=(0.5, 1.0))
    every = weight_curve(fitted.members, valid, grid, valid_cases=10_000, power_grid=(0.5, 1.0),
                         candidates=fitted.n_items + 5)
    assert [(r["valid_hr20"], r["valid_mrr20"]) for r in every] == [
        (r["valid_hr20"], r["valid_mrr20"]) for r in exact]
    few = weight_curve(fitted.members, valid, grid, valid_cases=10_000, power_grid=(0.5, 1.0),
                       candidates=3)
    assert [r["weights"] for r in few] == [r["weights"] for r in exact]
    # fewer items can be ahead of the target: ranks only go down, the figures only up
    assert all(f["valid_hr20"] >= e["valid_hr20"] - 1e-12 and
               f["valid_mrr20"] >= e["valid_mrr20"] - 1e-12 for f, e in zip(few, exact))
    assert any(f["valid_mrr20"] > e["valid_mrr20"] for f, e in zip(few, exact))


def _bucket_figures(blend, cases, rows):
    """HR@20 and MRR@20 of `blend` on the cases `rows` (ties count against the target)."""
    prefixes = PrefixBatch.from_lists([cases.prefixes.sessions[i].tolist() for i in rows])
    scores = blend.scores(prefixes)
    target = scores[np.arange(len(rows)), cases.targets[rows]]
    ranks = (scores[:, 1:] >= target[:, None]).sum(axis=1)  # the target itself included
    hit = ranks <= 20
    return hit.mean(), np.where(hit, 1 / ranks, 0.0).mean()


def test_length_buckets_choose_weights_per_bucket_and_score_with_them(fitted, train, tmp_path):
    from via.rec.models.blend import length_bucket

    assert length_bucket(np.array([1, 2, 3, 4, 5, 9, 10, 30]), [2, 3, 5, 10]).tolist() == [
        0, 1, 2, 2, 3, 3, 4, 4]
    _, valid = validation_split(train, 0.1)
    cases = all_prefixes(valid)
    buckets = length_bucket(cases.prefixes.lengths, [2, 4])
    assert len(set(buckets.tolist())) == 3
    curve = weight_curve(fitted.members, valid, simplex_grid(3, 0.5), valid_cases=10_000,
                         power_grid=(0.5, 1.0), length_buckets=[2, 4])
    assert {r["bucket"] for r in curve} == {None, 0, 1, 2}
    for b in range(3):
        assert {r["cases"] for r in curve if r["bucket"] == b} == {int((buckets == b).sum())}
    # a bucket's row is the evaluation of that blend on that bucket's prefixes alone
    for row in curve:
        if row["bucket"] is not None:
            blend = Blend(fitted.members, row["weights"], powers=row["powers"])
            hr, mrr = _bucket_figures(blend, cases, np.flatnonzero(buckets == row["bucket"]))
            assert row["valid_hr20"] == pytest.approx(hr, abs=1e-9)
            assert row["valid_mrr20"] == pytest.approx(mrr, abs=1e-6)

    blend = Blend(fitted.members, grid_step=0.5, valid_cases=10_000, power_grid=(0.5, 1.0),
                  length_buckets=[2, 4])
    blend.n_items = fitted.n_items
    weights = blend.choose_weights(valid)
    assert len(weights) == 3 and len(blend.powers) == 3
    for b, (w, p) in enumerate(zip(weights, blend.powers)):
        mine = [r for r in blend.weight_curve_ if r["bucket"] == b]
        best = max(mine, key=lambda r: (r["valid_hr20"] + r["valid_mrr20"], r["valid_mrr20"]))
        assert (w, p) == (best["weights"], best["powers"])
    # the chosen blend, evaluated as any model on the validation prefixes, gives the buckets'
    # figures together, and at least those of the best single set of weights
    result = evaluate(blend, valid, ks=[20]).as_dict()
    together = sum(r["valid_hr20"] * r["cases"] for r in blend.chosen_) / len(cases)
    assert result["HR@20"] == pytest.approx(together, abs=1e-9)
    one_set = max((r for r in blend.weight_curve_ if r["bucket"] is None),
                  key=lambda r: r["valid_hr20"] + r["valid_mrr20"])
    assert (result["HR@20"] + result["MRR@20"]
            >= one_set["valid_hr20"] + one_set["valid_mrr20"] - 1e-9)
    # each prefix is scored with its bucket's weights and powers
    mixed = PrefixBatch.from_lists([[1], [3, 4, 5, 6], [7, 8]])  # buckets 0, 2, 1
    together_scores = blend.scores(mixed)
    for i, b in ((0, 0), (1, 2), (2, 1)):
        alone = Blend(fitted.members, weights[b], powers=blend.powers[b]).scores(
            PrefixBatch.from_lists([mixed.sessions[i].tolist()]))
        assert np.allclose(together_scores[i, 1:], alone[0, 1:], rtol=1e-6)
    blend.save(tmp_path / "b")
    loaded = Blend.load(tmp_path / "b")
    assert loaded.length_buckets == [2, 4] and loaded.weights == weights
    assert np.array_equal(loaded.scores(PREFIXES), blend.scores(PREFIXES))
    with pytest.raises(ValueError, match="increasing prefix lengths"):
        Blend(fitted.members, length_buckets=[4, 2])
    with pytest.raises(ValueError, match="2 weight vectors for 3 length buckets"):
        Blend(fitted.members, [[1.0, 0.0, 0.0]] * 2, length_buckets=[2, 4])


def test_runner_length_buckets_and_split_check(train, tmp_path):
    from via.rec.models.blend import main

    data = runner_members(tmp_path, train)
    weights = tmp_path / "w.json"
    main(["choose", "--data", data, "--members", str(tmp_path / "g_fit"), str(tmp_path / "s_fit"),
          "--grid-step", "0.25", "--power-grid", "0.5", "1", "--length-buckets", "2", "4",
          "--candidates", "5", "--split-check", "--out", str(weights)])
    chosen = json.loads(weights.read_text())
    assert chosen["length_buckets"] == [2, 4]
    assert len(chosen["weights"]) == 3 and len(chosen["powers"]) == 3
    assert [r["bucket"] for r in chosen["chosen_rows"]] == [0, 1, 2]
    cases = sum(r["cases"] for r in chosen["chosen_rows"])
    assert chosen["best"]["cases"] == cases == chosen["best_exact"]["cases"]
    assert chosen["best"]["valid_hr20"] == pytest.approx(
        sum(r["valid_hr20"] * r["cases"] for r in chosen["chosen_rows"]) / cases)
    # the shortcut only lifts the figures; the exact ones are of the same weights
    assert chosen["best_exact"]["weights"] == chosen["weights"]
    assert chosen["best_exact"]["valid_hr20"] <= chosen["best"]["valid_hr20"] + 1e-12
    check = chosen["split_check"]
    assert check["older_cases"] + check["newer_cases"] == cases
    assert len(check["length_buckets"]["weights"]) == 3 and len(check["one_set"]["weights"]) == 2
    for label in ("one_set", "length_buckets"):
        assert check[label]["newer"]["cases"] == check["newer_cases"]
        assert 0 <= check[label]["newer"]["valid_hr20"] <= 1
    # the curve holds the whole grid at each bucket's chosen powers and at the best single set's
    assert {r["bucket"] for r in chosen["curve"]} == {None, 0, 1, 2}

    # two seeds' blends as one: per bucket, each member weighted w/2
    gru_member(data, tmp_path / "g2_all", "all", seed=2)
    main(["test", "--data", data, "--members", str(tmp_path / "g_all"), str(tmp_path / "s_all"),
          str(tmp_path / "g2_all"), str(tmp_path / "s_all"), "--weights", str(weights),
          "--no-alone", "--out", str(tmp_path / "two.json"), "--save", str(tmp_path / "blend")])
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["params"]["length_buckets"] == [2, 4]
    for got, (w_gru, w_stan) in zip(two["params"]["weights"], chosen["weights"]):
        assert got == pytest.approx([w_gru / 2, w_stan, w_gru / 2])
    assert two["params"]["powers"] == [[g, s, g] for g, s in chosen["powers"]]
    one_set = chosen["one_set"]
    assert one_set["bucket"] is None and one_set["cases"] == cases
    assert one_set["valid_hr20"] + one_set["valid_mrr20"] <= (
        chosen["best"]["valid_hr20"] + chosen["best"]["valid_mrr20"] + 1e-12)
    main(["test", "--data", data, "--members", str(tmp_path / "g_all"), str(tmp_path / "s_all"),
          "--weights", str(weights), "--one-set", "--no-alone", "--out", str(tmp_path / "o.json")])
    single = json.loads((tmp_path / "o.json").read_text())
    assert single["params"]["weights"] == one_set["weights"]
    assert single["params"]["powers"] == one_set["powers"]
    assert single["params"]["length_buckets"] == []
    plain = tmp_path / "plain.json"
    main(["choose", "--data", data, "--members", str(tmp_path / "g_fit"), str(tmp_path / "s_fit"),
          "--grid-step", "0.5", "--out", str(plain)])
    assert json.loads(plain.read_text())["one_set"] is None
    with pytest.raises(SystemExit, match="no length buckets"):
        main(["test", "--data", data, "--members", str(tmp_path / "g_all"),
              str(tmp_path / "s_all"), "--weights", str(plain), "--one-set", "--out",
              str(tmp_path / "x.json")])
    loaded = Blend.load(tmp_path / "blend")
    assert loaded.length_buckets == [2, 4]
    from via.rec.data.benchmark import load_benchmark

    result = evaluate(loaded, load_benchmark(data).test, ks=[20]).as_dict()
    assert result["HR@20"] == pytest.approx(two["metrics"]["HR@20"], abs=1e-12)
