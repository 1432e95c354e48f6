"""Turn a `python -m via.rec.models.neural.via_model` run into a `via rec benchmark --add` record.

    python scripts/vianet_run_record.py var/runs/vianet/dg_s1 var/runs/vianet/dg_s1.log \
        docs/runs/vianet_diginetica_seed1.json

The run folder holds `result.json` (validation choices, the retraining's history, the fused and
network-alone test metrics); the log is the run's output under `/usr/bin/time -v`, whose wall
clock and maximum resident set size give the fit time (wall clock minus the two test
evaluations) and the peak memory.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path


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


def main(run_dir: str, log_path: str, out_path: str) -> None:
    result = json.loads((Path(run_dir) / "result.json").read_text())
    wall, peak = time_v(Path(log_path).read_text())
    refit = result["refit_history"]
    record = {
        "data": result["data"],
        "model": "vianet",
        "seed": result["seed"],
        "params": result["params"],
        "protocol": "epochs and kNN weight chosen on a validation split cut from the end of "
        "training, then retrained on all training sessions (python -m "
        "via.rec.models.neural.via_model); Popularity@k not computed by that run",
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
    }
    Path(out_path).write_text(json.dumps(record, indent=2))
    print(f"{out_path}: fused HR@20 {100 * record['metrics']['HR@20']:.2f} "
          f"MRR@20 {100 * record['metrics']['MRR@20']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
