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

from rnnkit.kernels.extension import load_extension
from rnnkit.kernels.placeholders import optional as _opt


class _InnerContext:
    """The ctx handed to the recurrence's forward and backward: collects what it saves and
    keeps its other attributes (``has_bias``, ``relu``, ...)."""

    def save_for_backward(self, *tensors) -> None:
        self.to_save = tensors


def project(inputs: torch.Tensor, w_ih: torch.Tensor, bias: Optional[torch.Tensor]):
    """(X (T*B, I), A (T, B, G*H)): the input projection of all steps as one GEMM.

    The specification of ``project_forward`` in ``csrc/fused.cpp``, which ``ProjectedScan``
    calls (the same ATen calls in C++; tests compare the two bit for bit)."""
    steps, batch = inputs.shape[0], inputs.shape[1]
    x2 = inputs.reshape(steps * batch, inputs.shape[2])  # (T*B, I); a copy only if inputs are strided
    a = torch.addmm(bias, x2, w_ih.t()) if bias is not None else torch.mm(x2, w_ih.t())  # (T*B, G*H)
    return x2, a.view(steps, batch, a.shape[1])


class ProjectedScan(torch.autograd.Function):
    """``apply(recurrence, inputs (T,B,I), w_ih (G*H,I), b_ih or None, b_fold or None, *args)``
    runs ``recurrence.apply(inputs W_ih^T + b_ih + b_fold, *args)`` as one autograd node.

    ``b_fold`` is the recurrent bias where the kernel takes it folded into the projected input
    (LSTM, original-form GRU, RNN); the reset-after GRU and the layer-normalized LSTM pass their
    biases in ``args`` instead. An initial state in ``args`` may be None (zeros, built by the
    kernel). The projection and its backward are one C++ call each (``project_forward``,
    ``project_backward`` in ``csrc/fused.cpp``: the ATen calls of ``project`` above). Gradients
    of unused outputs are not materialized: the recurrence's backward gets None for them."""

    @staticmethod
    def forward(ctx, recurrence, inputs, w_ih, b_ih, b_fold, *args):
        ctx.set_materialize_grads(False)
        ext = load_extension()
        x2, projected = ext.project_forward(inputs, w_ih, _opt(b_ih, inputs), _opt(b_fold, inputs))
        inner = _InnerContext()
        outputs = recurrence.forward(inner, projected, *args)
        saved = inner.__dict__.pop("to_save", ())
        ctx.recurrence, ctx.inner = recurrence, inner
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
        needs = ctx.needs_input_grad
        d_inputs, d_w_ih, d_b_ih, d_b_fold = load_extension().project_backward(
            grads[0], x2, w_ih, *needs[1:5])
        # None where an argument needs none: an absent initial state gets no gradient.
        rest = [g if need else None for g, need in zip(grads[1:], needs[5:])]
        return (None, d_inputs, d_w_ih, d_b_ih, d_b_fold, *rest)
