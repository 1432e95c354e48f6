"""SR-GNN, session-based recommendation with graph neural networks (Wu et al., AAAI 2019), as the
paper and its official PyTorch code (CRIPAC-DIG/SR-GNN, `pytorch_code/`) specify it.

What it implements:
- The session graph (section "Constructing session graphs"): one node per distinct item of the
  prefix, an edge u -> v when v directly follows u (an edge that occurs twice counts once, as in
  the official code), and two normalised adjacency matrices: A_in[v, u] = 1 / in-degree(v) and
  A_out[u, v] = 1 / out-degree(u) for every edge u -> v. `session_graph` builds them for a whole
  batch with tensor operations (sort, unique flags, scatter), no Python loop over sessions.
- The gated GNN (eqs. 1 to 5), `steps` (1) propagation steps:
  a = [A_in (H_in v + b_in) + b_iah ; A_out (H_out v + b_out) + b_oah], then a GRU update of each
  node from a (the official `GNNCell`).
- Session embedding (eqs. 6, 7): s_l = v_n, the last click's node; soft attention
  alpha_i = q^T sigma(W_1 v_n + W_2 v_i + c) over the prefix's positions (a repeated item counts
  at each of its positions), s_g = sum_i alpha_i v_i, and s_h = W_3 [s_g; s_l].
- Scores (eq. 8): z_i = s_h . v_i with the item embeddings; softmax and cross-entropy.
- Training as the paper and the official code: hidden size 100, batch 100, Adam lr 0.001
  decayed by 0.1 every 3 epochs, L2 penalty 1e-5 (Adam's weight decay, on every parameter),
  every parameter initialised U(-1/sqrt(d), 1/sqrt(d)), at most 30 epochs, patience 10.

Departures and choices, each deliberate:
- The official `StepLR` is stepped at the *start* of each epoch, so its first decay comes after
  two epochs, not three; this follows the paper ("decay by 0.1 after every 3 epochs").
- Epoch choice and early stopping: the official code (without `--validation`) watches test
  Recall@20 and MRR@20; here they watch the HR@20 of a validation split cut from the end of
  training (the last 10% of its sessions), never the test set.
- Prefixes keep their 50 most recent clicks (`max_length`); the official code keeps all.
- The embedding's padding row is zero (the official code gives the padding node a random,
  trained vector; that node has no edges and is masked out of the attention, so it never
  reaches a real node's state or a score). The official code's unused `linear_edge_f` is left out.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from via.rec.models.neural.narm import last_positions, position_mask
from via.rec.models.neural.prefix import PrefixSessionModel, SessionEncoder, trainer_params


def session_graph(
    items: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The session graphs of a batch of left-aligned, 0-padded prefixes.

    Returns (nodes, alias, a_in, a_out): `nodes` (B, N) the distinct items of each prefix in
    increasing id order, 0-padded; `alias` (B, T) the node of each position (0 at padding);
    `a_in` and `a_out` (B, N, N), a_in[b, v, u] = 1 / in-degree(v) and
    a_out[b, u, v] = 1 / out-degree(u) for every edge u -> v of prefix b.
    """
    batch, width = items.shape
    mask = position_mask(lengths, width)
    beyond = torch.iinfo(items.dtype).max  # padding sorts after every item
    ordered, order = torch.where(mask, items, beyond).sort(dim=1)
    first = torch.ones_like(mask)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    node_of_ordered = first.cumsum(dim=1) - 1
    real = ordered != beyond
    n_nodes = (first & real).sum(dim=1)
    alias = torch.zeros_like(items).scatter_(1, order, node_of_ordered * real)
    width_nodes = max(int(n_nodes.max()), 1) if batch else 1
    nodes = torch.zeros((batch, width_nodes), dtype=items.dtype, device=items.device)
    rows = torch.arange(batch, device=items.device)[:, None].expand(-1, width)
    nodes[rows[real], node_of_ordered[real]] = ordered[real]
    adjacency = torch.zeros((batch, width_nodes, width_nodes), device=items.device)
    edge = mask[:, 1:]
    adjacency[rows[:, 1:][edge], alias[:, :-1][edge], alias[:, 1:][edge]] = 1.0
    in_degree = adjacency.sum(dim=1).clamp(min=1.0)  # (B, N): column sums
    out_degree = adjacency.sum(dim=2).clamp(min=1.0)  # (B, N): row sums
    a_in = adjacency.transpose(1, 2) / in_degree[:, :, None]
    a_out = adjacency / out_degree[:, :, None]
    return nodes, alias, a_in, a_out


