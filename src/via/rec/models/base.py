"""The one interface every session model implements: fit, batched scores, save, load.

A saved model is a directory with `config.json` (model name, hyperparameters, catalog size,
format version) and `weights.npz` (plain arrays, read with `allow_pickle=False`), so loading a
model never unpickles arbitrary objects. Models with other weight formats (PyTorch state dicts)
override `_save_weights` / `_load_weights` and must stay equally safe.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from via.rec.data.sessions import PrefixBatch, Sessions

FORMAT_VERSION = 1


class ModelFileError(RuntimeError):
    """A saved model is missing, corrupt or of another kind than expected."""


class SessionModel(ABC):
    """Scores the whole catalog for the next click of each session prefix.

    Item ids are 1..n_items; column 0 of a score matrix is padding and always -inf.
    Subclasses take their hyperparameters as keyword constructor arguments with the published
    defaults, and store them under the same names (as scikit-learn estimators do).
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self.n_items: int = 0

    # --- hyperparameters -------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.param_names()}

    # --- the interface ---------------------------------------------------------------------
    @abstractmethod
    def fit(self, train: Sessions, valid: Sessions | None = None, *, n_items: int | None = None):
        """Learn from training sessions (item ids 1..n_items); returns self."""

    @abstractmethod
    def scores(self, prefixes: PrefixBatch) -> np.ndarray:
        """A float32 matrix (len(prefixes), n_items + 1) of next-item scores, column 0 = -inf."""

    def recommend(self, prefixes: PrefixBatch, k: int = 20) -> np.ndarray:
        """The k best item ids per prefix, best first."""
        s = self.scores(prefixes)
        k = min(k, s.shape[1] - 1)
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1)

    def _check_fitted(self) -> None:
        if self.n_items <= 0:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() or load() first")

    @staticmethod
    def _catalog_size(train: Sessions, n_items: int | None) -> int:
        largest = train.max_item()
        if n_items is None:
            return largest
        if largest > n_items:
            raise ValueError(f"training data has item id {largest}, above n_items={n_items}")
        return n_items

    # --- persistence -----------------------------------------------------------------------
    @abstractmethod
    def _weights(self) -> dict[str, np.ndarray]:
        """The learned state as named arrays."""

    @abstractmethod
    def _set_weights(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the learned state from `_weights()` output."""

    def save(self, directory: str | Path) -> Path:
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "n_items": self.n_items,
            "params": self.get_params(),
        }
        self._save_weights(directory)
        (directory / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        return directory

    def _save_weights(self, directory: Path) -> None:
        tmp = directory / "weights.tmp.npz"
        np.savez(tmp, **self._weights())
        tmp.replace(directory / "weights.npz")

    def _load_weights(self, directory: Path) -> None:
        path = directory / "weights.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except FileNotFoundError:
            raise ModelFileError(f"{path}: weights file is missing") from None
        except Exception as exc:  # zipfile / format errors: report the file, not a traceback
            raise ModelFileError(f"{path}: cannot read weights ({exc})") from exc
        try:
            self._set_weights(arrays)
        except KeyError as exc:
            raise ModelFileError(f"{path}: weights file lacks array {exc}") from exc

    @classmethod
    def load(cls, directory: str | Path) -> SessionModel:
        """Load a saved model; on `SessionModel.load` the class is taken from config.json."""
        from via.rec.models import get_model_class

        directory = Path(directory)
        config = read_config(directory)
        model_cls = get_model_class(config["model"])
        if cls is not SessionModel and not issubclass(model_cls, cls):
            raise ModelFileError(f"{directory} holds a {config['model']!r} model, not {cls.name!r}")
        try:
            model = model_cls(**config["params"])
        except (TypeError, ValueError) as exc:
            raise ModelFileError(f"{directory}/config.json: bad hyperparameters ({exc})") from exc
        model.n_items = int(config["n_items"])
        model._load_weights(directory)
        return model


def read_config(directory: Path) -> dict[str, Any]:
    path = directory / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no saved model here (config.json is missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: config is not valid JSON ({exc})") from exc
    for key in ("format_version", "model", "n_items", "params"):
        if key not in config:
            raise ModelFileError(f"{path}: config lacks {key!r}")
    if config["format_version"] != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {config['format_version']}, this VIA reads {FORMAT_VERSION}"
        )
    return config
