"""`via rec ...`: preprocess raw logs, evaluate one model, benchmark many."""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from via.rec.data.benchmark import load_benchmark, write_session_lines
from via.rec.data.errors import MalformedInputError, RowErrors
from via.rec.evaluate import DEFAULT_KS, EvaluationResult, evaluate
from via.rec.models import (
    REGISTRY,
    ModelFileError,
    SessionModel,
    create_model,
    get_model_class,
)
from via.rec.models.popularity import click_counts
from via.rec.models.presets import PRESETS, preset_params

# Table 3.3 of the thesis (HR@20, MRR@20 in percent), printed beside our figures; the thesis
# copies the baselines' figures from other papers' runs.
THESIS_TABLE_3_3 = {
    "yoochoose1_64": {
        "pop": (6.71, 1.65), "spop": (30.44, 18.35), "itemknn": (51.60, 21.81),
        "bprmf": (30.30, 12.08), "fpmc": (45.62, 15.01), "gru4rec": (60.64, 22.89),
        "narm": (68.32, 28.63), "stamp": (68.74, 29.67), "stan": (69.45, 28.74),
        "csrm": (69.85, 29.71), "lstm": (70.15, 31.21),
    },
    "diginetica": {
        "pop": (0.89, 0.20), "spop": (21.06, 13.68), "itemknn": (35.75, 11.57),
        "bprmf": (5.24, 1.98), "fpmc": (26.53, 6.95), "gru4rec": (29.45, 8.33),
        "narm": (49.70, 16.17), "stamp": (45.64, 14.32), "stan": (50.97, 18.48),
        "csrm": (51.69, 16.92), "lstm": (47.55, 15.48),
    },
}
MODEL_LABELS = {
    "pop": "POP", "spop": "S-POP", "itemknn": "Item-KNN", "bprmf": "BPR-MF", "fpmc": "FPMC (FBMC)",
    "sknn": "SKNN", "vsknn": "V-SKNN", "stan": "STAN", "gru4rec": "GRU4Rec", "narm": "NARM",
    "stamp": "STAMP", "srgnn": "SR-GNN", "csrm": "CSRM", "lstm": "Thesis LSTM",
    "vianet": "VIANet (ours)", "blend": "Blend (ours)",
    "rerank": "Rerank (ours)",
}
# `benchmark --full`: the rows of Table 3.3 in its order, then the models it lacks; any other
# registered model follows (a new model is one registry line away from the full benchmark).
FULL_BENCHMARK_ORDER = [
    "pop", "spop", "itemknn", "bprmf", "fpmc", "sknn", "vsknn", "stan", "stan:hr", "gru4rec",
    "narm", "stamp", "srgnn", "lstm",
]


def full_benchmark_models() -> list[str]:
    listed = [m for m in FULL_BENCHMARK_ORDER if m.partition(":")[0] in REGISTRY]
    return listed + [m for m in REGISTRY if m not in listed]


def parse_params(pairs: list[str]) -> dict:
    """`k=100 weighting=div` -> {"k": 100, "weighting": "div"} (values read as JSON if they can)."""
    params = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--param expects NAME=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB memory"
    except (ValueError, OSError):
        memory = ""
    return (
        f"{os.cpu_count()} CPU cores ({cpu}){memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}"
    )


def format_result(result: EvaluationResult) -> str:
    lines = [f"{result.n_cases:,} test cases, evaluated in {result.seconds:.1f} s"]
    lines.append("   k      HR     MRR    NDCG  Coverage  Popularity   (percent)")
    for k in result.ks:
        lines.append(
            f"{k:4d} {100 * result.hit_rate[k]:7.2f} {100 * result.mrr[k]:7.2f} "
            f"{100 * result.ndcg[k]:7.2f} {100 * result.coverage[k]:9.2f} "
            f"{100 * result.popularity[k]:11.2f}"
        )
    return "\n".join(lines)


def model_label(spec: str) -> str:
    """`stan` -> "STAN"; a preset variant `stan:hr` -> "STAN (selected by HR@20)"."""
    base, _, variant = spec.partition(":")
    label = MODEL_LABELS.get(base, base)
    variant = {"hr": "selected by HR@20"}.get(variant, variant)
    return f"{label} ({variant})" if variant else label


def run_options(model_name: str, seed: int | None, device: str | None, log=print) -> dict:
    """`--seed` / `--device` as hyperparameters of the models that take them.

    Counting and neighbourhood models are deterministic and CPU-only: for them the options are
    ignored, with a note, so one command can run every model.
    """
    names = get_model_class(model_name).param_names()
    params = {}
    for option, value in (("seed", seed), ("device", device)):
        if value is None:
            continue
        if option in names:
            params[option] = value
        else:
            log(f"note: {model_name} has no {option} (deterministic, CPU only); --{option} ignored")
    return params


