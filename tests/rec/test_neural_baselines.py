"""NARM, STAMP and SR-GNN: the session graph against a hand-computed one, masking of padding,
learning a synthetic cycle, save/load, and the training settings their papers specify."""

from __future__ import annotations

import pytest
import torch

from via.rec.models.neural.narm import NARMEncoder
from via.rec.models.neural.srgnn import SRGNNEncoder, session_graph
from via.rec.models.neural.stamp import STAMPEncoder, clipped_to_unit_norm

from .neural_synthetic import one_thread_fixture  # noqa: F401 (pytest finds it by its name)

ENCODERS = {"narm": NARMEncoder, "stamp": STAMPEncoder, "srgnn": SRGNNEncoder}


def test_session_graph_of_a_session_with_a_repeated_item():
    # session 5 -> 3 -> 5 -> 7 -> 7: nodes 3, 5, 7 (in id order); edges 5->3, 3->5, 5->7 and the
    # self-loop 7->7; next to it a shorter prefix, padded, and a one-click prefix
    items = torch.tensor([[5, 3, 5, 7, 7], [2, 9, 2, 0, 0], [4, 0, 0, 0, 0]])
    nodes, alias, a_in, a_out = session_graph(items, torch.tensor([5, 3, 1]))
    assert nodes.tolist() == [[3, 5, 7], [2, 9, 0], [4, 0, 0]]
    assert alias.tolist() == [[1, 0, 1, 2, 2], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]]
    # a_in[v, u] = 1 / in-degree(v) for each edge u -> v; node 7 (index 2) is entered from 5 and 7
    expected_in = [[0, 1, 0], [1, 0, 0], [0, 0.5, 0.5]]
    # a_out[u, v] = 1 / out-degree(u); node 5 (index 1) leaves to 3 and to 7
    expected_out = [[0, 1, 0], [0.5, 0, 0.5], [0, 0, 1]]
    assert a_in[0].tolist() == expected_in
    assert a_out[0].tolist() == expected_out
    # 2 -> 9 -> 2: the edge 2 -> 9 and its reverse; padding adds no node and no edge
    assert a_in[1].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert a_out[1].tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 0]]
    assert not a_in[2].any() and not a_out[2].any()


def test_an_edge_seen_twice_counts_once():
    # 1 -> 2 -> 1 -> 2 -> 3: 1->2 occurs twice, as one edge (the official code sets, not adds)
    _, _, a_in, a_out = session_graph(torch.tensor([[1, 2, 1, 2, 3]]), torch.tensor([5]))
    assert a_out[0].tolist() == [[0, 1, 0], [0.5, 0, 0.5], [0, 0, 0]]
    assert a_in[0].tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0]]


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_encoders_ignore_padding_and_batch_neighbours(name):
    torch.manual_seed(0)
    encoder = ENCODERS[name](12).eval()
    with torch.no_grad():
        encoder.item_embedding.weight.mul_(50.0)  # large enough for STAMP's max-norm clipping
        alone = encoder(torch.tensor([[3, 7, 3]]), torch.tensor([3]))
        batch = torch.tensor([[3, 7, 3, 0, 0, 0], [1, 2, 3, 4, 5, 6], [11, 0, 0, 0, 0, 0]])
        together = encoder(batch, torch.tensor([3, 6, 1]))
        # whatever sits in the padding columns is never read
        noisy = batch.clone()
        noisy[0, 3:] = torch.tensor([9, 10, 12])
        with_noise = encoder(noisy, torch.tensor([3, 6, 1]))
    assert together.shape == (3, encoder.item_matrix().shape[1])
    assert encoder.item_matrix().shape[0] == 13
    torch.testing.assert_close(together[0], alone[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(with_noise, together, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(together[0], together[2])


def test_stamp_clips_the_memory_to_unit_norm():
    vectors = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    clipped = clipped_to_unit_norm(vectors)
    torch.testing.assert_close(clipped, torch.tensor([[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]]))
