"""An ensemble of forecasters: several small models of one configuration, their forecasts averaged.

    y_hat = (1 / M) sum_{m=1..M} f_m(history, past_exog, future_exog)

Each member f_m is a ``Forecaster`` with its own random initialization. Trained on the mean of
their own losses (``members_forward`` gives every member's forecast), the members do not share
a gradient: each one gets the gradient of its own loss (scaled by 1/M, which Adam's update
does not see) on the same batches, and averaging their forecasts removes much of the
seed-to-seed spread of one small model trained on a short series.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.errors import check_positive_int
from rnnkit.models.forecaster import Forecaster, ForecasterConfig


class ForecasterEnsemble(nn.Module):
    """``forward(history (B, L, T), past_exog=None, future_exog=None, *, horizon=None) -> (B, H, T)``,
    the mean of ``members`` forecasters built from one ``ForecasterConfig``.

    Example::

        ensemble = ForecasterEnsemble(ForecasterConfig(horizon=12, hidden_size=32), members=5)
        every = ensemble.members_forward(torch.randn(8, 24, 1))  # (5, 8, 12, 1)
        mean = ensemble(torch.randn(8, 24, 1))  # (8, 12, 1)
    """

    def __init__(self, config: ForecasterConfig, members: int):
        super().__init__()
        check_positive_int(members, "members")
        self.config = config
        self.members = nn.ModuleList(Forecaster(config) for _ in range(members))

    def members_forward(self, history, past_exog=None, future_exog=None, *, horizon=None) -> torch.Tensor:
        outputs = [m(history, past_exog, future_exog, horizon=horizon) for m in self.members]
        return torch.stack(outputs)  # (M, B, H, T)

    def forward(self, history, past_exog=None, future_exog=None, *, horizon=None) -> torch.Tensor:
        return self.members_forward(history, past_exog, future_exog, horizon=horizon).mean(dim=0)  # (B, H, T)


class EachMember(nn.Module):
    """What the trainer calls for an ensemble: every member's output (forecasts (M, B, H, T), or
    a ``ClassifierEnsemble``'s logits (M, B, C)), so that the loss (a mean over members of each
    one's error) trains each member on its own error."""

    def __init__(self, ensemble: nn.Module):
        super().__init__()
        self.ensemble = ensemble

    def forward(self, *inputs, **kwargs) -> torch.Tensor:
        return self.ensemble.members_forward(*inputs, **kwargs)
