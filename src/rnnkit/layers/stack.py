"""Stacked and bidirectional layers over the one runner, and ``trace()``.

``run_stack`` feeds each layer's merged output to the next, with dropout between layers in
training mode (as torch.nn.LSTM does). Direction 0 runs forward in time, direction 1 runs each
sample backwards inside its own length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.errors import check_choice, check_probability
from rnnkit.kernels.dispatch import Choice, check_backend
from rnnkit.layers.recurrent import scan
from rnnkit.layers.stream import Stream, StreamSpec, grid_stream_spec, open_stream

MERGE_MODES = ("concat", "sum", "mul", "ave")


def merge(outputs: Sequence[torch.Tensor], mode: str) -> torch.Tensor:
    """Combine the directions' outputs (each (T, B, H)) by ``mode``."""
    if len(outputs) == 1:
        return outputs[0]
    forward, backward = outputs
    if mode == "concat":
        return torch.cat([forward, backward], dim=-1)  # (T, B, 2H)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    return (forward + backward) / 2  # ave


@dataclass
class DirectionTrace:
    """Per-step values of one layer and direction, each (T, B, H) (or (B, T, H) if batch_first).

    ``hidden``: h_t; ``cell``: c_t for LSTM, else None; ``gates``: activation of every gate by
    name (LSTM i, f, g, o; GRU r, z, n). Values at padded steps are zero.
    """

    hidden: torch.Tensor
    cell: Optional[torch.Tensor]
    gates: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Trace:
    """What ``layer.trace(x)`` returns: ``layers[layer][direction]`` is a ``DirectionTrace``;
    ``output`` and ``final_state`` equal what ``forward`` returns for the same call."""

    output: object
    final_state: object
    layers: list[list[DirectionTrace]]

    def __getitem__(self, index):
        return self.layers[index]


def run_stack(cells: list[list], x: torch.Tensor, states: Optional[list[list]], lengths: Optional[torch.Tensor], *,
              dropout: float, training: bool, merge_mode: str, backend: str, record: bool = False,
              strict: bool = False):
    """Run a grid of cells [layer][direction] over time-major x (T, B, I).

    Returns (outputs, finals [layer][direction], choices [layer][direction], traces or None).
    """
    finals, choices, traces = [], [], []
    num_layers = len(cells)
    for layer, layer_cells in enumerate(cells):
        outs, layer_finals, layer_choices, layer_traces = [], [], [], []
        for direction, cell in enumerate(layer_cells):
            state = None if states is None else states[layer][direction]
            rec = {} if record else None
            out, final, choice = scan(cell, x, state, lengths=lengths, reverse=direction == 1, backend=backend, record=rec,
                                     training=training, strict=strict)
            outs.append(out)
            layer_finals.append(final)
            layer_choices.append(choice)
            if record:
                gates = {name: rec[name] for name in cell.gate_names}
                layer_traces.append(DirectionTrace(out, rec.get("c"), gates))
        x = merge(outs, merge_mode)
        if dropout > 0 and training and layer < num_layers - 1:
            x = F.dropout(x, dropout, training=True)
        finals.append(layer_finals)
        choices.append(layer_choices)
        traces.append(layer_traces)
    return x, finals, choices, (traces if record else None)


class RecurrentLayerBase(nn.Module):
    """Shared machinery of multi-layer recurrent layers: subclasses build the cell grid and
    convert their public input/state formats in ``_prepare`` and ``_finish``."""

    batch_first: bool
    dropout: float
    merge_mode: str = "concat"

    def _setup(self, *, dropout, backend, merge_mode="concat", strict=False):
        self.dropout = check_probability(dropout, "dropout")
        self.backend = check_backend(backend)
        if not isinstance(strict, bool):
            raise TypeError(f"Received an invalid value for argument `strict`: expected a bool, got {strict!r}.")
        self.strict = strict
        self.merge_mode = check_choice(merge_mode, MERGE_MODES, "merge_mode")
        self.last_backend: Optional[list[list[Choice]]] = None

    def cell_grid(self) -> list[list]:
        raise NotImplementedError

    def _run_whole_layer(self, x, states, lengths, record):
        """A kernel that runs every layer and direction at once, as (out, finals, choices), or
        None to run cell by cell. Overridden by the torch drop-ins (the vendor backend)."""
        return None

    def _prepare(self, input, state, lengths):
        """Return (x time-major (T,B,I), states grid or None, lengths or None, context)."""
        raise NotImplementedError

    def _finish(self, output, finals, context):
        """Return the public (output, state) pair."""
        raise NotImplementedError

    def _run(self, input, state, lengths, record):
        x, states, lengths, context = self._prepare(input, state, lengths)
        whole = self._run_whole_layer(x, states, lengths, record)
        if whole is not None:
            out, finals, choices = whole
            traces = None
        else:
            out, finals, choices, traces = run_stack(
                self.cell_grid(), x, states, lengths, dropout=self.dropout, training=self.training,
                merge_mode=self.merge_mode, backend=self.backend, record=record, strict=getattr(self, "strict", False),
            )
        self.__dict__["last_backend"] = choices  # a plain attribute: skip nn.Module.__setattr__'s checks
        output, final_state = self._finish(out, finals, context)
        return output, final_state, traces, context

    def forward(self, input, state=None, *, lengths=None):
        output, final_state, _, _ = self._run(input, state, lengths, record=False)
        return output, final_state

    def stream_spec(self) -> StreamSpec:
        """The cells bottom to top, for ``rnnkit.layers.stream`` (unidirectional layers only)."""
        return grid_stream_spec(self.cell_grid(), bidirectional=bool(getattr(self, "bidirectional", False)))

    def stream(self, batch_size: int, *, grad: bool = False) -> Stream:
        """Open a ``Stream`` (on the weights' device and dtype): ``stream.step(x_t)`` runs one
        step and carries the state. See ``rnnkit.layers.stream``."""
        return open_stream(self, batch_size, grad=grad)

    def trace(self, x, state=None, lengths=None) -> Trace:
        """Run as ``forward`` does and also return every step's hidden state, cell state and
        gate activations for each layer and direction."""
        output, final_state, traces, context = self._run(x, state, lengths, record=True)
        if self.batch_first:
            for layer in traces:
                for i, item in enumerate(layer):
                    layer[i] = DirectionTrace(
                        item.hidden.transpose(0, 1),
                        None if item.cell is None else item.cell.transpose(0, 1),
                        {k: v.transpose(0, 1) for k, v in item.gates.items()},
                    )
        return Trace(output, final_state, traces)
