"""Variance-stabilizing transforms of a series, fitted on its training part only.

A series whose swings grow with its level (counts, sunspots, passengers) is easier to model
after a power transform that makes the swings about the same size everywhere:

    sqrt:    z = sqrt(y)                                          (y >= 0)
    log:     z = log(y)                                           (y > 0)
    boxcox:  z = (y^lambda - 1) / lambda, or log(y) at lambda 0   (y > 0; Box and Cox 1964)

Box-Cox's lambda is chosen per column by maximum likelihood on the training part, the
profile log-likelihood of a normal model for z (what ``scipy.stats.boxcox`` maximizes):

    llf(lambda) = (lambda - 1) * sum log y - n / 2 * log var(z_lambda)

searched on a grid over [-2, 2] and refined by golden section. The inverses, for forecasts:
z^2 (a negative z is clipped at 0, the series is >= 0), exp(z), and
(lambda * z + 1)^(1 / lambda) (with lambda * z + 1 clipped at 0).
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from rnnkit.errors import check_choice

KINDS = ("none", "sqrt", "log", "boxcox")
LAMBDA_RANGE = (-2.0, 2.0)


def boxcox(y, lam: float):
    """(y^lam - 1) / lam, or log(y) at lam 0; expm1 keeps small |lam| accurate."""
    log_y = np.log(y)
    return log_y if lam == 0 else np.expm1(lam * log_y) / lam


def boxcox_log_likelihood(y, lam: float) -> float:
    """The profile log-likelihood of lambda for positive values y (n,)."""
    log_y = np.log(y)
    variance = np.var(boxcox(y, lam))
    if variance <= 0:
        return -math.inf
    return float((lam - 1) * log_y.sum() - 0.5 * len(y) * math.log(variance))


def fit_boxcox_lambda(y) -> float:
    """The maximum-likelihood lambda in [-2, 2] for positive values y (n,); 1 for a constant
    series."""
    y = np.asarray(y, dtype=np.float64)
    if np.all(y == y[0]):
        return 1.0  # nothing to stabilize
    grid = np.linspace(*LAMBDA_RANGE, 401)  # step 0.01
    scores = [boxcox_log_likelihood(y, lam) for lam in grid]
    best = int(np.argmax(scores))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    while high - low > 1e-7:  # golden section inside the grid cell around the best point
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if boxcox_log_likelihood(y, left) >= boxcox_log_likelihood(y, right):
            high = right
        else:
            low = left
    return float((low + high) / 2)


class PowerTransform:
    """Per-column ``kind`` transform (one of ``KINDS``) with ``fit`` / ``transform`` /
    ``inverse_transform`` and a JSON state, like :class:`rnnkit.data.Scaler`.

    ``option`` is how errors name the setting the user gave (e.g. "option `transform`")."""

    def __init__(self, kind: str = "none", *, option: str = "argument `kind`"):
        self.kind = check_choice(kind, KINDS, "kind")
        self.option = option
        self.lambdas: Optional[np.ndarray] = None  # (F,), boxcox only

    def check_domain(self, values, source: str = "the series") -> np.ndarray:
        """``values`` as a float array, or a ValueError naming the option if the transform
        is undefined on them."""
        array = np.asarray(values, dtype=np.float64)
        if self.kind == "sqrt" and (array < 0).any():
            raise ValueError(f"Received an invalid value for {self.option}: '{self.kind}' needs "
                             f"values >= 0, but {source} has values < 0 (the smallest is "
                             f"{array.min():g}).")
        if self.kind in ("log", "boxcox") and (array <= 0).any():
            raise ValueError(f"Received an invalid value for {self.option}: '{self.kind}' needs "
                             f"values > 0 (a logarithm is taken), but {source} has values <= 0 "
                             f"(the smallest is {array.min():g}).")
        return array

    def fit(self, train, source: str = "the training part") -> "PowerTransform":
        """Fit on the training part (T, F): Box-Cox's lambda per column; the other kinds have
        no parameter, only their domain is checked."""
        array = self.check_domain(train, source)
        if self.kind == "boxcox":
            columns = array.reshape(len(array), -1).T  # (F, T)
            self.lambdas = np.array([fit_boxcox_lambda(column) for column in columns])
        return self

    def _lambdas(self, array):
        if self.lambdas is None:
            raise RuntimeError("This PowerTransform is not fitted yet: call `fit(train)` on the "
                               "training part first.")
        if array.ndim < 2 or array.shape[-1] != len(self.lambdas):
            raise ValueError(f"Received an invalid value for argument `values`: expected shape "
                             f"(..., {len(self.lambdas)}) (as fitted), got shape {array.shape}.")
        return self.lambdas

    def transform(self, values, source: str = "the series") -> np.ndarray:
        array = self.check_domain(values, source)
        if self.kind == "sqrt":
            return np.sqrt(array)
        if self.kind == "log":
            return np.log(array)
        if self.kind == "boxcox":
            lambdas = self._lambdas(array)
            return np.stack([boxcox(array[..., f], lam) for f, lam in enumerate(lambdas)], axis=-1)
        return array

    def inverse_transform(self, values) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        if self.kind == "sqrt":
            return np.square(np.maximum(array, 0.0))  # a forecast below sqrt(0) means 0
        if self.kind == "log":
            return np.exp(array)
        if self.kind == "boxcox":
            columns = []
            for f, lam in enumerate(self._lambdas(array)):
                z = array[..., f]
                if lam == 0:
                    columns.append(np.exp(z))
                else:
                    base = np.maximum(lam * z + 1.0, 0.0)
                    with np.errstate(divide="ignore", over="ignore"):  # lam < 0, base 0: infinity
                        columns.append(base ** (1.0 / lam))
            return np.stack(columns, axis=-1)
        return array

    def state_dict(self) -> dict:
        """JSON-friendly state, for saving beside a checkpoint."""
        if self.kind == "boxcox" and self.lambdas is None:
            raise RuntimeError("This PowerTransform is not fitted yet: call `fit(train)` first.")
        lambdas = None if self.lambdas is None else self.lambdas.tolist()
        return {"kind": self.kind, "lambdas": lambdas}

    @classmethod
    def from_state_dict(cls, state: dict, *, option: str = "argument `kind`") -> "PowerTransform":
        transform = cls(state["kind"], option=option)
        if state.get("lambdas") is not None:
            transform.lambdas = np.asarray(state["lambdas"], dtype=np.float64)
        return transform
