"""Recurrent dropout (Gal and Ghahramani 2016, "A Theoretically Grounded Application of Dropout
in Recurrent Neural Networks"): one mask per sequence on the recurrent input.

A mask m (B, H) with entries 0 or 1/(1-p) is drawn once per sequence (from torch's RNG, so a
seeded run repeats) and multiplies h_{t-1} wherever h_{t-1} enters a recurrent matrix multiply,
at every step; as in Keras, the GRU's carry term z * h_{t-1} and the LSTM cell state are not
dropped. Only in training mode. For each family:

    LSTM:          a_t = x_t + W_hh (m * h_{t-1}) + b_hh, the rest unchanged
    GRU (after):   hh = W_hh (m * h_{t-1}) + b_hh; r, z, n as usual; h_t = (1-z) n + z h_{t-1}
    GRU (before):  r, z from W_rz (m * h_{t-1}); n = tanh(x_n + W_n (r * m * h_{t-1}) + b_n)
    RNN:           h_t = act(x_t + W_hh (m * h_{t-1}) + b_hh)
"""

from __future__ import annotations

from typing import Optional

import torch



def draw_mask(p: float, batch: int, size: int, *, like: torch.Tensor) -> torch.Tensor:
    """A (batch, size) mask of 0 and 1/(1-p), drawn from torch's RNG."""
    keep = 1.0 - p
    # Scaled in place: the same division as ``/ keep`` (bit for bit), without a second tensor.
    mask = torch.empty(batch, size, dtype=like.dtype, device=like.device)  # (B, H)
    return mask.bernoulli_(keep).div_(keep)


def step_with_recurrent_dropout(cell, x_proj: torch.Tensor, state, mask: torch.Tensor, record: Optional[dict] = None):
    """One step of ``cell`` with recurrent-dropout mask ``mask`` (B, H). Returns (h_t, new_state)."""
    if cell.family != "gru":
        # LSTM (also layer-normalized) and RNN read h_{t-1} only in the recurrent product.
        return cell.step_projected(x_proj, state._replace(h=state.h * mask), record)
    return cell.step_masked(x_proj, state, mask, record)
