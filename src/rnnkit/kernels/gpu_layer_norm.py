"""The layer-normalized LSTM on the GPU fused path (Triton, ``triton_layer_norm.py``).

Per step: one cuBLAS GEMM ``R = h_in W_hh^T`` and one Triton kernel that normalizes R over its
4H features, applies the gains, the gates, the cell update and the cell-state normalization.
Saved for backward: activations, the normalized values and the inverse deviations. Backward per
step: one Triton kernel for the gate, cell-norm and recurrent-norm gradients, one GEMM
``dh_in = dR W_hh``. After the loop: ``dW_hh = dR^T H_in``, ``dgamma_hh = sum dA * rhat``,
``dgamma_c = sum dY * chat``, ``dbeta_c = sum dY``. Equations in ``triton_layer_norm.py``.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnkit.kernels.gpu import _flags, _grad, _h_in, kernels

LN_EPS = 1e-5  # torch.nn.functional.layer_norm's default, which the reference cell uses


def _ln():
    kernels()  # Triton importable (raises nothing; the dispatcher checked availability)
    from rnnkit.kernels import triton_layer_norm  # noqa: PLC0415

    return triton_layer_norm


class LayerNormLSTMFunction(torch.autograd.Function):
    """x (T,B,4H) = LN(W_ih x) + b_ih + b_hh; h0, c0 (B,H); w_hh (4H,H); gamma_hh (4H);
    gamma_c, beta_c (H) -> out (T,B,H), h_T, c_T."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_hh, gamma_hh, gamma_c, beta_c, mask, dmask, act, ract):
        k = _ln()
        steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[1]
        gates = x.clone(memory_format=torch.contiguous_format)  # (T, B, 4H): x in, activations out
        rhat = torch.empty_like(gates)
        rstd = x.new_empty(steps, batch)
        chat = x.new_empty(steps, batch, hidden)
        cstd = x.new_empty(steps, batch)
        hs, cs = x.new_empty(steps + 1, batch, hidden), x.new_empty(steps + 1, batch, hidden)
        out = x.new_empty(steps, batch, hidden)
        rec = x.new_empty(batch, 4 * hidden)
        hs[0], cs[0] = h0, c0
        m, dm, flags = _flags(mask, dmask, x)
        h_in = hs[0] * dmask if dmask is not None else None
        w_t = w_hh.t()
        eps = x.new_full((1,), LN_EPS)
        params = (gamma_hh.contiguous(), gamma_c.contiguous(), beta_c.contiguous())
        for t in range(steps):
            torch.mm(hs[t] if h_in is None else h_in, w_t, out=rec)  # (B, 4H)
            k.ln_lstm_forward_step[(batch,)](gates, rec, *params, cs, hs, out, h_in if h_in is not None else x, m, dm,
                                             rhat, rstd, chat, cstd, t, batch, hidden, eps, ACT=act, RACT=ract,
                                             BLOCK_H=k.block(hidden), **flags)
        ctx.codes = (act, ract)
        ctx.save_for_backward(gates, rhat, rstd, chat, cstd, hs, cs, w_hh, *params, mask, dmask)
        return out, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h, grad_c):
        k = _ln()
        gates, rhat, rstd, chat, cstd, hs, cs, w_hh, gamma_hh, gamma_c, beta_c, mask, dmask = ctx.saved_tensors
        act, ract = ctx.codes
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dout = _grad(grad_out, hs[1:])
        skip = _grad(grad_h, hs[0]).clone()
        dc = _grad(grad_c, cs[0]).clone()
        gw = torch.zeros_like(skip)
        da, dr = torch.empty_like(gates), torch.empty_like(gates)  # (T, B, 4H)
        dy = torch.empty_like(chat)  # (T, B, H)
        m, dm, flags = _flags(mask, dmask, gates)
        for t in range(steps - 1, -1, -1):
            k.ln_lstm_backward_step[(batch,)](gates, gamma_hh, gamma_c, beta_c, cs, rhat, rstd, chat, cstd, dout, skip,
                                              gw, dc, dm, m, da, dr, dy, t, batch, hidden, ACT=act, RACT=ract,
                                              BLOCK_H=k.block(hidden), **flags)
            torch.mm(dr[t], w_hh, out=gw)  # (B, H) = dR_t W_hh
        dh0 = skip + (gw if dmask is None else gw * dmask)
        dw = dr.view(-1, 4 * hidden).t().mm(_h_in(hs[:-1], dmask).reshape(-1, hidden))  # (4H, H)
        d_gamma_hh = (da * rhat).sum((0, 1))
        d_gamma_c = (dy * chat).sum((0, 1))
        d_beta_c = dy.sum((0, 1))
        return da, dh0, dc, dw, d_gamma_hh, d_gamma_c, d_beta_c, None, None, None, None
