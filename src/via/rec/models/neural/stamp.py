"""STAMP, the Short-Term Attention/Memory Priority model (Liu et al., "STAMP: Short-Term
Attention/Memory Priority Model for Session-based Recommendation", KDD 2018), as the paper and its
official TensorFlow code (uestcnlp/STAMP, `model/STAMP_rsc.py`, `model/STAMP_cikm.py`) specify it.

What it implements:
- Item embeddings x_i of dimension `embedding_dim` (100), shared between the session's memory
  and the candidates being scored.
- m_s, the mean of the prefix's embeddings (the external memory's average), and m_t = x_t, the
  last click's embedding.
- Attention (eq. 7): alpha_i = w_0^T sigma(W_1 x_i + W_2 x_t + W_3 m_s + b_a) over the prefix's
  clicks, unnormalised (the official `norm_type='none'`), and (eq. 8) m_a = sum_i alpha_i x_i.
- Two MLP cells: h_s = tanh(W_s m_a + b_s), h_t = tanh(W_t m_t + b_t).
- Trilinear composition: z_i = <h_s, h_t, x_i> = (h_s * h_t) . x_i; softmax and
  cross-entropy over all items. The encoder returns h_s * h_t.
- The official settings for both data sets (`config/nn_param.conf`, `stamp_rsc` and
  `stamp_cikm`): embedding 100, Adam with lr 0.003, batch 512, 10 epochs, weights N(0, 0.05^2),
  item embeddings N(0, 0.002^2) with the padding row zero, gradients clipped at norm 150
  (Yoochoose; 110 for Diginetica, the `published` preset).

Departures and choices, each deliberate:
- As in the official code, m_a is the attention sum *plus* m_s (`attout = attout + pool_out`),
  and the memory's embeddings (the prefix's clicks, including x_t) are looked up with
  `max_norm=1`: each looked-up vector is scaled down to norm 1 if longer (the candidates' side of
  the product uses the raw embeddings). The paper writes m_a without m_s.
- The official code scores z_i without the sigma the paper puts around the trilinear product
  (a sigma would bound the softmax's inputs to (0, 1)); so does this.
- The paper's biases b_a, b_s, b_t are kept (initialised to zero, as the official code has none,
  the initial network is the official one).
- The official batcher groups prefixes of equal length (no padding); here prefixes are shuffled
  and padded, and padding is masked out of the mean and the attention.
- The prefix trainer clips the global gradient norm at `clip_norm`; the official code clips each
  tensor to that norm separately (a looser bound: the global norm is at least every tensor's).
- The paper's text was not at hand: a learning rate of 0.005, as sometimes quoted, is not what
  the official configuration ships for either data set (0.003), which the defaults follow.
"""

from __future__ import annotations

import torch
from torch import nn

from via.rec.models.neural.narm import last_positions, position_mask
from via.rec.models.neural.prefix import PrefixSessionModel, SessionEncoder, trainer_params


def clipped_to_unit_norm(vectors: torch.Tensor) -> torch.Tensor:
    """Each vector of the last axis divided by max(1, its norm), as TF's `max_norm=1` lookup."""
    return vectors / torch.linalg.vector_norm(vectors, dim=-1, keepdim=True).clamp(min=1.0)


class STAMPEncoder(SessionEncoder):
    """Attention over the session memory with the last click and the mean, two MLP cells."""

    def __init__(
        self,
        n_items: int,
        embedding_dim: int = 100,
        weight_std: float = 0.05,
        embedding_std: float = 0.002,
    ):
        super().__init__()
        d = embedding_dim
        self.item_embedding = nn.Embedding(n_items + 1, d, padding_idx=0)
        self.attention_each = nn.Linear(d, d, bias=False)  # W_1
        self.attention_last = nn.Linear(d, d, bias=False)  # W_2
        self.attention_mean = nn.Linear(d, d, bias=True)  # W_3 and b_a
        self.attention_vector = nn.Linear(d, 1, bias=False)  # w_0
        self.general_cell = nn.Linear(d, d)  # W_s, b_s
        self.current_cell = nn.Linear(d, d)  # W_t, b_t
        self._official_init(weight_std, embedding_std)

    @torch.no_grad()
    def _official_init(self, weight_std: float, embedding_std: float) -> None:
        for name, parameter in self.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
            else:
                parameter.normal_(0.0, weight_std)
        self.item_embedding.weight.normal_(0.0, embedding_std)
        self.item_embedding.weight[0].zero_()

    def forward(self, items: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = position_mask(lengths, items.shape[1])
        memory = clipped_to_unit_norm(self.item_embedding(items)) * mask[:, :, None]
        last = last_positions(memory, lengths)  # m_t = x_t
        mean = memory.sum(dim=1) / lengths[:, None].to(memory.dtype)  # m_s
        hidden = torch.sigmoid(
            self.attention_each(memory)
            + (self.attention_last(last) + self.attention_mean(mean))[:, None, :]
        )
        weights = self.attention_vector(hidden).squeeze(-1) * mask  # alpha_i, unnormalised
        attended = torch.bmm(weights[:, None, :], memory).squeeze(1) + mean  # m_a (+ m_s)
        return torch.tanh(self.general_cell(attended)) * torch.tanh(self.current_cell(last))

    def item_matrix(self) -> torch.Tensor:
        return self.item_embedding.weight


class STAMP(PrefixSessionModel):
    """STAMP (Liu et al. 2018) with the official code's settings (`stamp_rsc`)."""

    name = "stamp"

    def __init__(
        self,
        *,
        embedding_dim: int = 100,
        weight_std: float = 0.05,
        embedding_std: float = 0.002,
        batch_size: int = 512,
        learning_rate: float = 0.003,
        lr_decay: float = 1.0,
        lr_decay_epochs: int = 1,
        weight_decay: float = 0.0,
        clip_norm: float = 150.0,
        n_epochs: int = 10,
        patience: int = 0,
        max_length: int = 50,
        n_sample: int = 0,
        sample_alpha: float = 0.75,
        select_on: str = "hr@20",
        valid_fraction: float = 0.1,
        seed: int = 0,
        device: str = "cpu",
        verbose: bool = True,
    ):
        if weight_std <= 0 or embedding_std <= 0:
            raise ValueError(
                f"weight_std and embedding_std must be positive, got {weight_std}, {embedding_std}"
            )
        self.weight_std, self.embedding_std = float(weight_std), float(embedding_std)
        super().__init__(**trainer_params(locals()))

    def _build_encoder(self) -> STAMPEncoder:
        return STAMPEncoder(self.n_items, self.embedding_dim, self.weight_std, self.embedding_std)
