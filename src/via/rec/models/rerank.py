"""Rerank: a small network that reorders the members' top candidates, trained on validation.

A Blend adds the members' relative scores with fixed weights. A learned ranker (stacking) can
also use what a weighted sum cannot: how each member ranks an item among the candidates, the
session itself (is the item already in it, how recently, how often), the item's popularity and
the session's length, and interactions between them. It scores only candidates: the union of
each member's top `top` items for the prefix, so that the members' full scores are computed once
and the network sees a few hundred items, not the catalog.

Features of a candidate j for a prefix (each member m's relative score `r_m` as in `blend`):
- per member: `r_m`, `log r_m` (floored at 1e-6, divided by 14 to lie in [-1, 0]), and its rank
  among the candidates by that member, `log(1 + rank) / log(candidates)`;
- the Blend's score `b = sum_m w_m r_m ** p_m` (weights and powers chosen on validation by
  `blend choose`) and `log b` as above;
- the session: clicks on j in the prefix (capped at 5, / 5), whether j is the last click,
  `1 / (1 + clicks since j's last click)` (0 if j is not in the prefix);
- j's popularity: `log(1 + training clicks) / log(1 + the largest count)`;
- the prefix length: `log(length) / log(50)`.

The network is a two-layer perceptron (ReLU) with one output per candidate, trained with a
listwise softmax cross-entropy over each prefix's candidates (prefixes whose next click is not a
candidate give no gradient), Adam, on the older half of the validation prefixes. Its epoch is
chosen by HR@20 + MRR@20 on the newer half (patience 2). Scores for the whole catalog: the
candidates get the network's outputs, every other item the Blend's score placed below the
row's lowest candidate (a candidate always ranks above a non-candidate).

Protocol (nothing looks at the test set): the members are fitted on the training sessions
minus the last 10 % (time order), the Blend's weights are chosen on that cut-off part, the
ranker is trained on it as above, and the members are fitted again on all training sessions.
`python -m via.rec.models.rerank` runs the ranker's steps on members saved by
`python -m via.rec.models.blend member`.
"""

from __future__ import annotations

import json
import math
import pickle
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from via.rec.data.sessions import PrefixBatch, Sessions, all_prefixes
from via.rec.models.base import ModelFileError, SessionModel
from via.rec.models.blend import Blend, relative_scores, same_setting

LOG_FLOOR = 1e-6
LOG_SCALE = 14.0  # -log(1e-6) = 13.8


def n_features(n_members: int) -> int:
    return 3 * n_members + 2 + 3 + 1 + 1


def session_features(prefixes: PrefixBatch, candidates: np.ndarray) -> np.ndarray:
    """(B, C, 3): clicks on each candidate in its prefix (capped at 5, / 5), whether it is the
    last click, and 1 / (1 + clicks since its last click) (0 when it is not in the prefix)."""
    batch, width = candidates.shape
    lengths = prefixes.lengths.astype(np.int64)
    rows = np.repeat(np.arange(batch, dtype=np.int64), lengths)
    position = np.arange(len(prefixes.items), dtype=np.int64) - np.repeat(
        prefixes.offsets[:-1], lengths)
    span = np.int64(max(int(prefixes.items.max(initial=0)), int(candidates.max(initial=0))) + 1)
    keys = rows * span + prefixes.items.astype(np.int64)
    order = np.lexsort((position, keys))
    keys, position = keys[order], position[order]
    unique, start, count = np.unique(keys, return_index=True, return_counts=True)
    last = position[start + count - 1]  # the last click on each (row, item)
    wanted = (np.arange(batch, dtype=np.int64)[:, None] * span + candidates).ravel()
    at = np.minimum(np.searchsorted(unique, wanted), max(len(unique) - 1, 0))
    found = unique[at] == wanted if len(unique) else np.zeros(len(wanted), dtype=bool)
    clicks = np.where(found, count[at], 0).reshape(batch, width)
    since = np.where(found, np.repeat(lengths - 1, width) - last[at], -1).reshape(batch, width)
    out = np.zeros((batch, width, 3), dtype=np.float32)
    out[:, :, 0] = np.minimum(clicks, 5) / 5.0
    out[:, :, 1] = since == 0
    out[:, :, 2] = np.where(since >= 0, 1.0 / (1.0 + np.maximum(since, 0)), 0.0)
    return out


