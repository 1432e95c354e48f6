"""VIANet: VIA's own session model, an attention encoder trained on the prefix trainer.

Design (the ideas that work on Diginetica and Yoochoose, kept cheap enough for a CPU):
- Normalised item embeddings (NISER, Gupta et al. 2019; CORE, Hou et al. 2022): the scores are
  `scale * cos(s, e_j)`, a temperature-scaled cosine between the session and every item. On these
  long-tailed catalogs this keeps popular items from dominating and is worth points in the papers'
  ablations.
- Reverse position embeddings (GCE-GNN, Wang et al. 2020): the i-th click from the end gets
  position vector p_i; each click is represented by z_i = tanh(W_z [e_i; p_i]).
- Soft attention with the last click and the session mean as queries (STAMP, SR-GNN, GCE-GNN):
  alpha_i = q^T sigmoid(W_1 z_i + W_2 e_last + W_3 mean(e) + b), masked softmax over the clicks;
  the global intent is sum_i alpha_i e_i.
- A last-click/global mix (SR-GNN's hybrid): s = W_s [global; e_last].
- With `repeat=True`, a repeat mechanism (after RepeatNet, Ren et al. 2019, in the cheap form of
  an additive score): each click i gets a bias r_i = v^T tanh(W_r [z_i; s/|s|] + b_r), added to
  the score of the item it clicked (summed over repeated clicks). A fifth of Diginetica's and a
  quarter of Yoochoose 1/64's next clicks repeat an item of the prefix; the bias lets the network
  say, from the click's position and the session, how likely each of them is to come back,
  which a cosine against one session vector cannot. `v` starts at 0 (the network without it).
- Dropout on the clicks' embeddings; full-softmax cross-entropy over every item (the prefix
  trainer), Adam with step decay.
No recurrent or graph layer: one pass of matrix products per mini-batch, so an epoch over
Diginetica's 719k prefixes stays within minutes on two CPU cores.

Validated fusion with a neighbourhood model (`knn="stan"` or `"vsknn"`, with `knn_params`): the
score of item j is (1 - w) * exp(z_j - max z) + w * k_j / max k, VIANet's softmax probability
and the kNN score, each relative to its best item. The weight w is `knn_weight`, or, when that
is None, the best of 0, 0.05, ..., 1 by the `select_on` metric on the last (most recent)
validation prefixes, at most `FUSION_CASES` of them.

Protocol of `fit(train)` without validation sessions: the last `valid_fraction` of the training
sessions (time order) is cut off as validation (the prefix trainer's `split_validation`); the
network trains on the rest, the epoch (and w) are chosen on the validation part, and the kNN part
is then re-indexed on all training sessions (an index, no hyperparameter changes). Nothing looks
at the test set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from via.rec.data.sessions import PrefixBatch, Sessions, all_prefixes
from via.rec.models import create_model
from via.rec.models.neural.narm import masked_softmax, position_mask
from via.rec.models.neural.prefix import (
    PrefixSessionModel,
    SessionEncoder,
    add_click_bias,
    column_click_bias,
    sampled_softmax_loss,
)

KNN_MODELS = ("none", "stan", "vsknn")
FUSION_GRID = np.round(np.arange(0.0, 1.0001, 0.05), 2)
# the fusion weight is chosen on the last (most recent) validation prefixes, at most this many:
# scoring them with STAN and 21 weights is what the choice costs
FUSION_CASES = 20_000


class VIAEncoder(SessionEncoder):
    """Position-aware attention over normalised click embeddings, mixed with the last click."""

    def __init__(
        self, n_items: int, d: int, max_length: int, dropout: float, scale: float,
        repeat: bool = False,
    ):
        super().__init__()
        self.scale = scale
        self.item_embedding = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.position_embedding = nn.Embedding(max_length + 1, d, padding_idx=0)
        self.position_mix = nn.Linear(2 * d, d)  # W_z
        self.attention_each = nn.Linear(d, d, bias=True)  # W_1, b
        self.attention_last = nn.Linear(d, d, bias=False)  # W_2
        self.attention_mean = nn.Linear(d, d, bias=False)  # W_3
        self.attention_vector = nn.Linear(d, 1, bias=False)  # q
        self.session_mix = nn.Linear(2 * d, d, bias=False)  # W_s
        self.dropout = nn.Dropout(dropout)
        bound = 1.0 / d**0.5  # SR-GNN's and GCE-GNN's U(-1/sqrt(d), 1/sqrt(d)) for every weight
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.uniform_(-bound, bound)
            self.item_embedding.weight[0].zero_()
            self.position_embedding.weight[0].zero_()
        self.repeat = repeat
        if repeat:  # built after the rest, which is then initialised as without it
            self.repeat_hidden = nn.Linear(2 * d, d)  # W_r, b_r of the click bias
            self.repeat_out = nn.Linear(d, 1, bias=False)  # v
            with torch.no_grad():
                self.repeat_hidden.weight.uniform_(-bound, bound)
                self.repeat_hidden.bias.uniform_(-bound, bound)
                self.repeat_out.weight.zero_()  # starts as the network without it

    def forward(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(items, lengths)[0]

    def encode(
        self, items: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The equations of the module docstring, computed on the clicks alone: the per-click
        layers run on the N real clicks of the batch, not on its B x T padded grid (a mini-batch
        is padded to its longest prefix, 20 clicks in almost every shuffled Diginetica batch,
        while a prefix holds 4.1 on average: five times fewer rows)."""
        mask = position_mask(lengths, items.shape[1])
        prefix, column = mask.nonzero(as_tuple=True)  # row-major: a prefix's clicks in order
        e = self.dropout(F.normalize(self.item_embedding(items[prefix, column]), dim=-1))
        reverse = lengths[prefix] - column  # 1 for the last click
        z = torch.tanh(self.position_mix(torch.cat([e, self.position_embedding(reverse)], -1)))
        last = e[torch.cumsum(lengths, 0) - 1]
        mean = e.new_zeros(len(lengths), e.shape[1]).index_add(0, prefix, e) / lengths[:, None]
        energy = self.attention_vector(
            torch.sigmoid(
                self.attention_each(z)
                + (self.attention_last(last) + self.attention_mean(mean))[prefix]
            )
        ).squeeze(-1)
        grid = energy.new_zeros(mask.shape).index_put((prefix, column), energy)
        weights = masked_softmax(grid, mask)[prefix, column]
        intent = e.new_zeros(last.shape).index_add(0, prefix, weights[:, None] * e)
        session = F.normalize(self.session_mix(torch.cat([intent, last], dim=1)), dim=-1)
        if not self.repeat:
            return self.scale * session, None
        hidden = torch.tanh(self.repeat_hidden(torch.cat([z, session[prefix]], dim=-1)))
        bias = self.repeat_out(hidden).squeeze(-1)
        return self.scale * session, bias.new_zeros(mask.shape).index_put((prefix, column), bias)

    def item_matrix(self) -> torch.Tensor:
        return F.normalize(self.item_embedding.weight, dim=-1)

    def item_rows(self, ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.item_embedding(ids), dim=-1)


