"""Forecaster highway: a linear autoregression on the last p values beside the recurrent part (LSTNet)."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import Forecaster, ForecasterConfig, ForecasterEnsemble


def make(**kw):
    torch.manual_seed(0)
    base = dict(horizon=4, hidden_size=8, highway=3)
    base.update(kw)
    return Forecaster(ForecasterConfig(**base)).eval()


def test_direct_forecast_is_the_head_plus_a_shared_linear_autoregression():
    model = make(target_size=2)
    plain = Forecaster(ForecasterConfig(horizon=4, hidden_size=8, target_size=2)).eval()
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("highway.")})
    history = torch.randn(5, 10, 2)
    a, c = model.highway.weight, model.highway.bias  # (4, 3), (4,): one autoregression per step ahead
    for column in range(2):  # the same weights for every target column
        expected = plain(history)[:, :, column] + history[:, -3:, column] @ a.T + c  # (5, 4)
        torch.testing.assert_close(model(history)[:, :, column], expected)


def test_recursive_highway_reads_the_fed_back_predictions():
    model = make(strategy="recursive", exog_size=1, future_exog_size=1)
    history, past, future = torch.randn(3, 10, 1), torch.randn(3, 10, 1), torch.randn(3, 4, 1)
    window_y, window_x, manual = history, past, []
    for h in range(4):
        y = model(window_y, window_x, future[:, h:h + 1], horizon=1)
        manual.append(y)
        window_y = torch.cat([window_y[:, 1:], y], 1)
        window_x = torch.cat([window_x[:, 1:], future[:, h:h + 1]], 1)
    torch.testing.assert_close(model(history, past, future), torch.cat(manual, 1))
    # with the recurrent head silenced, one step is exactly the autoregression on the last 3 values
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.zero_()
    expected = history[:, -3:, 0] @ model.highway.weight.T + model.highway.bias  # (3, 1)
    torch.testing.assert_close(model(history, past, future, horizon=1)[:, :, 0], expected)


def test_highway_learns_an_autoregressive_series_in_an_ensemble():
    """y_t = 1.6 y_{t-1} - 0.8 y_{t-2} + noise: trained, the one-step error nears the noise level."""
    generator = torch.Generator().manual_seed(0)
    y = torch.zeros(300)
    noise = 0.1 * torch.randn(300, generator=generator)
    for t in range(2, 300):
        y[t] = 1.6 * y[t - 1] - 0.8 * y[t - 2] + noise[t]
    windows = y.unfold(0, 9, 1)  # (292, 9): 8 inputs, 1 target
    history, target = windows[:, :8, None], windows[:, 8:, None]
    torch.manual_seed(0)
    ensemble = ForecasterEnsemble(ForecasterConfig(horizon=1, hidden_size=4, strategy="recursive", highway=2), 2)
    optimizer = torch.optim.Adam(ensemble.parameters(), lr=0.03)
    for _ in range(100):
        loss = F.mse_loss(ensemble.members_forward(history), target.expand(2, -1, -1, -1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    mse = F.mse_loss(ensemble(history), target).item()
    assert mse < 2.0 * 0.1 ** 2, mse  # the noise variance is 0.01; predicting 0 would cost var(y) >> 0.01
    assert ensemble.members[0].highway.weight.grad is not None


def test_bad_highway_names_the_argument():
    with pytest.raises(ValueError, match="`highway`.*non-negative integer.*-1"):
        ForecasterConfig(horizon=2, highway=-1)
    with pytest.raises(ValueError, match="`highway`.*highway <= 6.*got 7"):
        ForecasterConfig(horizon=2, lookback=6, highway=7)
    with pytest.raises(ValueError, match="`history`.*highway=3.*got 2"):
        make()(torch.randn(2, 2, 1))
    with pytest.raises(ValueError, match="`model`.*highway=3.*windows"):
        make(strategy="recursive").stream(2)


def test_highway_zero_is_the_plain_forecaster_and_old_configs_load():
    config = ForecasterConfig.from_dict({k: v for k, v in ForecasterConfig(horizon=2).to_dict().items() if k != "highway"})
    assert config.highway == 0 and Forecaster(config).highway is None