class _Ranker(nn.Module):
    def __init__(self, n_in: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features).squeeze(-1)


class Rerank(SessionModel):
    """A learned ranker over the top candidates of a Blend's members (see the module docstring).

    `blend` holds the members and the weights of the `b` feature; `item_log_pop` each item's
    normalised log popularity (index 0 unused)."""

    name = "rerank"

    def __init__(self, blend: Blend, top: int = 50, hidden: int = 64, lr: float = 1e-3,
                 n_epochs: int = 10, patience: int = 2, batch_size: int = 256, seed: int = 0,
                 verbose: bool = False):
        super().__init__()
        if top < 1 or hidden < 1 or n_epochs < 1 or batch_size < 1:
            raise ValueError("top, hidden, n_epochs and batch_size must be positive")
        self.blend = blend
        self.top, self.hidden, self.lr = int(top), int(hidden), float(lr)
        self.n_epochs, self.patience = int(n_epochs), int(patience)
        self.batch_size = int(batch_size)
        self.seed, self.verbose = int(seed), bool(verbose)
        self.net = _Ranker(n_features(len(blend.members)), self.hidden)
        self.item_log_pop: np.ndarray | None = None
        self.history_: list[dict] = []
        if blend.n_items:
            self.n_items = blend.n_items

    # --- features ------------------------------------------------------------------------
    def candidates_and_features(self, prefixes: PrefixBatch):
        """Candidates (B, C; duplicates masked), mask (B, C), features (B, C, F), and the
        Blend's score of every item (B, n + 1)."""
        blend = self.blend
        weights, powers = blend.weight_table(), blend.power_table()
        if len(weights) != 1:
            raise ValueError("the ranker's blend feature needs one set of weights, not length "
                             "buckets")
        relative = [relative_scores(m, prefixes, blend.norm_) for m in blend.members]
        fused = np.zeros_like(relative[0])
        for r, w, p in zip(relative, weights[0], powers[0]):
            if w:
                fused += np.float32(w) * (r if p == 1.0 else np.power(r, np.float32(p)))
        top = min(self.top, relative[0].shape[1] - 1)
        parts = []
        for r in relative:
            scores = r.copy()
            scores[:, 0] = -np.inf
            parts.append(np.argpartition(-scores, top - 1, axis=1)[:, :top])
        candidates = np.concatenate(parts, axis=1)
        order = np.argsort(candidates, axis=1, kind="stable")
        ordered = np.take_along_axis(candidates, order, axis=1)
        repeat = np.zeros_like(ordered, dtype=bool)
        repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        mask = np.empty_like(repeat)
        np.put_along_axis(mask, order, ~repeat, axis=1)
        batch, width = candidates.shape
        features = np.zeros((batch, width, n_features(len(relative))), dtype=np.float32)
        rank_scale = math.log(width + 1)
        f = 0
        for r in relative:
            values = np.take_along_axis(r, candidates, axis=1)
            features[:, :, f] = values
            features[:, :, f + 1] = np.log(np.maximum(values, LOG_FLOOR)) / LOG_SCALE
            masked = np.where(mask, values, -np.inf)
            rank = np.empty_like(candidates)
            np.put_along_axis(rank, np.argsort(-masked, axis=1, kind="stable"),
                              np.arange(width)[None, :].repeat(batch, axis=0), axis=1)
            features[:, :, f + 2] = np.log1p(rank) / rank_scale
            f += 3
        b = np.take_along_axis(fused, candidates, axis=1)
        features[:, :, f] = b
        features[:, :, f + 1] = np.log(np.maximum(b, LOG_FLOOR)) / LOG_SCALE
        features[:, :, f + 2:f + 5] = session_features(prefixes, candidates)
        features[:, :, f + 5] = self.item_log_pop[candidates]
        length = np.log(np.maximum(prefixes.lengths, 1).astype(np.float32)) / math.log(50)
        features[:, :, f + 6] = length[:, None]
        return candidates, mask, features, fused

    # --- training ------------------------------------------------------------------------
    def train_ranker(self, valid: Sessions, item_counts: np.ndarray, log=print) -> Rerank:
        """Train the ranker on the older half of `valid`'s prefixes; keep the epoch that does
        best (HR@20 + MRR@20) on the newer half. The members must be fitted and the blend's
        weights set."""
        self.item_log_pop = _log_pop(item_counts)
        self.n_items = self.blend.n_items
        cases = all_prefixes(valid)
        if len(cases) < 2:
            raise ValueError("the validation sessions hold too few prefixes to train a ranker")
        data = []  # per batch of 512 prefixes: features, mask, target's candidate column or -1
        for lo in range(0, len(cases), 512):
            prefixes, targets = cases.batch(lo, min(lo + 512, len(cases)))
            candidates, mask, features, _ = self.candidates_and_features(prefixes)
            hit = (candidates == targets[:, None]) & mask
            column = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
            data.append((features, mask, column))
        features = np.concatenate([d[0] for d in data])
        mask = np.concatenate([d[1] for d in data])
        column = np.concatenate([d[2] for d in data])
        newer = len(cases) // 2
        older = len(cases) - newer
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.net = _Ranker(features.shape[2], self.hidden)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        train_rows = np.flatnonzero(column[:older] >= 0)
        x_all, m_all = torch.from_numpy(features), torch.from_numpy(mask)
        c_all = torch.from_numpy(column)

        def figures(rows: np.ndarray) -> tuple[float, float]:
            hits = reciprocal = 0.0
            with torch.no_grad():
                for lo in range(0, len(rows), 2048):
                    part = torch.from_numpy(rows[lo:lo + 2048])
                    logits = self.net(x_all[part]).masked_fill(~m_all[part], -math.inf)
                    col = c_all[part]
                    present = col >= 0
                    target = logits[present].gather(1, col[present].unsqueeze(1))
                    rank = (logits[present] >= target).sum(dim=1).double()
                    hit = rank <= 20
                    hits += float(hit.sum())
                    reciprocal += float(torch.where(hit, 1.0 / rank, 0.0).sum())
            return hits / len(rows), reciprocal / len(rows)

        newer_rows = np.arange(older, len(cases))
        best, best_state, best_figures, waited = -1.0, None, (0.0, 0.0), 0
        self.history_ = []
        for epoch in range(1, self.n_epochs + 1):
            self.net.train()
            started = time.perf_counter()
            total = 0.0
            shuffled = rng.permutation(train_rows)
            for lo in range(0, len(shuffled), self.batch_size):
                part = torch.from_numpy(shuffled[lo:lo + self.batch_size])
                logits = self.net(x_all[part]).masked_fill(~m_all[part], -math.inf)
                loss = nn.functional.cross_entropy(logits, c_all[part])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(part)
            self.net.eval()
            hr, mrr = figures(newer_rows)
            self.history_.append({"epoch": epoch, "loss": total / max(len(train_rows), 1),
                                  "newer_hr20": hr, "newer_mrr20": mrr,
                                  "seconds": time.perf_counter() - started})
            if self.verbose:
                log(f"rerank epoch {epoch}: loss {total / max(len(train_rows), 1):.4f} | newer "
                    f"half HR@20 {100 * hr:.2f} MRR@20 {100 * mrr:.2f}")
            if hr + mrr > best:
                best, best_figures, waited = hr + mrr, (hr, mrr), 0
                best_state = {k: v.clone() for k, v in self.net.state_dict().items()}
                self.chosen_epoch_ = epoch
            else:
                waited += 1
                if waited >= self.patience:
                    break
        self.net.load_state_dict(best_state)
        self.net.eval()
        # the Blend's own ranking of the same candidates on the newer half, for comparison
        b_col = n_features(len(self.blend.members)) - 7
        scores = np.where(mask[older:], features[older:, :, b_col], -np.inf)
        present = column[older:] >= 0
        target = scores[present, column[older:][present]]
        rank = (scores[present] >= target[:, None]).sum(axis=1)
        hit = rank <= 20
        self.newer_blend_ = (hit.sum() / newer, np.where(hit, 1.0 / rank, 0.0).sum() / newer)
        self.newer_ranker_ = best_figures  # the kept epoch's
        self.split_ = {"older_cases": older, "newer_cases": newer,
                       "candidate_recall_newer": float(present.mean())}
        return self

    def fit(self, train: Sessions, valid: Sessions | None = None, *, n_items: int | None = None):
        """The whole protocol: members and blend weights as `Blend.fit` chooses them (members
        fitted on the first part), the ranker trained on the cut-off part, then the members
        fitted again on all of `train`."""
        from via.rec.data.protocol import validation_split
        from via.rec.models.popularity import click_counts

        n_items = self._catalog_size(train, n_items)
        fit_part, cut_off = (train, valid) if valid is not None else validation_split(
            train, self.blend.valid_fraction)
        for member in self.blend.members:
            member.fit(fit_part, n_items=n_items)
        self.blend.n_items = n_items
        if self.blend.weights is None:
            self.blend.choose_weights(cut_off)
        self.train_ranker(cut_off, click_counts(fit_part, n_items))
        for member in self.blend.members:
            member.fit(train, n_items=n_items)
        self.item_log_pop = _log_pop(click_counts(train, n_items))
        self.n_items = n_items
        return self

    # --- scoring -------------------------------------------------------------------------
    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        self._check_fitted()
        if self.item_log_pop is None:
            raise RuntimeError("the ranker is not trained; fit it or call train_ranker()")
        candidates, mask, features, fused = self.candidates_and_features(prefixes)
        with torch.no_grad():
            logits = self.net(torch.from_numpy(features)).numpy()
        logits = np.where(mask, logits, np.inf)
        floor = logits.min(axis=1, keepdims=True) - 2.0  # below every candidate
        out = floor + fused  # fused in [0, 1]
        row, column = np.nonzero(mask)  # each candidate once (its duplicates are masked)
        out[row, candidates[row, column]] = logits[row, column]
        # an empty prefix (every click on an item unknown to the members) carries no session
        # for the ranker to read, and the ranker never trained on one: the Blend's score decides
        empty = prefixes.lengths == 0
        out[empty] = fused[empty]
        out[:, 0] = -np.inf
        return out.astype(np.float32)

    # --- persistence: the blend in its folder, the ranker in rerank.json + ranker.pt --------
    def _weights(self) -> dict[str, np.ndarray]:
        raise NotImplementedError("a Rerank is saved with save()")

    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError("a Rerank is loaded with Rerank.load()")

    def get_params(self) -> dict:
        return {"top": self.top, "hidden": self.hidden, "lr": self.lr, "n_epochs": self.n_epochs,
                "patience": self.patience, "batch_size": self.batch_size, "seed": self.seed}

    def save(self, directory: str | Path) -> Path:
        self._check_fitted()
        directory = Path(directory)
        self.blend.save(directory / "blend")
        torch.save({"net": self.net.state_dict(), "item_log_pop": torch.from_numpy(
            self.item_log_pop)}, directory / "ranker.pt")
        (directory / "rerank.json").write_text(json.dumps(
            {"model": self.name, "params": self.get_params(), "history": self.history_},
            indent=2))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Rerank:
        directory = Path(directory)
        try:
            config = json.loads((directory / "rerank.json").read_text())
            state = torch.load(directory / "ranker.pt", weights_only=True)
        except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise ModelFileError(f"{directory}: cannot read the ranker ({exc})") from exc
        blend = Blend.load(directory / "blend")
        model = cls(blend, **config["params"])
        try:
            model.net.load_state_dict(state["net"])
        except (KeyError, RuntimeError) as exc:
            raise ModelFileError(f"{directory}/ranker.pt: not this ranker's weights ({exc})") \
                from exc
        model.net.eval()
        model.item_log_pop = state["item_log_pop"].numpy()
        model.history_ = config.get("history", [])
        return model


