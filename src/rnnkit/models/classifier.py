"""Sequence classifier (many-to-one): a recurrent encoder, a summary of its steps, a linear head.

The summary ``z`` of a sample with valid steps 1..L_b and top-layer outputs o_t is one of

    last:  z = [h_fwd(L_b); h_bwd(1)]       the state at the sample's own last valid step
                                            (and, if bidirectional, the backward state after step 1)
    mean:  z = (1 / L_b) sum_{t <= L_b} o_t  masked mean
    max:   z_j = max_{t <= L_b} o_{t,j}      masked max

and the logits are ``W z + b``. Padded steps never enter ``z``, so a padded batch gives the
same logits as running each sample alone at its own length.

Two options for long series, both off by default:

    patch = p:   the recurrent branch reads p consecutive steps as one input vector
                 (T steps of I features -> ceil(T / p) steps of p*I), lengths ceil(L_b / p)
    conv = True: LSTM-FCN (Karim et al. 2017): a fully convolutional branch (``ConvBranch``:
                 Conv1d-BN-ReLU blocks of ``conv_filters`` / ``conv_kernels``, then global
                 average pooling over each sample's valid steps) reads the unpatched steps,
                 and z = [z_recurrent; z_conv] goes to the head
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.errors import check_choice, check_positive_int
from rnnkit.models.config import ModelConfig, check_bool, check_dropout, check_encoder_fields, check_token_inputs
from rnnkit.models.conv import ConvBranch, patch_steps
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
    patch: int = 1  # the recurrent branch reads `patch` consecutive steps as one vector
    conv: bool = False  # LSTM-FCN: a fully convolutional branch beside the recurrent one
    conv_filters: tuple = (128, 256, 128)
    conv_kernels: tuple = (8, 5, 3)

    def __post_init__(self):
        check_positive_int(self.num_classes, "num_classes")
        check_token_inputs(self)
        check_encoder_fields(self)
        check_dropout(self.head_dropout, "head_dropout")
        check_choice(self.pooling, POOLINGS, "pooling")
        check_positive_int(self.patch, "patch")
        check_bool(self.conv, "conv")
        for name in ("conv_filters", "conv_kernels"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not value or any(
                    isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value):
                raise ValueError(f"Received an invalid value for argument `{name}`: expected a non-empty list of "
                                 f"positive integers, got {value!r}.")
        if len(self.conv_filters) != len(self.conv_kernels):
            raise ValueError(f"Received an invalid value for argument `conv_kernels`: expected one kernel size per "
                             f"convolution ({len(self.conv_filters)}, as conv_filters), got {list(self.conv_kernels)}.")


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
        lstm_fcn = SequenceClassifier(ClassifierConfig(num_classes=2, input_size=1, conv=True, patch=10))
        logits = lstm_fcn(torch.randn(8, 150, 1))  # (8, 2)
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.inputs, self.encoder = input_and_encoder(config)
        self.conv = ConvBranch(self.inputs.output_size, config.conv_filters, config.conv_kernels) if config.conv else None
        self.head_dropout = nn.Dropout(config.head_dropout)
        summary = self.encoder.output_size + (self.conv.output_size if config.conv else 0)
        self.head = nn.Linear(summary, config.num_classes)

    def summarize(self, inputs: torch.Tensor, lengths=None) -> torch.Tensor:
        """The per-sample summary z (B, D*H [+ conv_filters[-1]]) that the head classifies."""
        x = self.inputs(inputs)  # (B, T, I)
        batch, steps = x.shape[0], x.shape[1]
        lengths = lengths_tensor(lengths, batch, steps, x.device)
        z = self._recurrent_summary(*patch_steps(x, lengths, self.config.patch))  # (B, D*H)
        if self.conv is None:
            return z
        return torch.cat([z, self.conv(x, step_mask(lengths, batch, steps, x.device))], dim=-1)  # (B, D*H + F)

    def _recurrent_summary(self, x: torch.Tensor, lengths) -> torch.Tensor:
        batch, steps = x.shape[0], x.shape[1]
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
