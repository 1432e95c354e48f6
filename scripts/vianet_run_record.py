"""Turn a `python -m via.rec.models.neural.via_model` run into a `via rec benchmark --add` record.

    python scripts/vianet_run_record.py var/runs/vianet/dg_s1 docs/runs/vianet_diginetica_seed1.json \
        --log var/runs/vianet/dg_s1.log [--model vianet:VARIANT]
    python scripts/vianet_run_record.py var/runs/vianet/dg_s0 OUT.json --wall 2710 --peak 1240
    python scripts/vianet_run_record.py var/runs/vianet/dg_ens OUT.json --members-of A.json B.json C.json

The run folder holds `result.json` (validation choices, the retraining's history, the fused and
network-alone test metrics). The fit time is the run's wall clock minus its two test evaluations;
the wall clock and the peak resident memory come from the run's output under `/usr/bin/time -v`
(`--log`), or are given as `--wall` seconds and `--peak` MiB when the run was watched otherwise.
An `--ensemble-of` run trained nothing: its record takes the fit time (the sum) and the peak
memory (the largest) of its members' records (`--members-of`).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

PROTOCOL = ("epochs and kNN weight chosen on a validation split cut from the end of training, "
            "then retrained on all training sessions (python -m via.rec.models.neural.via_model)"
            "; Popularity@k not computed by that run")


def time_v(log: str) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) from `/usr/bin/time -v` output."""
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", log)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
    if not wall or not rss:
        raise SystemExit("the log has no /usr/bin/time -v summary (did the run finish?)")
    seconds = 0.0
    for part in wall.group(1).split(":"):
        seconds = 60 * seconds + float(part)
    return seconds, int(rss.group(1)) / 1024


def where(result: dict) -> dict:
    """The machine and time the run's test figures were measured, when its result.json says."""
    return {key: result[key] for key in ("machine", "measured") if key in result}


def record_of(result: dict, model: str, wall: float, peak: float) -> dict:
    refit = result["refit_history"]
    return {
        "data": result["data"],
        "model": model,
        "seed": result["seed"],
        "params": result["params"],
        "protocol": PROTOCOL,
        "fit_seconds": wall - result["fused"]["seconds"] - result["network"]["seconds"],
        "training": {
            "epochs": len(refit),
            "seconds_per_epoch": sum(r["seconds"] for r in refit) / len(refit),
            "history": refit,
        },
        "selection": result["selection"],
        "metrics": result["fused"],
        "network_alone": result["network"],
        "peak_memory_mib": peak,
        **where(result),
    }


def ensemble_record(result: dict, model: str, members: list[dict]) -> dict:
    return {
        "data": result["data"],
        "model": model,
        "seed": result["seeds"][0],
        "params": result["params"],
        "protocol": "the final networks of the seeds " + ", ".join(map(str, result["seeds"]))
        + " (each: " + PROTOCOL + ") combined into one ensemble (mean logit), with their "
        "fusion weight; nothing trained or chosen on the test set",
        "fit_seconds": sum(m["fit_seconds"] for m in members),
        "training": {
            "epochs": sum(m["training"]["epochs"] for m in members),
            "seconds_per_epoch": sum(m["training"]["seconds_per_epoch"] for m in members),
            "history": [],
        },
        "metrics": result["fused"],
        "network_alone": result["network"],
        "peak_memory_mib": max(m["peak_memory_mib"] for m in members),
        **where(result),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("out")
    parser.add_argument("--model", default="vianet", help="the record's model (row) name")
    parser.add_argument("--log", help="the run's output under /usr/bin/time -v")
    parser.add_argument("--wall", type=float, help="the run's wall-clock seconds")
    parser.add_argument("--peak", type=float, help="the run's peak resident memory in MiB")
    parser.add_argument("--members-of", nargs="+", help="the member runs' records (ensembles)")
    args = parser.parse_args(argv)
    result = json.loads((Path(args.run_dir) / "result.json").read_text())
    if "ensemble_of" in result:
        if not args.members_of:
            raise SystemExit("an ensemble run needs --members-of (its members' records)")
        members = [json.loads(Path(p).read_text()) for p in args.members_of]
        record = ensemble_record(result, args.model, members)
    else:
        if args.log:
            wall, peak = time_v(Path(args.log).read_text())
        elif args.wall is not None and args.peak is not None:
            wall, peak = args.wall, args.peak
        else:
            raise SystemExit("give --log, or --wall and --peak")
        record = record_of(result, args.model, wall, peak)
    Path(args.out).write_text(json.dumps(record, indent=2))
    print(f"{args.out}: fused HR@20 {100 * record['metrics']['HR@20']:.2f} "
          f"MRR@20 {100 * record['metrics']['MRR@20']:.2f}")


if __name__ == "__main__":
    main()
