"""An ensemble of sequence classifiers: several models of one configuration, class probabilities averaged.

    p(c | x) = (1 / M) sum_{m=1..M} softmax(f_m(x))_c

Each member f_m is a ``SequenceClassifier`` with its own random initialization. ``forward``
returns log p (B, C), so that ``softmax`` of the output gives the averaged probabilities back
exactly, ``argmax`` gives the ensemble's class, and cross-entropy on it is the ensemble's
negative log-likelihood:

    log p = logsumexp_m(log_softmax(f_m(x))) - log M

Trained through ``EachMember`` (every member's logits, (M, B, C)) on the mean over members of
each one's cross-entropy, no gradient is shared: each member learns from its own loss on the
same batches, as if trained alone, and averaging removes much of the seed-to-seed spread of one
model trained on a tiny set (Lakshminarayanan et al. 2017; for time-series classification,
Fawaz et al. 2019, "Deep neural network ensembles for time series classification").
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnkit.errors import check_positive_int
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier


class ClassifierEnsemble(nn.Module):
    """``forward(inputs, lengths=None) -> log of the mean class probabilities (B, num_classes)``.

    Example::

        ensemble = ClassifierEnsemble(ClassifierConfig(num_classes=3, input_size=12, pooling="mean"), members=5)
        every = ensemble.members_forward(torch.randn(8, 29, 12))  # (5, 8, 3) logits of each member
        probabilities = ensemble(torch.randn(8, 29, 12)).exp()  # (8, 3), rows sum to 1
    """

    def __init__(self, config: ClassifierConfig, members: int):
        super().__init__()
        check_positive_int(members, "members")
        self.config = config
        self.members = nn.ModuleList(SequenceClassifier(config) for _ in range(members))

    def members_forward(self, inputs: torch.Tensor, lengths=None) -> torch.Tensor:
        return torch.stack([m(inputs, lengths) for m in self.members])  # (M, B, C)

    def forward(self, inputs: torch.Tensor, lengths=None) -> torch.Tensor:
        return mean_probability_log(self.members_forward(inputs, lengths))  # (B, C)


def mean_probability_log(member_logits: torch.Tensor) -> torch.Tensor:
    """(M, B, C) logits -> (B, C) log of the members' mean softmax probabilities."""
    log_probabilities = torch.log_softmax(member_logits, dim=-1)  # (M, B, C)
    return torch.logsumexp(log_probabilities, dim=0) - math.log(member_logits.shape[0])