def presets_not_applied(model_name: str, data_name: str, given: dict) -> list[str]:
    """Notes for `evaluate` without `--preset`: the constructor defaults are one data set's
    setting (STAMP's clip_norm 150 is Yoochoose's, Diginetica's is 110), so a run that meant
    the published or validated setting of another data set would otherwise differ silently."""
    defaults = {
        name: p.default for name, p in
        inspect.signature(get_model_class(model_name).__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    by_setting: dict[str, list[str]] = {}  # presets that set the same, in one note
    for preset in PRESETS:
        differs = {k: v for k, v in preset_params(preset, data_name, model_name).items()
                   if k not in given and k in defaults and defaults[k] != v}
        if differs:
            shown = ", ".join(f"{k}={v}" for k, v in differs.items())
            by_setting.setdefault(shown, []).append(preset)
    return [
        f"note: preset {' and '.join(map(repr, presets))} set{'s' * (len(presets) == 1)} {shown} "
        f"for {model_name} on {data_name}; not applied: the model's defaults are used "
        f"(add --preset {presets[0]})"
        for shown, presets in by_setting.items()
    ]


def fit_model(model: SessionModel, train, n_items: int, checkpoint: Path | None, log=print):
    """Fit, resuming from (and saving to) `checkpoint` for the models that can."""
    kwargs = {"n_items": n_items}
    if checkpoint is not None:
        if "checkpoint_dir" in inspect.signature(model.fit).parameters:
            kwargs["checkpoint_dir"] = checkpoint
        else:
            log(f"note: {model.name} trains in one pass and keeps no checkpoint")
    start = time.perf_counter()
    model.fit(train, **kwargs)
    return time.perf_counter() - start


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def training_record(model: SessionModel) -> dict:
    """Epochs and seconds per epoch of a neural model's training (empty for the others)."""
    return history_record(getattr(model, "history_", None) or [])


def history_record(history: list[dict]) -> dict:
    """Epochs and seconds per epoch of a training history (empty for none)."""
    if not history:
        return {}
    seconds = [h["seconds"] for h in history]
    return {"epochs": len(history), "seconds_per_epoch": sum(seconds) / len(seconds),
            "history": history}


def run_one(model_spec: str, data_name: str, ks, params=None, dataset=None, log=print,
            checkpoint: Path | None = None) -> dict:
    """Fit and evaluate one model on one benchmark; returns a JSON-ready record."""
    dataset = dataset or load_benchmark(data_name)
    model_name = model_spec.partition(":")[0]
    model = create_model(model_name, **(params or {}))
    fit_seconds = fit_model(model, dataset.train, dataset.n_items, checkpoint, log)
    result = evaluate(
        model, dataset.test, ks, item_counts=click_counts(dataset.train, dataset.n_items)
    )
    log(f"{dataset.name} {model_spec}: fit {fit_seconds:.1f} s; " + format_result(result))
    return {
        "data": dataset.name,
        "model": model_spec,
        "seed": model.get_params().get("seed"),
        "params": model.get_params(),
        "fit_seconds": fit_seconds,
        "training": training_record(model),
        "metrics": result.as_dict(),
        "peak_memory_mib": peak_memory_mib(),
        **where_and_when(),
    }


def load_for(directory: str, dataset, data_name: str) -> SessionModel:
    """A saved model (a saved Blend or Rerank too), refused if it was trained on another catalog than the
    data set's."""
    if (Path(directory) / "rerank.json").exists() and (Path(directory) / "blend").is_dir():
        from via.rec.models.rerank import Rerank

        model = Rerank.load(directory)
    elif (Path(directory) / "blend.json").exists():
        from via.rec.models.blend import Blend

        model = Blend.load(directory)
    else:
        model = SessionModel.load(directory)
    if model.n_items != dataset.n_items:
        raise SystemExit(
            f"{directory} was trained on {model.n_items} items, {data_name} has {dataset.n_items}"
        )
    return model


def cmd_evaluate(args) -> int:
    dataset = load_benchmark(args.data)
    selection = None
    if args.load:
        if args.refit:
            raise SystemExit("--refit trains a new model: it cannot go with --load")
        model = load_for(args.load, dataset, args.data)
        fit_seconds = 0.0
    else:
        params = {
            **preset_params(args.preset, dataset.name, args.model),
            **run_options(args.model, args.seed, args.device),
            **parse_params(args.param),
        }
        if args.preset is None:
            for line in presets_not_applied(args.model, dataset.name, params):
                print(line)
        model = create_model(args.model, **params)
        checkpoint = Path(args.checkpoint) if args.checkpoint else None
        splits = hasattr(model, "refitted") and getattr(model, "valid_fraction", 0) > 0
        if args.refit and not splits:
            raise SystemExit(f"--refit: {args.model} has no validation split to refit after "
                             "(a neural model with valid_fraction > 0 has)")
        fit_seconds = fit_model(model, dataset.train, dataset.n_items, checkpoint)
        if args.refit:
            selection = {"best_epoch": model.best_epoch_, "fit_seconds": fit_seconds,
                         "training": training_record(model)}
            print(f"{model.name}: epoch {model.best_epoch_} chosen on validation; "
                  "refitting on all training sessions")
            start = time.perf_counter()
            try:
                model = model.refitted(
                    dataset.train, checkpoint_dir=checkpoint / "refit" if checkpoint else None
                )
            except ValueError as exc:
                raise SystemExit(f"--refit: {exc}") from exc
            fit_seconds += time.perf_counter() - start
    if args.save:
        model.save(args.save)
        print(f"saved to {args.save}")
    result = evaluate(
        model,
        dataset.test,
        args.k,
        item_counts=click_counts(dataset.train, dataset.n_items),
        batch_size=args.batch_size,
    )
    print(f"{model.name} on {dataset.name} (params {json.dumps(model.get_params())})")
    print(f"fit {fit_seconds:.1f} s; " + format_result(result))
    if args.json:
        record = {"data": dataset.name, "model": model.name,
                  "seed": model.get_params().get("seed"), "params": model.get_params(),
                  "fit_seconds": fit_seconds, "training": training_record(model),
                  "metrics": result.as_dict(), "peak_memory_mib": peak_memory_mib(),
                  **where_and_when()}
        if selection is not None:  # fit_seconds counts both trainings; training is the refit's
            record["selection"] = selection
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


def summarise(records: list[dict]) -> list[dict]:
    """One row per (data, model): the mean and sample standard deviation over seeds."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["data"], r["model"]), []).append(r)
    rows = []
    for (data, model), runs in groups.items():
        metrics = {}
        for key in runs[0]["metrics"]:
            values = np.array([run["metrics"][key] for run in runs], dtype=float)
            metrics[key] = float(values.mean())
            metrics[f"{key} sd"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        epochs = [run["training"]["seconds_per_epoch"] for run in runs if run.get("training")]
        rows.append({
            "data": data, "model": model, "runs": runs, "metrics": metrics,
            "seeds": [run.get("seed") for run in runs],
            "fit_seconds": float(np.mean([run["fit_seconds"] for run in runs])),
            "seconds_per_epoch": float(np.mean(epochs)) if epochs else None,
            "epochs": [run["training"]["epochs"] for run in runs if run.get("training")],
        })
    order = {m: i for i, m in enumerate(full_benchmark_models())}  # Table 3.3's order
    datasets = {d: i for i, d in enumerate(dict.fromkeys(r["data"] for r in records))}
    return sorted(rows, key=lambda r: (datasets[r["data"]], order.get(r["model"], len(order)),
                                       r["model"]))


def percent(row: dict, key: str) -> str:
    """`51.94` for one run, `51.94 ± 0.12` (sample sd) over several seeds."""
    text = f"{100 * row['metrics'][key]:.2f}"
    if len(row["runs"]) > 1:
        text += f" ± {100 * row['metrics'][key + ' sd']:.2f}"
    return text


def where_and_when() -> dict:
    """What a run record says about where and when it was measured (the report groups by it)."""
    return {"machine": machine_description(),
            "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def measured_where(rows: list[dict]) -> list[str]:
    """Lines saying which machine measured which rows: a report regenerated with `--resume` or
    `--add` keeps figures measured elsewhere, and its times only compare within one machine."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        for run in r["runs"]:
            where = run.get("machine")
            if where:
                when = run.get("measured", "").split(" ")[0]
                where = f"{where}" + (f", {when}" if when else "")
            else:
                where = "not recorded in the run's record (see docs/neural*.md for that run)"
            label = f"{model_label(r['model'])} ({r['data']})"
            if label not in groups.setdefault(where, []):
                groups[where].append(label)
    return [f"- {where}: {', '.join(labels)}" for where, labels in groups.items()]


def benchmark_markdown(records: list[dict], command: str, started: str, peak_mib: float,
                       stem: str = "benchmarks") -> str:
    rows = summarise(records)
    datasets = list(dict.fromkeys(r["data"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    by_key = {(r["data"], r["model"]): r for r in rows}
    seeded = any(len(r["runs"]) > 1 for r in rows)
    out = [
        "# Benchmarks of the recommendation engine",
        "",
        "Next-item prediction over every prefix of every test session, ranking the whole catalog;",
        "an item tied with the target counts as ranked above it. HR@k and MRR@k in percent.",
        "Neural models choose their epoch on a validation split cut from the end of the training",
        "sessions (never on the test set); several seeds give the mean ± sample standard deviation.",
        "A neural run may have trained fewer epochs than its paper allows (CPU time): the `epochs`",
        "column of the tables below says how many each one trained.",
        "",
        f"- Command: `{command}`",
        f"- Data: `../shared/data/benchmarks/` ({', '.join(datasets)}), the split of the thesis' Table 3.2",
        f"- Machine of this run: {machine_description()}",
        f"- Run: {started}",
        f"- Peak resident memory: {peak_mib:,.0f} MiB (the largest of this process and of the "
        "runs it kept or added)",
        "",
        "## HR@20 and MRR@20 beside the thesis' Table 3.3",
        "",
    ]
    header = "| Method |" + "".join(f" {d} HR@20 | {d} MRR@20 | thesis HR@20 / MRR@20 |" for d in datasets)
    out += [header, "|---|" + "---:|---:|---:|" * len(datasets)]
    for m in models:
        line = f"| {model_label(m)} |"
        for d in datasets:
            r = by_key.get((d, m))
            ref = THESIS_TABLE_3_3.get(d, {}).get(m.partition(":")[0]) if ":" not in m else None
            ref_text = f"{ref[0]:.2f} / {ref[1]:.2f}" if ref else "–"
            if r is None:
                line += f" – | – | {ref_text} |"
            else:
                line += f" {percent(r, 'HR@20')} | {percent(r, 'MRR@20')} | {ref_text} |"
        out.append(line)
    missing = sorted(
        {m for d in datasets for m in THESIS_TABLE_3_3.get(d, {})} - {m.partition(":")[0] for m in models}
    )
    if missing:
        out += ["", "Rows of Table 3.3 not run here (thesis figures only): " + ", ".join(
            f"{model_label(m)} ({' ; '.join(f'{d} {THESIS_TABLE_3_3[d][m][0]:.2f} / {THESIS_TABLE_3_3[d][m][1]:.2f}' for d in datasets if m in THESIS_TABLE_3_3.get(d, {}))})"
            for m in missing
        ) + "."]
    out += ["", f"![HR@20 and MRR@20 per method]({stem}.png)", "",
            f"Figure 3.10 (HR@20 per method): `{stem}-hr20.png`; figure 3.11 (MRR@20 per method): "
            f"`{stem}-mrr20.png`. Black ticks mark the thesis' figures.", ""]
    for d in datasets:
        # the cut-offs every run of this data set reports (runs added with --add may have fewer)
        ks = sorted(set.intersection(*(
            {int(key.split("@")[1]) for key in r["metrics"]
             if key.startswith("HR@") and not key.endswith("sd")}
            for r in rows if r["data"] == d
        )))
        out += [f"## {d}: all metrics and times", ""]
        cols = "".join(f" HR@{k} | MRR@{k} | NDCG@{k} |" for k in ks)
        out.append(f"| Method |{cols} Coverage@20 | Popularity@20 | fit (s) | s/epoch | epochs "
                   f"| evaluation (s) | seeds |")
        out.append("|---|" + "---:|" * (3 * len(ks) + 7))
        for m in models:
            r = by_key.get((d, m))
            if r is None:
                continue
            met = r["metrics"]
            cells = "".join(
                f" {100 * met[f'HR@{k}']:.2f} | {100 * met[f'MRR@{k}']:.2f} | {100 * met[f'NDCG@{k}']:.2f} |"
                for k in ks
            )
            cov = met.get("Coverage@20", float("nan"))
            pop = met.get("Popularity@20", float("nan"))
            per_epoch = f"{r['seconds_per_epoch']:.1f}" if r["seconds_per_epoch"] else "–"
            epochs = ", ".join(map(str, r["epochs"])) or "–"
            seeds = ", ".join(str(x) for x in r["seeds"] if x is not None) or "–"
            out.append(
                f"| {model_label(m)} |{cells} {100 * cov:.2f} | {100 * pop:.2f} | "
                f"{r['fit_seconds']:.1f} | {per_epoch} | {epochs} | {met['seconds']:.1f} | {seeds} |"
            )
        out += ["", "Hyperparameters (seed aside):", ""]
        for m in models:
            r = by_key.get((d, m))
            if r is not None:
                params = {k: v for k, v in r["runs"][0]["params"].items() if k != "seed"}
                out.append(f"- {model_label(m)}: `{json.dumps(params)}`")
        out.append("")
    out += ["## Where each row was measured", "",
            "Rows kept with `--resume` or added with `--add` keep the figures of the run that made "
            "them; times compare only within one machine.", ""]
    out += measured_where(rows) + [""]
    if seeded:
        out += ["Per-seed figures are in the JSON file beside this report.", ""]
    return "\n".join(out)


def benchmark_charts(records: list[dict], path: Path) -> list[Path]:
    """`path` (HR@20 and MRR@20 per data set) and the thesis' figures 3.10 / 3.11: one metric per
    figure, methods side by side, a bar per data set, sd error bars over seeds, thesis ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summarise(records)
    datasets = list(dict.fromkeys(r["data"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    by_key = {(r["data"], r["model"]): r for r in rows}

    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, d in zip(axes[0], datasets):
        mine = [r for r in rows if r["data"] == d]
        x = np.arange(len(mine))
        for shift, key in ((-0.2, "HR@20"), (0.2, "MRR@20")):
            ax.bar(x + shift, [100 * r["metrics"][key] for r in mine], 0.4, label=key,
                   yerr=[100 * r["metrics"][key + " sd"] for r in mine])
        ax.set_xticks(x, [model_label(r["model"]) for r in mine], rotation=30, ha="right")
        ax.set_ylabel("percent")
        ax.set_title(d)
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    written = [path]

    for key, suffix, title in (("HR@20", "hr20", "Figure 3.10: HR@20 per method"),
                               ("MRR@20", "mrr20", "Figure 3.11: MRR@20 per method")):
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(models) + 2), 4.5))
        width = 0.8 / max(len(datasets), 1)
        x = np.arange(len(models))
        for j, d in enumerate(datasets):
            offset = (j - (len(datasets) - 1) / 2) * width
            values, errors, refs = [], [], []
            for m in models:
                r = by_key.get((d, m))
                values.append(100 * r["metrics"][key] if r else np.nan)
                errors.append(100 * r["metrics"][key + " sd"] if r else 0.0)
                ref = THESIS_TABLE_3_3.get(d, {}).get(m) if ":" not in m else None
                refs.append(ref[0 if key == "HR@20" else 1] if ref else np.nan)
            ax.bar(x + offset, values, width, yerr=errors, label=d)
            ax.scatter(x + offset, refs, marker="_", s=300, color="black", zorder=3,
                       label="thesis" if j == 0 else None)
        ax.set_xticks(x, [model_label(m) for m in models], rotation=30, ha="right")
        ax.set_ylabel(f"{key} (percent)")
        ax.set_title(title)
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        target = path.with_name(f"{path.stem}-{suffix}.png")
        fig.savefig(target, dpi=120)
        plt.close(fig)
        written.append(target)
    return written


def model_overrides(pairs: list[str]) -> dict[str, dict]:
    """`gru4rec.n_epochs=1 lstm.batch_size=64` -> {"gru4rec": {"n_epochs": 1}, "lstm": {...}}."""
    overrides: dict[str, dict] = {}
    for pair in pairs:
        model, dot, rest = pair.partition(".")
        if not dot or "=" not in rest:
            raise SystemExit(f"benchmark --param expects MODEL.NAME=VALUE, got {pair!r}")
        overrides.setdefault(model, {}).update(parse_params([rest]))
    return overrides


def same_run(record: dict, data: str, spec: str, params: dict) -> bool:
    """Whether a stored record is this (data, model, hyperparameters) run, for `--resume`."""
    if record["data"] != data or record["model"] != spec:
        return False
    stored = record["params"]
    return all(stored.get(k) == v for k, v in params.items() if k not in ("device", "verbose"))


def cmd_benchmark(args) -> int:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    started += f", 1-minute load average {os.getloadavg()[0]:.1f} at the start (times grow with it)"
    if args.full:
        args.models = full_benchmark_models()
        args.data = ["yoochoose1_64", "diginetica"]
    for spec in args.models:
        if spec.partition(":")[0] not in REGISTRY:
            raise SystemExit(f"unknown model {spec!r}; known: {', '.join(sorted(REGISTRY))}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    store = out.with_suffix(".json")
    previous = json.loads(store.read_text()) if args.resume and store.exists() else []
    command = "via rec " + " ".join(shlex.quote(a) for a in args.argv)
    overrides = model_overrides(args.param)
    records = []
    for path in args.add:  # runs made apart, e.g. `via rec evaluate --json` of a long training
        added = json.loads(Path(path).read_text())
        for record in added if isinstance(added, list) else [added]:
            if not {"data", "model", "params", "metrics", "fit_seconds"} <= set(record):
                raise SystemExit(f"{path}: not a `via rec evaluate --json` or benchmark record")
            record.setdefault("seed", record["params"].get("seed"))
            record.setdefault("training", {})
            records.append(record)

    def write_report() -> None:
        # after every run, so an interrupted benchmark keeps what it measured (`--resume`)
        store.write_text(json.dumps(records, indent=2))
        # kept and added runs were measured in other processes: report the largest peak of all
        peak = max([peak_memory_mib()] + [r.get("peak_memory_mib", 0.0) for r in records])
        out.write_text(benchmark_markdown(records, command, started, peak, out.stem))
        benchmark_charts(records, out.with_suffix(".png"))

    for data_name in args.data:
        dataset = load_benchmark(data_name)
        for spec in args.models:
            name = spec.partition(":")[0]
            params = {**preset_params(args.preset, dataset.name, spec),
                      **overrides.get(spec, overrides.get(name, {}))}
            if ":" in spec and not preset_params(args.preset, dataset.name, spec):
                print(f"{dataset.name}: preset {args.preset!r} has no variant {spec!r}; skipped")
                continue
            seeded = "seed" in get_model_class(name).param_names()
            for seed in (args.seeds if seeded else [None]):
                run_params = {**params, **run_options(name, seed, args.device, log=lambda _: None)}
                if any(same_run(r, dataset.name, spec, run_params) for r in records):
                    print(f"{dataset.name} {spec} seed {seed}: given with --add")
                    continue
                done = next((r for r in previous if same_run(r, dataset.name, spec, run_params)), None)
                if done is not None:
                    print(f"{dataset.name} {spec} seed {seed}: kept from {store} (--resume)")
                    records.append(done)
                    continue
                checkpoint = None
                if args.checkpoints:
                    checkpoint = Path(args.checkpoints) / dataset.name / spec.replace(":", "-")
                    checkpoint = checkpoint / f"seed{seed}" if seeded else checkpoint
                records.append(run_one(spec, data_name, args.k, run_params, dataset=dataset,
                                       checkpoint=checkpoint))
                write_report()
    write_report()
    print(f"wrote {out}, {store} and the figures beside them "
          f"(peak resident memory {peak_memory_mib():,.0f} MiB)")
    return 0


def parse_grid(pairs: list[str]) -> list[dict]:
    """`k=100,500 lambda_spw=1,2` -> the 4 combinations as dicts."""
    import itertools

    axes = []
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--grid expects NAME=V1,V2,..., got {pair!r}")
        key, values = pair.split("=", 1)
        axes.append([(key, parse_params([f"{key}={x}"])[key]) for x in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)]


def cmd_tune(args) -> int:
    """Grid search on a validation split cut from the end of training; the test set is unused."""
    from via.rec.data.protocol import validation_split

    dataset = load_benchmark(args.data)
    fit_part, valid = validation_split(dataset.train, args.valid_fraction)
    if args.valid_sessions and len(valid) > args.valid_sessions:
        valid = valid.select(np.arange(len(valid) - args.valid_sessions, len(valid)))
    print(f"{dataset.name}: fitting on {len(fit_part):,} sessions, validating on {len(valid):,} "
          f"(the last {args.valid_fraction:.0%} of training); selecting by {args.metric}")
    base = parse_params(args.param)
    rows = []
    for combo in parse_grid(args.grid):
        params = {**base, **combo}
        model = create_model(args.model, **params)
        start = time.perf_counter()
        model.fit(fit_part, n_items=dataset.n_items)
        result = evaluate(model, valid, args.k)
        metrics = result.as_dict()
        rows.append({"params": params, "metrics": metrics, "seconds": time.perf_counter() - start})
        print(f"{json.dumps(params)}  HR@20 {100 * metrics.get('HR@20', 0):.2f}  "
              f"MRR@20 {100 * metrics.get('MRR@20', 0):.2f}  ({rows[-1]['seconds']:.0f} s)", flush=True)
    best = max(rows, key=lambda r: r["metrics"][args.metric])
    print(f"best by {args.metric}: {json.dumps(best['params'])}")
    if args.json:
        Path(args.json).write_text(json.dumps({"data": dataset.name, "model": args.model,
                                               "metric": args.metric, "runs": rows,
                                               "best": best["params"]}, indent=2))
    return 0


def cmd_preprocess(args) -> int:
    from via.rec.data.events import get_format, read_event_log
    from via.rec.data.protocol import apply_protocol, statistics, statistics_table

    overrides = {}
    if args.time_unit:
        overrides["time_unit"] = args.time_unit
    if args.session_gap is not None:
        overrides["session_gap"] = args.session_gap
    if args.delimiter:
        overrides["delimiter"] = args.delimiter.replace("\\t", "\t")
    for pair in args.column:
        field, _, column = pair.partition("=")
        if field not in ("session", "user", "item", "time", "date", "event") or not column:
            raise SystemExit(f"--column expects FIELD=COLUMN with FIELD one of session, user, "
                             f"item, time, date, event; got {pair!r}")
        overrides[field] = int(column) if column.isdigit() else column
    if "user" in overrides and "session" not in overrides:
        overrides["session"] = None  # cut the user's clicks into sessions by inactivity
    fmt = get_format(args.format, **overrides)
    errors = RowErrors(args.on_error)
    log = read_event_log([Path(p) for p in args.raw], fmt, errors)
    result = apply_protocol(
        log,
        test_days=args.test_days,
        min_session_length=args.min_session_length,
        min_item_support=args.min_item_support,
        remove_repeats=args.remove_repeats,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_session_lines(out / "train.txt.gz", result.train)
    write_session_lines(out / "test.txt.gz", result.test)
    (out / "items.tsv").write_text(
        "item\traw_id\n" + "".join(f"{i}\t{raw}\n" for i, raw in enumerate(result.item_ids) if i)
    )
    table = statistics_table(
        [statistics(f"{out.name} (Train)", result.train), statistics(f"{out.name} (Test)", result.test)]
    )
    (out / "statistics.md").write_text(table + "\n")
    print(f"{len(log):,} clicks read from {len(args.raw)} file(s)")
    print(table)
    errors.report(sys.stdout)
    return 0


def cmd_latency(args) -> int:
    """Serving latency of a saved model, or of one fitted here (on the last N sessions)."""
    from via.rec.latency import limit_threads, measure

    limit_threads(args.threads)  # before any fitting, so the whole run keeps to them
    dataset = load_benchmark(args.data)
    if args.load:
        model = load_for(args.load, dataset, args.data)
        what = f"{model.name} loaded from {args.load}"
    else:
        params = {
            **preset_params(args.preset, dataset.name, args.model),
            **run_options(args.model, None, args.device),
            **parse_params(args.param),
        }
        model = create_model(args.model, **params)
        train = dataset.train
        if args.fit_sessions and args.fit_sessions < len(train):
            train = train.select(np.arange(len(train) - args.fit_sessions, len(train)))
        fit_seconds = fit_model(model, train, dataset.n_items, None)
        what = (f"{model.name} fitted here on the last {len(train):,} training sessions "
                f"in {fit_seconds:.1f} s (latency does not depend on how well it is trained)")
    report = measure(model, dataset.test, batch_size=args.batch_size, batches=args.batches,
                     sessions=args.sessions, top_k=args.top, threads=args.threads)
    print(f"{what}; {dataset.n_items:,} items in the catalog")
    print("\n".join(report.lines()))
    if args.json:
        record = {"data": dataset.name, "model": model.name, "params": model.get_params(),
                  "n_items": dataset.n_items, "machine": machine_description(),
                  "load_average": os.getloadavg()[0], **report.as_dict()}
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", help="for neural models: cpu (default), cuda, cuda:N or auto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="via rec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="fit (or load) one model and evaluate it")
    ev.add_argument("--model", choices=sorted(REGISTRY), help="model to fit")
    ev.add_argument("--data", required=True, help="benchmark name or folder")
    ev.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_KS))
    ev.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE")
    ev.add_argument("--preset", help="start from a preset's hyperparameters for this data set")
    ev.add_argument("--save", help="save the fitted model to this folder")
    ev.add_argument("--load", help="evaluate a saved model instead of fitting one")
    ev.add_argument("--batch-size", type=int, default=512)
    ev.add_argument("--json", help="also write the result as JSON here")
    add_run_options(ev)
    ev.add_argument("--seed", type=int, help="random seed of a neural model (default: its own, 0)")
    ev.add_argument("--checkpoint", metavar="DIR",
                    help="save training state after every epoch here and resume from it")
    ev.add_argument("--refit", action="store_true",
                    help="neural models with a validation split: after choosing the epochs on "
                         "it, train again on all training sessions for that many and test that "
                         "model (checkpoints of the second training under DIR/refit)")
    ev.set_defaults(func=cmd_evaluate)

    bm = sub.add_parser("benchmark", help="evaluate several models on several data sets")
    bm.add_argument("--data", nargs="+", default=["diginetica", "yoochoose1_64"])
    bm.add_argument("--models", nargs="+", default=["pop", "spop", "itemknn", "sknn", "vsknn", "stan"],
                    help="registry names, or NAME:VARIANT for a preset's variant (e.g. stan:hr)")
    bm.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_KS))
    bm.add_argument("--preset", default="validated",
                    help="hyperparameters per data set from via.rec.models.presets ('none': defaults)")
    bm.add_argument("--out", default="docs/benchmarks.md", help="Markdown report (JSON and PNG beside it)")
    bm.add_argument("--param", nargs="*", default=[], metavar="MODEL.NAME=VALUE",
                    help="override a model's hyperparameter, e.g. gru4rec.n_epochs=5")
    bm.add_argument("--full", action="store_true",
                    help="every registered model on both data sets: the whole of Table 3.3 and "
                         "figures 3.10 / 3.11")
    add_run_options(bm)
    bm.add_argument("--seeds", type=int, nargs="+", default=[0],
                    help="seeds of each neural model; the report gives mean ± sd over them")
    bm.add_argument("--checkpoints", metavar="DIR",
                    help="per-run training checkpoints under DIR/data/model/seedN (resumable)")
    bm.add_argument("--add", nargs="+", default=[], metavar="JSON",
                    help="include runs made apart (`via rec evaluate --json` files) in the report")
    bm.add_argument("--resume", action="store_true",
                    help="keep the runs already in the JSON report that match this command's")
    bm.set_defaults(func=cmd_benchmark)

    la = sub.add_parser("latency", help="serving latency: batches of prefixes, one session's top-k")
    la.add_argument("--data", required=True, help="benchmark name or folder (its test prefixes)")
    la.add_argument("--load", help="a saved model (else --model is fitted here)")
    la.add_argument("--model", choices=sorted(REGISTRY))
    la.add_argument("--preset")
    la.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE")
    la.add_argument("--fit-sessions", type=int, help="fit on the last N training sessions only")
    la.add_argument("--threads", type=int, default=1)
    la.add_argument("--batch-size", type=int, default=512)
    la.add_argument("--batches", type=int, default=20)
    la.add_argument("--sessions", type=int, default=1000, help="single sessions to time")
    la.add_argument("--top", type=int, default=20)
    la.add_argument("--json", help="also write the figures as JSON here")
    add_run_options(la)
    la.set_defaults(func=cmd_latency)

    tu = sub.add_parser("tune", help="grid search on a validation split cut from the end of training")
    tu.add_argument("--model", required=True, choices=sorted(REGISTRY))
    tu.add_argument("--data", required=True)
    tu.add_argument("--grid", nargs="+", required=True, metavar="NAME=V1,V2")
    tu.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE")
    tu.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_KS))
    tu.add_argument("--metric", default="MRR@20")
    tu.add_argument("--valid-fraction", type=float, default=0.1)
    tu.add_argument("--valid-sessions", type=int, help="use only the last N validation sessions")
    tu.add_argument("--json", help="write every run as JSON here")
    tu.set_defaults(func=cmd_tune)

    pp = sub.add_parser("preprocess", help="raw click log(s) -> benchmark format + statistics")
    pp.add_argument("raw", nargs="+", help="raw log file(s), then the output folder")
    pp.add_argument("--format", required=True, choices=["diginetica", "yoochoose", "gru4rec", "visitor"])
    pp.add_argument("--test-days", type=float, default=7.0, help="last N days are the test set")
    pp.add_argument("--min-session-length", type=int, default=2)
    pp.add_argument("--min-item-support", type=int, default=5)
    pp.add_argument("--remove-repeats", action="store_true", help="collapse consecutive repeats")
    pp.add_argument("--on-error", choices=["stop", "skip"], default="stop",
                    help="at a malformed row: stop with its line, or skip and count")
    pp.add_argument("--time-unit", choices=["seconds", "milliseconds", "iso", "date+ms"])
    pp.add_argument("--session-gap", type=float, help="seconds of inactivity that end a session")
    pp.add_argument("--delimiter", help="field delimiter (\\t for tab), overriding the format's")
    pp.add_argument("--column", nargs="*", default=[], metavar="FIELD=COLUMN",
                    help="column of a field by header name or 0-based index, e.g. item=itemId")
    pp.set_defaults(func=cmd_preprocess)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    if hasattr(args, "k") and 20 not in args.k and args.command in ("benchmark", "tune"):
        args.k = sorted(set(args.k) | {20})  # the reports and the default selection use @20
    if args.command == "tune":
        metric, _, cut = args.metric.partition("@")
        if metric not in ("HR", "MRR", "NDCG", "Coverage", "Popularity") or not cut.isdigit():
            raise SystemExit(f"--metric must look like MRR@20 or HR@10, got {args.metric!r}")
        if int(cut) not in args.k:
            args.k = sorted(set(args.k) | {int(cut)})
    if args.command == "preprocess":
        if len(args.raw) < 2:
            raise SystemExit("preprocess needs at least one RAW file and the OUT folder")
        args.raw, args.out = args.raw[:-1], args.raw[-1]
    if args.command in ("evaluate", "latency") and not (args.model or args.load):
        raise SystemExit(f"{args.command} needs --model NAME or --load DIR")
    try:
        return args.func(args)
    except MalformedInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.command == "preprocess":
            print("use --on-error skip to skip malformed rows (they are counted and listed)",
                  file=sys.stderr)
        return 1
    except (ModelFileError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
