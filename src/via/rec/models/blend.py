"""Blend: several fitted session models as one, with weights chosen on validation.

Each member's scores are first put on one scale, so that models of different kinds (a
network's logits, a neighbourhood model's similarity sums) can be added; with `norm="best"`
they are relative to the member's best item of the row (0 to 1), with `norm="sum"` they are a
distribution over the catalog (they add up to 1, a mixture of the members' predictions):
- a model that outputs logits (the neural ones): `exp(z_j - max z)`, its softmax probability
  divided by the best item's (`best`), or its softmax probability (`sum`);
- any other model (kNN, popularity): `s_j / max s` (`best`) or `s_j / sum s` (`sum`), 0 for a
  row with no positive score.
The blend's score of item j is `sum_m w_m * r_mj ** p_m` with weights on the simplex (they add
up to 1) and a positive power per member (1 by default). A power sets how fast a member's vote
falls off below its best item: for a network under `best`, `r ** p = exp(p (z_j - max z))`, a
softmax temperature of 1/p; the members' raw scales (a sampled-softmax network, BPR-max logits,
similarity sums) are arbitrary, so the power is chosen rather than assumed. The weights (and the
powers, from `power_grid`; all combinations) are the best point of a grid of step `grid_step`
by `select_on` (hr@20, mrr@20, or their sum; ties broken by the other metric) on the last (most
recent) validation prefixes, at most `valid_cases` of them.

Protocol of `fit(train)` (nothing looks at the test set): the last `valid_fraction` of the
training sessions (time order) is cut off; every member is fitted on the rest; the weights are
chosen on the cut-off part; then every member is fitted again on all training sessions with
the same hyperparameters and the blend keeps the chosen weights (the usual last step of a
validation protocol). `python -m via.rec.models.blend` runs the same steps as separate
processes, so that members train side by side and survive an interrupted session.

Why: on these benchmarks, models of different kinds make different mistakes. VIANet, GRU4Rec
(session-parallel, BPR-max with sampled negatives) and STAN (neighbouring sessions) rank the
next click differently enough that a weighted sum recalls more of them in the top 20 than any
one of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from via.rec.data.sessions import PrefixBatch, Sessions, all_prefixes
from via.rec.models.base import ModelFileError, SessionModel

SELECT_ON = ("hr@20", "mrr@20", "sum")
NORMS = ("best", "sum")


def is_logit_model(model: SessionModel) -> bool:
    """Whether `model` scores with logits (softmax outputs): the neural models."""
    return type(model).__module__.startswith("via.rec.models.neural")


def relative_scores(model: SessionModel, prefixes: PrefixBatch, norm: str = "best") -> np.ndarray:
    """`model`'s scores of every item on the blend's scale (column 0 is 0): divided by the row's
    best item's (`best`, in [0, 1]) or by the row's sum (`sum`, a distribution); logits go
    through exp(z - max z) first."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    s = np.asarray(model.scores(prefixes), dtype=np.float32).copy()
    s[:, 0] = -np.inf
    if is_logit_model(model):
        s -= s.max(axis=1, keepdims=True)
        np.exp(s, out=s)
        if norm == "sum":
            s /= s.sum(axis=1, keepdims=True)
        return s
    s[:, 0] = 0.0
    np.maximum(s, 0.0, out=s)
    scale = s.max(axis=1, keepdims=True) if norm == "best" else s.sum(axis=1, keepdims=True)
    return np.divide(s, scale, out=np.zeros_like(s), where=scale > 0)


def simplex_grid(n_members: int, step: float) -> np.ndarray:
    """Every weight vector of `n_members` non-negative multiples of `step` that add up to 1."""
    if n_members < 1:
        raise ValueError("a blend needs at least one member")
    units = round(1.0 / step)
    if units < 1 or abs(units * step - 1.0) > 1e-9:
        raise ValueError(f"grid_step must divide 1, got {step}")
    points = [c for c in itertools.product(range(units + 1), repeat=n_members - 1)
              if sum(c) <= units]
    return np.array([[*c, units - sum(c)] for c in points], dtype=np.float64) / units


def length_bucket(lengths: np.ndarray, boundaries: Sequence[int]) -> np.ndarray:
    """Each prefix length's bucket: with boundaries b1 < b2 < ..., bucket 0 holds the lengths
    below b1, bucket i those in [b_i, b_i+1), the last one b_k and longer."""
    return np.searchsorted(np.asarray(boundaries, dtype=np.int64), lengths, side="right")


def _checked_buckets(boundaries: Sequence[int] | None) -> list[int]:
    boundaries = [int(b) for b in (boundaries or ())]
    if any(b < 2 for b in boundaries) or boundaries != sorted(set(boundaries)):
        raise ValueError("length_buckets must be increasing prefix lengths of 2 or more, "
                         f"got {boundaries}")
    return boundaries


