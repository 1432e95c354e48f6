"""The prefix models compute their scoring matrix once per state of the weights: a change of the
weights (training, an in-place edit, a load) must never be served from a stale matrix."""

from __future__ import annotations

import numpy as np
import pytest
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


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_catalog_scores_equal_the_torch_product_for_one_row_and_many(blas, library):
    from via.rec.models.neural.common import catalog_scores

    blas(library)
    generator = torch.Generator().manual_seed(0)
    matrix = torch.randn(301, 16, generator=generator)
    bias = torch.randn(301, generator=generator)
    for rows in (1, 7):
        vectors = torch.randn(rows, 16, generator=generator)
        for b in (None, bias):
            expected = vectors @ matrix.T if b is None else vectors @ matrix.T + b
            got = catalog_scores(vectors, matrix, b)
            assert got.dtype == np.float32 and got.shape == (rows, 301)
            np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)
            got[:, 0] = -np.inf  # the caller's own array: the weights stay untouched
            assert torch.isfinite(matrix).all() and torch.isfinite(bias).all()


def test_one_session_scores_as_it_does_in_a_batch():
    model = VIANet(embedding_dim=8, batch_size=32, n_epochs=1, knn="none", verbose=False)
    model.fit(cycle_sessions(100, seed=1), n_items=30)
    batch = model.scores(PREFIXES)
    np.testing.assert_allclose(model.scores(PrefixBatch.from_lists([[3, 4, 5]]))[0], batch[1],
                               rtol=1e-5, atol=1e-5)
    assert list(model.recommend(PrefixBatch.from_lists([[3, 4, 5]]), 5)[0]) == list(
        np.argsort(-batch[1], kind="stable")[:5]
    )
