"""Forecaster: direct and recursive horizons, exogenous inputs, bad input, training."""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import Forecaster, ForecasterConfig


def make(**kw):
    torch.manual_seed(0)
    base = dict(horizon=4, hidden_size=8)
    base.update(kw)
    return Forecaster(ForecasterConfig(**base)).eval()


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
@pytest.mark.parametrize("cell, bidirectional", [("lstm", False), ("gru", True), ("rnn", False)])
def test_shapes_with_and_without_exogenous_inputs(strategy, cell, bidirectional):
    plain = make(strategy=strategy, cell=cell, bidirectional=bidirectional, target_size=2, num_layers=2)
    assert plain(torch.randn(5, 12, 2)).shape == (5, 4, 2)
    exog = make(strategy=strategy, cell=cell, bidirectional=bidirectional, exog_size=3, future_exog_size=3)
    assert exog(torch.randn(5, 12, 1), torch.randn(5, 12, 3), torch.randn(5, 4, 3)).shape == (5, 4, 1)
    future_only = make(strategy=strategy, cell=cell, future_exog_size=2)
    assert future_only(torch.randn(5, 12, 1), future_exog=torch.randn(5, 4, 2)).shape == (5, 4, 1)


def test_direct_with_window_only_exogenous_features():
    model = make(exog_size=3)
    assert model(torch.randn(2, 9, 1), torch.randn(2, 9, 3)).shape == (2, 4, 1)


def test_recursive_feeds_back_its_own_predictions():
    model = make(strategy="recursive", exog_size=2, future_exog_size=2)
    history, past, future = torch.randn(3, 10, 1), torch.randn(3, 10, 2), torch.randn(3, 4, 2)
    window_y, window_x, manual = history, past, []
    for h in range(4):
        y = model(window_y, window_x, future[:, h:h + 1], horizon=1)  # one step
        manual.append(y)
        window_y = torch.cat([window_y[:, 1:], y], 1)
        window_x = torch.cat([window_x[:, 1:], future[:, h:h + 1]], 1)
    torch.testing.assert_close(model(history, past, future), torch.cat(manual, 1))
    assert make(strategy="recursive")(torch.randn(2, 10, 1), horizon=9).shape == (2, 9, 1)


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_future_exogenous_features_are_used_and_recursive_stays_causal(strategy):
    model = make(strategy=strategy, future_exog_size=1)
    history, future = torch.randn(2, 10, 1), torch.randn(2, 4, 1)
    base = model(history, future_exog=future)
    changed = future.clone()
    changed[:, 2] += 5.0
    moved = model(history, future_exog=changed)
    assert not torch.allclose(base, moved)
    if strategy == "recursive":  # steps before the changed one cannot see it
        torch.testing.assert_close(base[:, :2], moved[:, :2])
        assert not torch.allclose(base[:, 2:], moved[:, 2:])


def test_bad_inputs_name_the_argument():
    model = make(lookback=10, exog_size=2)
    with pytest.raises(ValueError, match=r"`history`.*\(B, L, 1\)"):
        model(torch.randn(2, 10, 3), torch.randn(2, 10, 2))
    with pytest.raises(ValueError, match="`history`.*lookback=10.*got 8"):
        model(torch.randn(2, 8, 1), torch.randn(2, 8, 2))
    with pytest.raises(TypeError, match="`past_exog`.*float tensor"):
        model(torch.randn(2, 10, 1))
    with pytest.raises(ValueError, match="`past_exog`.*10 steps"):
        model(torch.randn(2, 10, 1), torch.randn(2, 12, 2))
    with pytest.raises(ValueError, match="`future_exog`.*without future exogenous"):
        model(torch.randn(2, 10, 1), torch.randn(2, 10, 2), torch.randn(2, 4, 1))
    with pytest.raises(ValueError, match="`horizon`.*direct forecaster"):
        model(torch.randn(2, 10, 1), torch.randn(2, 10, 2), horizon=6)
    recursive = make(strategy="recursive", future_exog_size=1)
    with pytest.raises(ValueError, match=r"`future_exog`.*>= 6"):
        recursive(torch.randn(2, 10, 1), future_exog=torch.randn(2, 4, 1), horizon=6)
    with pytest.raises(ValueError, match="`horizon`"):
        recursive(torch.randn(2, 10, 1), future_exog=torch.randn(2, 4, 1), horizon=0)


def sine_windows(n, generator, lookback=16, horizon=4):
    """Sines of random frequency and phase: window (n, lookback, 1) and what follows (n, horizon, 1)."""
    t = torch.arange(lookback + horizon, dtype=torch.float32)
    frequency = 0.3 + 0.4 * torch.rand(n, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(n, 1, generator=generator)
    series = torch.sin(frequency * t + phase).unsqueeze(-1)  # (n, L+H, 1)
    return series[:, :lookback], series[:, lookback:]


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_training_forecasts_sines_better_than_the_naive_forecast(strategy):
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(horizon=4, hidden_size=16, cell="gru", strategy=strategy, lookback=16))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(60):
        history, future = sine_windows(64, generator)
        loss = F.mse_loss(model(history), future)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    history, future = sine_windows(500, generator)
    model_mse = F.mse_loss(model.eval()(history), future).item()
    naive_mse = F.mse_loss(history[:, -1:].expand_as(future), future).item()  # repeat the last value
    assert sum(losses[-5:]) / 5 < 0.25 * losses[0]
    assert model_mse < 0.5 * naive_mse, (model_mse, naive_mse)


def test_training_uses_future_exogenous_inputs():
    """The target over the horizon is a known future input plus the last observed level."""
    torch.manual_seed(0)
    model = Forecaster(ForecasterConfig(horizon=3, hidden_size=16, future_exog_size=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(1)

    def batch(n):
        history = torch.randn(n, 8, 1, generator=generator)
        future_exog = torch.randn(n, 3, 1, generator=generator)
        return history, future_exog, history[:, -1:] + future_exog

    losses = []
    for _ in range(80):
        history, future_exog, target = batch(64)
        loss = F.mse_loss(model(history, future_exog=future_exog), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    history, future_exog, target = batch(500)
    assert losses[0] > 1.0 and F.mse_loss(model.eval()(history, future_exog=future_exog), target).item() < 0.1