class _Contenders:
    """What a grid of blends needs from the validation prefixes, scored once by every member.

    For each prefix, an item at or above the target in every member stays at or above it (ties
    count against the target) under any non-negative weights and any increasing transform of
    each member's scores, the powers included: it adds 1 to the target's rank whatever the
    point of the grid. An item below the target in every member never counts. Only the others,
    the "mixed" items, are kept, with each member's relative score; a prefix that already has
    more than `cutoff` items that always count is a miss at every point and is dropped.

    With `candidates` = N, only the mixed items in some member's top N are kept (the grid's
    figures become an approximation, from below for ranks: an item outside every member's top N
    rarely overtakes a target in the blend's top 20; the `choose` step scores the chosen point
    again without the shortcut, `_exact_point`, to tell how close it is).

    The cases are those of `cases` from `first` to `stop`; `restrict` keeps a subset of them
    (the prefixes of one length bucket, say)."""

    def __init__(self, members, cases, first, batch_size, cutoff, norm, candidates=None,
                 stop=None):
        stop = len(cases) if stop is None else stop
        values, rows, targets_kept, always_kept, kept_cases, lengths = [], [], [], [], [], []
        self.n_cases = stop - first
        kept = 0
        for lo in range(first, stop, batch_size):
            prefixes, targets = cases.batch(lo, min(lo + batch_size, stop))
            lengths.append(prefixes.lengths)
            stacked = np.stack([relative_scores(m, prefixes, norm) for m in members])  # (M, B, n+1)
            target_scores = stacked[:, np.arange(len(targets)), targets]  # (M, B)
            at_or_above = stacked >= target_scores[:, :, None]
            at_or_above[:, :, 0] = False
            always = at_or_above.all(axis=0)  # the target itself included
            mixed = at_or_above.any(axis=0) & ~always
            del at_or_above
            if candidates is not None and candidates < stacked.shape[2] - 1:
                top = np.zeros_like(mixed)
                for member_scores in stacked:
                    best = np.argpartition(-member_scores, candidates, axis=1)[:, :candidates]
                    np.put_along_axis(top, best, True, axis=1)
                mixed &= top
                del top
            n_always = always.sum(axis=1)
            keep = np.flatnonzero(n_always <= cutoff)
            row, col = np.nonzero(mixed[keep])
            values.append(stacked[:, keep[row], col])
            rows.append(row + kept)
            targets_kept.append(target_scores[:, keep])
            always_kept.append(n_always[keep])
            kept_cases.append(keep + (lo - first))
            kept += len(keep)
            del stacked, mixed
        self.values = np.concatenate(values, axis=1) if values else np.zeros((len(members), 0))
        self.rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        self.targets = np.concatenate(targets_kept, axis=1) if targets_kept else None
        self.always = np.concatenate(always_kept) if always_kept else np.zeros(0, dtype=np.int64)
        # which case (0 .. n_cases-1) each kept prefix is, and every case's prefix length
        self.kept = np.concatenate(kept_cases) if kept_cases else np.zeros(0, dtype=np.int64)
        self.lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
        self.cutoff = cutoff
        self._index()

    def _index(self) -> None:
        # the mixed items of a prefix are contiguous (rows ascending): segment starts
        self.segments = np.flatnonzero(np.r_[True, self.rows[1:] != self.rows[:-1]]) \
            if len(self.rows) else np.zeros(0, dtype=np.int64)
        self.segment_rows = self.rows[self.segments]
        self._ahead: dict[tuple[int, float], np.ndarray] = {}

    def restrict(self, case_mask: np.ndarray) -> _Contenders:
        """The same contenders for the cases where `case_mask` (one flag per case) is set."""
        part = object.__new__(_Contenders)
        keep = np.asarray(case_mask, dtype=bool)[self.kept]  # per kept prefix
        renumber = np.cumsum(keep) - 1
        items = keep[self.rows]
        part.values = self.values[:, items]
        part.rows = renumber[self.rows[items]]
        part.targets = None if self.targets is None else self.targets[:, keep]
        part.always = self.always[keep]
        part.kept = self.kept[keep]
        part.lengths = self.lengths
        part.n_cases = int(np.count_nonzero(case_mask))
        part.cutoff = self.cutoff
        part._index()
        return part

    def ahead(self, member: int, power: float) -> np.ndarray:
        """Each mixed item's score minus its target's, in one member, after the power."""
        key = (member, float(power))
        if key not in self._ahead:
            values, targets = self.values[member], self.targets[member][self.rows]
            if power != 1.0:
                values, targets = np.power(values, power), np.power(targets, power)
            self._ahead[key] = (values - targets).astype(np.float32)
        return self._ahead[key]

    def evaluate(self, weights: np.ndarray, powers: Sequence[float], chunk: int = 8):
        """HR@cutoff and MRR@cutoff sums (over every prefix) of each row of `weights`."""
        hits = np.zeros(len(weights))
        reciprocal = np.zeros(len(weights))
        if self.targets is None or not len(self.always):
            return hits, reciprocal
        ahead = np.stack([self.ahead(m, p) for m, p in enumerate(powers)])  # (M, C)
        for lo in range(0, len(weights), chunk):
            w = weights[lo:lo + chunk].astype(np.float32)
            ranks = np.repeat(self.always[None, :], len(w), axis=0)
            if ahead.shape[1]:
                beats = (w @ ahead >= 0).view(np.int8)
                ranks[:, self.segment_rows] += np.add.reduceat(beats, self.segments, axis=1,
                                                               dtype=np.int64)
            hit = ranks <= self.cutoff
            hits[lo:lo + chunk] = hit.sum(axis=1)
            reciprocal[lo:lo + chunk] = np.where(hit, 1.0 / ranks, 0.0).sum(axis=1)
        return hits, reciprocal


