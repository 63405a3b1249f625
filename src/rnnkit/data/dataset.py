"""The small containers a built-in dataset comes back in: plain tensors and numpy, no training code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch


@dataclass(frozen=True)
class SequenceSet:
    """Sequences padded to one tensor, with their lengths and targets.

    x: (N, T, F) float (zero after each sample's length) or (N, T) int64 token ids;
    lengths: (N,) int64; y: (N,) class ids, (N, D) regression targets or (N, T) per-step labels.
    """

    x: torch.Tensor
    lengths: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return self.x.shape[0]


@dataclass(frozen=True)
class DatasetInfo:
    """One line of :func:`rnnkit.data.list_datasets`. ``sizes`` maps split -> number of samples
    (time steps for a forecasting series); ``requires`` names the optional packages it needs."""

    name: str
    task: str
    description: str
    source: str
    sizes: Dict[str, int]
    requires: Tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """True when every package in ``requires`` is installed (checked without importing it)."""
        from rnnkit.data.deps import is_installed

        return all(is_installed(m) for m in self.requires)


@dataclass(frozen=True)
class Dataset:
    """A loaded built-in dataset: its official (or fixed, seeded) train and test parts.

    ``train``/``test`` are a :class:`SequenceSet` (classify, regress, tag), a
    :class:`~rnnkit.data.readers_series.TimeSeries` (forecast) or
    :class:`~rnnkit.data.readers_text.TextPairs` (translate). ``classes`` holds the class names
    in id order for classification; ``metadata`` the rest (feature count, season length, ...).
    """

    name: str
    task: str
    train: Any
    test: Any
    classes: Optional[List[str]] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
