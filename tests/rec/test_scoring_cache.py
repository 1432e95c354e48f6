"""The prefix models compute their scoring matrix once per state of the weights: a change of the
weights (training, an in-place edit, a load) must never be served from a stale matrix."""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from via.rec.data.sessions import PrefixBatch
from via.rec.models import SessionModel
from via.rec.models.neural.via_model import VIANet

from .neural_synthetic import cycle_sessions, one_thread_fixture  # noqa: F401

PREFIXES = PrefixBatch.from_lists([[1], [3, 4, 5]])


def direct_scores(model: VIANet, prefixes: PrefixBatch) -> np.ndarray:
    """The scores computed without the cache: encoder output times the normalised items."""
    with torch.inference_mode():
        session = model._encode(prefixes, torch.device("cpu"))
        items = F.normalize(model.module.item_embedding.weight, dim=-1)
        out = (session @ items.T).numpy()
    out[:, 0] = -np.inf
    return out


def test_scores_follow_every_change_of_the_weights(tmp_path):
    model = VIANet(embedding_dim=8, batch_size=32, n_epochs=1, knn="none", verbose=False)
    model.fit(cycle_sessions(100, seed=1), n_items=30)
    first = model.scores(PREFIXES)
    np.testing.assert_allclose(first, direct_scores(model, PREFIXES), rtol=1e-5, atol=1e-5)
    assert model.scores(PREFIXES) is not first  # the cache holds the matrix, not the scores
    with torch.no_grad():
        model.module.item_embedding.weight[5].mul_(-1.0)  # an in-place change of one row
    changed = model.scores(PREFIXES)
    assert not np.allclose(changed[:, 5], first[:, 5])
    np.testing.assert_allclose(changed, direct_scores(model, PREFIXES), rtol=1e-5, atol=1e-5)
    loaded = SessionModel.load(model.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.scores(PREFIXES), changed, rtol=1e-6, atol=1e-6)
    model.fit(cycle_sessions(100, seed=2), n_items=30)  # a new fit, a new module
    np.testing.assert_allclose(model.scores(PREFIXES), direct_scores(model, PREFIXES),
                               rtol=1e-5, atol=1e-5)
