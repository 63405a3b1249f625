"""Streaming inference: one time step at a time, with the state carried between calls.

``stream = layer.stream(batch_size)`` opens a stream on ``rnnkit.LSTM/GRU/RNN`` or a
``RecurrentStack``; ``stream.step(x_t)`` maps (B, I) to (B, H_out) exactly as the
whole-sequence call does at step t, and carries the state to the next call::

    lstm = rnnkit.LSTM(8, 32, num_layers=2).eval()
    stream = lstm.stream(batch_size=4)
    for x_t in sensor_readings():           # each (4, 8)
        y_t = stream.step(x_t)               # (4, 32), equals lstm(x)[0][t]
        stream.reset(episode_ended)          # (4,) bool: those rows start again from zero
    saved = stream.state_dict()              # plain tensors: hand the state to another process
    other = lstm.stream(4); other.load_state_dict(saved)

A stream is inference: no dropout between layers (the layer's eval-mode behaviour) and, by
default, no autograd graph (``grad=False``), so memory per step is constant however long the
stream runs. Only unidirectional models stream: a backward direction needs the future. With
``grad=False`` an LSTM layer on CPU steps through one C++ call (``rnnkit.kernels.fused_step``);
other cells through their own ``step_projected``.

The protocol, for architectures and Keras ``stateful=True`` layers
--------------------------------------------------------------------
Anything with a method ``stream_spec() -> StreamSpec`` can be streamed with
``open_stream(module, batch_size)``. A ``StreamSpec`` lists the cells bottom to top (one
direction each; layer l + 1 reads layer l's h_t) and an optional ``head``, a callable applied
to the top layer's h_t (for example a classifier's output layer). An architecture adds::

    def stream_spec(self):
        return StreamSpec(cells=self.rnn.stream_spec().cells, embed=self.embedding, head=self.head)
    def stream(self, batch_size, **kw):
        return open_stream(self, batch_size, **kw)

A Keras ``stateful=True`` layer can keep a ``Stream`` as its state holder: ``stream.step`` per
step, ``stream.get_state()/set_state()`` for ``reset_states()`` and the saved state.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Callable, NamedTuple, Optional, Sequence

import torch

from rnnkit.errors import check_positive_int, describe
from rnnkit.kernels.fused_step import step_function
from rnnkit.layers.checks import check_state


class StreamSpec(NamedTuple):
    """What a streamable module exposes: ``cells`` bottom to top, one direction each, an
    optional ``head`` applied to the top layer's output at every step, and an optional
    ``embed`` applied to each step's input first (token ids (B,) -> (B, E) for a language model)."""

    cells: Sequence
    head: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    embed: Optional[Callable[[torch.Tensor], torch.Tensor]] = None


def _check_mask(mask, batch: int, argument: str, device) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        if isinstance(mask, (list, tuple)):
            mask = torch.tensor(mask)
        else:
            raise TypeError(f"Received an invalid value for argument `{argument}`: expected a bool tensor of shape ({batch},), got {type(mask).__name__}.")
    if mask.dtype != torch.bool:
        raise TypeError(f"Received an invalid value for argument `{argument}`: expected a bool tensor of shape ({batch},), got dtype {mask.dtype}.")
    if mask.shape != (batch,):
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected shape ({batch},) (one entry per stream row), got shape {tuple(mask.shape)}.")
    return mask.to(device).unsqueeze(1)  # (B, 1)


