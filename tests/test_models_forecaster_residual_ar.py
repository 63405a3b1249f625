"""Hybrid forecaster: a fixed least-squares AR(p) offset plus a recurrent part trained on its residual."""

import numpy as np
import pytest
import torch

from rnnkit.models import Forecaster, ForecasterConfig, ForecasterEnsemble
from rnnkit.models.autoregression import autoregressive_forecast, fit_autoregression


def ar2_series(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 0.3 + 1.6 * y[t - 1] - 0.8 * y[t - 2] + 0.1 * rng.standard_normal()
    return y


def test_fit_matches_numpy_lstsq_and_recovers_a_known_ar2():
    y = ar2_series()
    design = np.stack([y[0:-2], y[1:-1], np.ones(len(y) - 2)], axis=1)  # oldest lag first, then intercept
    expected, *_ = np.linalg.lstsq(design, y[2:], rcond=None)
    fitted = fit_autoregression(np.stack([y, 2 * y], axis=1), 2)  # (2 columns, 3)
    np.testing.assert_allclose(fitted[0], expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fitted[1], expected * [1, 1, 2], rtol=1e-10, atol=1e-12)  # each column its own fit
    np.testing.assert_allclose(fitted[0], [-0.8, 1.6, 0.3], atol=0.06)  # the generating process


def test_open_loop_ar_forecast_equals_a_numpy_recursion():
    weight, bias = torch.tensor([[-0.5, 0.9]]), torch.tensor([0.2])
    recent = torch.tensor([[[1.0], [2.0]]])  # (1, 2, 1)
    window, manual = [1.0, 2.0], []
    for _ in range(4):
        manual.append(-0.5 * window[-2] + 0.9 * window[-1] + 0.2)
        window.append(manual[-1])
    torch.testing.assert_close(autoregressive_forecast(recent, weight, bias, 4)[0, :, 0], torch.tensor(manual))


def make(strategy="recursive", horizon=1, target_size=1):
    coefficients = [[0.1, -0.3, 0.8, 0.05 * (j + 1)] for j in range(target_size)]
    config = ForecasterConfig(horizon=horizon, target_size=target_size, hidden_size=8, strategy=strategy, lookback=6,
                              residual_ar=3, ar_coefficients=coefficients)
    torch.manual_seed(0)
    return Forecaster(config).eval(), torch.tensor(coefficients)


@pytest.mark.parametrize("strategy,horizon", [("recursive", 1), ("direct", 4)])
def test_forecast_is_the_ar_plus_the_recurrent_part(strategy, horizon):
    model, coefficients = make(strategy, horizon, target_size=2)
    history = torch.randn(5, 6, 2)
    ar = autoregressive_forecast(history[:, -3:], coefficients[:, :3], coefficients[:, 3], horizon)  # (5, H, 2)
    torch.testing.assert_close(model(history, horizon=horizon), ar)  # the head starts at zero: the AR's forecast
    with torch.no_grad():
        model.head.weight.normal_()
        model.head.bias.normal_()
    plain = Forecaster(model.config.replace(residual_ar=0, ar_coefficients=())).eval()
    plain.load_state_dict(model.state_dict())  # same weights keys: the AR is not saved with the weights
    torch.testing.assert_close(model(history, horizon=horizon), plain(history, horizon=horizon) + ar)


def test_recursive_feeds_back_the_hybrid_forecast():
    model, _ = make()
    with torch.no_grad():
        model.head.bias.fill_(0.5)
    history, window, manual = torch.randn(3, 6, 1), None, []
    window = history
    for _ in range(5):
        y = model(window, horizon=1)
        manual.append(y)
        window = torch.cat([window[:, 1:], y], dim=1)
    torch.testing.assert_close(model(history, horizon=5), torch.cat(manual, dim=1))


def test_config_round_trip_and_ensemble_members_share_the_ar():
    model, _ = make()
    again = ForecasterConfig.from_dict(model.config.to_dict())
    assert again == model.config and again.ar_coefficients == ((0.1, -0.3, 0.8, 0.05),)
    ensemble = ForecasterEnsemble(again, 2)
    assert all(torch.equal(m.ar_weight, model.ar_weight) for m in ensemble.members)


@pytest.mark.parametrize("kw,match", [
    (dict(residual_ar=-1), "`residual_ar`"),
    (dict(residual_ar=7, lookback=6, ar_coefficients=[[0.0] * 8]), "residual_ar <= 6, got 7"),
    (dict(residual_ar=2), r"`ar_coefficients`: expected 1 rows .* of 3 finite numbers"),
    (dict(residual_ar=2, ar_coefficients=[[0.1, float("nan"), 0.0]]), "`ar_coefficients`"),
    (dict(residual_ar=0, ar_coefficients=[[0.1]]), r"`ar_coefficients`: expected none \(residual_ar=0\)"),
])
def test_bad_configs_are_refused(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ForecasterConfig(horizon=1, strategy="recursive", **kw)


def test_fit_refuses_a_series_too_short():
    with pytest.raises(ValueError, match=r"`order`: an AR\(3\) with intercept needs at least 7 steps.*has 6"):
        fit_autoregression(np.arange(6.0), 3)


def test_stream_refuses_residual_ar():
    model, _ = make()
    with pytest.raises(ValueError, match="residual_ar=3"):
        model.stream(1)
