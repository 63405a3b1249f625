"""Drop-in replacements for ``torch.nn.RNN``, ``torch.nn.LSTM`` and ``torch.nn.GRU``.

Same constructor arguments and defaults, same forward arguments and return types, same
``state_dict`` keys, shapes and gate orders: changing the import is enough to switch. The
extras are keyword-only: ``lengths=`` in forward (no packing or sorting needed), ``init=``,
``backend=`` and ``strict=`` (see ``rnnkit.kernels.dispatch``), ``reset_after=`` (GRU),
``activation=``/``recurrent_activation=`` (LSTM, GRU), ``layer_norm=`` (LSTM),
``recurrent_dropout=`` (LSTM, GRU), and ``trace()``.
"""

from __future__ import annotations

import numbers
import warnings

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.cells.layer_norm import LayerNormLSTMCell
from rnnkit.errors import check_nonnegative_int, check_positive_int, describe
from rnnkit.kernels.dispatch import run_layer
from rnnkit.layers.checks import check_input, check_lengths
from rnnkit.layers.init import check_init, initialize_cell
from rnnkit.layers.stack import RecurrentLayerBase


class _TorchRNNBase(RecurrentLayerBase):
    cell_class = None
    state_parts = 1  # tensors in the public hidden state: 1 (h) or 2 (h, c)

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None, *, init="torch", backend="auto",
                 cell_kwargs=None, strict=False, recurrent_dropout=0.0):
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        for name, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(value, bool):
                raise TypeError(f"Received an invalid value for argument `{name}`: expected a bool, got {value!r}.")
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.proj_size = check_nonnegative_int(proj_size, "proj_size")
        if self.proj_size >= self.hidden_size:
            raise ValueError(
                f"Received an invalid value for argument `proj_size`: expected a value smaller than "
                f"hidden_size={hidden_size}, got {proj_size}."
            )
        self._setup(dropout=dropout, backend=backend, strict=strict)
        self.recurrent_dropout = _check_recurrent_dropout(recurrent_dropout)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(
                f"dropout={dropout} and num_layers=1: dropout is applied between layers only, so it has no effect.",
                stacklevel=3,
            )
        self.init = check_init(init)
        directions = 2 if bidirectional else 1
        out_size = self.proj_size or self.hidden_size
        cells = []
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else out_size * directions
            row = []
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                row.append(self.cell_class(layer_input, self.hidden_size, bias, owner=self, suffix=suffix,
                                           device=device, dtype=dtype, **(cell_kwargs or {})))
            cells.append(row)
        for row in cells:
            for cell in row:
                cell.recurrent_dropout = self.recurrent_dropout
        self.__dict__["_cells"] = cells  # parameters live on self under torch's names
        self.reset_parameters()

    # ---- torch API ------------------------------------------------------------------------
    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def cell_grid(self):
        return self._cells

    def reset_parameters(self) -> None:
        for row in self._cells:
            for cell in row:
                initialize_cell(cell, self.init)

    def _run_whole_layer(self, x, states, lengths, record):
        return run_layer(self, x, states, lengths, backend=self.backend, training=self.training, record=record,
                         strict=self.strict)

    def flatten_parameters(self) -> None:
        """Accepted for torch compatibility; rnnkit keeps no flat weight buffer."""

    @property
    def all_weights(self):
        return [[p for p in cell.weights() if p is not None] for row in self._cells for cell in row]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False), ("proj_size", 0)):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        if self.init != "torch":
            text += f", init={self.init!r}"
        if getattr(self, "layer_norm", False):
            text += ", layer_norm=True"
        if self.recurrent_dropout:
            text += f", recurrent_dropout={self.recurrent_dropout}"
        return text

    # ---- formats --------------------------------------------------------------------------
    def _prepare(self, input, hx, lengths):
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("Received both a PackedSequence `input` and `lengths`: a packed sequence carries its own lengths; pass one or the other.")
            sorted_indices, unsorted_indices = input.sorted_indices, input.unsorted_indices
            x, lengths = pad_packed_sequence(input, batch_first=False)  # (T, B, I), original order
            check_input(x, self.input_size, argument="input")
            batched = True
        else:
            sorted_indices = unsorted_indices = None
            check_input(input, self.input_size, argument="input", ranks=(2, 3))
            batched = input.dim() == 3
            x = input if not batched else (input.transpose(0, 1) if self.batch_first else input)
            if not batched:
                x = x.unsqueeze(1)  # (T, 1, I)
        steps, batch = x.shape[0], x.shape[1]
        lengths = check_lengths(lengths, batch, steps, x.device)
        states = None if hx is None else self._split_state(hx, batch, batched, x)
        context = (packed, batched, sorted_indices, unsorted_indices, lengths)
        return x, states, lengths, context

    def _expected_state_shapes(self, batch):
        rows = self.num_layers * self.directions
        shapes = [(rows, batch, self.proj_size or self.hidden_size)]
        if self.state_parts == 2:
            shapes.append((rows, batch, self.hidden_size))
        return shapes

    def _split_state(self, hx, batch, batched, x):
        parts = hx if self.state_parts == 2 else (hx,)
        if self.state_parts == 2 and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"Received an invalid value for argument `hx`: expected a tuple (h_0, c_0), got {type(hx).__name__}.")
        shapes = self._expected_state_shapes(batch)
        tensors = []
        for name, part, shape in zip(("h_0", "c_0"), parts, shapes):
            if not isinstance(part, torch.Tensor):
                raise TypeError(f"Received an invalid value for argument `hx` ({name}): expected a tensor, got {type(part).__name__}.")
            if not batched:
                if part.dim() != 2:
                    raise ValueError(f"Received an invalid value for argument `hx` ({name}): expected a 2-D tensor for unbatched input, got {describe(part)}.")
                part = part.unsqueeze(1)
            if tuple(part.shape) != shape:
                raise ValueError(f"Received an invalid value for argument `hx` ({name}): expected shape {shape}, got shape {tuple(part.shape)}.")
            if part.device != x.device:
                raise ValueError(f"Received an invalid value for argument `hx` ({name}): expected a tensor on {x.device} (the input's device), got one on {part.device}.")
            if part.dtype != x.dtype:
                raise TypeError(f"Received an invalid value for argument `hx` ({name}): expected dtype {x.dtype} (the input's dtype), got {part.dtype}.")
            tensors.append(part)
        grid = []
        for layer, row in enumerate(self._cells):
            grid.append([
                cell.state_type(*(t[layer * self.directions + d] for t in tensors)) for d, cell in enumerate(row)
            ])
        return grid

    def _finish(self, out, finals, context):
        packed, batched, sorted_indices, unsorted_indices, lengths = context
        if len(finals) == 1 and len(finals[0]) == 1:  # one layer, one direction: a view, not a copy
            stacked = [part.unsqueeze(0) for part in finals[0][0]]
        else:
            stacked = [torch.stack([state[i] for row in finals for state in row]) for i in range(self.state_parts)]
        if packed:
            full = lengths if lengths is not None else torch.full((out.shape[1],), out.shape[0], dtype=torch.int64)
            order = sorted_indices if sorted_indices is not None else torch.arange(out.shape[1], device=out.device)
            result = pack_padded_sequence(out.index_select(1, order), full.index_select(0, order.to(full.device)).cpu(), enforce_sorted=True)
            output = PackedSequence(result.data, result.batch_sizes, sorted_indices, unsorted_indices)
        elif not batched:
            output = out.squeeze(1)
            stacked = [s.squeeze(1) for s in stacked]
        else:
            output = out.transpose(0, 1) if self.batch_first else out
        state = tuple(stacked) if self.state_parts == 2 else stacked[0]
        return output, state

    def forward(self, input, hx=None, *, lengths=None):
        """Same arguments and results as torch's layer; ``lengths`` (B,) lets padded batches run
        without packing: outputs past each length are zero and final states are taken at each
        sample's own last step."""
        return super().forward(input, hx, lengths=lengths)


