"""One inference step of a cell in one C++ call, for streams (``rnnkit.layers.stream``).

A stream advances one step per call, so what costs is the number of operations per step, not
their size: ``cell.step_projected(cell.project_input(x_t), state)`` is about a dozen tensor
operations from Python. For the LSTM (stock or layer-normalized, tanh/sigmoid, no projection)
on CPU, ``lstm_step`` in ``csrc/fused.cpp`` does the two matrix products and the gate math of
one step in one call, with the equations of the sequence kernels. No autograd: a stream opened
with ``grad=True``, or any other cell, steps through the cell's own ``step_projected``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from rnnkit.kernels.extension import load_extension
from rnnkit.kernels.fused_layer_norm import LN_EPS


def step_function(cell, device: torch.device, dtype: torch.dtype) -> Optional[Callable]:
    """``step(x_t (B, I), state) -> (h_t, new_state)`` through one C++ call, or None where the
    C++ step does not serve ``cell`` (then the caller uses the cell's own step)."""
    if getattr(cell, "family", None) != "lstm" or getattr(cell, "proj_size", 0):
        return None
    if (cell.activation, cell.recurrent_activation) != ("tanh", "sigmoid"):
        return None
    if device.type != "cpu" or dtype not in (torch.float32, torch.float64):
        return None
    ext = load_extension()
    if ext is None:
        return None
    empty = torch.empty(0, dtype=dtype)
    layer_norm = getattr(cell, "layer_norm", False)
    state_type = cell.state_type

    def step(x_t: torch.Tensor, state):
        w = cell.weights()
        if layer_norm:
            params = cell._owner._parameters
            norms = (params[cell._names["ln_ih_weight"]], *cell.layer_norm_weights())
        else:
            norms = (empty, empty, empty, empty)
        h, c = ext.lstm_step(x_t.contiguous(), state.h.contiguous(), state.c.contiguous(), w.weight_ih, w.weight_hh,
                             empty if w.bias_ih is None else w.bias_ih, empty if w.bias_hh is None else w.bias_hh,
                             *norms, LN_EPS)
        return h, state_type(h, c)

    return step