class Stream:
    """A running state for ``batch_size`` independent rows. See the module docstring."""

    def __init__(self, spec: StreamSpec, batch_size: int, *, grad: bool = False):
        cells = list(spec.cells)
        if not cells:
            raise ValueError("Received an invalid value for argument `spec`: expected at least one cell, got none.")
        self.cells = cells
        self.head, self.input_transform = spec.head, spec.embed
        self.batch_size = check_positive_int(batch_size, "batch_size")
        first = cells[0].weights().weight_ih
        self.device, self.dtype = first.device, first.dtype  # the stream follows the weights
        self.grad = bool(grad)
        self.input_size = cells[0].input_size
        # One C++ call per layer and step where the cell has one (inference only); else the cell's step.
        self._fast = [None if self.grad else step_function(c, self.device, self.dtype) for c in cells]
        self.steps = 0
        self.reset()

    # ---- state --------------------------------------------------------------------------
    def _zero(self) -> list:
        return [c.init_state(self.batch_size, device=self.device, dtype=self.dtype) for c in self.cells]

    def reset(self, mask=None) -> None:
        """Reset every row (``mask=None``) or the rows where the (B,) bool ``mask`` is True to
        the initial zero state."""
        if mask is None:
            self._state = self._zero()
            return
        chosen = _check_mask(mask, self.batch_size, "mask", self.device)  # (B, 1)
        self._state = [type(s)(*(torch.where(chosen, z, t) for t, z in zip(s, zero)))
                       for s, zero in zip(self._state, self._zero())]

    def get_state(self) -> list:
        """The state per layer (the cell's state NamedTuple of plain (B, ...) tensors), copied."""
        return [type(s)(*(t.detach().clone() for t in s)) for s in self._state]

    def set_state(self, state) -> None:
        """Replace the state with one of ``get_state()``'s structure (checked shapes/dtypes)."""
        if not isinstance(state, (list, tuple)) or len(state) != len(self.cells):
            got = len(state) if isinstance(state, (list, tuple)) else type(state).__name__
            raise ValueError(f"Received an invalid value for argument `state`: expected a list with one state per layer ({len(self.cells)}), got {got}.")
        zero = self._zero()
        checked = [check_state(s, z, argument=f"state[{i}]") for i, (s, z) in enumerate(zip(state, zero))]
        self._state = [type(s)(*(t.detach().clone() for t in s)) for s in checked]

    state = property(get_state, set_state)

    def state_dict(self) -> dict:
        """A flat ``{"layer{l}.{field}": tensor}`` dict (CPU copies), for safetensors/torch.save."""
        out = {}
        for layer, s in enumerate(self._state):
            for name, t in zip(s._fields, s):
                out[f"layer{layer}.{name}"] = t.detach().cpu().clone()
        return out

    def load_state_dict(self, tensors: dict) -> None:
        """Load what ``state_dict()`` wrote (possibly in another process)."""
        if not isinstance(tensors, dict):
            raise TypeError(f"Received an invalid value for argument `tensors`: expected a dict of tensors, got {type(tensors).__name__}.")
        zero = self._zero()
        expected = {f"layer{l}.{n}" for l, s in enumerate(zero) for n in s._fields}
        if set(tensors) != expected:
            raise ValueError(f"Received an invalid value for argument `tensors`: expected keys {sorted(expected)}, got {sorted(tensors)}.")
        state = [type(s)(*(tensors[f"layer{l}.{n}"].to(self.device) for n in s._fields)) for l, s in enumerate(zero)]
        self.set_state(state)

    # ---- stepping -----------------------------------------------------------------------
    def step(self, x_t: torch.Tensor, *, valid=None) -> torch.Tensor:
        """Advance one step. x_t: (B, I). Returns (B, H_out) (after ``head`` if one is set).

        ``valid`` (B,) bool, optional: rows where it is False keep their state and output zero,
        as padded steps do in the whole-sequence call with ``lengths``.
        """
        if not isinstance(x_t, torch.Tensor):
            raise TypeError(f"Received an invalid value for argument `x_t`: expected a torch.Tensor of shape ({self.batch_size}, {self.input_size}), got {type(x_t).__name__}.")
        if self.input_transform is not None:
            if x_t.dim() < 1 or x_t.shape[0] != self.batch_size:
                raise ValueError(f"Received an invalid value for argument `x_t`: expected {self.batch_size} rows (one step per stream row), got {describe(x_t)}.")
            with (nullcontext() if self.grad else torch.no_grad()):
                x_t = self.input_transform(x_t)  # (B, I)
        if x_t.dim() != 2 or x_t.shape[0] != self.batch_size:
            raise ValueError(f"Received an invalid value for argument `x_t`: expected shape ({self.batch_size}, {self.input_size}) (batch_size rows, one step), got {describe(x_t)}.")
        if x_t.shape[1] != self.input_size:
            raise ValueError(f"Received an invalid value for argument `x_t`: expected feature size input_size={self.input_size}, got {describe(x_t)}.")
        if x_t.dtype != self.dtype or x_t.device != self.device:
            raise TypeError(f"Received an invalid value for argument `x_t`: expected dtype {self.dtype} on {self.device} (the stream's), got {describe(x_t)}.")
        mask = None if valid is None else _check_mask(valid, self.batch_size, "valid", self.device)
        with (nullcontext() if self.grad else torch.no_grad()):
            h = x_t
            new_states = []
            for cell, state, fast in zip(self.cells, self._state, self._fast):
                if fast is not None:
                    h, new = fast(h, state)  # (B, H_l)
                else:
                    h, new = cell.step_projected(cell.project_input(h), state)  # (B, H_l)
                if mask is not None:
                    new = type(state)(*(torch.where(mask, n, o) for n, o in zip(new, state)))
                    h = h * mask
                new_states.append(new)
            self._state = new_states
            self.steps += 1
            return h if self.head is None else self.head(h)

    def run(self, x: torch.Tensor, *, batch_first: bool = False) -> torch.Tensor:
        """Step through a whole (T, B, I) (or (B, T, I)) chunk; returns the stacked outputs."""
        if batch_first:
            x = x.transpose(0, 1)
        out = torch.stack([self.step(x_t) for x_t in x])  # (T, B, H_out)
        return out.transpose(0, 1) if batch_first else out

    def __repr__(self) -> str:
        return f"Stream(layers={len(self.cells)}, batch_size={self.batch_size}, steps={self.steps})"


def open_stream(module, batch_size: int, *, grad: bool = False) -> Stream:
    """Open a ``Stream`` on any object that implements ``stream_spec()``."""
    spec_fn = getattr(module, "stream_spec", None)
    if spec_fn is None:
        raise TypeError(f"Received an invalid value for argument `module`: expected an object with a stream_spec() method (rnnkit recurrent layers have one), got {type(module).__name__}.")
    return Stream(spec_fn(), batch_size, grad=grad)


def grid_stream_spec(grid, *, bidirectional: bool, merge_mode: str = "concat") -> StreamSpec:
    """The spec of a [layer][direction] cell grid; bidirectional grids cannot stream."""
    if bidirectional or any(len(row) != 1 for row in grid):
        raise ValueError(
            "Received a bidirectional layer: streaming needs a unidirectional model (the backward "
            "direction reads the future, which a stream has not seen yet); build it with bidirectional=False."
        )
    return StreamSpec(cells=[row[0] for row in grid])