def _log_pop(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    return (np.log1p(counts) / max(np.log1p(counts.max()), 1e-9)).astype(np.float32)


def main(argv: list[str] | None = None) -> None:
    """The ranker's steps on members saved by `python -m via.rec.models.blend member`:

    python -m via.rec.models.rerank train --data D --members DIR ... --weights W.json --out R
        trains the ranker on the validation part with the `fit` members and the Blend weights
        of `blend choose` (W.json; with length buckets, --one-set takes its single set); R
        gets rerank.json (settings, epochs, the newer half's figures) and ranker.pt.
    python -m via.rec.models.rerank test --data D --members DIR ... --ranker R --out R.json
        evaluates the ranker over the `all` members (same models and order) on the test set.
    """
    import argparse

    from via.rec.cli import peak_memory_mib, where_and_when
    from via.rec.data.benchmark import load_benchmark
    from via.rec.data.protocol import validation_split
    from via.rec.evaluate import evaluate
    from via.rec.models.popularity import click_counts

    parser = argparse.ArgumentParser(prog="python -m via.rec.models.rerank")
    sub = parser.add_subparsers(dest="step", required=True)
    tr = sub.add_parser("train", help="train the ranker on the validation part")
    tr.add_argument("--data", required=True)
    tr.add_argument("--members", nargs="+", required=True, metavar="DIR")
    tr.add_argument("--weights", required=True, help="a weights file of `blend choose`")
    tr.add_argument("--one-set", action="store_true",
                    help="use the weights file's best single set of weights (length buckets)")
    tr.add_argument("--top", type=int, default=50)
    tr.add_argument("--hidden", type=int, default=64)
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--patience", type=int, default=2)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--out", required=True)
    te = sub.add_parser("test", help="evaluate the ranker over `all` members on the test set")
    te.add_argument("--data", required=True)
    te.add_argument("--members", nargs="+", required=True, metavar="DIR")
    te.add_argument("--ranker", required=True, help="the folder of `train`")
    te.add_argument("--label", help="the record's row name after `rerank:`")
    te.add_argument("--save", metavar="DIR", help="also save the ranker with its members to DIR, "
                    "for `via rec evaluate --load` and `via rec latency --load`")
    te.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    data = load_benchmark(args.data)

    def members_of(part: str) -> tuple[list[dict], list[SessionModel]]:
        infos, models = [], []
        for folder in args.members:
            info = json.loads((Path(folder) / "member.json").read_text())
            if info["data"] != data.name or info["part"] != part:
                raise SystemExit(f"{folder}: a member fitted on {info['data']} ({info['part']}),"
                                 f" not on {data.name} ({part})")
            infos.append(info)
            models.append(SessionModel.load(Path(folder) / "model"))
        return infos, models

    if args.step == "train":
        chosen = json.loads(Path(args.weights).read_text())
        if chosen["data"] != data.name:
            raise SystemExit(f"{args.weights}: weights for {chosen['data']}, not {data.name}")
        point = chosen["one_set"] if args.one_set else chosen
        if args.one_set and not point:
            raise SystemExit(f"{args.weights} holds no length buckets, so no --one-set")
        if not args.one_set and chosen.get("length_buckets"):
            raise SystemExit(f"{args.weights} has length buckets: give --one-set")
        infos, models = members_of("fit")
        if [i["model"] for i in infos] != chosen["member_models"]:
            raise SystemExit(f"{args.weights} was chosen for {chosen['member_models']}")
        fit_part, valid = validation_split(data.train, infos[0]["valid_fraction"])
        blend = Blend(models, point["weights"], norm=point["norm"], powers=point["powers"])
        ranker = Rerank(blend, top=args.top, hidden=args.hidden, n_epochs=args.epochs,
                        patience=args.patience, seed=args.seed, verbose=True)
        start = time.perf_counter()
        ranker.train_ranker(valid, click_counts(fit_part, data.n_items))
        seconds = time.perf_counter() - start
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        torch.save({"net": ranker.net.state_dict()}, out / "ranker.pt")
        (out / "rerank.json").write_text(json.dumps({
            "data": data.name, "members": args.members, "member_models": chosen["member_models"],
            "member_params": chosen["member_params"], "weights_file": args.weights,
            "weights": blend.weights, "powers": blend.powers, "norm": blend.norm_,
            "params": ranker.get_params(), "history": ranker.history_,
            "chosen_epoch": ranker.chosen_epoch_, **ranker.split_,
            "newer_ranker": {"hr20": ranker.newer_ranker_[0], "mrr20": ranker.newer_ranker_[1]},
            "newer_blend": {"hr20": float(ranker.newer_blend_[0]),
                            "mrr20": float(ranker.newer_blend_[1])},
            "seconds": seconds, "peak_memory_mib": peak_memory_mib(), **where_and_when(),
        }, indent=2, default=str))
        print(f"ranker (epoch {ranker.chosen_epoch_}) on the newer half: HR@20 "
              f"{100 * ranker.newer_ranker_[0]:.2f} MRR@20 {100 * ranker.newer_ranker_[1]:.2f}; "
              f"the Blend on the same candidates: {100 * ranker.newer_blend_[0]:.2f} / "
              f"{100 * ranker.newer_blend_[1]:.2f}")
        return

    folder = Path(args.ranker)
    try:
        trained = json.loads((folder / "rerank.json").read_text())
        state = torch.load(folder / "ranker.pt", weights_only=True)
    except (OSError, ValueError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise SystemExit(f"{folder}: cannot read the ranker ({exc})") from exc
    if trained["data"] != data.name:
        raise SystemExit(f"{folder}: a ranker for {trained['data']}, not {data.name}")
    infos, models = members_of("all")
    for info, model, params in zip(infos, trained["member_models"], trained["member_params"]):
        if not same_setting(info, model, params):
            raise SystemExit(f"{info['model']} member differs from the one the ranker was "
                             f"trained with ({model})")
    if len(models) != len(trained["member_models"]):
        raise SystemExit(f"the ranker was trained with {len(trained['member_models'])} members")
    blend = Blend(models, trained["weights"], norm=trained["norm"], powers=trained["powers"])
    ranker = Rerank(blend, **trained["params"])
    ranker.net.load_state_dict(state["net"])
    ranker.net.eval()
    counts = click_counts(data.train, data.n_items)
    ranker.item_log_pop = _log_pop(counts)
    start = time.perf_counter()
    metrics = evaluate(ranker, data.test, item_counts=counts).as_dict()
    record = {
        "data": data.name,
        "model": f"rerank:{args.label or '+'.join(i['model'] for i in infos)}",
        "seed": infos[0]["seed"], "seeds": [i["seed"] for i in infos],
        "params": {**trained["params"], "weights": trained["weights"],
                   "powers": trained["powers"], "norm": trained["norm"],
                   "members": [{"model": i["model"], "params": i["params"]} for i in infos]},
        "protocol": "ranker trained on the older half of a validation split cut from the end of "
                    "training (members fitted on the rest), its epoch chosen on the newer half "
                    f"({folder}); members then fitted on all training sessions",
        "fit_seconds": sum(i["fit_seconds"] for i in infos) + trained["seconds"],
        "members": args.members, "member_fit_seconds": [i["fit_seconds"] for i in infos],
        "chosen_on_validation": {"ranker": str(folder), "epoch": trained["chosen_epoch"],
                                 "newer_ranker": trained["newer_ranker"],
                                 "newer_blend": trained["newer_blend"]},
        "metrics": metrics, "seconds": time.perf_counter() - start,
        "peak_memory_mib": max([peak_memory_mib(), trained["peak_memory_mib"],
                                *(i["peak_memory_mib"] for i in infos)]),
        **where_and_when(),
    }
    print(f"rerank: HR@20 {100 * metrics['HR@20']:.2f} MRR@20 {100 * metrics['MRR@20']:.2f}")
    if args.save:
        ranker.history_ = trained["history"]
        ranker.save(args.save)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
