"""``RecurrentStack``: a multi-layer, optionally bidirectional recurrent layer with per-layer
hidden sizes and a choice of how the two directions merge, on any cell family."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import nn

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.errors import check_choice, check_positive_int
from rnnkit.layers.checks import check_input, check_lengths, check_state
from rnnkit.layers.init import check_init, initialize_cell
from rnnkit.layers.stack import RecurrentLayerBase

CELLS = {"lstm": LSTMCell, "gru": GRUCell, "rnn": RNNCell}


class RecurrentStack(RecurrentLayerBase):
    """Layers of ``cell`` ("lstm", "gru", "rnn" or a RecurrentCell class) of sizes ``hidden_sizes``.

    ``forward(x, state=None, *, lengths=None)`` returns ``(outputs, states)`` where ``states``
    is a list per layer of a list per direction of the cell's state NamedTuple, and the same
    structure is accepted as the initial state. Outputs of the two directions are merged by
    ``merge_mode`` ("concat", "sum", "mul" or "ave"), as Keras' Bidirectional does.

    Example::

        stack = RecurrentStack("gru", 8, [64, 32], bidirectional=True, merge_mode="sum", batch_first=True)
        out, states = stack(torch.randn(4, 20, 8), lengths=torch.tensor([20, 5, 9, 1]))  # out: (4, 20, 32)
    """

    def __init__(self, cell: Union[str, type], input_size: int, hidden_sizes: Union[int, Sequence[int]], *,
                 num_layers: Optional[int] = None, bidirectional: bool = False, merge_mode: str = "concat",
                 dropout: float = 0.0, batch_first: bool = False, bias: bool = True, init: str = "torch",
                 backend: str = "auto", device=None, dtype=None, **cell_kwargs):
        super().__init__()
        if isinstance(cell, str):
            cell = CELLS[check_choice(cell, CELLS, "cell")]
        self.input_size = check_positive_int(input_size, "input_size")
        if isinstance(hidden_sizes, (list, tuple)):
            sizes = [check_positive_int(h, "hidden_sizes") for h in hidden_sizes]
            if not sizes:
                raise ValueError("Received an invalid value for argument `hidden_sizes`: expected at least one layer, got [].")
        else:
            sizes = [check_positive_int(hidden_sizes, "hidden_sizes")] * check_positive_int(num_layers or 1, "num_layers")
        self.hidden_sizes = sizes
        self.batch_first = bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self._setup(dropout=dropout, backend=backend, merge_mode=merge_mode)
        self.init = check_init(init)
        directions = 2 if bidirectional else 1
        rows, layer_input = [], self.input_size
        for size in sizes:
            row = nn.ModuleList(cell(layer_input, size, bias, device=device, dtype=dtype, **cell_kwargs) for _ in range(directions))
            rows.append(row)
            out = row[0].output_size
            layer_input = out * directions if merge_mode == "concat" else out
        self.cells = nn.ModuleList(rows)
        self.output_size = layer_input
        self.reset_parameters()

    def cell_grid(self):
        return [list(row) for row in self.cells]

    def reset_parameters(self) -> None:
        for row in self.cells:
            for cell in row:
                initialize_cell(cell, self.init)

    def _prepare(self, input, state, lengths):
        check_input(input, self.input_size, argument="input")
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        lengths = check_lengths(lengths, x.shape[1], x.shape[0], x.device)
        states = None
        if state is not None:
            if len(state) != len(self.cells):
                raise ValueError(f"Received an invalid value for argument `state`: expected one entry per layer ({len(self.cells)}), got {len(state)}.")
            states = []
            for row, given in zip(self.cells, state):
                given = list(given)
                if len(given) != len(row):
                    raise ValueError(f"Received an invalid value for argument `state`: expected one state per direction ({len(row)}), got {len(given)}.")
                states.append([check_state(s, c.init_state(x.shape[1], device=x.device, dtype=x.dtype)) for c, s in zip(row, given)])
        return x, states, lengths, None

    def _finish(self, out, finals, context):
        return (out.transpose(0, 1) if self.batch_first else out), finals
