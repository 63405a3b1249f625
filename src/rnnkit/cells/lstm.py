"""The long short-term memory cell (Hochreiter and Schmidhuber 1997, with forget gate)."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

from rnnkit.cells.activations import activation_name, get_activation
from rnnkit.cells.base import RecurrentCell, _record
from rnnkit.errors import check_nonnegative_int


class LSTMState(NamedTuple):
    h: torch.Tensor  # (B, P) with a projection, else (B, H)
    c: torch.Tensor  # (B, H)


class LSTMCell(RecurrentCell):
    r"""LSTM cell with gates in PyTorch's order i, f, g, o.

    .. math::
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)

    ``recurrent_activation`` replaces sigma and ``activation`` replaces tanh (Keras names).
    With ``proj_size > 0``, ``h_t = W_{hr} (o_t \odot \tanh(c_t))`` as in ``torch.nn.LSTM``.

    Example::

        cell = LSTMCell(8, 16)
        h, (h, c) = cell.step(torch.randn(4, 8))
    """

    num_blocks = 4
    gate_names = ("i", "f", "g", "o")
    state_type = LSTMState
    family = "lstm"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        proj_size: int = 0,
        activation="tanh",
        recurrent_activation="sigmoid",
        **kwargs,
    ):
        self.proj_size = check_nonnegative_int(proj_size, "proj_size")
        if self.proj_size and isinstance(hidden_size, int) and self.proj_size >= hidden_size:
            raise ValueError(
                f"Received an invalid value for argument `proj_size`: expected a value smaller "
                f"than hidden_size={hidden_size}, got {proj_size}."
            )
        self._act = get_activation(activation, argument="activation")
        self._ract = get_activation(recurrent_activation, argument="recurrent_activation")
        self.activation = activation_name(activation)
        self.recurrent_activation = activation_name(recurrent_activation)
        super().__init__(input_size, hidden_size, bias, **kwargs)

    @property
    def output_size(self) -> int:
        return self.proj_size or self.hidden_size

    def parameter_shapes(self):
        shapes = super().parameter_shapes()
        if self.proj_size:
            shapes["weight_hr"] = (self.proj_size, self.hidden_size)
        return shapes

    def init_state(self, batch: int, *, device=None, dtype=None) -> LSTMState:
        return LSTMState(
            torch.zeros(batch, self.output_size, device=device, dtype=dtype),
            torch.zeros(batch, self.hidden_size, device=device, dtype=dtype),
        )

    def step_projected(self, x_proj: torch.Tensor, state: LSTMState, record: Optional[dict] = None):
        w = self.weights()
        gates = x_proj + F.linear(state.h, w.weight_hh, w.bias_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
        i, f, g, o = self._ract(i), self._ract(f), self._act(g), self._ract(o)
        c = f * state.c + i * g  # (B, H)
        h = o * self._act(c)  # (B, H)
        if w.weight_hr is not None:
            h = F.linear(h, w.weight_hr)  # (B, P)
        for name, value in zip(self.gate_names, (i, f, g, o)):
            _record(record, name, value)
        _record(record, "c", c)
        return h, LSTMState(h, c)

    def extra_repr(self) -> str:
        extra = super().extra_repr()
        if self.proj_size:
            extra += f", proj_size={self.proj_size}"
        if (self.activation, self.recurrent_activation) != ("tanh", "sigmoid"):
            extra += f", activation={self.activation!r}, recurrent_activation={self.recurrent_activation!r}"
        return extra
