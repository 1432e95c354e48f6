"""Time one training epoch of a neural model against the machine's matrix-product floor.

    python -m via.rec.models.neural.timing lstm --data diginetica --fraction 0.1 \
        --param diversity_weight=1e-6

trains one epoch on the first `fraction` of the training sessions (file order), and in the same
run times the full-softmax products of one training batch (forward logits, gradient of the
hidden state, gradient of the output weights: 3 products of batch x hidden x (n_items + 1)),
so the epoch can be compared with the floor those products alone impose. It prints one JSON
object; a projected full-epoch time is labelled as a projection. With `--param n_epochs=2` the
second epoch is the one timed: the first one's first step allocates Adam's state and the
tables' gradients once per run, which a projection from a small share would count many times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from via.rec.cli import parse_params
from via.rec.data import load_benchmark
from via.rec.data.sessions import all_prefixes
from via.rec.models import create_model
from via.rec.models.neural.common import cpu_blas, cpuinfo_field
from via.rec.models.presets import preset_params


def softmax_products_seconds(
    batch: int, hidden: int, classes: int, repeats: int = 3
) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of the 3 products of one full-softmax training step (h W^T, G W,
    G^T h), each the best of `repeats`, in torch (MKL) and in NumPy (OpenBLAS), each both as a
    plain product (a fresh result) and into a preallocated result (`torch`/`numpy` and
    `torch_into`/`numpy_into`).

    `floor` takes each product from the fastest of the four ways: the least this machine needs
    for them. `plain` takes it from the faster of the two plain products only, the floor this
    tool reported before 2026-12-07 (twelfth session): where a fresh 88 MB result costs page
    faults (torch: 4 KiB pages) it is looser than `floor` by up to 0.04 s a step (Intel Xeon).
    Timed after a training in the same process, the plain products no longer pay those faults
    (training keeps freed memory, `common.keep_freed_memory`), so `plain` comes close to `floor`.
    """
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(batch, hidden, generator=generator)
    w = torch.randn(classes, hidden, generator=generator)
    g = torch.randn(batch, classes, generator=generator)
    into = (torch.empty(batch, classes), torch.empty(batch, hidden), torch.empty(classes, hidden))
    hn, wn, gn = h.numpy(), w.numpy(), g.numpy()
    xn = tuple(t.numpy() for t in into)
    products = {
        "torch": (lambda: h @ w.T, lambda: g @ w, lambda: g.T @ h),
        "numpy": (lambda: hn @ wn.T, lambda: gn @ wn, lambda: gn.T @ hn),
        "torch_into": (
            lambda: torch.mm(h, w.T, out=into[0]),
            lambda: torch.mm(g, w, out=into[1]),
            lambda: torch.mm(g.T, h, out=into[2]),
        ),
        "numpy_into": (
            lambda: np.matmul(hn, wn.T, out=xn[0]),
            lambda: np.matmul(gn, wn, out=xn[1]),
            lambda: np.matmul(gn.T, hn, out=xn[2]),
        ),
    }
    times = {}
    for library, calls in products.items():
        each = []
        for product in calls:
            best, best_cpu = float("inf"), float("inf")
            for _ in range(repeats):
                start, cpu_start = time.perf_counter(), time.process_time()
                product()
                best = min(best, time.perf_counter() - start)
                best_cpu = min(best_cpu, time.process_time() - cpu_start)
            each.append((best, best_cpu))
        times[library] = each
    fastest = [min(four) for four in zip(*times.values())]
    plain = [min(pair) for pair in zip(times["torch"], times["numpy"])]
    total = {library: tuple(map(sum, zip(*each))) for library, each in times.items()}
    return {
        **total,
        "floor": tuple(map(sum, zip(*fastest))),
        "plain": tuple(map(sum, zip(*plain))),
    }


def scoring_milliseconds(model, test, batch: int = 512, repeats: int = 5) -> float:
    """Median milliseconds of `model.scores` for the first `batch` test prefixes (full catalog)."""
    prefixes, _ = all_prefixes(test).batch(0, batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.scores(prefixes)
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 1)


def regulariser_drift(model, train, n_items: int, every: int, windows: int = 4) -> list[dict]:
    """How the LSTM's exact regulariser gradient changes within `every` - 1 steps.

    Trains with the exact regulariser (recomputed every step) and compares the gradient at
    steps 0, every, 2 every, ... with the one `every` - 1 steps later, which `diversity_every`
    would replace by the earlier one: relative difference and cosine."""
    exact, drift, first, done = type(model)._regulariser_gradient, [], {}, object()
    calls = [0]

    def recording():
        gradient, step = exact(model), calls[0]
        calls[0] += 1
        if step % every == 0:
            first["gradient"] = gradient.clone()
        elif step % every == every - 1:
            early = first["gradient"]
            drift.append({
                "steps": f"{step - every + 1} -> {step}",
                "relative_difference": round(float((early - gradient).norm() / gradient.norm()), 3),
                "cosine": round(float((early * gradient).sum()
                                      / (early.norm() * gradient.norm())), 3),
            })  # fmt: skip
            if len(drift) == windows:
                raise StopIteration(done)
        return gradient

    model.diversity_every = 1
    model._regulariser_gradient = recording
    try:
        model.fit(train, n_items=n_items)
    except StopIteration as stop:
        if stop.value is not done:
            raise
    return drift


