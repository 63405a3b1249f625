"""Keras ``recurrent_dropout``: a step-by-step run with one dropout mask per sequence and gate
on the previous state h_{t-1} where it enters a recurrent matrix multiply (Gal and Ghahramani
2016, as Keras' ``implementation=1``). The GRU's update ``z * h_{t-1}`` uses the undropped state,
as in Keras.

Used only in training mode; at inference the layer runs the ordinary runner.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def _masks(batch: int, hidden: int, count: int, rate: float, like: torch.Tensor) -> list[torch.Tensor]:
    keep = 1.0 - rate
    return [torch.empty(batch, hidden, device=like.device, dtype=like.dtype).bernoulli_(keep) / keep
            for _ in range(count)]


def _block(weight: torch.Tensor, bias: Optional[torch.Tensor], k: int, hidden: int):
    rows = slice(k * hidden, (k + 1) * hidden)
    return weight[rows], None if bias is None else bias[rows]


def run(cell, x: torch.Tensor, state: list[torch.Tensor], lengths: Optional[torch.Tensor], rate: float):
    """x (B, T, F) batch-first; state [h] or [h, c] each (B, H). Returns (outputs (B, T, H), finals)."""
    w = cell.weights()
    hidden, batch, steps = cell.hidden_size, x.shape[0], x.shape[1]
    x_proj = cell.project_input(x)  # (B, T, G*H)
    masks = _masks(batch, hidden, cell.num_blocks, rate, x)
    blocks = [_block(w.weight_hh, w.bias_hh, k, hidden) for k in range(cell.num_blocks)]
    act, ract = cell._act, getattr(cell, "_ract", None)
    state = list(state)
    outputs = []
    for t in range(steps):
        xp = x_proj[:, t]  # (B, G*H)
        h = state[0]
        rec = [F.linear(h * m, wk, bk) for m, (wk, bk) in zip(masks, blocks)]  # G x (B, H)
        if cell.family == "lstm":
            xi, xf, xg, xo = xp.chunk(4, dim=1)
            i, f = ract(xi + rec[0]), ract(xf + rec[1])
            g, o = act(xg + rec[2]), ract(xo + rec[3])
            c = f * state[1] + i * g
            new = [o * act(c), c]
        elif cell.family == "gru":
            xr, xz, xn = xp.chunk(3, dim=1)
            r, z = ract(xr + rec[0]), ract(xz + rec[1])
            if cell.reset_after:
                n = act(xn + r * rec[2])
            else:
                wn, bn = blocks[2]
                n = act(xn + F.linear(r * (h * masks[2]), wn, bn))
            new = [(1 - z) * n + z * h]
        else:
            new = [act(xp + rec[0])]
        if lengths is not None:
            valid = (t < lengths).unsqueeze(1)  # (B, 1)
            new = [torch.where(valid, n_, o_) for n_, o_ in zip(new, state)]
            outputs.append(new[0] * valid.to(x.dtype))
        else:
            outputs.append(new[0])
        state = new
    return torch.stack(outputs, dim=1), state
