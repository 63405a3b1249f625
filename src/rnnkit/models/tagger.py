"""Sequence tagger (many-to-many, equal length): one label distribution per input step.

    o_1..o_T = RecurrentStack(x_1..x_T)      (bidirectional: each o_t sees the whole sample)
    logits_t = W o_t + b                     for t <= L_b, and 0 at padded steps

Padded steps return zero logits and ``step_mask`` says which steps are valid, so a loss can
ignore them (e.g. cross-entropy with the padded targets set to ``ignore_index``). Because the
backward direction reverses each sample inside its own length, the logits at valid steps equal
those of the sample run alone, unpadded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.errors import check_positive_int
from rnnkit.models.config import ModelConfig, check_dropout, check_encoder_fields, check_token_inputs
from rnnkit.models.encoder import input_and_encoder, lengths_tensor, step_mask


@dataclass(frozen=True)
class TaggerConfig(ModelConfig):
    """Give ``input_size`` for continuous features (B, T, I) or ``vocab_size`` for token ids (B, T)."""

    num_tags: int
    input_size: Optional[int] = None
    vocab_size: Optional[int] = None
    embedding_size: int = 32
    padding_idx: Optional[int] = None
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0  # between recurrent layers
    head_dropout: float = 0.0  # on each step's output, before the linear head

    def __post_init__(self):
        check_positive_int(self.num_tags, "num_tags")
        check_token_inputs(self)
        check_encoder_fields(self)
        check_dropout(self.head_dropout, "head_dropout")


class SequenceTagger(nn.Module):
    """``forward(inputs, lengths=None) -> logits (B, T, num_tags)``, zero at padded steps."""

    def __init__(self, config: TaggerConfig):
        super().__init__()
        self.config = config
        self.inputs, self.encoder = input_and_encoder(config)
        self.head_dropout = nn.Dropout(config.head_dropout)
        self.head = nn.Linear(self.encoder.output_size, config.num_tags)

    def forward(self, inputs: torch.Tensor, lengths=None) -> torch.Tensor:
        x = self.inputs(inputs)  # (B, T, I)
        batch, steps = x.shape[0], x.shape[1]
        lengths = lengths_tensor(lengths, batch, steps, x.device)
        outputs, _ = self.encoder(x, lengths)  # (B, T, D*H), zero at padded steps
        logits = self.head(self.head_dropout(outputs))  # (B, T, C)
        return logits * step_mask(lengths, batch, steps, x.device).unsqueeze(-1).to(logits.dtype)

    def stream(self, batch_size: int, *, grad: bool = False):
        """One step at a time: ``stream.step(x_t)`` -> (B, num_tags) per step. See ``rnnkit.models.streaming``."""
        from rnnkit.models.streaming import open_model_stream

        return open_model_stream(self, batch_size, grad=grad)

    @staticmethod
    def step_mask(lengths, batch: int, steps: int, device=None) -> torch.Tensor:
        """(B, T) bool, True at valid steps: which logits a loss should count."""
        lengths = lengths_tensor(lengths, batch, steps, device)
        return step_mask(lengths, batch, steps, device)