class RNN(_TorchRNNBase):
    r"""Drop-in for ``torch.nn.RNN``: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""

    cell_class = RNNCell

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, *, init="torch", backend="auto",
                 strict=False):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Received an invalid value for argument `nonlinearity`: expected one of ['relu', 'tanh'], got {nonlinearity!r}."
            )
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device,
                         dtype, init=init, backend=backend, cell_kwargs={"nonlinearity": nonlinearity}, strict=strict)


class LSTM(_TorchRNNBase):
    """Drop-in for ``torch.nn.LSTM`` (gates i, f, g, o; ``proj_size`` supported). Returns
    ``(output, (h_n, c_n))``.

    ``layer_norm=True`` uses ``LayerNormLSTMCell`` (Ba et al. 2016; equations there).
    ``recurrent_dropout=p`` drops the recurrent input with one mask per sequence in training
    mode (Gal and Ghahramani 2016; see ``rnnkit.cells.recurrent_dropout``)."""

    cell_class = LSTMCell
    state_parts = 2

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None, *, init="torch", backend="auto",
                 activation="tanh", recurrent_activation="sigmoid", layer_norm=False, recurrent_dropout=0.0,
                 strict=False):
        if not isinstance(layer_norm, bool):
            raise TypeError(f"Received an invalid value for argument `layer_norm`: expected a bool, got {layer_norm!r}.")
        self.layer_norm = layer_norm
        if layer_norm:
            self.cell_class = LayerNormLSTMCell
        kwargs = {"activation": activation, "recurrent_activation": recurrent_activation}
        if isinstance(proj_size, numbers.Integral) and not isinstance(proj_size, bool) and proj_size > 0:
            kwargs["proj_size"] = int(proj_size)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
                         device, dtype, init=init, backend=backend, cell_kwargs=kwargs, strict=strict,
                         recurrent_dropout=recurrent_dropout)


class GRU(_TorchRNNBase):
    """Drop-in for ``torch.nn.GRU`` (gates r, z, n). ``reset_after=False`` selects the original
    2014 form, which ``torch.nn.GRU`` does not offer. ``recurrent_dropout=p``: see ``rnnkit.LSTM``."""

    cell_class = GRUCell

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, *, reset_after=True, init="torch", backend="auto",
                 activation="tanh", recurrent_activation="sigmoid", recurrent_dropout=0.0, strict=False):
        self.reset_after = reset_after
        kwargs = {"reset_after": reset_after, "activation": activation, "recurrent_activation": recurrent_activation}
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0, device,
                         dtype, init=init, backend=backend, cell_kwargs=kwargs, strict=strict,
                         recurrent_dropout=recurrent_dropout)


def _check_recurrent_dropout(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"Received an invalid value for argument `recurrent_dropout`: expected a number in [0, 1), got {describe(value)}."
        )
    return float(value)
