"""The reference backend: autograd over ``cell.step_projected``, one step at a time.

This is the specification every other backend is tested against. It handles any cell.
"""

from __future__ import annotations

from typing import Optional

import torch

from rnnkit.cells.recurrent_dropout import step_with_recurrent_dropout


def scan_reference(cell, x_proj: torch.Tensor, state, mask: Optional[torch.Tensor] = None, record: Optional[dict] = None,
                   dropout_mask: Optional[torch.Tensor] = None):
    """Run ``cell`` over projected inputs.

    x_proj: (T, B, G*H) time-major projected inputs; state: the cell's state NamedTuple;
    mask: (T, B, 1) bool, True at valid steps, or None when every step is valid;
    dropout_mask: (B, H) recurrent-dropout mask (see ``rnnkit.cells.recurrent_dropout``) or None.
    At a padded step the state is carried unchanged and the output is zero.
    Returns (outputs (T, B, H_out), final state).
    """
    outputs = []
    # unbind, not x_proj[t]: indexing makes autograd build a full-size (T, B, G*H) gradient per
    # step, which made the backward pass quadratic in the sequence length.
    for t, x_t in enumerate(x_proj.unbind(0)):
        if dropout_mask is None:
            h, new_state = cell.step_projected(x_t, state, record)
        else:
            h, new_state = step_with_recurrent_dropout(cell, x_t, state, dropout_mask, record)
        if mask is not None:
            valid = mask[t]  # (B, 1)
            new_state = type(state)(*(torch.where(valid, new, old) for new, old in zip(new_state, state)))
            h = h * valid
        state = new_state
        outputs.append(h)
    return torch.stack(outputs), state
