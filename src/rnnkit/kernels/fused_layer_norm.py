"""The ``fused`` backend for the layer-normalized LSTM (CPU): all of its math in C++.

Ba, Kiros and Hinton (2016), equations (20)-(22), as ``LayerNormLSTMCell`` states them::

    a_t = gamma_ih * LN(W_ih x_t) + b_ih + b_hh + gamma_hh * LN(W_hh h_{t-1})      (B, 4H)
    c_t = f * c_{t-1} + i * g,        h_t = o * tanh(gamma_c * LN(c_t) + beta_c)

The input product ``W_ih x_t`` of all steps is one GEMM without bias (done together with this
Function as one autograd node by ``kernels/projected.py``, which also gives dW_ih and dx);
everything after it, the normalization of the input product included, is one C++ call per
layer and direction forward (``lstm_ln_forward``) and one backward (``lstm_ln_backward``).
With yhat = LN(v) = (v - mean) * rstd, the backward of each normalization is
``dv = rstd * (dy - mean(dy) - yhat * mean(dy * yhat))`` with dy the gradient of yhat; the gains' and biases'
gradients are summed over all rows in double precision.
The backward saves the mean and rstd of each input row, not the normalized rows: it recomputes
them from ``W_ih x_t``, which it keeps anyway.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnkit.kernels.extension import load_extension
from rnnkit.kernels.placeholders import optional as _opt
from rnnkit.kernels.placeholders import optional_mask, output_grad, state_grad

LN_EPS = 1e-5  # the epsilon of torch.nn.functional.layer_norm, which the reference cell uses


class LayerNormLSTMFunction(torch.autograd.Function):
    """xw (T,B,4H) = W_ih x without bias, h0, c0 (B,H), w_hh (4H,H), gamma_ih (4H), b_ih, b_hh
    (4H or None), gamma_hh (4H), gamma_c, beta_c (H), mask (T,B) bool or None, dmask (B,H) or
    None -> out (T,B,H), h_T, c_T."""

    @staticmethod
    def forward(ctx, xw, h0, c0, w_hh, ln_ih, b_ih, b_hh, ln_hh, lnc_g, lnc_b, mask, dmask):
        saved = load_extension().lstm_ln_forward(
            xw.contiguous(), _opt(h0, xw), _opt(c0, xw), w_hh.contiguous(), ln_ih.contiguous(),
            _opt(b_ih, xw), _opt(b_hh, xw), ln_hh.contiguous(), lnc_g.contiguous(),
            lnc_b.contiguous(), optional_mask(mask), _opt(dmask, xw), LN_EPS)
        ctx.biases = (b_ih is not None, b_hh is not None)
        # saved[1:9]: hs, cs, gates, xstat, rhat, rstd, chat, cstd
        ctx.save_for_backward(xw, *saved[1:9], w_hh, ln_ih, ln_hh, lnc_g, lnc_b, mask, dmask)
        return saved[0], saved[9], saved[10]  # out, h_T, c_T

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h, grad_c):
        xw, hs, cs, gates, xstat, rhat, rstd, chat, cstd, w_hh, ln_ih, ln_hh, lnc_g, lnc_b, mask, dmask = ctx.saved_tensors
        dxw, dh0, dc0, dw, d_ih, d_b, d_hh, d_cg, d_cb = load_extension().lstm_ln_backward(
            output_grad(grad_out, hs), state_grad(grad_h, hs), state_grad(grad_c, cs),
            xw.contiguous(), xstat, hs, cs, gates, rhat, rstd, chat, cstd, w_hh.contiguous(), ln_ih.contiguous(),
            ln_hh.contiguous(), lnc_g.contiguous(), lnc_b.contiguous(), optional_mask(mask),
            _opt(dmask, gates))
        d_b_ih = d_b if ctx.biases[0] else None
        d_b_hh = (d_b.clone() if ctx.biases[0] else d_b) if ctx.biases[1] else None
        return dxw, dh0, dc0, dw, d_ih, d_b_ih, d_b_hh, d_hh, d_cg, d_cb, None, None

