"""Keras masks as rnnkit lengths.

A Keras mask marks valid time steps; masked steps are skipped (the state is carried) and, for
``return_sequences``, the output at a masked step repeats the previous output (zeros before the
first valid step) unless ``zero_output_for_mask`` asks for zeros. rnnkit's runner takes
per-sample lengths instead, i.e. masks whose valid steps come first. Any mask (post-padding,
pre-padding from ``pad_sequences``' default, holes) is turned into lengths by moving each
sample's valid steps to the front in order (``compact``), and the outputs are put back where
Keras puts them (``expand``). Post-padded batches need no moving.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch


class Packed(NamedTuple):
    lengths: torch.Tensor  # (B,) valid steps per sample, at least 1 (for the runner)
    empty: torch.Tensor  # (B,) bool: samples with no valid step at all
    order: Optional[torch.Tensor]  # (B, T) gather index moving valid steps first, or None
    mask: torch.Tensor  # (B, T) bool, the Keras mask


def compact(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, Packed]:
    """x (B, T, F), mask (B, T) -> (x with valid steps first, Packed)."""
    mask = mask.to(device=x.device, dtype=torch.bool)
    steps = x.shape[1]
    lengths = mask.sum(dim=1)  # (B,)
    prefix = torch.arange(steps, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    order = None
    if not torch.equal(prefix, mask):
        order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # valid steps first, in order
        x = x.gather(1, order.unsqueeze(-1).expand_as(x))
    return x, Packed(lengths.clamp(min=1), lengths == 0, order, mask)


def expand(outputs: torch.Tensor, packed: Packed, *, zero_output_for_mask: bool) -> torch.Tensor:
    """Runner outputs (B, T, H) over compacted steps -> Keras outputs at the original steps."""
    index = packed.mask.long().cumsum(dim=1) - 1  # (B, T): compacted step holding each step's output
    gathered = outputs.gather(1, index.clamp(min=0).unsqueeze(-1).expand(-1, -1, outputs.shape[-1]))
    keep = packed.mask if zero_output_for_mask else index >= 0
    return gathered * keep.unsqueeze(-1).to(outputs.dtype)