class VIAEnsemble(SessionEncoder):
    """`members` VIAEncoders of different initialisations, each trained on its own loss (a deep
    ensemble), scored as one: the session vector and the item matrix are the members' side by
    side, the session part divided by their number, so one product gives the members' mean
    logit (the log of their probabilities' geometric mean, up to normalisation)."""

    def __init__(self, members: list[VIAEncoder]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.encode(items, lengths)[0]

    def encode(
        self, items: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The members' session vectors side by side (divided by their number) and the mean of
        their click biases: scores are the mean of the members' scores."""
        outputs = self.member_encodings(items, lengths)
        session = torch.cat([s for s, _ in outputs], dim=1) / len(self.members)
        biases = [b for _, b in outputs if b is not None]
        return session, (torch.stack(biases).mean(dim=0) if biases else None)

    def member_encodings(self, items: torch.Tensor, lengths: torch.Tensor):
        """Each member's own (session, click bias)."""
        return [m.encode(items, lengths) for m in self.members]

    def item_matrix(self) -> torch.Tensor:
        return torch.cat([m.item_matrix() for m in self.members], dim=1)

    def item_rows(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.item_rows(ids) for m in self.members], dim=1)


class VIANet(PrefixSessionModel):
    """VIA's attention model (see the module docstring); hyperparameters as the prefix trainer's
    plus `dropout` (on the clicks' embeddings), `scale` (the cosine's temperature), `repeat`
    (a learned click bias on the items the session already holds), `members` (networks in the
    ensemble, 1 for a single one), `valid_fraction` and the kNN fusion's `knn`, `knn_params`
    and `knn_weight`."""

    name = "vianet"

    def __init__(
        self,
        embedding_dim: int = 100,
        dropout: float = 0.1,
        scale: float = 12.0,
        repeat: bool = False,
        members: int = 1,
        batch_size: int = 512,
        learning_rate: float = 0.001,
        lr_decay: float = 0.1,
        lr_decay_epochs: int = 3,
        weight_decay: float = 0.0,
        clip_norm: float = 0.0,
        n_epochs: int = 5,
        patience: int = 0,
        max_length: int = 20,
        n_sample: int = 0,
        sample_alpha: float = 0.75,
        select_on: str = "mrr@20",
        valid_fraction: float = 0.1,
        knn: str = "none",
        knn_params: dict | None = None,
        knn_weight: float | None = None,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ):
        if knn not in KNN_MODELS:
            raise ValueError(f"knn must be one of {', '.join(KNN_MODELS)}, got {knn!r}")
        if knn_weight is not None and not 0 <= knn_weight <= 1:
            raise ValueError(f"knn_weight must be in [0, 1] or None, got {knn_weight}")
        self.knn = knn
        self.knn_params = dict(knn_params or {})
        self.knn_weight = None if knn_weight is None else float(knn_weight)
        self.knn_model = None if knn == "none" else create_model(knn, **self.knn_params)
        self.knn_weight_ = 0.0 if knn == "none" else self.knn_weight
        self.fusion_curve_: list[dict[str, float]] = []
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        if int(members) < 1:
            raise ValueError(f"members must be a positive integer, got {members}")
        self.dropout, self.scale, self.members = float(dropout), float(scale), int(members)
        if repeat not in (True, False):
            raise ValueError(f"repeat must be true or false, got {repeat!r}")
        self.repeat = bool(repeat)
        super().__init__(
            embedding_dim=embedding_dim, batch_size=batch_size, learning_rate=learning_rate,
            lr_decay=lr_decay, lr_decay_epochs=lr_decay_epochs, weight_decay=weight_decay,
            clip_norm=clip_norm, n_epochs=n_epochs, patience=patience, max_length=max_length,
            n_sample=n_sample, sample_alpha=sample_alpha, select_on=select_on,
            valid_fraction=valid_fraction, seed=seed, device=device, verbose=verbose,
        )  # fmt: skip

    def _build_encoder(self) -> VIAEncoder | VIAEnsemble:
        def member() -> VIAEncoder:
            return VIAEncoder(
                self.n_items, self.embedding_dim, self.max_length, self.dropout, self.scale,
                self.repeat,
            )

        if self.members == 1:
            return member()
        return VIAEnsemble([member() for _ in range(self.members)])

    def _training_outputs(self, items: torch.Tensor, lengths: torch.Tensor):
        if self.members == 1:
            return super()._training_outputs(items, lengths)
        return self.module.member_encodings(items, lengths)

    def _training_loss(self, outputs, items, targets, sampler, rng) -> torch.Tensor:
        """A single network's loss, or the sum of the members' own losses (each member gets the
        gradient it would get alone; the negatives are shared)."""
        if self.members == 1:
            return super()._training_loss(outputs, items, targets, sampler, rng)
        if sampler is None:
            return sum(
                F.cross_entropy(
                    add_click_bias(session @ member.item_matrix()[1:].T, items, bias, 1),
                    targets - 1,
                )
                for (session, bias), member in zip(outputs, self.module.members)
            )
        columns = self._sampled_columns(targets, sampler, rng)
        return sum(
            sampled_softmax_loss(
                session, member.item_rows(columns), columns, targets, sampler,
                None if bias is None else column_click_bias(items, bias, columns),
            )
            for (session, bias), member in zip(outputs, self.module.members)
        )

    # --- the validation protocol and the kNN fusion -----------------------------------------
    def fit(
        self,
        train: Sessions,
        valid: Sessions | None = None,
        *,
        n_items: int | None = None,
        checkpoint_dir: str | Path | None = None,
    ):
        """Train on `train` (minus a validation part cut from its end when `valid` is None and
        `valid_fraction` > 0), choose the epoch and the fusion weight on validation, then
        re-index the kNN part on all of `train`."""
        n_items = self._catalog_size(train, n_items)
        fit_part, valid = self.split_validation(train, valid)
        super().fit(fit_part, valid, n_items=n_items, checkpoint_dir=checkpoint_dir)
        if self.knn_model is None:
            return self
        if self.knn_weight is None:
            if valid is None:
                raise ValueError("knn_weight=None chooses the weight on validation sessions; "
                                 "give some, a valid_fraction > 0 or a fixed knn_weight")
            self.knn_model.fit(fit_part, n_items=n_items)
            self.knn_weight_ = self._choose_weight(valid)
            self._log(f"{self.name}: kNN weight {self.knn_weight_} chosen on validation")
        self.knn_model.fit(train, n_items=n_items)
        return self

    def _choose_weight(self, valid: Sessions) -> float:
        cases = all_prefixes(valid)
        hits = np.zeros(len(FUSION_GRID))
        reciprocal = np.zeros(len(FUSION_GRID))
        first = max(len(cases) - FUSION_CASES, 0)
        for lo in range(first, len(cases), 512):
            prefixes, targets = cases.batch(lo, min(lo + 512, len(cases)))
            net, knn = self._relative_scores(prefixes)
            rows = np.arange(len(targets))
            for g, w in enumerate(FUSION_GRID):
                fused = (1.0 - w) * net + w * knn
                fused[:, 0] = -np.inf
                ranks = (fused >= fused[rows, targets][:, None]).sum(axis=1)
                hits[g] += (ranks <= 20).sum()
                reciprocal[g] += np.where(ranks <= 20, 1.0 / ranks, 0.0).sum()
        n = max(len(cases) - first, 1)
        self.fusion_curve_ = [
            {"knn_weight": float(w), "valid_hr20": hits[g] / n, "valid_mrr20": reciprocal[g] / n}
            for g, w in enumerate(FUSION_GRID)
        ]
        key = "valid_hr20" if self.select_on == "hr@20" else "valid_mrr20"
        return max(self.fusion_curve_, key=lambda r: r[key])["knn_weight"]

    def _relative_scores(self, prefixes: PrefixBatch) -> tuple[np.ndarray, np.ndarray]:
        """VIANet's softmax and the kNN's scores, each divided by its row's best (0..1)."""
        net = super().scores(prefixes)
        net = np.exp(net - net[:, 1:].max(axis=1, keepdims=True))
        knn = np.asarray(self.knn_model.scores(prefixes), dtype=np.float32)
        knn[:, 0] = 0.0
        best = knn.max(axis=1, keepdims=True)
        knn = np.divide(knn, best, out=np.zeros_like(knn), where=best > 0)
        return net, knn

    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        if self.knn_model is None or not self.knn_weight_:
            return super().scores(prefixes)
        net, knn = self._relative_scores(prefixes)
        fused = (1.0 - self.knn_weight_) * net + self.knn_weight_ * knn
        fused[:, 0] = -np.inf
        return fused.astype(np.float32)

    def _weights(self) -> dict[str, np.ndarray]:
        arrays = super()._weights()
        if self.knn_model is not None:
            arrays.update({f"knn.{k}": v for k, v in self.knn_model._weights().items()})
            arrays["fusion.knn_weight"] = np.array(self.knn_weight_, dtype=np.float64)
        return arrays

    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        super()._set_weights(arrays)
        if self.knn_model is not None:
            self.knn_model.n_items = self.n_items
            knn = {k[len("knn."):]: v for k, v in arrays.items() if k.startswith("knn.")}
            self.knn_model._set_weights(knn)
            self.knn_weight_ = float(arrays["fusion.knn_weight"])

    def setting(self) -> dict:
        """The hyperparameters that make two runs the same setting: all but the seed and the
        verbosity, and the kNN settings only when there is a kNN part."""
        ignored = {"seed", "verbose"} | ({"knn_params"} if self.knn == "none" else set())
        return {k: v for k, v in self.get_params().items() if k not in ignored}

    @classmethod
    def ensemble_of(cls, models: list[VIANet]) -> VIANet:
        """One VIANet whose members are the networks of `models` (fitted, same hyperparameters
        but the seed, same catalog), e.g. the final networks of several seeds; it keeps the
        first model's kNN part and fusion weight."""
        if len(models) < 2:
            raise ValueError("an ensemble needs at least two fitted models")
        for model in models:
            model._check_fitted()
        first = models[0]
        for model in models[1:]:
            if model.setting() != first.setting() or model.n_items != first.n_items:
                raise ValueError("the models differ in hyperparameters or catalog")
        parts = []
        for model in models:
            parts.extend(model.module.members if isinstance(model.module, VIAEnsemble)
                         else [model.module])
        combined = cls(**dict(first.get_params(), members=len(parts), knn_weight=None))
        combined.n_items = first.n_items
        combined.module = VIAEnsemble(parts).eval()
        combined.history_ = []
        combined.knn_model, combined.knn_weight_ = first.knn_model, first.knn_weight_
        if first.knn_model is not None:
            combined.knn_weight = first.knn_weight_
        return combined

    def _refit_params(self) -> dict:
        """The fusion weight chosen on validation goes with the epochs into `refitted`."""
        return {"knn_weight": self.knn_weight_} if self.knn_model is not None else {}


def main(argv: list[str] | None = None) -> None:
    """The validation protocol end to end, with the test figures of the fused model and of the
    network alone: `python -m via.rec.models.neural.via_model --data yoochoose1_64 --seed 0
    --out var/runs/vianet/yoochoose1_64_s0` (the `validated` preset, `--param NAME=VALUE` on top;
    resumable). With `--chosen RESULT.json` (a seed's earlier result), the validation step is not
    repeated: the epoch count and the fusion weight chosen there on validation are reused and
    only the final training on all training sessions runs (for further seeds of one setting).
    With `--ensemble-of RUN ...` nothing is trained: the final models of those runs (their
    `model/` folders) are combined into one ensemble (`VIANet.ensemble_of`) and evaluated."""
    import argparse
    import json

    from via.rec.cli import parse_params
    from via.rec.data.benchmark import load_benchmark
    from via.rec.models.presets import preset_params

    # the registry's class, not this file's copy when it runs as __main__ (a saved model names
    # the registry's class; loading it through another class object would be refused)
    VIANet = create_model("vianet").__class__  # noqa: N806

    parser = argparse.ArgumentParser(prog="python -m via.rec.models.neural.via_model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="folder for checkpoints, model and results")
    parser.add_argument("--param", nargs="*", default=[], metavar="NAME=VALUE",
                        help="hyperparameters over the validated preset")
    parser.add_argument("--chosen", help="result.json of a run whose validation choices to reuse")
    parser.add_argument("--validation-only", action="store_true",
                        help="stop after the validation step (for comparing settings): writes "
                        "its choices and history to result.json; the test set is not read")
    parser.add_argument("--ensemble-of", nargs="+", metavar="RUN",
                        help="combine these runs' final models instead of training")
    args = parser.parse_args(argv)
    out = Path(args.out)
    data = load_benchmark(args.data)
    if args.ensemble_of:
        runs = [json.loads((Path(run) / "result.json").read_text()) for run in args.ensemble_of]
        final = VIANet.ensemble_of([VIANet.load(Path(run) / "model") for run in args.ensemble_of])
        record = {"data": data.name, "ensemble_of": args.ensemble_of,
                  "seeds": [run["seed"] for run in runs], "params": final.get_params()}
        _test_and_write(final, data, record, out)
        return
    params = dict(preset_params("validated", data.name, "vianet"), **parse_params(args.param))
    params.update(seed=args.seed, verbose=True)
    if args.chosen:
        source = json.loads(Path(args.chosen).read_text())
        ours, theirs = VIANet(**params).setting(), VIANet(**source["params"]).setting()
        mismatched = {k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)}
        if source["data"] != data.name or mismatched:
            raise SystemExit(f"{args.chosen}: made for {source['data']} with other settings "
                             f"({', '.join(sorted(mismatched)) or 'data set'})")
        selection = dict(source["selection"], chosen_from=args.chosen)
        final = VIANet(**dict(params, n_epochs=selection["best_epoch"], valid_fraction=0.0,
                              knn_weight=selection["knn_weight"]))
        final.fit(data.train, n_items=data.n_items, checkpoint_dir=out / "ck_refit")
    else:
        chosen = VIANet(**params).fit(data.train, n_items=data.n_items, checkpoint_dir=out / "ck")
        selection = {"history": chosen.history_, "best_epoch": chosen.best_epoch_,
                     "knn_weight": chosen.knn_weight_, "fusion_curve": chosen.fusion_curve_}
        # the choices are written as soon as they are made: further seeds can start from them
        # (`--chosen`) while this one's final training runs; the test figures are added after
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(
            {"data": data.name, "seed": args.seed, "params": params, "selection": selection},
            indent=2))
        best = chosen.history_[chosen.best_epoch_ - 1]
        print(f"validation: epoch {chosen.best_epoch_} HR@20 {100 * best['valid_hr20']:.2f} "
              f"MRR@20 {100 * best['valid_mrr20']:.2f}, kNN weight {chosen.knn_weight_}",
              flush=True)
        if args.validation_only:
            return
        final = chosen.refitted(data.train, checkpoint_dir=out / "ck_refit")
    final.save(out / "model")
    record = {"data": data.name, "seed": args.seed, "params": params, "selection": selection,
              "refit_history": final.history_}
    _test_and_write(final, data, record, out)


def _test_and_write(final: VIANet, data, record: dict, out: Path) -> None:
    """The test figures of the fused model and of the network alone into `out/result.json`."""
    import json

    from via.rec.cli import where_and_when
    from via.rec.evaluate import evaluate

    record["fused"] = evaluate(final, data.test).as_dict()
    final.knn_weight_ = 0.0
    record["network"] = evaluate(final, data.test).as_dict()
    record.update(where_and_when())
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(record, indent=2))
    for name in ("fused", "network"):
        print(f"{name}: HR@20 {100 * record[name]['HR@20']:.2f} MRR@20 "
              f"{100 * record[name]['MRR@20']:.2f}")


if __name__ == "__main__":
    main()
