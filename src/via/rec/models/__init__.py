"""Model registry: one line per model, imported lazily so that PyTorch loads only when used."""

from __future__ import annotations

import importlib

from via.rec.models.base import ModelFileError, SessionModel

REGISTRY: dict[str, str] = {
    "pop": "via.rec.models.popularity:Pop",
    "spop": "via.rec.models.popularity:SessionPop",
    "itemknn": "via.rec.models.itemknn:ItemKNN",
    "sknn": "via.rec.models.neighbourhood:SKNN",
    "vsknn": "via.rec.models.neighbourhood:VSKNN",
    "stan": "via.rec.models.neighbourhood:STAN",
    "bprmf": "via.rec.models.factorization:BPRMF",
    "fpmc": "via.rec.models.factorization:FPMC",
    "lstm": "via.rec.models.neural.lstm:ThesisLSTM",
    "gru4rec": "via.rec.models.neural.gru4rec:GRU4Rec",
    "narm": "via.rec.models.neural.narm:NARM",
    "stamp": "via.rec.models.neural.stamp:STAMP",
    "srgnn": "via.rec.models.neural.srgnn:SRGNN",
    "vianet": "via.rec.models.neural.via_model:VIANet",
}


def get_model_class(name: str) -> type[SessionModel]:
    try:
        target = REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_model(name: str, **params) -> SessionModel:
    """A model by registry name, with hyperparameters checked by name."""
    cls = get_model_class(name)
    unknown = sorted(set(params) - set(cls.param_names()))
    if unknown:
        raise ValueError(
            f"{name} has no hyperparameter {', '.join(unknown)}; "
            f"it takes: {', '.join(cls.param_names())}"
        )
    try:
        return cls(**params)
    except TypeError as exc:  # e.g. a string where a number is expected
        raise ValueError(f"bad hyperparameter value for {name}: {exc}") from exc


__all__ = ["REGISTRY", "ModelFileError", "SessionModel", "create_model", "get_model_class"]
