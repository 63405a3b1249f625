"""Layer-normalized LSTM (Ba, Kiros and Hinton 2016, "Layer Normalization", section 3.1)."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from rnnkit.cells.base import _record
from rnnkit.cells.lstm import LSTMCell, LSTMState

EPS = 1e-5


class LayerNormLSTMCell(LSTMCell):
    r"""LSTM whose gate pre-activations and cell state are layer-normalized.

    With :math:`\mathrm{LN}(v; \gamma, \beta) = \gamma \odot (v - \mu(v)) / \sqrt{\sigma^2(v) + \epsilon} + \beta`,
    mean and (biased) variance taken over the features of ``v`` and :math:`\epsilon = 10^{-5}`:

    .. math::
        a_t &= \mathrm{LN}(W_{ih} x_t; \gamma_{ih}, 0) + b_{ih}
              + \mathrm{LN}(W_{hh} h_{t-1}; \gamma_{hh}, 0) + b_{hh}  \qquad (4H) \\
        i_t, f_t, g_t, o_t &= \sigma(a_i), \sigma(a_f), \tanh(a_g), \sigma(a_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(\mathrm{LN}(c_t; \gamma_c, \beta_c))

    These are equations (20)-(22) of Ba et al.: the input and recurrent products are
    normalized separately, over all 4H gate pre-activations at once. The paper's shifts
    :math:`\beta_1, \beta_2` of the two gate normalizations are the biases ``b_ih``, ``b_hh``
    (a separate shift would be redundant). Parameters (gains start at 1, the shift at 0):
    ``ln_ih_weight`` (4H), ``ln_hh_weight`` (4H), ``ln_c_weight`` (H), ``ln_c_bias`` (H), in
    addition to the LSTM's. ``proj_size`` is not supported.

    Example::

        cell = LayerNormLSTMCell(8, 16)
        h, (h, c) = cell.step(torch.randn(4, 8))
    """

    layer_norm = True

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, proj_size: int = 0, **kwargs):
        if proj_size:
            raise ValueError(
                f"Received an invalid value for argument `proj_size`: expected 0 with layer_norm=True "
                f"(a layer-normalized LSTM has no projection), got {proj_size}."
            )
        super().__init__(input_size, hidden_size, bias, **kwargs)

    def parameter_shapes(self):
        shapes = super().parameter_shapes()
        gh = 4 * self.hidden_size
        shapes.update(ln_ih_weight=(gh,), ln_hh_weight=(gh,), ln_c_weight=(self.hidden_size,), ln_c_bias=(self.hidden_size,))
        return shapes

    def _register(self, owner, suffix, device, dtype) -> None:
        super()._register(owner, suffix, device, dtype)
        self.reset_layer_norm()

    @torch.no_grad()
    def reset_layer_norm(self) -> None:
        """Gains to 1 and the cell-state shift to 0, as Ba et al. initialize them."""
        params = self._owner._parameters
        for name in ("ln_ih_weight", "ln_hh_weight", "ln_c_weight"):
            params[self._names[name]].fill_(1.0)
        params[self._names["ln_c_bias"]].zero_()

    def layer_norm_weights(self):
        """(gamma_hh (4H), gamma_c (H), beta_c (H)): what the recurrent kernel needs."""
        params = self._owner._parameters
        return tuple(params[self._names[n]] for n in ("ln_hh_weight", "ln_c_weight", "ln_c_bias"))

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """LN(W_ih x; gamma_ih) + b_ih for all steps at once: (..., I) -> (..., 4H)."""
        w = self.weights()
        gamma = self._owner._parameters[self._names["ln_ih_weight"]]
        projected = F.layer_norm(F.linear(x, w.weight_ih), (4 * self.hidden_size,), gamma, None, EPS)
        return projected if w.bias_ih is None else projected + w.bias_ih

    def step_projected(self, x_proj: torch.Tensor, state: LSTMState, record: Optional[dict] = None):
        w = self.weights()
        gamma_hh, gamma_c, beta_c = self.layer_norm_weights()
        recurrent = F.layer_norm(F.linear(state.h, w.weight_hh), (4 * self.hidden_size,), gamma_hh, None, EPS)
        gates = x_proj + recurrent  # (B, 4H)
        if w.bias_hh is not None:
            gates = gates + w.bias_hh
        i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
        i, f, g, o = self._ract(i), self._ract(f), self._act(g), self._ract(o)
        c = f * state.c + i * g  # (B, H)
        h = o * self._act(F.layer_norm(c, (self.hidden_size,), gamma_c, beta_c, EPS))  # (B, H)
        for name, value in zip(self.gate_names, (i, f, g, o)):
            _record(record, name, value)
        _record(record, "c", c)
        return h, LSTMState(h, c)

    def extra_repr(self) -> str:
        return super().extra_repr() + ", layer_norm=True"
