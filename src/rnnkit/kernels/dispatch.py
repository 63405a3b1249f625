"""Choose the backend that runs a cell over a sequence, and record the choice."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from rnnkit.kernels.reference import scan_reference

BACKENDS = ("auto", "reference")


class Choice(NamedTuple):
    backend: str
    reason: str


def check_backend(name) -> str:
    if name not in BACKENDS:
        raise ValueError(f"Received an invalid value for argument `backend`: expected one of {list(BACKENDS)}, got {name!r}.")
    return name


def run_cell(cell, x_proj: torch.Tensor, state, mask: Optional[torch.Tensor], *, backend: str = "auto", record: Optional[dict] = None):
    """Run one cell over (T, B, G*H) projected inputs. Returns (outputs, final_state, Choice)."""
    if record is not None:
        choice = Choice("reference", "trace() records gates, which only the reference backend exposes")
    elif backend == "reference":
        choice = Choice("reference", "requested")
    else:
        choice = Choice("reference", "the only backend available")
    out, final = scan_reference(cell, x_proj, state, mask, record)
    return out, final, choice
