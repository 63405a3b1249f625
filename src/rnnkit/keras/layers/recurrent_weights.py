"""Keras <-> torch layouts of recurrent weights.

Keras keeps ``kernel`` (F, G*H), ``recurrent_kernel`` (H, G*H) and one ``bias``; torch (and
rnnkit) keep ``weight_ih`` (G*H, F), ``weight_hh`` (G*H, H), ``bias_ih`` and ``bias_hh``.
Gate orders: LSTM i, f, c, o in both; GRU z, r, h in Keras against r, z, n in torch.

Keras has a single bias where only one is needed (SimpleRNN, LSTM, GRU with
``reset_after=False``): there rnnkit's ``bias_hh`` is held at zero and frozen, so the layer
has exactly Keras' parameters. A GRU with ``reset_after=True`` has Keras bias (2, 3H):
row 0 the input bias, row 1 the recurrent bias.
"""

from __future__ import annotations

import torch


def gate_order(family: str, blocks: int) -> list[int]:
    """Torch block index for each Keras block (its own inverse)."""
    return [1, 0, 2] if family == "gru" else list(range(blocks))


def _reorder(t: torch.Tensor, order: list[int], hidden: int) -> torch.Tensor:
    return torch.cat([t[k * hidden:(k + 1) * hidden] for k in order], dim=0)


def keras_shapes(family: str, blocks: int, features: int, units: int, use_bias: bool, reset_after: bool):
    shapes = [("kernel", (features, blocks * units)), ("recurrent_kernel", (units, blocks * units))]
    if use_bias:
        two = family == "gru" and reset_after
        shapes.append(("bias", (2, blocks * units) if two else (blocks * units,)))
    return shapes


def two_biases(family: str, reset_after: bool) -> bool:
    return family == "gru" and reset_after


def to_keras(cell, reset_after: bool) -> list[torch.Tensor]:
    """The cell's weights as Keras arrays [kernel, recurrent_kernel, (bias)]."""
    w, hidden = cell.weights(), cell.hidden_size
    order = gate_order(cell.family, cell.num_blocks)
    out = [_reorder(w.weight_ih, order, hidden).T, _reorder(w.weight_hh, order, hidden).T]
    if w.bias_ih is not None:
        b_in = _reorder(w.bias_ih, order, hidden)
        if two_biases(cell.family, reset_after):
            out.append(torch.stack([b_in, _reorder(w.bias_hh, order, hidden)]))
        else:
            out.append(b_in + _reorder(w.bias_hh, order, hidden))
    return out


@torch.no_grad()
def from_keras(cell, arrays: list[torch.Tensor], reset_after: bool) -> None:
    """Copy Keras arrays [kernel, recurrent_kernel, (bias)] (shapes already checked) into the cell."""
    w, hidden = cell.weights(), cell.hidden_size
    order = gate_order(cell.family, cell.num_blocks)
    w.weight_ih.copy_(_reorder(arrays[0].T, order, hidden))
    w.weight_hh.copy_(_reorder(arrays[1].T, order, hidden))
    if w.bias_ih is not None:
        bias = arrays[2]
        if two_biases(cell.family, reset_after):
            w.bias_ih.copy_(_reorder(bias[0], order, hidden))
            w.bias_hh.copy_(_reorder(bias[1], order, hidden))
        else:
            w.bias_ih.copy_(_reorder(bias, order, hidden))
            w.bias_hh.zero_()


def freeze_unused_bias(cell, reset_after: bool) -> None:
    """Hold bias_hh at zero where Keras has a single bias; where Keras has the (2, 3H) GRU bias,
    mark both tensors as one Keras weight (for Keras' per-weight clipnorm)."""
    w = cell.weights()
    if w.bias_hh is not None and two_biases(cell.family, reset_after):
        w.bias_ih.keras_group = w.bias_hh.keras_group = ("bias", id(cell))
    if w.bias_hh is not None and not two_biases(cell.family, reset_after):
        with torch.no_grad():
            w.bias_hh.zero_()
        w.bias_hh.requires_grad_(False)
        w.bias_hh.keras_frozen = True  # stays frozen when the layer is made trainable


@torch.no_grad()
def initialize(cell, kernel_init, recurrent_init, bias_init, *, unit_forget_bias: bool, reset_after: bool) -> None:
    """Draw Keras-shaped weights with Keras initializers and copy them in."""
    hidden, blocks, features = cell.hidden_size, cell.num_blocks, cell.input_size
    arrays = [kernel_init((features, blocks * hidden)), recurrent_init((hidden, blocks * hidden))]
    if cell.weights().bias_ih is not None:
        if cell.family == "lstm" and unit_forget_bias:
            b = torch.cat([bias_init((hidden,)), torch.ones(hidden), bias_init((2 * hidden,))])
        elif two_biases(cell.family, reset_after):
            b = bias_init((2, blocks * hidden))
        else:
            b = bias_init((blocks * hidden,))
        arrays.append(b)
    from_keras(cell, [a.float() for a in arrays], reset_after)
