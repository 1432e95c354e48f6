"""`via rec ...`: preprocess raw logs, evaluate one model, benchmark many."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from via.rec.data.benchmark import load_benchmark, write_session_lines
from via.rec.data.errors import MalformedInputError, RowErrors
from via.rec.evaluate import DEFAULT_KS, EvaluationResult, evaluate
from via.rec.models import REGISTRY, ModelFileError, SessionModel, create_model
from via.rec.models.popularity import click_counts
from via.rec.models.presets import preset_params

# Table 3.3 of the thesis (HR@20, MRR@20 in percent), printed beside our figures.
THESIS_TABLE_3_3 = {
    "yoochoose1_64": {
        "pop": (6.71, 1.65), "spop": (30.44, 18.35), "itemknn": (51.60, 21.81),
        "stan": (69.45, 28.74), "gru4rec": (60.64, 22.89), "narm": (68.32, 28.63),
        "stamp": (68.74, 29.67), "lstm": (70.15, 31.21),
    },
    "diginetica": {
        "pop": (0.89, 0.20), "spop": (21.06, 13.68), "itemknn": (35.75, 11.57),
        "stan": (50.97, 18.48), "gru4rec": (29.45, 8.33), "narm": (49.70, 16.17),
        "stamp": (45.64, 14.32), "lstm": (47.55, 15.48),
    },
}
MODEL_LABELS = {
    "pop": "POP", "spop": "S-POP", "itemknn": "Item-KNN", "sknn": "SKNN", "vsknn": "V-SKNN",
    "stan": "STAN",
}


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


def run_one(model_spec: str, data_name: str, ks, params=None, dataset=None, log=print) -> dict:
    """Fit and evaluate one model on one benchmark; returns a JSON-ready record."""
    dataset = dataset or load_benchmark(data_name)
    model_name = model_spec.partition(":")[0]
    model = create_model(model_name, **(params or {}))
    start = time.perf_counter()
    model.fit(dataset.train, n_items=dataset.n_items)
    fit_seconds = time.perf_counter() - start
    result = evaluate(
        model, dataset.test, ks, item_counts=click_counts(dataset.train, dataset.n_items)
    )
    log(f"{dataset.name} {model_spec}: fit {fit_seconds:.1f} s; " + format_result(result))
    return {
        "data": dataset.name,
        "model": model_spec,
        "params": model.get_params(),
        "fit_seconds": fit_seconds,
        "metrics": result.as_dict(),
    }


def cmd_evaluate(args) -> int:
    dataset = load_benchmark(args.data)
    if args.load:
        model = SessionModel.load(args.load)
        if model.n_items != dataset.n_items:
            raise SystemExit(
                f"{args.load} was trained on {model.n_items} items, {args.data} has {dataset.n_items}"
            )
        fit_seconds = 0.0
    else:
        params = {**preset_params(args.preset, dataset.name, args.model), **parse_params(args.param)}
        model = create_model(args.model, **params)
        start = time.perf_counter()
        model.fit(dataset.train, n_items=dataset.n_items)
        fit_seconds = time.perf_counter() - start
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
        record = {"data": dataset.name, "model": model.name, "params": model.get_params(),
                  "fit_seconds": fit_seconds, "metrics": result.as_dict()}
        Path(args.json).write_text(json.dumps(record, indent=2))
    return 0


def benchmark_markdown(records: list[dict], command: str, started: str) -> str:
    datasets = list(dict.fromkeys(r["data"] for r in records))
    models = list(dict.fromkeys(r["model"] for r in records))
    by_key = {(r["data"], r["model"]): r for r in records}
    out = [
        "# Benchmarks of the recommendation engine",
        "",
        "Next-item prediction over every prefix of every test session, ranking the whole catalog;",
        "an item tied with the target counts as ranked above it. HR@k and MRR@k in percent.",
        "",
        f"- Command: `{command}`",
        f"- Data: `../shared/data/benchmarks/` ({', '.join(datasets)}), the split of the thesis' Table 3.2",
        f"- Machine: {machine_description()}",
        f"- Run: {started}; deterministic models, no seed involved",
        "",
        "## HR@20 and MRR@20 beside the thesis' Table 3.3",
        "",
    ]
    header = "| Method |" + "".join(f" {d} HR@20 | {d} MRR@20 | thesis HR@20 / MRR@20 |" for d in datasets)
    out += [header, "|---|" + "---:|---:|---:|" * len(datasets)]
    for m in models:
        row = f"| {model_label(m)} |"
        for d in datasets:
            r = by_key.get((d, m))
            if r is None:
                row += " – | – | – |"
                continue
            met = r["metrics"]
            ref = THESIS_TABLE_3_3.get(d, {}).get(m.partition(":")[0])
            ref_text = f"{ref[0]:.2f} / {ref[1]:.2f}" if ref else "–"
            row += f" {100 * met['HR@20']:.2f} | {100 * met['MRR@20']:.2f} | {ref_text} |"
        out.append(row)
    out += ["", "![HR@20 and MRR@20 per method](benchmarks.png)", ""]
    for d in datasets:
        ks = sorted({int(key.split("@")[1]) for r in records if r["data"] == d for key in r["metrics"] if key.startswith("HR@")})
        out += [f"## {d}: all metrics and times", ""]
        cols = "".join(f" HR@{k} | MRR@{k} | NDCG@{k} |" for k in ks)
        out.append(f"| Method |{cols} Coverage@20 | Popularity@20 | fit (s) | evaluation (s) | cases |")
        out.append("|---|" + "---:|" * (3 * len(ks) + 5))
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
            out.append(
                f"| {model_label(m)} |{cells} {100 * cov:.2f} | {100 * pop:.2f} | "
                f"{r['fit_seconds']:.1f} | {met['seconds']:.1f} | {met['cases']:,} |"
            )
        out += ["", "Hyperparameters:", ""]
        for m in models:
            r = by_key.get((d, m))
            if r is not None:
                out.append(f"- {model_label(m)}: `{json.dumps(r['params'])}`")
        out.append("")
    return "\n".join(out)


def benchmark_chart(records: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(r["data"] for r in records))
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), 4), squeeze=False)
    for ax, d in zip(axes[0], datasets):
        rows = [r for r in records if r["data"] == d]
        labels = [model_label(r["model"]) for r in rows]
        x = np.arange(len(rows))
        hr = [100 * r["metrics"]["HR@20"] for r in rows]
        mrr = [100 * r["metrics"]["MRR@20"] for r in rows]
        ax.bar(x - 0.2, hr, 0.4, label="HR@20")
        ax.bar(x + 0.2, mrr, 0.4, label="MRR@20")
        ax.set_xticks(x, labels, rotation=30, ha="right")
        ax.set_ylabel("percent")
        ax.set_title(d)
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cmd_benchmark(args) -> int:
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    started += f", 1-minute load average {os.getloadavg()[0]:.1f} at the start (times grow with it)"
    for spec in args.models:
        if spec.partition(":")[0] not in REGISTRY:
            raise SystemExit(f"unknown model {spec!r}; known: {', '.join(sorted(REGISTRY))}")
    records = []
    for data_name in args.data:
        dataset = load_benchmark(data_name)
        for spec in args.models:
            params = preset_params(args.preset, dataset.name, spec)
            if ":" in spec and not params:
                print(f"{dataset.name}: preset {args.preset!r} has no variant {spec!r}; skipped")
                continue
            records.append(run_one(spec, data_name, args.k, params, dataset=dataset))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "via rec " + " ".join(shlex.quote(a) for a in args.argv)
    out.write_text(benchmark_markdown(records, command, started))
    out.with_suffix(".json").write_text(json.dumps(records, indent=2))
    benchmark_chart(records, out.with_suffix(".png"))
    print(f"wrote {out}, {out.with_suffix('.json')} and {out.with_suffix('.png')}")
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
    ev.set_defaults(func=cmd_evaluate)

    bm = sub.add_parser("benchmark", help="evaluate several models on several data sets")
    bm.add_argument("--data", nargs="+", default=["diginetica", "yoochoose1_64"])
    bm.add_argument("--models", nargs="+", default=["pop", "spop", "itemknn", "sknn", "vsknn", "stan"],
                    help="registry names, or NAME:VARIANT for a preset's variant (e.g. stan:hr)")
    bm.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_KS))
    bm.add_argument("--preset", default="validated",
                    help="hyperparameters per data set from via.rec.models.presets ('none': defaults)")
    bm.add_argument("--out", default="docs/benchmarks.md", help="Markdown report (JSON and PNG beside it)")
    bm.set_defaults(func=cmd_benchmark)

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
    if args.command == "evaluate" and not (args.model or args.load):
        raise SystemExit("evaluate needs --model NAME or --load DIR")
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
