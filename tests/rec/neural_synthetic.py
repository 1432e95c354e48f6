"""Shared pieces of the neural model tests: a learnable synthetic log, a hit-rate check and the
fixtures that keep every test on one CPU thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from via.rec.data.sessions import Sessions, all_prefixes

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
