"""The ``fused`` backend: our own forward and hand-derived backward through time.

Each family is a ``torch.autograd.Function`` over the C++ loops in ``csrc/fused.cpp``:
``scan_fused`` does the one input-projection GEMM for all steps, the kernel does one GEMM
per step for the recurrence (two for the original-form GRU) with the gate math fused into one
pass, and saves every state and gate activation, so the backward pass recomputes nothing but
``tanh(c_t)``. After the backward loop the weight gradient is one GEMM over all steps:
``dW_hh = sum_t da_t^T h_{t-1} = dA^T H`` with dA (T*B, G*H) and H (T*B, H).

Backward equations (LSTM, pre-activations a, dc/dh carried from step t+1, masks aside)::

    dh_t  += dout_t                      dc_t += dh_t * o * (1 - tanh(c_t)^2)
    da_o   = dh_t * tanh(c_t) * o(1-o)   da_i  = dc_t * g * i(1-i)
    da_f   = dc_t * c_{t-1} * f(1-f)     da_g  = dc_t * i * (1-g^2)
    dc_{t-1} = dc_t * f                  dh_{t-1} = da_t W_hh   (times the dropout mask)

At a padded step the kernel writes da = 0 and carries dh, dc unchanged, the exact adjoint of
"state carried, output zero". The GRU and RNN backward passes are written out in the C++ file;
the layer-normalized LSTM has its own Function in ``kernels/fused_layer_norm.py``.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.autograd.function import once_differentiable

from rnnkit.kernels.apply import forward_alone
from rnnkit.kernels.extension import load_extension
from rnnkit.kernels.fused_inference import gradient_can_flow, scan_inference, serves
from rnnkit.kernels.fused_layer_norm import LayerNormLSTMFunction
from rnnkit.kernels.placeholders import optional as _opt
from rnnkit.kernels.placeholders import optional_mask, output_grad, state_grad
from rnnkit.kernels.projected import ProjectedScan


class LSTMFunction(torch.autograd.Function):
    """x (T,B,4H) with both biases, h0, c0 (B,H), w_hh (4H,H) -> out (T,B,H), h_T, c_T.

    The layer-normalized LSTM has its own Function (``kernels/fused_layer_norm.py``)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_hh, mask, dmask):
        out, hs, cs, gates, h_n, c_n = load_extension().lstm_forward(
            x.contiguous(), _opt(h0, x), _opt(c0, x), w_hh.contiguous(), optional_mask(mask),
            _opt(dmask, x))
        ctx.save_for_backward(hs, cs, gates, w_hh, mask, dmask)
        return out, h_n, c_n

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h, grad_c):
        hs, cs, gates, w_hh, mask, dmask = ctx.saved_tensors
        dx, dh0, dc0, dw = load_extension().lstm_backward(
            output_grad(grad_out, hs), state_grad(grad_h, hs), state_grad(grad_c, cs),
            hs, cs, gates, w_hh.contiguous(), optional_mask(mask), _opt(dmask, gates))
        return dx, dh0, dc0, dw, None, None


class GRUFunction(torch.autograd.Function):
    """Reset-after GRU: x (T,B,3H) with b_ih, h0 (B,H), w_hh (3H,H), b_hh (3H) or None."""

    @staticmethod
    def forward(ctx, x, h0, w_hh, b_hh, mask, dmask):
        ext = load_extension()
        out, hs, gates, h_n = ext.gru_forward(x.contiguous(), _opt(h0, x), w_hh.contiguous(),
                                              _opt(b_hh, x), optional_mask(mask), _opt(dmask, x))
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(hs, gates, w_hh, mask, dmask)
        return out, h_n

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h):
        hs, gates, w_hh, mask, dmask = ctx.saved_tensors
        dx, dh0, dw, db = load_extension().gru_backward(
            output_grad(grad_out, hs), state_grad(grad_h, hs), hs, gates, w_hh.contiguous(),
            optional_mask(mask), _opt(dmask, gates))
        return dx, dh0, dw, (db if ctx.has_bias else None), None, None


class GRUOriginalFunction(torch.autograd.Function):
    """Original-form GRU (reset before the product): x (T,B,3H) with both biases."""

    @staticmethod
    def forward(ctx, x, h0, w_hh, mask, dmask):
        out, hs, gates, rh, h_n = load_extension().gru_nr_forward(
            x.contiguous(), _opt(h0, x), w_hh.contiguous(), optional_mask(mask), _opt(dmask, x))
        ctx.save_for_backward(hs, gates, rh, w_hh, mask, dmask)
        return out, h_n

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h):
        hs, gates, rh, w_hh, mask, dmask = ctx.saved_tensors
        dx, dh0, dw = load_extension().gru_nr_backward(
            output_grad(grad_out, hs), state_grad(grad_h, hs), hs, gates, rh, w_hh.contiguous(),
            optional_mask(mask), _opt(dmask, gates))
        return dx, dh0, dw, None, None


