"""One autograd node for a whole layer direction: the input projection and the recurrence.

Without it, a fused layer call records four autograd nodes before the recurrence's own
Function (``F.linear`` on a (T, B, I) input gives a view, ``addmm`` and a transpose, and
folding ``b_hh`` into the projection adds an ``add``), and the backward pass walks all of
them. At batch 1 and hidden 64 each node costs as much as several steps of the C++ loop, so
``ProjectedScan`` does the projection inside one ``torch.autograd.Function`` and writes its
backward out (X is the (T*B, I) input, dA the (T*B, G*H) gradient of the projected input that
the recurrence's backward returns)::

    A    = X W_ih^T + b_ih (+ b_hh where the kernel takes both biases folded)   (T*B, G*H)
    dX   = dA W_ih          dW_ih = dA^T X          db_ih = db_hh = sum_rows dA

The recurrence is any of the fused Functions (``kernels/fused.py``, ``fused_layer_norm.py``),
called through its own ``forward`` and ``backward``: the tensors it saves are saved on this
node's ctx, so autograd's check that no saved tensor was modified in place still applies.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.autograd.function import once_differentiable


class _InnerContext:
    """The ctx handed to the recurrence's forward and backward: collects what it saves and
    keeps its other attributes (``has_bias``, ``relu``, ...)."""

    def save_for_backward(self, *tensors) -> None:
        self.to_save = tensors


def project(inputs: torch.Tensor, w_ih: torch.Tensor, bias: Optional[torch.Tensor]):
    """(X (T*B, I), A (T, B, G*H)): the input projection of all steps as one GEMM."""
    steps, batch = inputs.shape[0], inputs.shape[1]
    x2 = inputs.reshape(steps * batch, inputs.shape[2])  # (T*B, I); a copy only if inputs are strided
    a = torch.addmm(bias, x2, w_ih.t()) if bias is not None else torch.mm(x2, w_ih.t())  # (T*B, G*H)
    return x2, a.view(steps, batch, a.shape[1])


class ProjectedScan(torch.autograd.Function):
    """``apply(recurrence, inputs (T,B,I), w_ih (G*H,I), b_ih or None, b_fold or None, *args)``
    runs ``recurrence.apply(inputs W_ih^T + b_ih + b_fold, *args)`` as one autograd node.

    ``b_fold`` is the recurrent bias where the kernel takes it folded into the projected input
    (LSTM, original-form GRU, RNN); the reset-after GRU and the layer-normalized LSTM pass their
    biases in ``args`` instead."""

    @staticmethod
    def forward(ctx, recurrence, inputs, w_ih, b_ih, b_fold, *args):
        bias = b_ih if b_fold is None else (b_fold if b_ih is None else b_ih + b_fold)  # (G*H,) or None
        x2, projected = project(inputs, w_ih, bias)  # (T*B, I), (T, B, G*H)
        inner = _InnerContext()
        outputs = recurrence.forward(inner, projected, *args)
        saved = inner.__dict__.pop("to_save", ())
        ctx.recurrence, ctx.inner, ctx.input_shape = recurrence, inner, inputs.shape
        ctx.save_for_backward(x2, w_ih, *saved)
        return outputs

    @staticmethod
    @once_differentiable
    def backward(ctx, *grad_outputs):
        x2, w_ih, *saved = ctx.saved_tensors
        inner = ctx.inner
        inner.saved_tensors = tuple(saved)
        # The recurrence's backward is itself ``once_differentiable``; this node's wrapper has
        # already turned gradient recording off, so call the function it wraps directly.
        backward = ctx.recurrence.backward
        grads = getattr(backward, "__wrapped__", backward)(inner, *grad_outputs)
        del inner.saved_tensors
        d_projected = grads[0].reshape(x2.shape[0], w_ih.shape[0])  # (T*B, G*H)
        _, need_inputs, need_w, need_b_ih, need_b_fold = ctx.needs_input_grad[:5]
        d_inputs = d_projected.mm(w_ih).view(ctx.input_shape) if need_inputs else None
        d_w_ih = d_projected.t().mm(x2) if need_w else None
        d_bias = d_projected.sum(0) if (need_b_ih or need_b_fold) else None
        d_b_ih = d_bias if need_b_ih else None
        d_b_fold = (d_bias.clone() if need_b_ih else d_bias) if need_b_fold else None  # never one tensor for two
        return (None, d_inputs, d_w_ih, d_b_ih, d_b_fold, *grads[1:])
