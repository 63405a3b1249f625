"""Generated long-dependency problems: the adding problem and copy memory.

Adding problem (Hochreiter and Schmidhuber 1997; the form of Le et al. 2015 and Bai et al.
2018): each step carries a value from U(0, 1) and a marker; exactly two steps are marked, one
in each half of the sequence, and the target is the sum of the two marked values. A model that
always predicts the mean, 1, scores MSE = Var(U1 + U2) = 1/6.

Copy memory (Bai et al. 2018): 10 symbols from {1..8}, then T - 1 blanks (0), a delimiter (9)
and 10 more blanks; the target is blank everywhere except the last 10 steps, which must repeat
the first 10 symbols. A model that outputs blanks and then the symbol distribution scores a
cross-entropy of 10 ln 8 / (T + 20) per step.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from rnnkit.errors import check_positive_int

ADDING_BASELINE_MSE = 1.0 / 6.0


def adding_problem(num_samples: int, steps: int, *, generator: Optional[torch.Generator] = None,
                   dtype=torch.float32):
    """Return (x, y): x (N, T, 2) with values and markers, y (N, 1) the sum of the marked values."""
    num_samples = check_positive_int(num_samples, "num_samples")
    steps = check_positive_int(steps, "steps")
    if steps < 2:
        raise ValueError(f"Received an invalid value for argument `steps`: expected at least 2, got {steps}.")
    values = torch.rand(num_samples, steps, generator=generator, dtype=dtype)  # (N, T)
    half = steps // 2
    first = torch.randint(0, half, (num_samples,), generator=generator)
    second = torch.randint(half, steps, (num_samples,), generator=generator)
    markers = torch.zeros(num_samples, steps, dtype=dtype)
    rows = torch.arange(num_samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (N, T, 2)
    y = (values * markers).sum(dim=1, keepdim=True)  # (N, 1)
    return x, y


def copy_memory(num_samples: int, blank_steps: int, *, symbols: int = 10, alphabet: int = 8,
                generator: Optional[torch.Generator] = None):
    """Return (x, y) of int64 token ids, each (N, T + 2 * symbols): blank 0, symbols 1..alphabet,
    delimiter alphabet + 1. The output vocabulary has alphabet + 2 entries."""
    num_samples = check_positive_int(num_samples, "num_samples")
    blank_steps = check_positive_int(blank_steps, "blank_steps")
    length = blank_steps + 2 * symbols
    seq = torch.randint(1, alphabet + 1, (num_samples, symbols), generator=generator)
    x = torch.zeros(num_samples, length, dtype=torch.int64)
    x[:, :symbols] = seq
    x[:, symbols + blank_steps - 1] = alphabet + 1  # the delimiter: start recalling
    y = torch.zeros(num_samples, length, dtype=torch.int64)
    y[:, -symbols:] = seq
    return x, y


def copy_memory_baseline(blank_steps: int, *, symbols: int = 10, alphabet: int = 8) -> float:
    """Cross-entropy per step of the memoryless strategy: symbols * ln(alphabet) / (T + 2 * symbols)."""
    return symbols * math.log(alphabet) / (blank_steps + 2 * symbols)
