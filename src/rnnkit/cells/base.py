"""The cell contract: one step of a recurrent network, written from its equations.

A cell computes ``h_t, state_t = step(x_t, state_{t-1})``. Sequences are run by the one
runner in ``rnnkit.layers.recurrent``; no cell writes its own loop over time.

The input projection ``W_ih x_t + b_ih`` does not depend on the state, so the runner computes
it for all time steps in one matrix multiply (``project_input``) and then calls
``step_projected`` once per step, which does the one recurrent matrix multiply.

Parameters use PyTorch's names and gate orders (``weight_ih``, ``weight_hh``, ``bias_ih``,
``bias_hh``; LSTM ``i, f, g, o``; GRU ``r, z, n``). A standalone cell owns its parameters, so
its ``state_dict`` matches ``torch.nn.LSTMCell``/``GRUCell``/``RNNCell``. A cell built for a
multi-layer layer registers its parameters on that layer instead, under torch's layer names
(``weight_ih_l0_reverse``), so the layer's ``state_dict`` matches ``torch.nn.LSTM``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import nn

from rnnkit.errors import check_positive_int


class CellWeights(NamedTuple):
    weight_ih: torch.Tensor  # (G*H, I)
    weight_hh: torch.Tensor  # (G*H, H_out)
    bias_ih: Optional[torch.Tensor]  # (G*H,)
    bias_hh: Optional[torch.Tensor]  # (G*H,)
    weight_hr: Optional[torch.Tensor] = None  # (P, H), LSTM projection only


class RecurrentCell(nn.Module):
    """Base class of all cells.

    Subclasses set ``num_blocks`` (how many H-sized blocks the weight matrices stack: 1 for a
    simple RNN, 4 for LSTM, 3 for GRU), ``gate_names`` (what ``trace`` records), ``state_type``
    and implement ``step_projected``.
    """

    num_blocks: int = 1
    gate_names: tuple[str, ...] = ()
    state_type: type = tuple
    family: str = "cell"
    # Defaults of options only some cells have. The kernels ask for them on every call, and a
    # missing attribute on an nn.Module costs an AttributeError with a formatted message
    # (microseconds each, several per layer call at batch 1).
    layer_norm: bool = False
    proj_size: int = 0
    recurrent_dropout: float = 0.0

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        owner: Optional[nn.Module] = None,
        suffix: str = "",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        if not isinstance(bias, bool):
            raise TypeError(f"Received an invalid value for argument `bias`: expected a bool, got {bias!r}.")
        self.bias = bias
        self._register(owner, suffix, device, dtype)

    # ---- parameters -------------------------------------------------------------------
    @property
    def output_size(self) -> int:
        """Size of h_t (the LSTM projection size when one is used)."""
        return self.hidden_size

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        gh = self.num_blocks * self.hidden_size
        shapes = {
            "weight_ih": (gh, self.input_size),
            "weight_hh": (gh, self.output_size),
        }
        if self.bias:
            shapes["bias_ih"] = (gh,)
            shapes["bias_hh"] = (gh,)
        return shapes

    def _register(self, owner, suffix, device, dtype) -> None:
        target = self if owner is None else owner
        names = {}
        for name, shape in self.parameter_shapes().items():
            full = name if owner is None else f"{name}{suffix}"
            target.register_parameter(full, nn.Parameter(torch.empty(shape, device=device, dtype=dtype)))
            names[name] = full
        # Plain attributes, not submodules: the owner may be this very module.
        self.__dict__["_owner"] = target
        self.__dict__["_names"] = names
        if owner is None:
            self.reset_parameters()

    def weights(self) -> CellWeights:
        """The cell's parameters, looked up in whichever module owns them."""
        # Called on every layer call by the kernels, so written out rather than looped over
        # (about a microsecond a call less); an absent name (no bias, no projection) gives None.
        params, names = self._owner._parameters, self._names
        bias_ih, bias_hh = names.get("bias_ih"), names.get("bias_hh")
        weight_hr = names.get("weight_hr")
        return CellWeights(params[names["weight_ih"]], params[names["weight_hh"]],
                           None if bias_ih is None else params[bias_ih],
                           None if bias_hh is None else params[bias_hh],
                           None if weight_hr is None else params[weight_hr])

    def parameter_names(self) -> dict[str, str]:
        """Map from the cell's parameter names to the names they have in their owner."""
        return dict(self._names)

    def reset_parameters(self) -> None:
        """PyTorch's default: every weight and bias from U(-1/sqrt(H), 1/sqrt(H))."""
        from rnnkit.layers.init import initialize_cell

        initialize_cell(self, "torch")

    # ---- the step -----------------------------------------------------------------------
    def init_state(self, batch: int, *, device=None, dtype=None):
        """A zero state for ``batch`` samples."""
        raise NotImplementedError

    def project_input(self, x: torch.Tensor) -> torch.Tensor:
        """W_ih x + b_ih for any leading shape: (..., I) -> (..., G*H). One matrix multiply."""
        w = self.weights()
        return torch.nn.functional.linear(x, w.weight_ih, w.bias_ih)

    def step_projected(self, x_proj: torch.Tensor, state, record: Optional[dict] = None):
        """One step given the projected input (B, G*H). Returns (h_t, new_state).

        When ``record`` is a dict, every gate activation is appended to ``record[name]``.
        """
        raise NotImplementedError

    def step(self, x_t: torch.Tensor, state=None):
        """One step from the raw input (B, I). Returns (h_t, new_state)."""
        if state is None:
            state = self.init_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        return self.step_projected(self.project_input(x_t), state)

    def forward(self, x_t: torch.Tensor, state=None):
        return self.step(x_t, state)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"


def _record(record: Optional[dict], name: str, value: torch.Tensor) -> None:
    if record is not None:
        record.setdefault(name, []).append(value)
