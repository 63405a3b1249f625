"""A linear autoregression AR(p) fitted by least squares, the fixed linear part of a hybrid forecaster.

For each column of a series z (N, T) separately:

    z_t = sum_{k=1..p} a_k z_{t-p-1+k} + c + e_t          t = p+1..N  (a_1 weighs the oldest lag)

    [a_1 .. a_p, c] = argmin sum_t e_t^2                  (numpy.linalg.lstsq on the design matrix)

Open loop, each forecast is appended to the window and the model runs again. In the hybrid
(Zhang 2003, "Time series forecasting using a hybrid ARIMA and neural network model",
Neurocomputing 50) this linear model is fitted once on the training part and kept fixed; the
recurrent network learns only what it leaves (``ForecasterConfig.residual_ar``).
"""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.errors import check_positive_int, describe


def fit_autoregression(series, order: int) -> np.ndarray:
    """Least-squares AR(``order``) with intercept for each column of ``series`` (N, T) -> (T, order + 1).

    Row j holds column j's lag weights, oldest lag first, then its intercept."""
    order = check_positive_int(order, "order")
    z = np.asarray(series, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or not np.all(np.isfinite(z)):
        raise ValueError(f"Received an invalid value for argument `series`: expected a finite array of shape (N, T), "
                         f"got {describe(series)}.")
    rows = z.shape[0] - order  # equations: one per step with a full window before it
    if rows < order + 1:
        raise ValueError(f"Received an invalid value for argument `order`: an AR({order}) with intercept needs at "
                         f"least {2 * order + 1} steps to fit by least squares, the series has {z.shape[0]}.")
    coefficients = []
    for column in z.T:
        lags = np.lib.stride_tricks.sliding_window_view(column[:-1], order)  # (rows, order): z_{t-p..t-1}
        design = np.hstack([lags, np.ones((rows, 1))])  # (rows, order + 1)
        solution, *_ = np.linalg.lstsq(design, column[order:], rcond=None)
        coefficients.append(solution)
    return np.stack(coefficients)  # (T, order + 1)


def autoregressive_forecast(recent: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, steps: int) -> torch.Tensor:
    """Open-loop AR forecast: ``recent`` (B, p, T), ``weight`` (T, p), ``bias`` (T,) -> (B, steps, T)."""
    window, out = recent, []
    for _ in range(steps):
        y = (window * weight.T).sum(dim=1) + bias  # (B, T)
        out.append(y)
        window = torch.cat([window[:, 1:], y[:, None]], dim=1)  # (B, p, T)
    return torch.stack(out, dim=1)  # (B, steps, T)
