"""The simple (Elman) recurrent cell."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

from rnnkit.cells.activations import get_activation
from rnnkit.cells.base import RecurrentCell
from rnnkit.errors import check_choice


class RNNState(NamedTuple):
    h: torch.Tensor  # (B, H)


class RNNCell(RecurrentCell):
    r"""Elman recurrent cell.

    .. math::
        h_t = \mathrm{act}(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})

    with ``act`` tanh (default) or relu, as ``torch.nn.RNNCell``.

    Example::

        cell = RNNCell(8, 16)
        h, state = cell.step(torch.randn(4, 8))   # h: (4, 16)
    """

    num_blocks = 1
    gate_names = ()
    state_type = RNNState
    family = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", **kwargs):
        check_choice(nonlinearity, ("tanh", "relu"), "nonlinearity")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, **kwargs)
        self._act = get_activation(nonlinearity, argument="nonlinearity")

    def init_state(self, batch: int, *, device=None, dtype=None) -> RNNState:
        return RNNState(torch.zeros(batch, self.hidden_size, device=device, dtype=dtype))

    def step_projected(self, x_proj: torch.Tensor, state: RNNState, record: Optional[dict] = None):
        w = self.weights()
        h = self._act(x_proj + F.linear(state.h, w.weight_hh, w.bias_hh))  # (B, H)
        return h, RNNState(h)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", nonlinearity={self.nonlinearity!r}"
