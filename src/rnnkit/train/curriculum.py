"""Curriculum over sequence length: train on short sequences first, and lengthen them as the
model masters each length, ending at the target length.

Long-dependency tasks (copy memory, the adding problem) have a plateau at the memoryless
baseline whose length grows with the delay T: at T = 200 the gradient that would teach the
model to store a symbol has to cross 200 steps before it means anything. At T = 10 it does
not, so the model learns to store and recall first, and then only has to learn to hold on
longer. This is a training method (Bengio et al. 2009; Zaremba and Sutskever 2014 used it for
learning to execute programs): the model is still tested at the target length.

The schedule is a geometric ladder of lengths ``start, start * growth, ..., target`` (rounded,
the last one exactly ``target``). The model moves one rung up when the mean of its last
``window`` training losses at the current length falls below ``threshold`` times that length's
baseline loss (the loss of the best memoryless model, ``baseline(length)``): a rule read off
the training loss alone, so that no test data steers the schedule.

Example::

    curriculum = LengthCurriculum(10, 200, baseline=copy_memory_baseline)
    for step in range(num_steps):
        length = curriculum.sample_length(generator)   # one length per batch
        x, y = copy_memory(32, length, generator=generator)
        loss = train_step(x, y)
        curriculum.update(float(loss), length)
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional, Tuple

import torch

from rnnkit.errors import check_positive_int


def _check_positive_float(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"Received an invalid value for argument `{name}`: expected a positive finite number, got {value!r}.")
    return float(value)


def length_ladder(start: int, target: int, growth: float) -> List[int]:
    """``start, round(start * growth), ..., target``: strictly increasing, the last exactly ``target``."""
    start, target = check_positive_int(start, "start"), check_positive_int(target, "target")
    growth = _check_positive_float(growth, "growth")
    if start > target:
        raise ValueError(f"Received an invalid value for argument `start`: expected at most target={target}, got {start}.")
    if growth <= 1:
        raise ValueError(f"Received an invalid value for argument `growth`: expected a factor above 1, got {growth!r}.")
    ladder = [start]
    while ladder[-1] < target:
        ladder.append(min(target, max(ladder[-1] + 1, round(ladder[-1] * growth))))
    return ladder


class LengthCurriculum:
    """A geometric ladder of sequence lengths climbed as the training loss allows.

    Args:
        start: first length.
        target: last length (the one the model is tested at); training stays there once reached.
        baseline: ``baseline(length) -> float``, the memoryless loss at that length.
        growth: factor between rungs (> 1).
        threshold: move up when mean(last ``window`` losses) < threshold * baseline(length).
        window: number of training losses averaged (only losses at the current rung count).
        mix: draw each batch's length uniformly from [previous rung, current rung] instead of
            the current rung only, so that the model meets several delays at each rung; the
            target rung always trains at exactly ``target``.
    """

    def __init__(self, start: int, target: int, *, baseline: Callable[[int], float], growth: float = 2.0,
                 threshold: float = 0.1, window: int = 50, mix: bool = True):
        self.ladder = length_ladder(start, target, growth)
        if not callable(baseline):
            raise TypeError(f"Received an invalid value for argument `baseline`: expected a callable length -> loss, "
                            f"got {type(baseline).__name__}.")
        self.baseline = baseline
        self.threshold = _check_positive_float(threshold, "threshold")
        self.window = check_positive_int(window, "window")
        self.mix = bool(mix)
        self.rung = 0
        self.steps = 0
        self.history: List[Tuple[int, int]] = [(0, self.ladder[0])]  # (training step, length from then on)
        self._losses: List[float] = []

    @property
    def length(self) -> int:
        """The current rung's length."""
        return self.ladder[self.rung]

    @property
    def done(self) -> bool:
        """True once the target length is reached."""
        return self.rung == len(self.ladder) - 1

    def sample_length(self, generator: Optional[torch.Generator] = None) -> int:
        """The length of the next batch."""
        if not self.mix or self.done or self.rung == 0:
            return self.length
        low = self.ladder[self.rung - 1] + 1
        return int(torch.randint(low, self.length + 1, (), generator=generator))

    def update(self, loss: float, length: Optional[int] = None) -> bool:
        """Record one training loss (of a batch of ``length``; default the current rung's);
        return True when this moved the curriculum up a rung."""
        length = self.length if length is None else length
        if not math.isfinite(loss):
            raise ValueError(f"Received an invalid value for argument `loss`: expected a finite number, got {loss!r}.")
        self.steps += 1
        if self.done:
            return False
        self._losses.append(loss / self.baseline(length))  # mixed lengths: compare each to its own baseline
        if len(self._losses) < self.window:
            return False
        recent = self._losses[-self.window:]
        del self._losses[:-self.window]
        if sum(recent) / self.window >= self.threshold:
            return False
        self.rung += 1
        self._losses = []
        self.history.append((self.steps, self.length))
        return True

    def state_dict(self) -> dict:
        return {"rung": self.rung, "steps": self.steps, "history": [list(h) for h in self.history]}
