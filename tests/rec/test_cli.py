"""`via rec` end to end through the installed command, on small slices."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from via.rec.data.benchmark import load_benchmark, write_session_lines


def via(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "via.cli", "rec", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"via rec {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def small_benchmark(tmp_path_factory, shared_data):
    data = load_benchmark("diginetica")
    out = tmp_path_factory.mktemp("bench") / "digi_small"
    out.mkdir()
    write_session_lines(out / "train.txt.gz", data.train.select(np.arange(len(data.train) - 15000, len(data.train))))
    write_session_lines(out / "test.txt.gz", data.test.select(np.arange(200)))
    return out


def test_evaluate_save_and_load(small_benchmark, tmp_path):
    proc = via("evaluate", "--model", "stan", "--data", small_benchmark, "--k", "5", "20",
               "--param", "k=100", "--save", tmp_path / "stan", "--json", tmp_path / "r.json")
    assert "HR" in proc.stdout and (tmp_path / "stan" / "config.json").exists()
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["params"]["k"] == 100
    assert 0 < record["metrics"]["HR@20"] <= 1
    proc = via("evaluate", "--load", tmp_path / "stan", "--data", small_benchmark, "--k", "5", "20",
               "--json", tmp_path / "r2.json")
    again = json.loads((tmp_path / "r2.json").read_text())
    assert again["metrics"]["HR@20"] == record["metrics"]["HR@20"]
    assert again["metrics"]["MRR@5"] == record["metrics"]["MRR@5"]


def test_benchmark_writes_table_and_chart(small_benchmark, tmp_path):
    out = tmp_path / "docs" / "bench.md"
    via("benchmark", "--data", small_benchmark, "--models", "pop", "spop", "itemknn", "--out", out)
    text = out.read_text()
    assert "| S-POP |" in text and "| Item-KNN |" in text and "fit (s)" in text
    records = json.loads(out.with_suffix(".json").read_text())
    assert [r["model"] for r in records] == ["pop", "spop", "itemknn"]
    spop = next(r for r in records if r["model"] == "spop")
    assert f"{100 * spop['metrics']['HR@20']:.2f}" in text
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_preprocess_raw_diginetica(shared_data, tmp_path):
    raw = shared_data / "raw" / "diginetica_sample_train-item-views.csv"
    proc = via("preprocess", raw, tmp_path / "out", "--format", "diginetica", "--test-days", "7")
    assert "# of Sequences" in proc.stdout
    data = load_benchmark(tmp_path / "out")
    assert len(data.train) > 0 and len(data.test) > 0
    assert (data.train.lengths >= 2).all() and (data.test.lengths >= 2).all()
    counts = np.bincount(data.train.items)
    assert counts[1:].min() >= 1
    assert (tmp_path / "out" / "statistics.md").read_text().startswith("| Dataset |")


def test_preprocess_malformed_log_stops_or_skips(tmp_path):
    raw = tmp_path / "clicks.tsv"
    rows = ["SessionId\tItemId\tTime"]
    rows += [f"{s}\t{i}\t{1000 + 10 * s + j}" for s in range(40) for j, i in enumerate((1, 2, 3))]
    rows.insert(7, "5\tbanana\t1234")  # line 8 of the file
    raw.write_text("\n".join(rows) + "\n")
    proc = via("preprocess", raw, tmp_path / "out", "--format", "gru4rec", check=False)
    assert proc.returncode == 1
    assert f"{raw}:8: item id 'banana' is not an integer" in proc.stderr
    proc = via("preprocess", raw, tmp_path / "out", "--format", "gru4rec", "--on-error", "skip")
    assert "skipped 1 malformed row(s)" in proc.stdout
    assert f"{raw}:8" in proc.stdout


def test_unknown_model_is_a_clear_error(small_benchmark):
    proc = via("evaluate", "--model", "nope", "--data", small_benchmark, check=False)
    assert proc.returncode != 0 and "invalid choice" in proc.stderr


def test_tune_uses_a_validation_split_and_reports_the_best(small_benchmark, tmp_path):
    proc = via("tune", "--model", "sknn", "--data", small_benchmark, "--grid", "k=5,50",
               "--valid-fraction", "0.1", "--json", tmp_path / "tune.json")
    assert "validating on" in proc.stdout and "best by MRR@20" in proc.stdout
    report = json.loads((tmp_path / "tune.json").read_text())
    assert [r["params"]["k"] for r in report["runs"]] == [5, 50]
    best = max(report["runs"], key=lambda r: r["metrics"]["MRR@20"])
    assert report["best"] == best["params"]
    # 10% of 15,000 training sessions, minus those emptied by the unseen-item filter
    assert all(r["metrics"]["cases"] < 15000 for r in report["runs"])


def test_benchmark_with_other_cutoffs_still_reports_at_20(small_benchmark, tmp_path):
    out = tmp_path / "b.md"
    via("benchmark", "--data", small_benchmark, "--models", "pop", "--k", "5", "10", "--out", out)
    assert "HR@20" in out.read_text()


def test_bad_param_is_a_message_not_a_traceback(small_benchmark):
    proc = via("evaluate", "--model", "stan", "--data", small_benchmark, "--param", "kk=3", check=False)
    assert proc.returncode == 1
    assert "stan has no hyperparameter kk" in proc.stderr and "Traceback" not in proc.stderr


TINY_GRU4REC = ["layers=[16]", "n_sample=32", "batch_size=32", "n_epochs=1"]
TINY_LSTM = ["embedding_dim=8", "hidden_units=8", "n_sample=64", "diversity_sample=64",
             "batch_size=256", "n_epochs=2", "verbose=false"]


def _cases(epoch: dict) -> float:
    """The prefixes an epoch of a training record went through."""
    return epoch["prefixes_per_second"] * epoch["seconds"]


def test_evaluate_refit_tests_the_model_retrained_on_all_sessions(small_benchmark, tmp_path):
    via("evaluate", "--model", "lstm", "--data", small_benchmark, "--k", "20", "--refit",
        "--checkpoint", tmp_path / "ckpt", "--param", *TINY_LSTM, "--json", tmp_path / "r.json")
    record = json.loads((tmp_path / "r.json").read_text())
    chosen = record["selection"]["best_epoch"]
    history = record["selection"]["training"]["history"]
    assert len(history) == 2 and chosen == min(history, key=lambda r: r["valid_loss"])["epoch"]
    # the tested model is the second training: all sessions, the chosen epochs, no validation
    assert record["training"]["epochs"] == chosen
    assert all("valid_loss" not in r for r in record["training"]["history"])
    # about 11 % more prefixes an epoch: the held-out 10 % of the sessions are trained on
    assert _cases(record["training"]["history"][0]) > _cases(history[0]) * 1.05
    assert record["fit_seconds"] > record["selection"]["fit_seconds"]
    assert (tmp_path / "ckpt" / "refit" / "checkpoint.pt").exists()
    assert 0 < record["metrics"]["HR@20"] <= 1


def test_evaluate_refit_without_a_split_is_refused_before_training(small_benchmark):
    for model, params in (("gru4rec", TINY_GRU4REC), ("lstm", [*TINY_LSTM, "valid_fraction=0"])):
        proc = via("evaluate", "--model", model, "--data", small_benchmark, "--refit",
                   "--param", *params, check=False)
        assert proc.returncode != 0 and "no validation split to refit after" in proc.stderr
        assert "epoch 1/" not in proc.stderr and "Traceback" not in proc.stderr


def test_evaluate_seed_and_checkpoint_resume(small_benchmark, tmp_path):
    common = ["evaluate", "--model", "gru4rec", "--data", small_benchmark, "--k", "20",
              "--seed", "3", "--checkpoint", tmp_path / "ckpt", "--param", *TINY_GRU4REC]
    first = via(*common, "--json", tmp_path / "a.json")
    assert (tmp_path / "ckpt" / "checkpoint.pt").exists()
    record = json.loads((tmp_path / "a.json").read_text())
    assert record["params"]["seed"] == 3 and record["params"]["device"] == "cpu"
    assert record["training"]["epochs"] == 1 and record["training"]["seconds_per_epoch"] > 0
    assert "gru4rec epoch 1/1" in first.stderr
    # the checkpoint holds the finished epoch: a rerun resumes instead of training again
    second = via(*common, "--json", tmp_path / "b.json")
    assert "resumed from" in second.stderr and "epoch 1/1" not in second.stderr
    again = json.loads((tmp_path / "b.json").read_text())
    assert again["metrics"]["HR@20"] == record["metrics"]["HR@20"]
    # another seed is another run: its checkpoint is refused, not silently reused
    other = via(*common[:-4], "--seed", "4", "--checkpoint", tmp_path / "ckpt",
                "--param", *TINY_GRU4REC, check=False)
    assert other.returncode == 1 and "other data or hyperparameters" in other.stderr


def test_seed_and_device_are_ignored_with_a_note_by_deterministic_models(small_benchmark):
    proc = via("evaluate", "--model", "pop", "--data", small_benchmark, "--seed", "1",
               "--device", "cpu")
    assert "pop has no seed" in proc.stdout and "pop has no device" in proc.stdout


def test_unknown_device_is_a_clear_error(small_benchmark):
    proc = via("evaluate", "--model", "gru4rec", "--data", small_benchmark, "--device", "tpu",
               "--param", *TINY_GRU4REC, check=False)
    assert proc.returncode == 1 and "tpu" in proc.stderr and "Traceback" not in proc.stderr


def test_benchmark_seeds_resume_and_figures(small_benchmark, tmp_path):
    out = tmp_path / "docs" / "benchmarks.md"
    params = [f"gru4rec.{p}" for p in TINY_GRU4REC]
    via("benchmark", "--data", small_benchmark, "--models", "spop", "gru4rec", "--seeds", "0", "1",
        "--param", *params, "--out", out)
    records = json.loads(out.with_suffix(".json").read_text())
    assert [(r["model"], r["seed"]) for r in records] == [("spop", None), ("gru4rec", 0),
                                                        ("gru4rec", 1)]
    assert records[1]["metrics"]["HR@20"] != records[2]["metrics"]["HR@20"]  # seeds differ
    hr = [100 * r["metrics"]["HR@20"] for r in records[1:]]
    text = out.read_text()
    assert f"| GRU4Rec | {np.mean(hr):.2f} ± {np.std(hr, ddof=1):.2f} |" in text
    assert "Peak resident memory" in text and "s/epoch" in text
    for name in ("benchmarks.png", "benchmarks-hr20.png", "benchmarks-mrr20.png"):
        assert (out.parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --resume keeps the finished runs and adds only the new one
    proc = via("benchmark", "--data", small_benchmark, "--models", "spop", "gru4rec", "pop",
               "--seeds", "0", "1", "--param", *params, "--out", out, "--resume")
    assert proc.stdout.count("(--resume)") == 3
    again = json.loads(out.with_suffix(".json").read_text())
    assert again[:3] == records and again[3]["model"] == "pop"


def test_benchmark_param_needs_a_model_name(small_benchmark, tmp_path):
    proc = via("benchmark", "--data", small_benchmark, "--models", "pop", "--param", "k=3",
               "--out", tmp_path / "b.md", check=False)
    assert proc.returncode != 0 and "MODEL.NAME=VALUE" in proc.stderr


def test_full_benchmark_covers_every_registered_model_in_table_order():
    from via.rec.cli import full_benchmark_models
    from via.rec.models import REGISTRY

    models = full_benchmark_models()
    assert {m.partition(":")[0] for m in models} == set(REGISTRY)
    assert models[:3] == ["pop", "spop", "itemknn"]
    assert models.index("stan") < models.index("gru4rec") < models.index("lstm")


def test_benchmark_adds_runs_made_apart(small_benchmark, tmp_path):
    via("evaluate", "--model", "gru4rec", "--data", small_benchmark, "--k", "20", "--seed", "2",
        "--param", *TINY_GRU4REC, "--json", tmp_path / "run.json")
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["machine"].startswith(f"{os.cpu_count()} CPU cores") and run["measured"].endswith("UTC")
    run["machine"] = "a machine of another day"  # the report must not claim it as this one's
    (tmp_path / "run.json").write_text(json.dumps(run))
    out = tmp_path / "report.md"
    params = [f"gru4rec.{p}" for p in TINY_GRU4REC]
    proc = via("benchmark", "--data", small_benchmark, "--models", "pop", "gru4rec", "--seeds", "2",
               "--param", *params, "--add", tmp_path / "run.json", "--out", out)
    assert "given with --add" in proc.stdout and "gru4rec epoch" not in proc.stderr
    records = json.loads(out.with_suffix(".json").read_text())
    assert sorted(r["model"] for r in records) == ["gru4rec", "pop"]
    assert "report-hr20.png" in out.read_text()
    where = out.read_text().split("## Where each row was measured")[1]
    assert f"- a machine of another day, {run['measured'].split(' ')[0]}: GRU4Rec (digi_small)" in where
    pop = next(r for r in records if r["model"] == "pop")
    assert f"- {pop['machine']}, {pop['measured'].split(' ')[0]}: POP (digi_small)" in where
    (tmp_path / "bad.json").write_text('{"model": "x"}')
    bad = via("benchmark", "--data", small_benchmark, "--models", "pop", "--add",
              tmp_path / "bad.json", "--out", out, check=False)
    assert bad.returncode != 0 and "not a `via rec evaluate --json`" in bad.stderr


def test_latency_of_a_saved_model_and_of_one_fitted_here(small_benchmark, tmp_path):
    via("evaluate", "--model", "gru4rec", "--data", small_benchmark, "--k", "20",
        "--param", *TINY_GRU4REC, "--save", tmp_path / "model")
    proc = via("latency", "--data", small_benchmark, "--load", tmp_path / "model",
               "--batch-size", "64", "--batches", "4", "--sessions", "30",
               "--json", tmp_path / "lat.json")
    assert "4 batches of 64 prefixes, 1 thread(s)" in proc.stdout
    report = json.loads((tmp_path / "lat.json").read_text())
    assert report["model"] == "gru4rec" and report["threads"] == 1
    assert 0 < report["batch_ms_median"] <= report["batch_ms_p90"] <= report["batch_ms_max"]
    assert 0 < report["session_ms_median"] <= report["session_ms_p99"] <= report["session_ms_max"]
    proc = via("latency", "--data", small_benchmark, "--model", "spop", "--fit-sessions", "500",
               "--batches", "2", "--sessions", "10")
    assert "fitted here on the last 500 training sessions" in proc.stdout
    assert via("latency", "--data", small_benchmark, check=False).returncode != 0


def test_serving_prefixes_are_the_test_prefixes_of_known_items():
    from via.rec.data.sessions import Sessions
    from via.rec.latency import serving_prefixes

    test = Sessions.from_lists([[1, 2, 9], [9, 3]])  # item 9 is outside a catalog of 5
    prefixes = serving_prefixes(test, n_items=5)
    got = [list(prefixes.items[a:b]) for a, b in zip(prefixes.offsets[:-1], prefixes.offsets[1:])]
    assert got == [[1], [1, 2]]


def test_evaluate_without_preset_notes_the_settings_it_leaves_out():
    from via.rec.cli import presets_not_applied

    # STAMP's defaults are the official Yoochoose setting: on Diginetica the published clip differs
    notes = presets_not_applied("stamp", "diginetica", {})
    assert notes == ["note: preset 'published' and 'validated' set clip_norm=110.0 for stamp on "
                     "diginetica; not applied: the model's defaults are used (add --preset published)"]
    assert not any("clip_norm" in n for n in presets_not_applied("stamp", "yoochoose1_64", {}))
    assert not any("clip_norm" in n for n in presets_not_applied("stamp", "diginetica",
                                                                  {"clip_norm": 110.0}))
    assert presets_not_applied("pop", "diginetica", {}) == []
