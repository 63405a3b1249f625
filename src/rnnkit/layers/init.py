"""Named initialization schemes for recurrent weights.

``torch``             every weight and bias from U(-1/sqrt(H), 1/sqrt(H)), as torch.nn.LSTM.
``xavier_uniform``    Glorot uniform input and recurrent weights, zero biases
                      (alias ``glorot_uniform``).
``he_uniform``        He (Kaiming) uniform input and recurrent weights, zero biases
                      (``he_normal`` draws from the normal distribution instead).
``orthogonal``        Glorot uniform input weights, an orthogonal recurrent matrix, zero biases
                      (Saxe et al. 2014; the Keras default for recurrent layers).
``forget_bias``       torch's default, then the LSTM forget-gate bias set to 1.0
                      (Jozefowicz et al. 2015).
``keras``             ``orthogonal`` plus forget-gate bias 1.0: Keras' LSTM defaults
                      (glorot_uniform kernel, orthogonal recurrent kernel, unit_forget_bias).

Glorot and orthogonal draws are made on the whole (G*H, fan_in) matrix, as Keras draws its
kernel, so a model initialized here has the same distribution as its Keras twin.
"""

from __future__ import annotations

import math

import torch
from torch import nn

INIT_SCHEMES = ("torch", "xavier_uniform", "glorot_uniform", "he_uniform", "he_normal", "orthogonal", "forget_bias", "keras")


def check_init(name) -> str:
    if not isinstance(name, str) or name not in INIT_SCHEMES:
        raise ValueError(
            f"Received an invalid value for argument `init`: expected one of {list(INIT_SCHEMES)}, got {name!r}."
        )
    return name


@torch.no_grad()
def initialize_cell(cell, scheme: str = "torch") -> None:
    """Initialize one cell's parameters in place by a named scheme."""
    check_init(scheme)
    w = cell.weights()
    if scheme in ("torch", "forget_bias"):
        bound = 1.0 / math.sqrt(cell.hidden_size)
        for tensor in w:
            if tensor is not None:
                nn.init.uniform_(tensor, -bound, bound)
    else:
        if scheme in ("xavier_uniform", "glorot_uniform"):
            nn.init.xavier_uniform_(w.weight_ih)
            nn.init.xavier_uniform_(w.weight_hh)
        elif scheme == "he_uniform":
            nn.init.kaiming_uniform_(w.weight_ih, nonlinearity="relu")
            nn.init.kaiming_uniform_(w.weight_hh, nonlinearity="relu")
        elif scheme == "he_normal":
            nn.init.kaiming_normal_(w.weight_ih, nonlinearity="relu")
            nn.init.kaiming_normal_(w.weight_hh, nonlinearity="relu")
        else:  # orthogonal, keras
            nn.init.xavier_uniform_(w.weight_ih)
            nn.init.orthogonal_(w.weight_hh)
        if w.weight_hr is not None:
            nn.init.xavier_uniform_(w.weight_hr)
        for bias in (w.bias_ih, w.bias_hh):
            if bias is not None:
                bias.zero_()
    if scheme in ("forget_bias", "keras") and cell.family == "lstm" and w.bias_ih is not None:
        hidden = cell.hidden_size
        # The two biases are summed, so the forget gate's total bias is set on one of them.
        w.bias_ih[hidden : 2 * hidden] = 1.0
        w.bias_hh[hidden : 2 * hidden] = 0.0
