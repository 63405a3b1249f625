"""The ``fused`` backend's inference path (CPU): the forward pass alone, where no gradient can flow.

The training Functions (``kernels/fused.py``, ``kernels/fused_layer_norm.py``) take the input
projections of all steps at once, (T, B, G*H), and save every state and gate activation for
the backward pass. Inference needs neither. ``lstm_infer`` and ``gru_infer``
(``csrc/inference.h``) take the raw inputs (T, B, I) and the weights, compute the input
projections K steps at a time into one buffer that stays in cache, interleaved with the
recurrence, and save nothing: the output (T, B, H) is the only large allocation. The math per
step is the training kernels' own (same row functions), so the results are the same numbers.

Why it matters (LSTM, B64 H256 T200, float32): the training forward allocates and touches
W_ih x (52 MB), that plus b_hh (52 MB) and the gate activations (52 MB); buffers that size are
fresh mmap'ed memory on every call (glibc's mmap threshold is 32 MB at most), paid for with a
page fault per 4 KiB page, and they leave every cache. See ``benchmarks/speed.md``.

The layer-normalized LSTM, both GRU forms and the stock LSTM (which ``auto`` sends here where
oneDNN is not faster) are served; the simple RNN keeps the training kernel's forward.
"""

from __future__ import annotations

from typing import Optional

import torch

from rnnkit.kernels.extension import load_extension
from rnnkit.kernels.placeholders import optional as _opt
from rnnkit.kernels.placeholders import optional_mask

LN_EPS = 1e-5  # the epsilon of torch.nn.functional.layer_norm, as in kernels/fused_layer_norm.py
AUTO_BLOCK = 0  # block_steps=0: the C++ side picks K so that a block's rows fit in 256 KiB


def serves(cell) -> bool:
    """Whether this path has a kernel for ``cell`` (one ``unsupported_reason`` already accepted)."""
    return cell.family in ("lstm", "gru")


def _tensors(cell, inputs: torch.Tensor, state, w) -> list:
    """Every tensor the forward reads: inputs, state (None: zeros), weights ``w`` (and the
    layer-norm gains)."""
    found = [inputs, *(state or ()), w.weight_ih, w.weight_hh, w.bias_ih, w.bias_hh]
    if getattr(cell, "layer_norm", False):
        found += [cell._owner._parameters[cell._names["ln_ih_weight"]], *cell.layer_norm_weights()]
    return [t for t in found if t is not None]


def gradient_can_flow(cell, inputs: torch.Tensor, state, weights=None) -> bool:
    """False under ``torch.no_grad()`` or when nothing the forward reads requires a gradient:
    then the forward alone is the whole computation and nothing needs to be saved.
    ``weights``: ``cell.weights()`` where the caller has it already."""
    if not torch.is_grad_enabled():  # inference: nothing more to look at
        return False
    w = cell.weights() if weights is None else weights
    return any(t.requires_grad for t in _tensors(cell, inputs, state, w))


def scan_inference(cell, inputs: torch.Tensor, state, mask: Optional[torch.Tensor], dmask: Optional[torch.Tensor],
                   block_steps: int = AUTO_BLOCK, *, weights=None):
    """Run an LSTM (stock or layer-normalized) or GRU cell over raw time-major ``inputs``
    (T, B, I) without saving anything for a backward pass.

    mask: (T, B) bool or None; dmask: (B, H) recurrent-dropout mask or None; block_steps: the
    steps per input-projection block (0: chosen by the kernel); weights: ``cell.weights()``
    where the caller has it already. Returns (outputs (T, B, H), final state as
    ``cell.state_type``).
    """
    if not isinstance(block_steps, int) or isinstance(block_steps, bool) or block_steps < 0:
        raise ValueError(f"Received an invalid value for argument `block_steps`: expected an integer >= 0 "
                         f"(0 picks it automatically), got {block_steps!r}.")
    ext = load_extension()
    w = cell.weights() if weights is None else weights
    x = inputs.contiguous()  # (T, B, I)
    mask_t, dmask_t = optional_mask(mask), _opt(dmask, x)
    w_ih, w_hh = w.weight_ih.contiguous(), w.weight_hh.contiguous()
    if cell.family == "lstm":
        if getattr(cell, "layer_norm", False):
            ln_ih = cell._owner._parameters[cell._names["ln_ih_weight"]]
            ln = [ln_ih, *cell.layer_norm_weights()]  # gamma_ih, gamma_hh, gamma_c, beta_c
        else:
            ln = [None] * 4
        ln_ih, ln_hh, lnc_g, lnc_b = (_opt(t, x) for t in ln)
        out, h, c = ext.lstm_infer(x, state.h.contiguous(), state.c.contiguous(), w_ih, w_hh, _opt(w.bias_ih, x),
                                   _opt(w.bias_hh, x), ln_ih, ln_hh, lnc_g, lnc_b, mask_t, dmask_t, LN_EPS, block_steps)
        return out, cell.state_type(h, c)
    if cell.family == "gru":
        out, h = ext.gru_infer(x, state.h.contiguous(), w_ih, w_hh, _opt(w.bias_ih, x), _opt(w.bias_hh, x),
                               bool(cell.reset_after), mask_t, dmask_t, block_steps)
        return out, cell.state_type(h)
    raise ValueError(f"scan_inference has no kernel for cell family {cell.family!r}; expected 'lstm' or 'gru'.")