def _case_range(n_cases: int, valid_cases: int, skip_last: int) -> tuple[int, int]:
    stop = n_cases - max(int(skip_last), 0)
    if stop <= 0:
        raise ValueError(f"skip_last={skip_last} leaves none of the {n_cases} validation prefixes")
    return max(stop - valid_cases, 0), stop


def weight_curve(
    members: Sequence[SessionModel],
    valid: Sessions,
    grid: np.ndarray,
    *,
    valid_cases: int = 20_000,
    batch_size: int = 512,
    cutoff: int = 20,
    norm: str = "best",
    power_grid: Sequence[float] = (1.0,),
    candidates: int | None = None,
    length_buckets: Sequence[int] | None = None,
    skip_last: int = 0,
) -> list[dict]:
    """HR@cutoff and MRR@cutoff of every weight vector of `grid`, with every vector of member
    powers from `power_grid` (each member's relative scores raised to its power), on the last
    `valid_cases` prefixes of `valid` (each member scores each prefix once) before the last
    `skip_last`. A member with weight 0 is listed with power 1 only (the grid's first power if
    1 is not in it: its power changes nothing). `candidates`: see `_Contenders` (None: exact).

    With `length_buckets` (see `length_bucket`), every point is scored on the prefixes of each
    length bucket apart (rows with `"bucket": b`, their `cases` that bucket's), and on all of
    them (`"bucket": None`)."""
    cases = all_prefixes(valid)
    if len(cases) == 0:
        raise ValueError("the validation sessions hold no prefix to choose weights on")
    power_grid = [float(p) for p in power_grid]
    if not power_grid or min(power_grid) <= 0:
        raise ValueError(f"powers must be positive, got {power_grid}")
    boundaries = _checked_buckets(length_buckets)
    neutral = 1.0 if 1.0 in power_grid else power_grid[0]
    first, stop = _case_range(len(cases), valid_cases, skip_last)
    contenders = _Contenders(members, cases, first, batch_size, cutoff, norm, candidates, stop)
    parts: list[tuple[int | None, _Contenders]] = [(None, contenders)]
    if boundaries:
        bucket = length_bucket(contenders.lengths, boundaries)
        parts += [(b, contenders.restrict(bucket == b)) for b in range(len(boundaries) + 1)]
    curve = []
    for b, part in parts:
        n = part.n_cases
        for powers in itertools.product(power_grid, repeat=len(members)):
            # a member without weight keeps the neutral power: other powers would repeat the point
            rows = grid[np.all((grid > 0) | (np.array(powers) == neutral), axis=1)]
            if not len(rows):
                continue
            hits, reciprocal = part.evaluate(rows, powers)
            curve += [{"weights": [float(x) for x in w], "powers": list(powers), "norm": norm,
                       "valid_hr20": hits[g] / n if n else 0.0,
                       "valid_mrr20": reciprocal[g] / n if n else 0.0, "cases": n,
                       **({"bucket": b} if boundaries else {})}
                      for g, w in enumerate(rows)]
    return curve


def _exact_point(blend, valid: Sessions, valid_cases: int, skip_last: int = 0) -> dict:
    """HR@20 and MRR@20 of one blend (its weights and powers, per length bucket if it has
    them) on the last `valid_cases` prefixes of `valid` before the last `skip_last`, every item
    counted."""
    cases = all_prefixes(valid)
    first, stop = _case_range(len(cases), valid_cases, skip_last)
    contenders = _Contenders(blend.members, cases, first, 512, 20, blend.norm_, None, stop)
    weights, powers = blend.weight_table(), blend.power_table()
    bucket = length_bucket(contenders.lengths, blend.length_buckets)
    hits = reciprocal = 0.0
    for b in range(len(weights)):
        h, r = contenders.restrict(bucket == b).evaluate(weights[b:b + 1], powers[b])
        hits, reciprocal = hits + h[0], reciprocal + r[0]
    n = contenders.n_cases
    return {"weights": blend.weights, "powers": blend.powers, "norm": blend.norm_,
            "length_buckets": blend.length_buckets,
            "valid_hr20": hits / n, "valid_mrr20": reciprocal / n, "cases": n}


def best_row(curve: list[dict], select_on: str) -> dict:
    if select_on not in SELECT_ON:
        raise ValueError(f"select_on must be one of {', '.join(SELECT_ON)}, got {select_on!r}")

    def key(row: dict) -> tuple[float, float]:  # ties broken by the other metric
        hr, mrr = row["valid_hr20"], row["valid_mrr20"]
        return {"hr@20": (hr, mrr), "mrr@20": (mrr, hr), "sum": (hr + mrr, mrr)}[select_on]

    return max(curve, key=key)


def best_per_bucket(curve: list[dict], select_on: str, n_buckets: int) -> list[dict]:
    """The best row of each length bucket; a bucket without validation prefixes takes the best
    row over all lengths. Maximising each bucket's figure maximises their sum over prefixes."""
    overall = best_row([r for r in curve if r.get("bucket") is None], select_on)
    chosen = []
    for b in range(n_buckets):
        rows = [r for r in curve if r.get("bucket") == b]
        chosen.append(best_row(rows, select_on) if rows and rows[0]["cases"] else overall)
    return chosen


