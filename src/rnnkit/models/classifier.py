"""Sequence classifier (many-to-one): a recurrent encoder, a summary of its steps, a linear head.

The summary ``z`` of a sample with valid steps 1..L_b and top-layer outputs o_t is one of

    last:  z = [h_fwd(L_b); h_bwd(1)]       the state at the sample's own last valid step
                                            (and, if bidirectional, the backward state after step 1)
    mean:  z = (1 / L_b) sum_{t <= L_b} o_t  masked mean
    max:   z_j = max_{t <= L_b} o_{t,j}      masked max

and the logits are ``W z + b``. Padded steps never enter ``z``, so a padded batch gives the
same logits as running each sample alone at its own length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.errors import check_choice, check_positive_int
from rnnkit.models.config import ModelConfig, check_dropout, check_encoder_fields, check_token_inputs
from rnnkit.models.encoder import input_and_encoder, lengths_tensor, step_mask

POOLINGS = ("last", "mean", "max")


@dataclass(frozen=True)
class ClassifierConfig(ModelConfig):
    """Give ``input_size`` for continuous features (B, T, I) or ``vocab_size`` for token ids (B, T)."""

    num_classes: int
    input_size: Optional[int] = None
    vocab_size: Optional[int] = None
    embedding_size: int = 32
    padding_idx: Optional[int] = None
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # between recurrent layers
    head_dropout: float = 0.0  # on the summary, before the linear head
    pooling: str = "last"

    def __post_init__(self):
        check_positive_int(self.num_classes, "num_classes")
        check_token_inputs(self)
        check_encoder_fields(self)
        check_dropout(self.head_dropout, "head_dropout")
        check_choice(self.pooling, POOLINGS, "pooling")


def masked_pool(outputs: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Mean or max of outputs (B, T, D) over the steps where mask (B, T) is True -> (B, D)."""
    mask3 = mask.unsqueeze(-1)  # (B, T, 1)
    if mode == "mean":
        total = (outputs * mask3).sum(dim=1)  # (B, D)
        return total / mask3.sum(dim=1).clamp(min=1).to(outputs.dtype)
    filled = outputs.masked_fill(~mask3, float("-inf"))
    return filled.max(dim=1).values  # (B, D)


class SequenceClassifier(nn.Module):
    """``forward(inputs, lengths=None) -> logits (B, num_classes)``.

    Example::

        model = SequenceClassifier(ClassifierConfig(num_classes=3, input_size=12, pooling="mean"))
        logits = model(torch.randn(8, 29, 12), lengths=torch.randint(1, 30, (8,)))  # (8, 3)
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.inputs, self.encoder = input_and_encoder(config)
        self.head_dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(self.encoder.output_size, config.num_classes)

    def summarize(self, inputs: torch.Tensor, lengths=None) -> torch.Tensor:
        """The per-sample summary z (B, D*H) that the head classifies."""
        x = self.inputs(inputs)  # (B, T, I)
        batch, steps = x.shape[0], x.shape[1]
        lengths = lengths_tensor(lengths, batch, steps, x.device)
        outputs, states = self.encoder(x, lengths)  # (B, T, D*H)
        if self.config.pooling == "last":
            return self.encoder.final_hidden(states)
        return masked_pool(outputs, step_mask(lengths, batch, steps, x.device), self.config.pooling)

    def forward(self, inputs: torch.Tensor, lengths=None) -> torch.Tensor:
        return self.head(self.head_dropout(self.summarize(inputs, lengths)))  # (B, C)

    def stream(self, batch_size: int, *, grad: bool = False):
        """One step at a time: ``stream.step(x_t)`` -> (B, num_classes) from the sequence so far. See ``rnnkit.models.streaming``."""
        from rnnkit.models.streaming import open_model_stream

        return open_model_stream(self, batch_size, grad=grad)
