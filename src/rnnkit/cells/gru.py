"""The gated recurrent unit (Cho et al. 2014), in both of its forms."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F

from rnnkit.cells.activations import activation_name, get_activation
from rnnkit.cells.base import RecurrentCell, _record


class GRUState(NamedTuple):
    h: torch.Tensor  # (B, H)


class GRUCell(RecurrentCell):
    r"""GRU cell with gates in PyTorch's order r, z, n.

    ``reset_after=True`` (PyTorch, cuDNN, the Keras 3 default) applies the reset gate after
    the recurrent matrix multiply:

    .. math::
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    ``reset_after=False`` is the original 2014 form found in textbooks, where the reset gate
    scales the state before the multiply, so the candidate needs its own recurrent product:

    .. math::
        n_t = \tanh(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn})

    Example::

        cell = GRUCell(8, 16, reset_after=False)
        h, state = cell.step(torch.randn(4, 8))
    """

    num_blocks = 3
    gate_names = ("r", "z", "n")
    state_type = GRUState
    family = "gru"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        reset_after: bool = True,
        activation="tanh",
        recurrent_activation="sigmoid",
        **kwargs,
    ):
        if not isinstance(reset_after, bool):
            raise TypeError(
                f"Received an invalid value for argument `reset_after`: expected a bool, got {reset_after!r}."
            )
        self.reset_after = reset_after
        self._act = get_activation(activation, argument="activation")
        self._ract = get_activation(recurrent_activation, argument="recurrent_activation")
        self.activation = activation_name(activation)
        self.recurrent_activation = activation_name(recurrent_activation)
        super().__init__(input_size, hidden_size, bias, **kwargs)

    def init_state(self, batch: int, *, device=None, dtype=None) -> GRUState:
        return GRUState(torch.zeros(batch, self.hidden_size, device=device, dtype=dtype))

    def step_projected(self, x_proj: torch.Tensor, state: GRUState, record: Optional[dict] = None):
        return self.step_masked(x_proj, state, None, record)

    def step_masked(self, x_proj: torch.Tensor, state: GRUState, mask: Optional[torch.Tensor],
                    record: Optional[dict] = None):
        """``step_projected`` with h_{t-1} multiplied by ``mask`` (B, H) where it enters the
        recurrent products (recurrent dropout); the carry term z * h_{t-1} keeps the unmasked
        state, as in Keras."""
        w = self.weights()
        hidden = self.hidden_size
        h_prev = state.h
        h_in = h_prev if mask is None else h_prev * mask  # (B, H)
        x_r, x_z, x_n = x_proj.chunk(3, dim=1)  # each (B, H)
        if self.reset_after:
            h_r, h_z, h_n = F.linear(h_in, w.weight_hh, w.bias_hh).chunk(3, dim=1)
            r = self._ract(x_r + h_r)
            z = self._ract(x_z + h_z)
            n = self._act(x_n + r * h_n)
        else:
            b_rz = None if w.bias_hh is None else w.bias_hh[: 2 * hidden]
            b_n = None if w.bias_hh is None else w.bias_hh[2 * hidden :]
            h_r, h_z = F.linear(h_in, w.weight_hh[: 2 * hidden], b_rz).chunk(2, dim=1)
            r = self._ract(x_r + h_r)
            z = self._ract(x_z + h_z)
            n = self._act(x_n + F.linear(r * h_in, w.weight_hh[2 * hidden :], b_n))
        h = (1 - z) * n + z * h_prev  # (B, H)
        for name, value in zip(self.gate_names, (r, z, n)):
            _record(record, name, value)
        return h, GRUState(h)

    def extra_repr(self) -> str:
        extra = super().extra_repr() + f", reset_after={self.reset_after}"
        if (self.activation, self.recurrent_activation) != ("tanh", "sigmoid"):
            extra += f", activation={self.activation!r}, recurrent_activation={self.recurrent_activation!r}"
        return extra
