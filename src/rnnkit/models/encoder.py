"""The recurrent encoder every architecture builds on, and the input checks they share.

``SequenceEncoder`` is a ``rnnkit.RecurrentStack`` on any cell ("lstm", "gru", "rnn") with
layers, one hidden size, optional bidirectionality and dropout between layers. It always
reads batch-first input (B, T, I) and takes per-sample ``lengths`` directly (no packing or
sorting): outputs at padded steps are zero and each sample's final state is its state at its
own last valid step (the backward direction's final state is the one after its first step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.errors import check_positive_int, describe
from rnnkit.layers.checks import check_lengths
from rnnkit.layers.stacked import RecurrentStack
from rnnkit.models.config import ModelConfig, check_encoder_fields


@dataclass(frozen=True)
class EncoderConfig(ModelConfig):
    """input_size: features per step; hidden_size: per direction; dropout: between layers."""

    input_size: int
    hidden_size: int = 64
    cell: str = "lstm"
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0

    def __post_init__(self):
        check_positive_int(self.input_size, "input_size")
        check_encoder_fields(self)


class SequenceEncoder(nn.Module):
    """``forward(x (B, T, I), lengths=None, state=None) -> (outputs (B, T, D*H), states)``.

    ``states[layer][direction]`` is the cell's state NamedTuple (``LSTMState(h, c)``,
    ``GRUState(h)``, ``RNNState(h)``), each tensor (B, H). The stack itself is ``self.rnn``.
    """

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.rnn = RecurrentStack(config.cell, config.input_size, config.hidden_size, num_layers=config.num_layers,
                                  bidirectional=config.bidirectional, dropout=config.dropout, batch_first=True)
        self.directions = 2 if config.bidirectional else 1
        self.output_size = self.rnn.output_size  # D*H

    def forward(self, x: torch.Tensor, lengths=None, state=None):
        return self.rnn(x, state, lengths=lengths)

    def final_hidden(self, states) -> torch.Tensor:
        """Top layer's final h of every direction, concatenated: (B, D*H)."""
        return torch.cat([s.h for s in states[-1]], dim=-1)


# ---- input handling shared by the models ----------------------------------------------------------

def check_token_ids(ids, vocab_size: int, argument: str) -> torch.Tensor:
    """Integer ids in [0, vocab_size), else a ValueError/TypeError naming ``argument``."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"Received an invalid value for argument `{argument}`: expected a tensor of token ids, got {type(ids).__name__}.")
    if ids.dtype == torch.bool or ids.is_floating_point() or ids.is_complex():
        raise TypeError(f"Received an invalid value for argument `{argument}`: expected integer token ids, got dtype {ids.dtype}.")
    if ids.numel() == 0:
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected at least one token, got {describe(ids)}.")
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocab_size:
        bad = low if low < 0 else high
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected token ids in [0, {vocab_size - 1}] "
            f"(vocab_size={vocab_size}), got an id of {bad}."
        )
    return ids.long()


def lengths_tensor(lengths, batch: int, steps: int, device) -> Optional[torch.Tensor]:
    """Checked (B,) int64 lengths on ``device``, or None when no lengths were given."""
    if lengths is None:
        return None
    checked = check_lengths(lengths, batch, steps, device)
    return torch.full((batch,), steps, dtype=torch.int64, device=device) if checked is None else checked


def step_mask(lengths: Optional[torch.Tensor], batch: int, steps: int, device) -> torch.Tensor:
    """(B, T) bool, True at valid steps (all True without lengths)."""
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    return torch.arange(steps, device=device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)


class InputLayer(nn.Module):
    """Token ids (B, T) through an embedding, or continuous features (B, T, I) as they are."""

    def __init__(self, *, input_size: Optional[int], vocab_size: Optional[int], embedding_size: int,
                 padding_idx: Optional[int] = None):
        super().__init__()
        self.vocab_size = vocab_size
        self.input_size = input_size
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=padding_idx)
            self.output_size = embedding_size
        else:
            self.embedding = None
            self.output_size = input_size

    def forward(self, inputs: torch.Tensor, argument: str = "inputs") -> torch.Tensor:
        if self.embedding is not None:
            ids = check_token_ids(inputs, self.vocab_size, argument)
            if ids.dim() != 2:
                raise ValueError(f"Received an invalid value for argument `{argument}`: expected token ids of shape (B, T), got {describe(inputs)}.")
            return self.embedding(ids)  # (B, T, E)
        if not isinstance(inputs, torch.Tensor) or not inputs.is_floating_point():
            raise TypeError(
                f"Received an invalid value for argument `{argument}`: expected a floating-point tensor of "
                f"features (B, T, {self.input_size}), got {describe(inputs)}."
            )
        if inputs.dim() != 3 or inputs.shape[-1] != self.input_size:
            raise ValueError(
                f"Received an invalid value for argument `{argument}`: expected shape (B, T, {self.input_size}), "
                f"got {describe(inputs)}."
            )
        return inputs


def input_and_encoder(config) -> tuple[InputLayer, SequenceEncoder]:
    """The input layer (embedding or features) and the recurrent encoder that a classifier or a
    tagger config describes (fields input_size, vocab_size, embedding_size, padding_idx,
    hidden_size, cell, num_layers, bidirectional, dropout, and a classifier's patch: the
    encoder then reads ``patch`` input steps side by side)."""
    inputs = InputLayer(input_size=config.input_size, vocab_size=config.vocab_size,
                        embedding_size=config.embedding_size, padding_idx=config.padding_idx)
    encoder = SequenceEncoder(EncoderConfig(
        input_size=inputs.output_size * getattr(config, "patch", 1), hidden_size=config.hidden_size, cell=config.cell,
        num_layers=config.num_layers, bidirectional=config.bidirectional, dropout=config.dropout))
    return inputs, encoder
