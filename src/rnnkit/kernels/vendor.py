"""The ``vendor`` backend: torch's own multi-layer kernels (``torch._VF.lstm``, ``gru``,
``rnn_tanh``, ``rnn_relu``; oneDNN on CPU, cuDNN on GPU) for a whole ``rnnkit.LSTM/GRU/RNN``.

It runs only where its math is identical to rnnkit's cells: stock activations, the
reset-after GRU, no layer norm, no recurrent dropout in training, outputs of two directions
concatenated. Lengths are served by packing (``enforce_sorted=False``), which gives exactly
rnnkit's padding contract: zero outputs past each length and final states at each sample's
own last step.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def unsupported_reason(layer, x: torch.Tensor, training: bool) -> Optional[str]:
    """Why torch's kernel cannot run ``layer`` exactly, or None when it can."""
    cell = layer.cell_grid()[0][0]
    family = cell.family
    if getattr(cell, "layer_norm", False):
        return "layer_norm=True has no torch kernel"
    if training and getattr(cell, "recurrent_dropout", 0.0) > 0:
        return "recurrent dropout in training mode has no torch kernel"
    if family in ("lstm", "gru") and (cell.activation, cell.recurrent_activation) != ("tanh", "sigmoid"):
        return "torch's kernel has only the tanh/sigmoid activations"
    if family == "gru" and not cell.reset_after:
        return "torch's GRU kernel has only reset_after=True"
    if getattr(layer, "merge_mode", "concat") != "concat":
        return "torch's kernel only concatenates the two directions"
    if x.dtype not in (torch.float32, torch.float64) and x.device.type == "cpu":
        return f"torch's CPU kernel is not used for {x.dtype}"
    return None


def _flat_weights(layer) -> list:
    weights = []
    for row in layer.cell_grid():
        for cell in row:
            weights.extend(t for t in cell.weights() if t is not None)
    return weights


def _initial_state(layer, states, x):
    """Stack the [layer][direction] states into torch's (L*D, B, H) tensors."""
    batch = x.shape[1]
    if states is None:
        parts = [cell.init_state(batch, device=x.device, dtype=x.dtype) for row in layer.cell_grid() for cell in row]
    else:
        parts = [state for row in states for state in row]
    return [torch.stack([p[i] for p in parts]) for i in range(len(parts[0]))]


def run_vendor(layer, x: torch.Tensor, states, lengths: Optional[torch.Tensor], training: bool):
    """Run the whole layer on torch's kernel. x: (T, B, I) time-major.

    Returns (output (T, B, D*H), finals [layer][direction] of state NamedTuples).
    """
    cell = layer.cell_grid()[0][0]
    family = cell.family
    hx = _initial_state(layer, states, x)
    args = (_flat_weights(layer), layer.bias, layer.num_layers, float(layer.dropout), bool(training), layer.bidirectional)
    kernel = {"lstm": torch._VF.lstm, "gru": torch._VF.gru}.get(family)
    if kernel is None:
        kernel = torch._VF.rnn_relu if cell.nonlinearity == "relu" else torch._VF.rnn_tanh
    state_in = tuple(hx) if family == "lstm" else hx[0]
    if lengths is None:
        result = kernel(x, state_in, *args, False)
        output, finals = result[0], list(result[1:])
    else:
        packed = pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False)
        order, unorder = packed.sorted_indices, packed.unsorted_indices
        state_in = tuple(h.index_select(1, order) for h in hx) if family == "lstm" else hx[0].index_select(1, order)
        result = kernel(packed.data, packed.batch_sizes, state_in, *args)
        out_packed = type(packed)(result[0], packed.batch_sizes, order, unorder)
        output, _ = pad_packed_sequence(out_packed, total_length=x.shape[0])  # (T, B, D*H), zeros past lengths
        finals = [h.index_select(1, unorder) for h in result[1:]]
    grid = []
    directions = 2 if layer.bidirectional else 1
    for index, row in enumerate(layer.cell_grid()):
        grid.append([c.state_type(*(f[index * directions + d] for f in finals)) for d, c in enumerate(row)])
    return output, grid
