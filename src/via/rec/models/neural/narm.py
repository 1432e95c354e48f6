"""NARM, the Neural Attentive Recommendation Machine (Li et al., "Neural Attentive Session-based
Recommendation", CIKM 2017), as the paper and its official Theano code (lijingsdu/sessionRec_NARM)
specify it.

What it implements (section 3 of the paper):
- Item embedding of dimension `embedding_dim` (50), dropout `embedding_dropout` (0.25) between
  the embedding and the GRU, one GRU layer of `hidden_units` (100) units over the prefix.
- Global encoder: c_g = h_t, the GRU state after the last click.
- Local encoder: c_l = sum_j alpha_tj h_j with
  alpha_tj = v^T sigma(A_1 h_t + A_2 h_j) over the prefix's positions.
- c_t = [c_g; c_l], dropout `session_dropout` (0.5), then the bilinear decoder:
  S_i = emb_i^T B c_t with the item embeddings shared between input and output, B of
  shape embedding_dim x 2 hidden_units. The encoder returns B c_t, so the scores are its product
  with the item embedding matrix; softmax and cross-entropy over all items.
- Adam, lr 0.001, batch 512, prefix-augmented training (the official code's data), at most 30
  epochs, the weights of the best validation epoch kept.
- Initialisation of the official code: every matrix N(0, 2 / rows) (the embedding's rows are
  the items, so its entries are tiny), recurrent GRU kernels orthogonal, biases zero.

Departures, each deliberate:
- The attention weights are normalised with a softmax over the prefix's real positions (what
  the official code does: `softmax(sim * mask) * mask`, renormalised); the paper's alpha_tj
  are left unnormalised.
- The official GRU and attention use Theano's `hard_sigmoid`; this uses the logistic sigmoid
  of the paper (and PyTorch's GRU, whose reset gate acts after the recurrent product).
- The official code cuts every sequence to its first 19 clicks; here each prefix keeps its 19
  most recent clicks (`max_length`).
- The epoch is chosen on validation HR@20, as the official code keeps the best validation
  Recall@20, but the validation split is the last 10% of the training sessions (time order)
  rather than a random 10% of the training prefixes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from via.rec.models.neural.prefix import PrefixSessionModel, SessionEncoder, trainer_params


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of (B, T) logits, padding positions (mask False) weighted 0."""
    return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


def position_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B, width) True where a column holds a real click of a left-aligned prefix."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def last_positions(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The (B, d) rows of (B, T, d) `values` at each left-aligned prefix's last click."""
    return values[torch.arange(len(values), device=values.device), lengths - 1]


class NARMEncoder(SessionEncoder):
    """GRU with global and local (attention) encoders, and the bilinear decoder's matrix B."""

    def __init__(
        self,
        n_items: int,
        embedding_dim: int = 50,
        hidden_units: int = 100,
        embedding_dropout: float = 0.25,
        session_dropout: float = 0.5,
    ):
        super().__init__()
        self.item_embedding = nn.Embedding(n_items + 1, embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.gru = nn.GRU(embedding_dim, hidden_units, batch_first=True)
        self.attention_last = nn.Linear(hidden_units, hidden_units, bias=False)  # A_1
        self.attention_each = nn.Linear(hidden_units, hidden_units, bias=False)  # A_2
        self.attention_vector = nn.Linear(hidden_units, 1, bias=False)  # v
        self.session_dropout = nn.Dropout(session_dropout)
        self.bilinear = nn.Linear(2 * hidden_units, embedding_dim, bias=False)  # B
        self._official_init()

    @torch.no_grad()
    def _official_init(self) -> None:
        def scaled_normal(weight: torch.Tensor, rows: int) -> None:
            weight.normal_(0.0, float(np.sqrt(2.0 / rows)))

        scaled_normal(self.item_embedding.weight, self.item_embedding.num_embeddings)
        self.item_embedding.weight[0].zero_()
        units = self.gru.hidden_size
        scaled_normal(self.gru.weight_ih_l0, self.gru.input_size)
        for gate in range(3):
            nn.init.orthogonal_(self.gru.weight_hh_l0[gate * units : (gate + 1) * units])
        nn.init.zeros_(self.gru.bias_ih_l0)
        nn.init.zeros_(self.gru.bias_hh_l0)
        for layer in (self.attention_last, self.attention_each):
            scaled_normal(layer.weight, units)
        scaled_normal(self.attention_vector.weight, 1)  # the official (1, hidden) vector
        scaled_normal(self.bilinear.weight, self.item_embedding.embedding_dim)

    def forward(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # left-aligned prefixes: the GRU's outputs at a prefix's own positions never see its
        # padding (which comes after them), so no packing is needed
        states, _ = self.gru(self.embedding_dropout(self.item_embedding(items)))
        last = last_positions(states, lengths)  # c_g = h_t
        energy = self.attention_vector(
            torch.sigmoid(self.attention_last(last)[:, None, :] + self.attention_each(states))
        ).squeeze(-1)
        weights = masked_softmax(energy, position_mask(lengths, items.shape[1]))
        local = torch.bmm(weights[:, None, :], states).squeeze(1)  # c_l
        session = self.session_dropout(torch.cat([last, local], dim=1))
        return self.bilinear(session)

    def item_matrix(self) -> torch.Tensor:
        return self.item_embedding.weight



class NARM(PrefixSessionModel):
    """NARM (Li et al. 2017) with the paper's and the official code's settings."""

    name = "narm"

    def __init__(
        self,
        *,
        embedding_dim: int = 50,
        hidden_units: int = 100,
        embedding_dropout: float = 0.25,
        session_dropout: float = 0.5,
        batch_size: int = 512,
        learning_rate: float = 0.001,
        lr_decay: float = 1.0,
        lr_decay_epochs: int = 1,
        weight_decay: float = 0.0,
        clip_norm: float = 0.0,
        n_epochs: int = 30,
        patience: int = 0,
        max_length: int = 19,
        n_sample: int = 0,
        sample_alpha: float = 0.75,
        select_on: str = "hr@20",
        valid_fraction: float = 0.1,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = True,
    ):
        for name, value in (("embedding_dropout", embedding_dropout),
                            ("session_dropout", session_dropout)):
            if not 0 <= value < 1:
                raise ValueError(f"{name} must be in [0, 1), got {value}")
        self.hidden_units = int(hidden_units)
        self.embedding_dropout, self.session_dropout = embedding_dropout, session_dropout
        super().__init__(**trainer_params(locals()))

    def _build_encoder(self) -> NARMEncoder:
        return NARMEncoder(
            self.n_items, self.embedding_dim, self.hidden_units, self.embedding_dropout,
            self.session_dropout,
        )  # fmt: skip