def combined(rows: list[dict]) -> dict:
    """The figures over every prefix of per-bucket rows (one per bucket)."""
    rows = [r for r in rows if r.get("bucket") is not None]
    n = sum(r["cases"] for r in rows)
    return {f"valid_{m}": sum(r[f"valid_{m}"] * r["cases"] for r in rows) / n if n else 0.0
            for m in ("hr20", "mrr20")} | {"cases": n}


class Blend(SessionModel):
    """A weighted sum of fitted members' relative scores (see the module docstring).

    `members` are unfitted models (fitted by `fit`) or fitted ones (then give `weights`, or call
    `choose_weights`).

    `length_buckets` (increasing prefix lengths, see `length_bucket`) gives each bucket of
    prefix lengths its own weights and powers, each chosen on that bucket's validation prefixes
    (a gate on the session's length: a one-click prefix may be better served by other members
    than a ten-click one). Then `weights` and `powers` hold one list per bucket."""

    name = "blend"

    def __init__(
        self,
        members: Sequence[SessionModel],
        weights: Sequence[float] | None = None,
        select_on: str = "sum",
        grid_step: float = 0.05,
        valid_fraction: float = 0.1,
        valid_cases: int = 20_000,
        norm: str | Sequence[str] = "best",
        powers: Sequence[float] | None = None,
        power_grid: Sequence[float] = (1.0,),
        candidates: int | None = None,
        length_buckets: Sequence[int] | None = None,
    ):
        super().__init__()
        if not members:
            raise ValueError("a blend needs at least one member")
        if select_on not in SELECT_ON:
            raise ValueError(f"select_on must be one of {', '.join(SELECT_ON)}, got {select_on!r}")
        norms = [norm] if isinstance(norm, str) else list(norm)
        if not norms or any(n not in NORMS for n in norms):
            raise ValueError(f"norm must be one or more of {', '.join(NORMS)}, got {norm!r}")
        if weights is not None and len(norms) != 1:
            raise ValueError("fixed weights need one norm")
        # several norms: the one chosen on validation with the weights
        self.norm = norms[0] if len(norms) == 1 else norms
        self.norm_ = norms[0]
        self.members = list(members)
        self.length_buckets = _checked_buckets(length_buckets)
        n_buckets = len(self.length_buckets) + 1
        if weights is not None and self.length_buckets:
            if len(weights) != n_buckets:
                raise ValueError(f"{len(weights)} weight vectors for {n_buckets} length buckets")
            weights = [self._checked(w) for w in weights]
        elif weights is not None:
            weights = self._checked(weights)
        self.weights = weights
        self.power_grid = [float(p) for p in power_grid]
        self.candidates = None if candidates is None else int(candidates)
        if not self.power_grid or min(self.power_grid) <= 0:
            raise ValueError(f"powers must be positive, got {list(power_grid)}")
        if powers is None:
            powers = [1.0] * len(self.members)
            if self.length_buckets:
                powers = [powers] * n_buckets
        if self.length_buckets:
            if len(powers) != n_buckets:
                raise ValueError(f"{len(powers)} power vectors for {n_buckets} length buckets")
            self.powers = [self._checked_powers(p) for p in powers]
        else:
            self.powers = self._checked_powers(powers)
        self.select_on, self.grid_step = select_on, float(grid_step)
        self.valid_fraction, self.valid_cases = float(valid_fraction), int(valid_cases)
        self.weight_curve_: list[dict] = []
        fitted = [m.n_items for m in self.members]
        if all(fitted):
            if len(set(fitted)) > 1:
                raise ValueError(f"the members know different catalogs ({sorted(set(fitted))})")
            self.n_items = fitted[0]

    def _checked(self, weights: Sequence[float]) -> list[float]:
        weights = [float(w) for w in weights]
        if len(weights) != len(self.members):
            raise ValueError(f"{len(weights)} weights for {len(self.members)} members")
        if min(weights) < 0 or abs(sum(weights) - 1.0) > 1e-6:
            raise ValueError(f"weights must be non-negative and add up to 1, got {weights}")
        return weights

    def _checked_powers(self, powers: Sequence[float]) -> list[float]:
        powers = [float(p) for p in powers]
        if len(powers) != len(self.members) or min(powers) <= 0:
            raise ValueError(f"powers must be one positive number per member, got {powers}")
        return powers

    def weight_table(self) -> np.ndarray:
        """The weights as a (length buckets, members) array (one row without buckets)."""
        return np.array(self.weights if self.length_buckets else [self.weights], dtype=np.float64)

    def power_table(self) -> np.ndarray:
        return np.array(self.powers if self.length_buckets else [self.powers], dtype=np.float64)

    def choose_weights(self, valid: Sessions, skip_last: int = 0) -> list:
        """Choose the weights (and powers; per length bucket if the blend has them) of the
        fitted members on `valid` (its last `valid_cases` prefixes before the last
        `skip_last`); returns them. `chosen_` holds the chosen rows of the curve."""
        grid = simplex_grid(len(self.members), self.grid_step)
        norms = [self.norm] if isinstance(self.norm, str) else self.norm
        self.weight_curve_ = [
            row for norm in norms
            for row in weight_curve(self.members, valid, grid, valid_cases=self.valid_cases,
                                    norm=norm, power_grid=self.power_grid,
                                    candidates=self.candidates,
                                    length_buckets=self.length_buckets, skip_last=skip_last)
        ]
        if not self.length_buckets:
            best = best_row(self.weight_curve_, self.select_on)
            self.weights, self.norm_, self.powers = best["weights"], best["norm"], best["powers"]
            self.chosen_ = [best]
            return self.weights
        n_buckets = len(self.length_buckets) + 1
        options = []  # per norm: the best row of each bucket, and their figures together
        for norm in norms:
            rows = best_per_bucket([r for r in self.weight_curve_ if r["norm"] == norm],
                                   self.select_on, n_buckets)
            options.append({**combined(rows), "norm": norm, "rows": rows})
        best = best_row(options, self.select_on)
        self.norm_, self.chosen_ = best["norm"], best["rows"]
        self.weights = [r["weights"] for r in best["rows"]]
        self.powers = [r["powers"] for r in best["rows"]]
        return self.weights

    def fit(self, train: Sessions, valid: Sessions | None = None, *, n_items: int | None = None):
        from via.rec.data.protocol import validation_split

        n_items = self._catalog_size(train, n_items)
        if self.weights is None:
            if valid is None:
                if not 0 < self.valid_fraction < 1:
                    raise ValueError("choosing the weights needs validation sessions or a "
                                     "valid_fraction in (0, 1)")
                fit_part, valid = validation_split(train, self.valid_fraction)
            else:
                fit_part = train
            for member in self.members:
                member.fit(fit_part, n_items=n_items)
            self.n_items = n_items
            self.choose_weights(valid)
        for member in self.members:
            member.fit(train, n_items=n_items)
        self.n_items = n_items
        return self

    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        self._check_fitted()
        if self.weights is None:
            raise RuntimeError("the blend has no weights; fit it or call choose_weights()")
        fused = np.zeros((len(prefixes), self.n_items + 1), dtype=np.float32)
        weights, powers = self.weight_table(), self.power_table()
        bucket = length_bucket(prefixes.lengths, self.length_buckets)
        for m, member in enumerate(self.members):
            if not weights[:, m].any():
                continue
            relative = relative_scores(member, prefixes, self.norm_)
            for b in np.unique(bucket):
                w, p = weights[b, m], powers[b, m]
                if not w:
                    continue
                rows = bucket == b
                part = relative if rows.all() else relative[rows]
                if p != 1.0:
                    part = np.power(part, np.float32(p))
                if rows.all():
                    fused += np.float32(w) * part
                else:
                    fused[rows] += np.float32(w) * part
        fused[:, 0] = -np.inf
        return fused

    # persistence: every member in its own folder, the weights in blend.json
    def _weights(self) -> dict[str, np.ndarray]:
        raise NotImplementedError("a Blend is saved with save(), one folder per member")

    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError("a Blend is loaded with Blend.load()")

    def get_params(self) -> dict:
        return {"members": [m.name for m in self.members], "weights": self.weights,
                "select_on": self.select_on, "grid_step": self.grid_step,
                "valid_fraction": self.valid_fraction, "valid_cases": self.valid_cases,
                "norm": self.norm_, "powers": self.powers, "power_grid": self.power_grid,
                "candidates": self.candidates, "length_buckets": self.length_buckets}

    def save(self, directory: str | Path) -> Path:
        import json

        self._check_fitted()
        if self.weights is None:
            raise RuntimeError("the blend has no weights to save")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for i, member in enumerate(self.members):
            member.save(directory / f"member{i}")
        (directory / "blend.json").write_text(json.dumps(
            {"model": self.name, **self.get_params(), "weight_curve": self.weight_curve_},
            indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Blend:
        import json

        directory = Path(directory)
        try:
            config = json.loads((directory / "blend.json").read_text())
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{directory}/blend.json: cannot read ({exc})") from exc
        members = [SessionModel.load(directory / f"member{i}")
                   for i in range(len(config["members"]))]
        for member, name in zip(members, config["members"]):
            if member.name != name:
                raise ModelFileError(f"{directory}: member {name!r} holds a {member.name!r}")
        blend = cls(members, config["weights"], config["select_on"], config["grid_step"],
                    config["valid_fraction"], config["valid_cases"], config.get("norm", "best"),
                    config.get("powers"), config.get("power_grid", (1.0,)),
                    config.get("candidates"), config.get("length_buckets"))
        blend.weight_curve_ = config.get("weight_curve", [])
        return blend


def same_setting(info: dict, model: str, params: dict) -> bool:
    """Whether a saved member (`member.json`'s `info`) is the model `model` with the settings
    `params` of the member that weights (or a ranker) were chosen with. The seed, the epoch
    count and the validation part may differ: the `fit` member trains on less data, and each
    seed's final member is another initialisation."""
    import json

    theirs = {k: v for k, v in params.items()
              if k not in ("seed", "verbose", "n_epochs", "valid_fraction")}
    ours = {k: v for k, v in info["params"].items() if k in theirs}
    return info["model"] == model and json.loads(json.dumps(ours, default=str)) == theirs


def main(argv: list[str] | None = None) -> None:
    """The blend's validation protocol as separate steps (members train side by side):

    python -m via.rec.models.blend member --data D --model M --part fit|all --seed S --out DIR
        [--preset validated] [--param NAME=VALUE ...]
        fits one member on the training sessions minus the validation part (`fit`) or on all
        of them (`all`) and saves it to DIR/model, with DIR/member.json (setting, fit time, peak
        memory); resumable for the models that keep checkpoints (DIR/ck).
    python -m via.rec.models.blend choose --data D --members DIR ... --out W.json
        chooses the weights of `fit` members on the validation part.
    python -m via.rec.models.blend test --data D --members DIR ... --weights W.json --out R.json
        evaluates the blend of `all` members (same settings, same order) with those weights on
        the test set, and each member alone. Given k times as many members (k seeds' blends in
        a row), it evaluates the mean of those k blends (each member weighted w/k).
    """
    import argparse
    import json
    import time

    from via.rec.cli import (
        fit_model,
        history_record,
        parse_params,
        peak_memory_mib,
        where_and_when,
    )
    from via.rec.data.benchmark import load_benchmark
    from via.rec.data.protocol import validation_split
    from via.rec.evaluate import evaluate
    from via.rec.models import create_model, get_model_class
    from via.rec.models.popularity import click_counts
    from via.rec.models.presets import preset_params

    parser = argparse.ArgumentParser(prog="python -m via.rec.models.blend")
    sub = parser.add_subparsers(dest="step", required=True)
    me = sub.add_parser("member", help="fit one member and save it")
    me.add_argument("--data", required=True)
    me.add_argument("--model", required=True)
    me.add_argument("--part", required=True, choices=["fit", "all"])
    me.add_argument("--seed", type=int, default=0)
    me.add_argument("--preset", default="validated")
    me.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE")
    me.add_argument("--valid-fraction", type=float, default=0.1)
    me.add_argument("--out", required=True)
    ch = sub.add_parser("choose", help="choose the weights of `fit` members on validation")
    ch.add_argument("--data", required=True)
    ch.add_argument("--members", nargs="+", required=True, metavar="DIR")
    ch.add_argument("--select-on", default="sum", choices=SELECT_ON)
    ch.add_argument("--grid-step", type=float, default=0.05)
    ch.add_argument("--valid-cases", type=int, default=20_000)
    ch.add_argument("--norm", nargs="+", default=["best"], choices=NORMS,
                    help="score scale(s) to try; with two, the better one on validation is kept")
    ch.add_argument("--power-grid", nargs="+", type=float, default=[1.0], metavar="P",
                    help="powers to try for each member's relative scores (all combinations)")
    ch.add_argument("--candidates", type=int, metavar="N",
                    help="score the grid on the items in some member's top N only (faster, "
                         "approximate; the chosen point is then evaluated exactly)")
    ch.add_argument("--length-buckets", nargs="+", type=int, metavar="L",
                    help="give each bucket of prefix lengths its own weights and powers: "
                         "boundaries, e.g. 2 3 5 10 for 1, 2, 3-4, 5-9, 10 and more")
    ch.add_argument("--split-check", action="store_true",
                    help="also choose on the older half of the validation prefixes and score "
                         "that choice on the newer half (with and without the length buckets)")
    ch.add_argument("--out", required=True)
    te = sub.add_parser("test", help="evaluate the blend of `all` members on the test set")
    te.add_argument("--data", required=True)
    te.add_argument("--members", nargs="+", required=True, metavar="DIR")
    te.add_argument("--weights", required=True, help="the weights file of `choose`")
    te.add_argument("--no-alone", action="store_true", help="skip each member's own figures")
    te.add_argument("--alone", nargs="+", metavar="MODEL",
                    help="only these members' own figures (default: every member's)")
    te.add_argument("--alone-records", metavar="DIR",
                    help="also write each member alone as a benchmark record into DIR")
    te.add_argument("--label", help="the record's row name after `blend:` (default: the members)")
    te.add_argument("--save", metavar="DIR", help="also save the blend (members copied) to DIR, "
                    "for `via rec evaluate --load` and `via rec latency --load`")
    te.add_argument("--one-set", action="store_true",
                    help="with a weights file of length buckets, use its best single set of "
                         "weights (chosen on the same validation prefixes) instead")
    te.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    data = load_benchmark(args.data)

    def read_member(folder: str, part: str) -> tuple[dict, SessionModel]:
        info = json.loads((Path(folder) / "member.json").read_text())
        if info["data"] != data.name or info["part"] != part:
            raise SystemExit(f"{folder}: a member fitted on {info['data']} ({info['part']}), "
                             f"not on {data.name} ({part})")
        return info, SessionModel.load(Path(folder) / "model")

    if args.step == "member":
        name = args.model.partition(":")[0]
        params = dict(preset_params(args.preset, data.name, name), **parse_params(args.param))
        names = get_model_class(name).param_names()
        params.update({k: v for k, v in (("seed", args.seed), ("verbose", True)) if k in names})
        model = create_model(name, **params)
        train = data.train
        if args.part == "fit":
            train, _ = validation_split(data.train, args.valid_fraction)
        out = Path(args.out)
        seconds = fit_model(model, train, data.n_items, out / "ck")
        model.save(out / "model")
        history = getattr(model, "history_", None) or []
        (out / "member.json").write_text(json.dumps({
            "data": data.name, "model": args.model, "part": args.part,
            "valid_fraction": args.valid_fraction if args.part == "fit" else 0.0,
            "seed": args.seed, "params": model.get_params(), "fit_seconds": seconds,
            "history": history, "peak_memory_mib": peak_memory_mib(), **where_and_when(),
        }, indent=2, default=str))
        print(f"{args.model} ({args.part}) fitted in {seconds:.0f} s, saved to {out / 'model'}")
        return

    if args.step == "choose":
        loaded = [read_member(folder, "fit") for folder in args.members]
        fractions = {info["valid_fraction"] for info, _ in loaded}
        if len(fractions) != 1:
            raise SystemExit(f"the members were fitted with different validation parts {fractions}")
        _, valid = validation_split(data.train, fractions.pop())
        settings = dict(select_on=args.select_on, grid_step=args.grid_step,
                        valid_cases=args.valid_cases, norm=args.norm,
                        power_grid=args.power_grid, candidates=args.candidates)
        models = [m for _, m in loaded]
        blend = Blend(models, length_buckets=args.length_buckets, **settings)
        start = time.perf_counter()
        weights = blend.choose_weights(valid)
        best = combined(blend.chosen_) if blend.length_buckets else blend.chosen_[0]
        best = {**best, "weights": weights, "powers": blend.powers, "norm": blend.norm_}
        exact = None
        if args.candidates is not None:  # the chosen point, without the candidates' shortcut
            exact = _exact_point(blend, valid, args.valid_cases)
        # the whole weight grid at the chosen powers, and the best point of every other vector
        # of powers (the full curve of a power grid runs to tens of thousands of rows); with
        # length buckets, per bucket (and over all lengths, bucket None)
        best_per_powers: dict[tuple, dict] = {}
        for row in blend.weight_curve_:
            key = (row["norm"], row.get("bucket"), *row["powers"])
            if key not in best_per_powers or best_row([best_per_powers[key], row],
                                                      args.select_on) is row:
                best_per_powers[key] = row
        chosen_powers = {(r.get("bucket"), tuple(r["powers"])) for r in blend.chosen_}
        one_set = None
        if blend.length_buckets:  # and the best single set of weights, at its powers
            one_set = best_row([r for r in blend.weight_curve_ if r["bucket"] is None],
                               args.select_on)
            chosen_powers.add((None, tuple(one_set["powers"])))
        split_check = None
        if args.split_check:
            n_cases = min(len(all_prefixes(valid)), args.valid_cases)
            newer = n_cases // 2
            older = dict(settings, valid_cases=n_cases - newer)
            split_check = {"older_cases": n_cases - newer, "newer_cases": newer}
            for label, buckets in (("one_set", None), ("length_buckets", args.length_buckets)):
                if label == "length_buckets" and not buckets:
                    continue
                probe = Blend(models, length_buckets=buckets, **older)
                probe.choose_weights(valid, skip_last=newer)
                on_older = combined(probe.chosen_) if buckets else probe.chosen_[0]
                split_check[label] = {
                    "weights": probe.weights, "powers": probe.powers, "norm": probe.norm_,
                    "older_hr20": on_older["valid_hr20"], "older_mrr20": on_older["valid_mrr20"],
                    "newer": _exact_point(probe, valid, newer)}
                print(f"split check, {label}: chosen on the older {n_cases - newer} prefixes, "
                      f"on the newer {newer}: HR@20 "
                      f"{100 * split_check[label]['newer']['valid_hr20']:.2f} MRR@20 "
                      f"{100 * split_check[label]['newer']['valid_mrr20']:.2f}", flush=True)
        Path(args.out).write_text(json.dumps({
            "data": data.name, "members": args.members,
            "member_models": [info["model"] for info, _ in loaded],
            "member_params": [info["params"] for info, _ in loaded],
            "select_on": args.select_on, "weights": weights, "norm": blend.norm_,
            "powers": blend.powers, "power_grid": args.power_grid,
            "length_buckets": blend.length_buckets, "best": best,
            "chosen_rows": blend.chosen_ if blend.length_buckets else None,
            "one_set": one_set,
            "candidates": args.candidates, "best_exact": exact, "split_check": split_check,
            "seconds": time.perf_counter() - start, "points": len(blend.weight_curve_),
            "best_per_powers": list(best_per_powers.values()),
            "curve": [r for r in blend.weight_curve_
                      if (r.get("bucket"), tuple(r["powers"])) in chosen_powers],
        }, indent=2, default=str))
        print(f"weights {weights} powers {blend.powers} ({blend.norm_}): "
              f"validation HR@20 {100 * best['valid_hr20']:.2f} "
              f"MRR@20 {100 * best['valid_mrr20']:.2f} ({best['cases']} prefixes)")
        if exact:
            print(f"the same point scored exactly: HR@20 {100 * exact['valid_hr20']:.2f} "
                  f"MRR@20 {100 * exact['valid_mrr20']:.2f}")
        return

    chosen = json.loads(Path(args.weights).read_text())
    if args.one_set:
        if not chosen.get("one_set"):
            raise SystemExit(f"{args.weights} holds no length buckets, so no --one-set")
        best = chosen["one_set"]
        chosen.update(weights=best["weights"], powers=best["powers"], norm=best["norm"],
                      length_buckets=[], best=best)
    buckets = chosen.get("length_buckets") or []
    # (length buckets, members) tables; weight files before powers: every power 1
    weight_table = np.array(chosen["weights"] if buckets else [chosen["weights"]], dtype=float)
    powers = chosen.get("powers") or [1.0] * weight_table.shape[1]
    power_table = np.array(powers if buckets else [powers], dtype=float)
    size = weight_table.shape[1]
    if chosen["data"] != data.name or not args.members or len(args.members) % size:
        raise SystemExit(f"{args.weights}: weights for other data or for {size} members a blend "
                         f"(not {len(args.members)})")
    # k blends' members in a row: the blend of k seeds' blends, the mean of their scores (each
    # member weighted w/k; a folder given in several blends, a shared kNN say, is loaded once)
    groups = len(args.members) // size
    by_folder: dict[str, tuple[dict, SessionModel]] = {}
    folder_weight: dict[str, np.ndarray] = {}
    folder_power: dict[str, np.ndarray] = {}
    for i, folder in enumerate(args.members):
        if folder not in by_folder:
            by_folder[folder] = read_member(folder, "all")
        share = weight_table[:, i % size] / groups
        folder_weight[folder] = folder_weight.get(folder, 0.0) + share
        if not np.array_equal(folder_power.setdefault(folder, power_table[:, i % size]),
                              power_table[:, i % size]):
            raise SystemExit(f"{folder} is given at two places of the blend, with two powers")
    for i, folder in enumerate(args.members):
        info = by_folder[folder][0]
        model, params = chosen["member_models"][i % size], chosen["member_params"][i % size]
        if not same_setting(info, model, params):
            raise SystemExit(f"{info['model']} member differs from the one the weights were "
                             f"chosen for ({model})")
    loaded = list(by_folder.values())
    table = np.stack([folder_weight[f] for f in by_folder], axis=1)  # (buckets, members)
    table /= table.sum(axis=1, keepdims=True)  # 1 up to rounding
    power_rows = np.stack([folder_power[f] for f in by_folder], axis=1)
    blend = Blend([m for _, m in loaded], table.tolist() if buckets else table[0].tolist(),
                  norm=chosen.get("norm", "best"),
                  powers=power_rows.tolist() if buckets else power_rows[0].tolist(),
                  length_buckets=buckets)
    counts = click_counts(data.train, data.n_items)
    names = "+".join(info["model"] for info, _ in loaded[:size]) + (
        f", {groups} seeds' blends" if groups > 1 else "")
    # a `via rec benchmark --add` record: the fit time is the members' final trainings
    record = {"data": data.name, "model": f"blend:{args.label or names}",
              "seed": loaded[0][0]["seed"],
              "params": {"weights": blend.weights, "norm": blend.norm_, "powers": blend.powers,
                         "length_buckets": blend.length_buckets,
                         "members": [{"model": info["model"], "params": info["params"]}
                                     for info, _ in loaded]},
              "protocol": "weights (and norm) chosen on the last validation prefixes of a split "
                          "cut from the end of training, with members fitted on the rest "
                          f"({args.weights}); members then fitted on all training sessions",
              "fit_seconds": sum(info["fit_seconds"] for info, _ in loaded),
              "members": list(by_folder), "seeds": [info["seed"] for info, _ in loaded],
              "chosen_on_validation": {"file": args.weights, **chosen["best"]},
              "member_fit_seconds": [info["fit_seconds"] for info, _ in loaded],
              "member_peak_memory_mib": [info["peak_memory_mib"] for info, _ in loaded]}
    start = time.perf_counter()
    record["metrics"] = evaluate(blend, data.test, item_counts=counts).as_dict()
    record["seconds"] = time.perf_counter() - start
    print(f"blend: HR@20 {100 * record['metrics']['HR@20']:.2f} "
          f"MRR@20 {100 * record['metrics']['MRR@20']:.2f}", flush=True)
    if not args.no_alone:
        record["alone"] = []
        for (info, member) in loaded:
            if args.alone and info["model"] not in args.alone:
                continue
            result = evaluate(member, data.test, item_counts=counts).as_dict()
            alone = {"data": data.name, "model": info["model"], "seed": info["seed"],
                     "params": info["params"], "fit_seconds": info["fit_seconds"],
                     "metrics": result, "peak_memory_mib": info["peak_memory_mib"],
                     "machine": info.get("machine"), "measured": info.get("measured")}
            if info["history"]:
                alone["training"] = history_record(info["history"])
            record["alone"].append(alone)
            if args.alone_records:  # each member alone, as a `via rec benchmark --add` record
                folder = Path(args.alone_records)
                folder.mkdir(parents=True, exist_ok=True)
                name = f"{info['model'].replace(':', '_')}_{data.name}_seed{info['seed']}.json"
                (folder / name).write_text(json.dumps(alone, indent=2, default=str))
            print(f"{info['model']} alone: HR@20 {100 * result['HR@20']:.2f} "
                  f"MRR@20 {100 * result['MRR@20']:.2f}", flush=True)
    if args.save:
        blend.save(args.save)
    record.update(peak_memory_mib=max([peak_memory_mib(), *record["member_peak_memory_mib"]]),
                  **where_and_when())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