class GatedGraphCell(nn.Module):
    """One propagation step of the gated GNN over the in- and out-adjacency (eqs. 1 to 5)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.edge_in = nn.Linear(hidden, hidden)
        self.edge_out = nn.Linear(hidden, hidden)
        self.bias_in = nn.Parameter(torch.empty(hidden))  # the official b_iah
        self.bias_out = nn.Parameter(torch.empty(hidden))  # the official b_oah
        self.gate_input = nn.Linear(2 * hidden, 3 * hidden)  # w_ih, b_ih
        self.gate_hidden = nn.Linear(hidden, 3 * hidden)  # w_hh, b_hh

    def forward(self, a_in, a_out, hidden: torch.Tensor) -> torch.Tensor:
        message = torch.cat(
            [
                torch.bmm(a_in, self.edge_in(hidden)) + self.bias_in,
                torch.bmm(a_out, self.edge_out(hidden)) + self.bias_out,
            ],
            dim=2,
        )
        input_reset, input_update, input_new = self.gate_input(message).chunk(3, dim=2)
        hidden_reset, hidden_update, hidden_new = self.gate_hidden(hidden).chunk(3, dim=2)
        reset = torch.sigmoid(input_reset + hidden_reset)
        update = torch.sigmoid(input_update + hidden_update)
        candidate = torch.tanh(input_new + reset * hidden_new)
        return candidate + update * (hidden - candidate)


class SRGNNEncoder(SessionEncoder):
    """Session graph -> gated GNN -> soft attention and last item -> W_3 [s_g; s_l]."""

    def __init__(self, n_items: int, hidden: int = 100, steps: int = 1):
        super().__init__()
        self.steps = steps
        self.item_embedding = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.cell = GatedGraphCell(hidden)
        self.attention_last = nn.Linear(hidden, hidden)  # W_1 (and c)
        self.attention_each = nn.Linear(hidden, hidden)  # W_2
        self.attention_vector = nn.Linear(hidden, 1, bias=False)  # q
        self.transform = nn.Linear(2 * hidden, hidden)  # W_3
        self._official_init(hidden)

    @torch.no_grad()
    def _official_init(self, hidden: int) -> None:
        bound = 1.0 / math.sqrt(hidden)
        for parameter in self.parameters():
            parameter.uniform_(-bound, bound)
        self.item_embedding.weight[0].zero_()

    def forward(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        nodes, alias, a_in, a_out = session_graph(items, lengths)
        hidden = self.item_embedding(nodes)
        for _ in range(self.steps):
            hidden = self.cell(a_in, a_out, hidden)
        positions = torch.gather(hidden, 1, alias[:, :, None].expand(-1, -1, hidden.shape[2]))
        last = last_positions(positions, lengths)  # s_l = v_n
        energy = self.attention_vector(
            torch.sigmoid(self.attention_last(last)[:, None, :] + self.attention_each(positions))
        )
        mask = position_mask(lengths, items.shape[1])[:, :, None]
        attended = (energy * positions * mask).sum(dim=1)  # s_g
        return self.transform(torch.cat([attended, last], dim=1))

    def item_matrix(self) -> torch.Tensor:
        return self.item_embedding.weight



class SRGNN(PrefixSessionModel):
    """SR-GNN (Wu et al. 2019) with the paper's and the official code's settings;
    `embedding_dim` is the hidden size d (item embeddings and node states)."""

    name = "srgnn"

    def __init__(
        self,
        *,
        embedding_dim: int = 100,
        steps: int = 1,
        batch_size: int = 100,
        learning_rate: float = 0.001,
        lr_decay: float = 0.1,
        lr_decay_epochs: int = 3,
        weight_decay: float = 1e-5,
        clip_norm: float = 0.0,
        n_epochs: int = 30,
        patience: int = 10,
        max_length: int = 50,
        n_sample: int = 0,
        sample_alpha: float = 0.75,
        select_on: str = "hr@20",
        valid_fraction: float = 0.1,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = True,
    ):
        if int(steps) < 1:
            raise ValueError(f"steps must be a positive integer, got {steps}")
        self.steps = int(steps)
        super().__init__(**trainer_params(locals()))

    def _build_encoder(self) -> SRGNNEncoder:
        return SRGNNEncoder(self.n_items, self.embedding_dim, self.steps)