def cpu_model() -> str:
    return cpuinfo_field("model name") or platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="registry name, e.g. lstm or gru4rec")
    parser.add_argument("--data", default="diginetica")
    parser.add_argument("--fraction", type=float, default=1.0, help="share of training sessions")
    parser.add_argument("--param", nargs="*", default=[], help="NAME=VALUE (JSON values)")
    parser.add_argument("--preset", default="published", help="via.rec.models.presets name")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument(
        "--drift", type=int, metavar="K", help="lstm: instead, how the regulariser's gradient "
        "changes within K - 1 steps (what diversity_every=K reuses), over 4 windows"
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)  # NumPy's BLAS, where `cpu_blas()` is numpy
    dataset = load_benchmark(args.data)
    params = preset_params(args.preset, dataset.name, args.model)
    params.update(
        {"n_epochs": 1, "valid_fraction": 0.0} if args.model == "lstm" else {"n_epochs": 1}
    )
    params.update(parse_params(args.param))
    n_sessions = round(len(dataset.train) * args.fraction)
    train = dataset.train.select(np.arange(n_sessions))
    model = create_model(args.model, **params)
    if args.drift:
        drift = regulariser_drift(model, train, dataset.n_items, args.drift)
        print(json.dumps({"drift": drift, "load_average": os.getloadavg()}, indent=1))
        return 0
    full_cases = len(all_prefixes(dataset.train))
    classes = dataset.n_items + 1
    if args.model == "lstm":
        floor_before = softmax_products_seconds(model.batch_size, model.hidden_units, classes)
    epoch_cpu = []
    train_epoch = model._train_epoch

    def timed_epoch(*args):  # the epoch's own CPU time, without setup or validation
        cpu = time.process_time()
        result = train_epoch(*args)
        epoch_cpu.append(time.process_time() - cpu)
        return result

    model._train_epoch = timed_epoch
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(train, n_items=dataset.n_items)
    fit_seconds, fit_cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    epoch = model.history_[-1]
    unit = model.throughput_unit
    report = {
        "model": args.model,
        "data": dataset.name,
        "params": model.get_params(),
        "train_sessions": n_sessions,
        "train_cases": len(all_prefixes(train)),
        # the last epoch is the one timed: with n_epochs=2 the second, which no longer pays for
        # the first step's allocations (Adam's state, the tables' gradients: about 0.8 s on
        # Diginetica, 1.7 % of a 5 % share's epoch but 0.1 % of a whole one)
        "timed_epoch": len(model.history_),
        "epoch_seconds": round(epoch["seconds"], 1),
        "epoch_cpu_seconds": round(epoch_cpu[-1], 1),
        f"{unit}_per_second": round(epoch[f"{unit}_per_second"], 1),
        "fit_seconds_including_setup": round(fit_seconds, 1),
        "fit_cpu_seconds_including_setup": round(fit_cpu_seconds, 1),
        "score_512_test_prefixes_ms": scoring_milliseconds(model, dataset.test),
        "projected_full_epoch_seconds": round(full_cases / epoch[f"{unit}_per_second"], 0),
    }
    if args.model == "lstm":
        batch, hidden = model.batch_size, model.hidden_units
        # the floor is timed before and after the epoch; the faster of the two is used
        floor_after = softmax_products_seconds(batch, hidden, classes)
        floor = {
            key: tuple(min(a, b) for a, b in zip(floor_before[key], floor_after[key]))
            for key in floor_before
        }
        (step, step_cpu), (plain, plain_cpu) = floor["floor"], floor["plain"]
        by_library = {
            library: round(floor[library][0], 3)
            for library in ("torch", "numpy", "torch_into", "numpy_into")
        }
        flops = 3 * 2 * batch * hidden * classes
        steps_full = int(np.ceil(full_cases / batch))
        steps = int(np.ceil(len(all_prefixes(train)) / batch))
        projected = full_cases / epoch["prefixes_per_second"]
        report.update(
            cpu_blas=cpu_blas(),
            softmax_products_seconds_per_step=round(step, 3),
            softmax_products_seconds_per_step_by_library=by_library,
            softmax_products_gflops=round(flops / step / 1e9, 1),
            full_epoch_floor_seconds=round(steps_full * step, 0),
            projected_epoch_over_floor=round(projected / (steps_full * step), 2),
            # CPU time against CPU time: what the products cost this process, whatever the load
            softmax_products_cpu_seconds_per_step=round(step_cpu, 3),
            epoch_cpu_over_floor_cpu=round(epoch_cpu[-1] / (steps * step_cpu), 2),
            # the same against the plain products only (fresh results; the floor before 12-07)
            plain_products_seconds_per_step=round(plain, 3),
            projected_epoch_over_plain_floor=round(projected / (steps_full * plain), 2),
            plain_products_cpu_seconds_per_step=round(plain_cpu, 3),
            epoch_cpu_over_plain_floor_cpu=round(epoch_cpu[-1] / (steps * plain_cpu), 2),
        )  # fmt: skip
    report.update(
        torch_threads=torch.get_num_threads(),
        nproc=os.cpu_count(),
        cpu=cpu_model(),
        load_average=[round(x, 2) for x in os.getloadavg()],
        peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
