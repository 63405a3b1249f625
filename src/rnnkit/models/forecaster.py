"""Forecaster: a recurrent model over sliding windows, lookback L -> horizon H.

Inputs for one window ending at time t: the targets y_{t-L+1..t} (B, L, T), optional exogenous
features known over the window x_{t-L+1..t} (B, L, E), and optional exogenous features known
in advance for the horizon f_{t+1..t+H} (B, H, F) (calendar, planned prices, ...).

    z = encoder([y; x]_{t-L+1..t})                    top layer's final state (both directions)
    direct:    [y_{t+1}, ..., y_{t+H}] = W [z; f_{t+1}; ...; f_{t+H}] + b     one head, H outputs
    recursive: y_{t+1} = W [z; f_{t+1}] + b           a one-step model; its prediction is
               appended to the window ([y_hat; f] as the new row, the oldest row dropped)
               and the model runs again, H times (so any horizon can be asked for later)

``highway = p`` adds a linear autoregression on the last p target values to the forecast, the
"highway" of LSTNet (Lai et al. 2018), one weight vector shared by every target column:

    y_hat_{t+s} = (W [z; f] + b)_s + sum_{k=1..p} a_{s,k} y_{t-p+k} + c_s        s = 1..S

The linear part carries the level and the linear (seasonal, cyclic) structure that a small
recurrent network extrapolates poorly over many fed-back steps; the recurrent part models what
it leaves.

Recursive forecasting needs the exogenous row of each new step, so it takes either no window
exogenous features (E = 0) or the same ones known for the future (E = F). A recursive model can
be trained on one-step targets (``horizon=1``, teacher forcing) or through its own feedback
over the whole horizon (the default); either way ``forward(..., horizon=H)`` forecasts any H.

Scaling lives in the data layer and must be fitted on the training part of the series only
(the windows fed here are already scaled): fitting it on the whole series leaks the test
period's level and spread into training, and the reported errors become optimistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.errors import check_choice, check_nonnegative_int, check_positive_int, describe
from rnnkit.models.config import ModelConfig, check_encoder_fields, check_optional_positive_int
from rnnkit.models.encoder import EncoderConfig, SequenceEncoder

STRATEGIES = ("direct", "recursive")


@dataclass(frozen=True)
class ForecasterConfig(ModelConfig):
    """``lookback`` (optional) fixes the window length; ``horizon`` is the default steps ahead."""

    horizon: int
    target_size: int = 1
    exog_size: int = 0  # E: features known over the input window
    future_exog_size: int = 0  # F: features known over the horizon
    lookback: Optional[int] = None
    strategy: str = "direct"
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    highway: int = 0  # p: linear autoregression on the last p target values added to the forecast (0: none)

    def __post_init__(self):
        check_positive_int(self.horizon, "horizon")
        check_positive_int(self.target_size, "target_size")
        check_nonnegative_int(self.exog_size, "exog_size")
        check_nonnegative_int(self.future_exog_size, "future_exog_size")
        check_optional_positive_int(self.lookback, "lookback")
        check_choice(self.strategy, STRATEGIES, "strategy")
        check_nonnegative_int(self.highway, "highway")
        if self.lookback is not None and self.highway > self.lookback:
            raise ValueError(f"Received an invalid value for argument `highway`: the autoregression reads the last "
                             f"`highway` steps of a window of lookback={self.lookback} steps, so it needs highway <= "
                             f"{self.lookback}, got {self.highway}.")
        check_encoder_fields(self)
        if self.strategy == "recursive" and self.exog_size not in (0, self.future_exog_size):
            raise ValueError(
                f"Received an invalid value for argument `exog_size`: recursive forecasting appends each "
                f"predicted step to the window with that step's exogenous features, so it needs exog_size == 0 or "
                f"exog_size == future_exog_size ({self.future_exog_size}), got {self.exog_size}."
            )


def _check_series(value, argument: str, batch: Optional[int], steps: Optional[int], features: int, what: str):
    if features == 0:
        if value is not None:
            raise ValueError(f"Received an invalid value for argument `{argument}`: the model was configured without "
                             f"{what} (size 0), got {describe(value)}.")
        return None
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise TypeError(f"Received an invalid value for argument `{argument}`: expected a float tensor of shape "
                        f"(B, {'T' if steps is None else steps}, {features}), got {describe(value)}.")
    shape_ok = value.dim() == 3 and value.shape[-1] == features and value.shape[1] > 0
    shape_ok = shape_ok and (batch is None or value.shape[0] == batch) and (steps is None or value.shape[1] >= steps)
    if not shape_ok:
        expected = f"(B={'B' if batch is None else batch}, {'T' if steps is None else f'>= {steps}'}, {features})"
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected shape {expected}, got {describe(value)}.")
    return value


class Forecaster(nn.Module):
    """``forward(history (B, L, T), past_exog=None, future_exog=None, *, horizon=None) -> (B, H, T)``."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        self.config = c = config
        self.encoder = SequenceEncoder(EncoderConfig(c.target_size + c.exog_size, c.hidden_size, c.cell,
                                                     c.num_layers, c.bidirectional, c.dropout))
        steps = c.horizon if c.strategy == "direct" else 1
        self.head = nn.Linear(self.encoder.output_size + steps * c.future_exog_size, steps * c.target_size)
        self.highway = nn.Linear(c.highway, steps) if c.highway else None  # shared by the target columns

    def _predict(self, window: torch.Tensor, future: Optional[torch.Tensor]) -> torch.Tensor:
        """Head on the encoded window (B, L, T+E) and future exog (B, S, F) -> (B, S, T)."""
        _, states = self.encoder(window)
        features = self.encoder.final_hidden(states)  # (B, D*H)
        if future is not None:
            features = torch.cat([features, future.flatten(1)], dim=-1)
        out = self.head(features).view(window.shape[0], -1, self.config.target_size)  # (B, S, T)
        if self.highway is not None:
            recent = window[:, -self.config.highway:, :self.config.target_size]  # (B, p, T)
            out = out + self.highway(recent.transpose(1, 2)).transpose(1, 2)  # (B, T, S) -> (B, S, T)
        return out

    def forward(self, history: torch.Tensor, past_exog=None, future_exog=None, *, horizon: Optional[int] = None):
        c = self.config
        horizon = c.horizon if horizon is None else check_positive_int(horizon, "horizon")
        if c.strategy == "direct" and horizon != c.horizon:
            raise ValueError(f"Received an invalid value for argument `horizon`: a direct forecaster emits exactly its "
                             f"configured horizon ({c.horizon}), got {horizon}; use strategy='recursive' for any horizon.")
        if not isinstance(history, torch.Tensor) or not history.is_floating_point() or history.dim() != 3 \
                or history.shape[-1] != c.target_size or history.shape[1] == 0:
            raise ValueError(f"Received an invalid value for argument `history`: expected a float tensor of shape "
                             f"(B, L, {c.target_size}), got {describe(history)}.")
        batch, steps = history.shape[0], history.shape[1]
        if c.lookback is not None and steps != c.lookback:
            raise ValueError(f"Received an invalid value for argument `history`: expected lookback={c.lookback} steps, "
                             f"got {steps}.")
        if steps < c.highway:
            raise ValueError(f"Received an invalid value for argument `history`: the model's autoregression reads the "
                             f"last highway={c.highway} steps, got {steps}.")
        past_exog = _check_series(past_exog, "past_exog", batch, steps, c.exog_size, "window exogenous features")
        future_exog = _check_series(future_exog, "future_exog", batch, horizon, c.future_exog_size, "future exogenous features")
        if past_exog is not None and past_exog.shape[1] != steps:
            raise ValueError(f"Received an invalid value for argument `past_exog`: expected {steps} steps (as `history`), "
                             f"got {describe(past_exog)}.")
        window = history if past_exog is None else torch.cat([history, past_exog], dim=-1)  # (B, L, T+E)
        if c.strategy == "direct":
            return self._predict(window, None if future_exog is None else future_exog[:, :horizon])  # (B, H, T)
        predictions = []
        for h in range(horizon):
            future = None if future_exog is None else future_exog[:, h:h + 1]  # (B, 1, F)
            y_next = self._predict(window, future)  # (B, 1, T)
            predictions.append(y_next)
            row = y_next if c.exog_size == 0 else torch.cat([y_next, future], dim=-1)  # (B, 1, T+E)
            window = torch.cat([window[:, 1:], row], dim=1)  # slide: drop the oldest step
        return torch.cat(predictions, dim=1)  # (B, H, T)

    def stream(self, batch_size: int, *, grad: bool = False):
        """One step at a time: ``stream.step(x_t)`` -> (B, S, T) forecasts from the history so far. See ``rnnkit.models.streaming``."""
        from rnnkit.models.streaming import open_model_stream

        return open_model_stream(self, batch_size, grad=grad)
