"""Time-series windowing for forecasters: lookback -> horizon pairs, scaling, exogenous inputs.

A window starting at step s holds the inputs ``series[s : s + lookback]`` and the targets
``series[s + lookback : s + lookback + horizon]`` (a multi-step horizon, for direct
forecasting; recursive forecasting uses ``horizon=1`` and feeds predictions back).
Exogenous variables (known in advance: calendar, prices, a control signal) are appended to the
inputs over the lookback and also returned over the horizon, so that a direct forecaster can
condition on their future values.

Scaling is fitted on the training part only (:meth:`Scaler.fit` on ``train``), then applied to
train and test alike; fitting on the whole series would leak the test range into training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from rnnkit.errors import check_choice, check_positive_int


def _as_2d(values, argument: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]  # (T,) -> (T, 1)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected shape (T,) or (T, F) with T >= 1, got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected finite numbers, found NaN or infinity.")
    return array


@dataclass(frozen=True)
class Windows:
    """inputs (N, lookback, F + E), targets (N, horizon, F_target), future_exogenous (N, horizon, E) or None,
    starts (N,) the first input step of each window in the series."""

    inputs: torch.Tensor
    targets: torch.Tensor
    future_exogenous: Optional[torch.Tensor]
    starts: torch.Tensor

    def __len__(self) -> int:
        return self.inputs.shape[0]


def sliding_windows(series, lookback: int, horizon: int = 1, *, stride: int = 1,
                    target_columns: Optional[Sequence[int]] = None, exogenous=None,
                    first_target: int = 0, dtype: torch.dtype = torch.float32) -> Windows:
    """Every window whose inputs and targets fit in the series, ``stride`` steps apart.

    ``series``: (T,) or (T, F). ``target_columns``: which of the F columns to predict
    (default: all). ``exogenous``: (T,) or (T, E), aligned step by step with ``series``.
    ``first_target``: only windows whose first target step is >= this index (used to put every
    target of a test window inside the test range while its inputs reach back into training).
    """
    values = _as_2d(series, "series")  # (T, F)
    lookback = check_positive_int(lookback, "lookback")
    horizon = check_positive_int(horizon, "horizon")
    stride = check_positive_int(stride, "stride")
    steps, features = values.shape
    if lookback + horizon > steps:
        raise ValueError(
            f"Received an invalid value for argument `horizon`: lookback ({lookback}) + horizon ({horizon}) = "
            f"{lookback + horizon} steps is longer than the series ({steps} steps)."
        )
    if target_columns is None:
        target_columns = list(range(features))
    target_columns = list(target_columns)
    if not target_columns or any(not isinstance(c, (int, np.integer)) or not -features <= c < features for c in target_columns):
        raise ValueError(f"Received an invalid value for argument `target_columns`: expected column indices in [0, {features}), got {target_columns}.")
    exo = None
    if exogenous is not None:
        exo = _as_2d(exogenous, "exogenous")  # (T, E)
        if exo.shape[0] != steps:
            raise ValueError(
                f"Received an invalid value for argument `exogenous`: expected {steps} steps like `series`, got {exo.shape[0]}."
            )
    lowest = max(0, first_target - lookback)
    starts = np.arange(lowest, steps - lookback - horizon + 1, stride)
    if starts.size == 0:
        raise ValueError(
            f"Received an invalid value for argument `first_target`: no window of lookback {lookback} and horizon "
            f"{horizon} has its targets at or after step {first_target} in a series of {steps} steps."
        )
    past = starts[:, None] + np.arange(lookback)[None, :]  # (N, L)
    future = starts[:, None] + lookback + np.arange(horizon)[None, :]  # (N, H)
    inputs = values[past]  # (N, L, F)
    if exo is not None:
        inputs = np.concatenate([inputs, exo[past]], axis=-1)  # (N, L, F + E)
    targets = values[future][:, :, target_columns]  # (N, H, F_target)
    future_exo = None if exo is None else torch.as_tensor(exo[future], dtype=dtype)  # (N, H, E)
    return Windows(torch.as_tensor(inputs, dtype=dtype), torch.as_tensor(targets, dtype=dtype), future_exo,
                   torch.as_tensor(starts, dtype=torch.int64))


def holdout_windows(series, lookback: int, horizon: int, test_size: int, *, exogenous=None,
                    target_columns: Optional[Sequence[int]] = None, dtype: torch.dtype = torch.float32):
    """(train_windows, test_windows) for a series whose last ``test_size`` steps are held out.

    Training windows lie entirely in the first T - test_size steps; test windows have every
    target in the held-out range (inputs may reach back into the training range) and are
    ``horizon`` steps apart, so their targets tile the held-out range once.
    """
    values = _as_2d(series, "series")
    test_size = check_positive_int(test_size, "test_size")
    steps = values.shape[0]
    if test_size >= steps:
        raise ValueError(f"Received an invalid value for argument `test_size`: expected fewer than {steps} steps (the series length), got {test_size}.")
    cut = steps - test_size
    exo = None if exogenous is None else _as_2d(exogenous, "exogenous")
    if exo is not None and exo.shape[0] != steps:
        raise ValueError(f"Received an invalid value for argument `exogenous`: expected {steps} steps like `series`, got {exo.shape[0]}.")
    train = sliding_windows(values[:cut], lookback, horizon, exogenous=None if exo is None else exo[:cut],
                            target_columns=target_columns, dtype=dtype)
    test = sliding_windows(values, lookback, horizon, stride=horizon, first_target=cut, exogenous=exo,
                           target_columns=target_columns, dtype=dtype)
    return train, test


class Scaler:
    """Per-column scaling fitted on training data: ``"standard"`` (x - mean) / std, or
    ``"minmax"`` (x - min) / (max - min) into [0, 1]. A constant column gets scale 1."""

    def __init__(self, kind: str = "standard"):
        self.kind = check_choice(kind, ("standard", "minmax"), "kind")
        self.offset: Optional[np.ndarray] = None
        self.scale: Optional[np.ndarray] = None

    def fit(self, train) -> "Scaler":
        values = _as_2d(train, "train")  # (T, F)
        if self.kind == "standard":
            offset, scale = values.mean(axis=0), values.std(axis=0)
        else:
            offset, scale = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
        self.offset, self.scale = offset, np.where(scale > 0, scale, 1.0)
        return self

    def _check(self, values, argument):
        if self.offset is None:
            raise RuntimeError("This Scaler is not fitted yet: call `fit(train)` on the training part first.")
        is_tensor = isinstance(values, torch.Tensor)
        array = values.detach().cpu().numpy() if is_tensor else np.asarray(values, dtype=np.float64)
        if array.shape[-1:] != self.offset.shape and not (array.ndim == 1 and self.offset.shape == (1,)):
            raise ValueError(
                f"Received an invalid value for argument `{argument}`: expected {self.offset.shape[0]} columns "
                f"(as fitted), got shape {array.shape}."
            )
        return array, is_tensor, (values.dtype if is_tensor else None)

    def transform(self, values):
        """Scale values of shape (..., F); tensors come back as tensors of the same dtype."""
        array, is_tensor, dtype = self._check(values, "values")
        offset, scale = (self.offset[0], self.scale[0]) if array.ndim == 1 else (self.offset, self.scale)
        out = (array - offset) / scale
        return torch.as_tensor(out, dtype=dtype) if is_tensor else out

    def inverse_transform(self, values, columns: Optional[Sequence[int]] = None):
        """Undo :meth:`transform`; ``columns`` picks the fitted columns that ``values`` holds
        (e.g. the target columns of a multivariate series)."""
        if self.offset is None:
            raise RuntimeError("This Scaler is not fitted yet: call `fit(train)` on the training part first.")
        is_tensor = isinstance(values, torch.Tensor)
        array = values.detach().cpu().numpy() if is_tensor else np.asarray(values, dtype=np.float64)
        offset, scale = self.offset, self.scale
        if columns is not None:
            offset, scale = offset[list(columns)], scale[list(columns)]
        if array.ndim == 1 and offset.shape == (1,):
            offset, scale = offset[0], scale[0]
        elif array.shape[-1] != offset.shape[0]:
            raise ValueError(f"Received an invalid value for argument `values`: expected {offset.shape[0]} columns, got shape {array.shape}.")
        out = array * scale + offset
        return torch.as_tensor(out, dtype=values.dtype) if is_tensor else out

    def state_dict(self) -> dict:
        """JSON-friendly state, for saving beside a checkpoint."""
        if self.offset is None:
            raise RuntimeError("This Scaler is not fitted yet: call `fit(train)` first.")
        return {"kind": self.kind, "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Scaler":
        scaler = cls(state["kind"])
        scaler.offset = np.asarray(state["offset"], dtype=np.float64)
        scaler.scale = np.asarray(state["scale"], dtype=np.float64)
        return scaler