class RNNFunction(torch.autograd.Function):
    """Elman RNN: x (T,B,H) with both biases, h0 (B,H), w_hh (H,H); tanh or relu."""

    @staticmethod
    def forward(ctx, x, h0, w_hh, mask, dmask, relu):
        out, hs, h_n = load_extension().rnn_forward(x.contiguous(), _opt(h0, x), w_hh.contiguous(),
                                                    optional_mask(mask), _opt(dmask, x), relu)
        ctx.relu = relu
        ctx.save_for_backward(hs, w_hh, mask, dmask)
        return out, h_n

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h):
        hs, w_hh, mask, dmask = ctx.saved_tensors
        dx, dh0, dw = load_extension().rnn_backward(
            output_grad(grad_out, hs), state_grad(grad_h, hs), hs, w_hh.contiguous(),
            optional_mask(mask), _opt(dmask, hs), ctx.relu)
        return dx, dh0, dw, None, None, None


# ---- what the fused kernels serve ----------------------------------------------------------
def unsupported_reason(cell, x_proj: torch.Tensor) -> Optional[str]:
    """Why the fused kernel cannot run ``cell`` on ``x_proj`` (its inputs, raw or projected: only
    the device and dtype are read), or None when it can.

    Checks the configuration only; whether the extension is built is asked separately.
    """
    if x_proj.device.type != "cpu":
        return f"the fused kernel runs on CPU only and the input is on {x_proj.device}"
    if x_proj.dtype not in (torch.float32, torch.float64):
        return f"the fused kernel supports float32 and float64, got {x_proj.dtype}"
    family = getattr(cell, "family", None)
    if family not in ("lstm", "gru", "rnn"):
        return f"the fused kernel has no code for cell {type(cell).__name__}"
    if family == "rnn":
        return None if cell.nonlinearity in ("tanh", "relu") else f"nonlinearity={cell.nonlinearity!r} is not fused"
    if getattr(cell, "proj_size", 0):
        return "LSTM with proj_size > 0 is not fused (the vendor kernel of rnnkit.LSTM serves it)"
    if (cell.activation, cell.recurrent_activation) != ("tanh", "sigmoid"):
        return (f"activation={cell.activation!r}, recurrent_activation={cell.recurrent_activation!r}: the fused "
                "kernel has only tanh and sigmoid")
    return None


def scan_fused(cell, inputs: torch.Tensor, state, mask: Optional[torch.Tensor], dmask: Optional[torch.Tensor]):
    """Run ``cell`` over raw time-major inputs (T, B, I) on the fused kernel.

    The input projection of all steps is one GEMM, done with the recurrence as one autograd
    node (``kernels/projected.py``): ``W_ih x + b_ih`` (+ ``b_hh`` folded in where the kernel
    takes it so); for the layer-normalized LSTM only ``W_ih x``, whose normalization runs in C++.
    state: the cell's state, or None for zeros (the training kernels build them in C++).
    mask: (T, B, 1) bool or None; dmask: (B, H) recurrent-dropout mask or None.
    Where no gradient can flow, LSTM and GRU cells run the forward-only kernels of
    ``kernels/fused_inference.py`` instead (same math, nothing saved, input projections in
    cached blocks of steps).
    Returns (outputs (T, B, H), final state) like ``scan_reference``.
    """
    step_mask = None if mask is None else mask.squeeze(-1).contiguous()  # (T, B)
    w = cell.weights()
    flows = gradient_can_flow(cell, inputs, state, w)
    if serves(cell) and not flows:
        if state is None:
            state = cell.init_state(inputs.shape[1], device=inputs.device, dtype=inputs.dtype)
        return scan_inference(cell, inputs, state, step_mask, dmask, weights=w)  # nothing saved
    h0, c0 = (None, None) if state is None else (state.h, getattr(state, "c", None))
    # One gradient check decides both: the inference kernels above, or recording the node
    # (``Function.apply``) versus the forward alone (only the simple RNN gets here without one).
    run = ProjectedScan.apply if flows else forward_alone(ProjectedScan)
    family = cell.family
    if family == "lstm" and getattr(cell, "layer_norm", False):
        ln_ih = cell._owner._parameters[cell._names["ln_ih_weight"]]
        out, h, c = run(LayerNormLSTMFunction, inputs, w.weight_ih, None, None, h0, c0,
                        w.weight_hh, ln_ih, w.bias_ih, w.bias_hh, *cell.layer_norm_weights(),
                        step_mask, dmask)
        return out, cell.state_type(h, c)
    if family == "lstm":
        out, h, c = run(LSTMFunction, inputs, w.weight_ih, w.bias_ih, w.bias_hh, h0, c0,
                        w.weight_hh, step_mask, dmask)
        return out, cell.state_type(h, c)
    if family == "gru" and cell.reset_after:
        out, h = run(GRUFunction, inputs, w.weight_ih, w.bias_ih, None, h0, w.weight_hh,
                     w.bias_hh, step_mask, dmask)
    elif family == "gru":
        out, h = run(GRUOriginalFunction, inputs, w.weight_ih, w.bias_ih, w.bias_hh, h0,
                     w.weight_hh, step_mask, dmask)
    else:
        out, h = run(RNNFunction, inputs, w.weight_ih, w.bias_ih, w.bias_hh, h0, w.weight_hh,
                     step_mask, dmask, cell.nonlinearity == "relu")
    return out, cell.state_type(h)
