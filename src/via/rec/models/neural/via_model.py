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
- Dropout on the clicks' embeddings; full-softmax cross-entropy over every item (the prefix
  trainer), Adam with step decay.
No recurrent or graph layer: one pass of matrix products per mini-batch, so an epoch over
Diginetica's 719k prefixes stays within minutes on two CPU cores.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from via.rec.models.neural.narm import last_positions, masked_softmax, position_mask
from via.rec.models.neural.prefix import PrefixSessionModel, SessionEncoder


class VIAEncoder(SessionEncoder):
    """Position-aware attention over normalised click embeddings, mixed with the last click."""

    def __init__(self, n_items: int, d: int, max_length: int, dropout: float, scale: float):
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

    def forward(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = position_mask(lengths, items.shape[1])
        e = self.dropout(F.normalize(self.item_embedding(items), dim=-1))
        e = e * mask[..., None]
        reverse = (lengths[:, None] - torch.arange(items.shape[1], device=items.device)) * mask
        z = torch.tanh(self.position_mix(torch.cat([e, self.position_embedding(reverse)], -1)))
        last = last_positions(e, lengths)
        mean = e.sum(dim=1) / lengths[:, None]
        energy = self.attention_vector(
            torch.sigmoid(
                self.attention_each(z)
                + (self.attention_last(last) + self.attention_mean(mean))[:, None, :]
            )
        ).squeeze(-1)
        weights = masked_softmax(energy, mask)
        intent = torch.bmm(weights[:, None, :], e).squeeze(1)
        session = self.session_mix(torch.cat([intent, last], dim=1))
        return self.scale * F.normalize(session, dim=-1)

    def item_matrix(self) -> torch.Tensor:
        return F.normalize(self.item_embedding.weight, dim=-1)


class VIANet(PrefixSessionModel):
    """VIA's attention model (see the module docstring); hyperparameters as the prefix trainer's
    plus `dropout` (on the clicks' embeddings) and `scale` (the cosine's temperature)."""

    name = "vianet"

    def __init__(
        self,
        embedding_dim: int = 100,
        dropout: float = 0.1,
        scale: float = 12.0,
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
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = False,
    ):
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.dropout, self.scale = float(dropout), float(scale)
        super().__init__(
            embedding_dim=embedding_dim, batch_size=batch_size, learning_rate=learning_rate,
            lr_decay=lr_decay, lr_decay_epochs=lr_decay_epochs, weight_decay=weight_decay,
            clip_norm=clip_norm, n_epochs=n_epochs, patience=patience, max_length=max_length,
            n_sample=n_sample, sample_alpha=sample_alpha, select_on=select_on, seed=seed,
            device=device, verbose=verbose,
        )  # fmt: skip

    def _build_encoder(self) -> VIAEncoder:
        return VIAEncoder(
            self.n_items, self.embedding_dim, self.max_length, self.dropout, self.scale
        )
