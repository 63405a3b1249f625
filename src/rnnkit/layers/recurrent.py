"""The one runner that executes any cell over a sequence.

Lengths need no sorting: at steps past a sample's length the state is carried unchanged and
the output is zero, so the final state is the state at the sample's own last valid step. The
reverse direction reverses each sample inside its own length, so a padded sample sees its
last valid step first, exactly as torch does with a packed sequence.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from rnnkit.kernels.dispatch import Choice, run_cell


def valid_mask(lengths: Optional[torch.Tensor], steps: int) -> Optional[torch.Tensor]:
    """(T, B, 1) bool mask of valid steps, or None when there are no lengths."""
    if lengths is None:
        return None
    time = torch.arange(steps, device=lengths.device).unsqueeze(1)  # (T, 1)
    return (time < lengths.unsqueeze(0)).unsqueeze(-1)  # (T, B, 1)


def reverse_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(T, B) index that reverses each sample within its length and leaves padding in place."""
    time = torch.arange(steps, device=lengths.device).unsqueeze(1)  # (T, 1)
    flipped = lengths.unsqueeze(0) - 1 - time  # (T, B)
    return torch.where(flipped >= 0, flipped, time.expand_as(flipped))


def reverse_sequences(x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
    """Reverse time-major x (T, B, ...) within each sample's length. It is its own inverse."""
    if lengths is None:
        return x.flip(0)
    index = reverse_index(lengths, x.shape[0])  # (T, B)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)


def scan(cell, inputs: torch.Tensor, state=None, *, lengths: Optional[torch.Tensor] = None,
         reverse: bool = False, backend: str = "auto", record: Optional[dict] = None, training: bool = False,
         strict: bool = False):
    """Run ``cell`` over time-major ``inputs`` (T, B, I).

    Returns (outputs (T, B, H_out), final_state, Choice). ``lengths`` is a (B,) int64 tensor
    on the inputs' device or None; ``state`` None starts from the cell's zero state.
    ``record`` (a dict) collects per-step gate activations in
    original time order, zero at padded steps. ``training`` turns on a cell's recurrent
    dropout; ``strict`` raises instead of falling back to the reference backend.
    """
    steps = inputs.shape[0]
    if reverse:
        inputs = reverse_sequences(inputs, lengths)
    mask = valid_mask(lengths, steps)
    raw = {} if record is not None else None
    outputs, final, choice = run_cell(cell, inputs, state, mask, backend=backend, record=raw,
                                      training=training, strict=strict)
    if reverse:
        outputs = reverse_sequences(outputs, lengths)
    if raw is not None:
        for name, values in raw.items():
            values = torch.stack(values)  # (T, B, H)
            if mask is not None:
                values = values * mask
            record[name] = reverse_sequences(values, lengths) if reverse else values
    return outputs, final, choice


class Recurrent(nn.Module):
    """Run one cell over a sequence: ``Recurrent(LSTMCell(8, 16))(x) -> (outputs, final_state)``.

    Args:
        cell: any ``RecurrentCell``.
        batch_first: inputs and outputs are (B, T, F) instead of (T, B, F).
        reverse: process each sample from its last valid step to its first.
        backend: ``"auto"`` or a backend name from ``rnnkit.kernels``.
    """

    def __init__(self, cell, *, batch_first: bool = False, reverse: bool = False, backend: str = "auto"):
        super().__init__()
        self.cell = cell
        self.batch_first = batch_first
        self.reverse = reverse
        self.backend = backend
        self.last_backend: Optional[Choice] = None

    def forward(self, inputs: torch.Tensor, state=None, *, lengths=None):
        from rnnkit.layers.checks import check_input, check_lengths, check_state

        check_input(inputs, self.cell.input_size, argument="inputs")
        if self.batch_first:
            inputs = inputs.transpose(0, 1)
        lengths = check_lengths(lengths, inputs.shape[1], inputs.shape[0], inputs.device)
        if state is not None:
            state = check_state(state, self.cell.init_state(inputs.shape[1], device=inputs.device, dtype=inputs.dtype))
        outputs, final, self.last_backend = scan(
            self.cell, inputs, state, lengths=lengths, reverse=self.reverse, backend=self.backend,
            training=self.training,
        )
        if self.batch_first:
            outputs = outputs.transpose(0, 1)
        return outputs, final
