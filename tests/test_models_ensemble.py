"""Forecaster ensembles (the mean of members), their training, and rolling-origin one-step forecasts."""

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.models import Forecaster, ForecasterConfig, ForecasterEnsemble
from rnnkit.models.ensemble import EachMember


def config(**kw):
    return ForecasterConfig(**{"horizon": 3, "hidden_size": 5, "lookback": 6, **kw})


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_forecast_is_the_mean_of_the_members(strategy):
    torch.manual_seed(0)
    ensemble = ForecasterEnsemble(config(strategy=strategy), members=3)
    x = torch.randn(4, 6, 1)
    every = ensemble.members_forward(x)
    assert every.shape == (3, 4, 3, 1)
    torch.testing.assert_close(every[1], ensemble.members[1](x))
    torch.testing.assert_close(ensemble(x), (every[0] + every[1] + every[2]) / 3)
    assert not torch.allclose(every[0], every[1])  # own initializations


def test_each_member_gets_the_gradient_of_its_own_loss():
    """The task's loss on EachMember's output (mean over members of each one's MSE) gives every
    member 1/M times the gradient it would get trained alone on the same batch."""
    from rnnkit.tasks import get_task

    torch.manual_seed(1)
    ensemble = ForecasterEnsemble(config(), members=2)
    task = get_task("forecast")
    x, y = torch.randn(5, 6, 1), torch.randn(5, 3, 1)
    task.loss(task.training_module(ensemble)(x), y).backward()
    for member in ensemble.members:
        alone = Forecaster(config())
        alone.load_state_dict(member.state_dict())
        nn.functional.mse_loss(alone(x), y).backward()
        for p_alone, p_member in zip(alone.parameters(), member.parameters()):
            torch.testing.assert_close(p_member.grad, p_alone.grad / 2)
    assert task.training_module(ensemble.members[0]) is ensemble.members[0]


def test_bad_member_count_names_the_argument():
    with pytest.raises(ValueError, match="`members`"):
        ForecasterEnsemble(config(), members=0)


class Zeros(nn.Module):
    """A forecaster that always predicts 0 in model space: after difference=[12] and the log,
    its forecast of every step is the value 12 steps earlier (the seasonal naive forecast)."""

    def forward(self, window):
        return torch.zeros(window.shape[0], 4, window.shape[2])


def test_one_step_forecasts_read_the_true_history():
    from rnnkit.data.windows import Scaler
    from rnnkit.tasks import get_task

    task = get_task("forecast")
    t = np.arange(60, dtype=np.float64)
    series = (100 + t + 10 * np.sin(2 * np.pi * t / 12))[:, None]  # (60, 1)
    history, truth = series[:48], series[48:]
    scaler = Scaler("standard").fit(np.array([[-0.5], [0.5]]))  # offset 0: 0 stays 0 on either scale
    state = {"scaler": scaler.state_dict(), "log": True, "difference": [12], "lookback": 5, "season": 12}
    one_step = task.one_step(Zeros(), state, history, truth)
    np.testing.assert_allclose(one_step, series[36:48], rtol=1e-12)  # y_hat_t = y_{t-12}, true values
    open_loop = task.roll(Zeros(), state, history, 12)
    np.testing.assert_allclose(open_loop, one_step)  # over one season both read only the training part
    open_loop = task.roll(Zeros(), state, history, 24)
    np.testing.assert_allclose(open_loop[12:], series[36:48])  # open loop repeats its own forecasts
