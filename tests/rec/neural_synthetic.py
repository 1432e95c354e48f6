"""Shared pieces of the neural model tests: a learnable synthetic log, a hit-rate check and the
fixtures that keep every test on one CPU thread."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from via.rec.data.sessions import Sessions, all_prefixes

# small GRU4Rec and STAN settings, for the Blend's and Rerank's tests
RUNNER_GRU = {"layers": [32], "batch_size": 16, "learning_rate": 0.1, "n_sample": 16,
              "n_epochs": 3, "loss": "bpr-max", "elu_param": 1.0, "bpreg": 0.9, "momentum": 0.15,
              "verbose": False}
RUNNER_STAN = {"k": 50, "sample_size": 200}
CYCLE = 30  # items 1..30 always follow one another in this order: 1 -> 2 -> ... -> 30 -> 1


def cycle_sessions(n_sessions: int, seed: int, reverse: bool = False) -> Sessions:
    """Sessions of 2 to 8 consecutive items of the fixed cycle, starting anywhere on it."""
    rng = np.random.default_rng(seed)
    step = -1 if reverse else 1
    sessions = []
    for _ in range(n_sessions):
        start, length = rng.integers(CYCLE), rng.integers(2, 9)
        sessions.append([(start + step * k) % CYCLE + 1 for k in range(length)])
    return Sessions.from_lists(sessions)


def hit_rate(model, test: Sessions, k: int) -> float:
    """HR@k over every prefix of `test`, ties counted against the target."""
    cases = all_prefixes(test)
    scores = model.scores(cases.prefixes)
    target = scores[np.arange(len(cases)), cases.targets]
    rank = (scores >= target[:, None]).sum(axis=1)
    return float((rank <= k).mean())


def write_benchmark(folder, train: Sessions, test: Sessions):
    """A benchmark folder (train.txt, test.txt: one session of item ids per line)."""
    folder.mkdir()
    for name, sessions in (("train", train), ("test", test)):
        lines = (" ".join(map(str, sessions[i])) for i in range(len(sessions)))
        (folder / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(autouse=True, name="one_thread")
def one_thread_fixture():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module", name="train")
def train_fixture():
    return cycle_sessions(600, seed=1)


def gru_member(data: str, out, part: str, seed: int) -> None:
    """A GRU4Rec member of RUNNER_GRU, as `python -m via.rec.models.blend member` saves it."""
    from via.rec.models.blend import main

    main(["member", "--data", data, "--model", "gru4rec", "--part", part, "--seed", str(seed),
          "--preset", "none", "--out", str(out), "--param",
          *[f"{k}={json.dumps(v)}" for k, v in RUNNER_GRU.items()]])


def runner_members(tmp_path, train: Sessions) -> str:
    """A cycle benchmark (test: 60 sessions of seed 3) and its GRU4Rec (seed 1) and STAN members
    on both parts, saved by the Blend's runner to tmp_path / g_fit, g_all, s_fit, s_all;
    returns the benchmark folder."""
    from via.rec.models.blend import main

    data = str(write_benchmark(tmp_path / "cycle", train, cycle_sessions(60, seed=3)))
    for part in ("fit", "all"):
        gru_member(data, tmp_path / f"g_{part}", part, seed=1)
        main(["member", "--data", data, "--model", "stan", "--part", part,
              "--out", str(tmp_path / f"s_{part}"), "--param",
              *[f"{k}={v}" for k, v in RUNNER_STAN.items()]])
    return data
