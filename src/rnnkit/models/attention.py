"""Attention over an encoder's outputs ("memory"), with padding masks.

For a decoder query s (one per decoder step) and memory vectors h_1..h_S of one sample:

    Bahdanau (additive, Bahdanau et al. 2015):   e_j = v^T tanh(W_q s + W_k h_j)
    Luong dot (multiplicative, Luong et al. 2015): e_j = s^T h_j
    Luong general:                                e_j = s^T W h_j

    a_j = exp(e_j) / sum_{k <= L} exp(e_k)   for j <= L (the sample's source length), a_j = 0 beyond
    context = sum_j a_j h_j

Queries may carry a time axis (B, T, Q) so that a decoder that needs no step-by-step feedback
(Luong without input feeding) attends for all steps in one batched call; a single step is
(B, 1, Q). Memory-side projections (W_k h_j, W h_j) depend only on the memory, so
``prepare(memory)`` computes them once per source sentence and every step reuses them.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from rnnkit.errors import check_positive_int

ATTENTIONS = ("bahdanau", "luong-dot", "luong-general")


def masked_softmax(scores: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Softmax over the last axis of scores (B, T, S), with exact zeros where mask (B, S) is False."""
    if mask is not None:
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))  # (B, T, S)
    return torch.softmax(scores, dim=-1)


class Attention(nn.Module):
    """Base: ``forward(query (B, T, Q), memory (B, S, M), keys, mask (B, S)) -> (context (B, T, M), weights (B, T, S))``."""

    def prepare(self, memory: torch.Tensor) -> torch.Tensor:
        """Memory-side part of the score, computed once per source: (B, S, K)."""
        return memory

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:  # (B, T, S)
        raise NotImplementedError

    def forward(self, query: torch.Tensor, memory: torch.Tensor, keys: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None):
        keys = self.prepare(memory) if keys is None else keys
        weights = masked_softmax(self.score(query, keys), mask)  # (B, T, S)
        context = torch.bmm(weights, memory)  # (B, T, M)
        return context, weights


class BahdanauAttention(Attention):
    """Additive attention: e_j = v^T tanh(W_q s + W_k h_j). ``attention_size`` is the width of the tanh layer."""

    def __init__(self, query_size: int, memory_size: int, attention_size: int):
        super().__init__()
        check_positive_int(attention_size, "attention_size")
        self.query_layer = nn.Linear(query_size, attention_size, bias=False)  # W_q
        self.key_layer = nn.Linear(memory_size, attention_size, bias=True)  # W_k (its bias is the one bias)
        self.energy = nn.Linear(attention_size, 1, bias=False)  # v

    def prepare(self, memory):
        return self.key_layer(memory)  # (B, S, A)

    def score(self, query, keys):
        q = self.query_layer(query)  # (B, T, A)
        hidden = torch.tanh(q.unsqueeze(2) + keys.unsqueeze(1))  # (B, T, S, A)
        return self.energy(hidden).squeeze(-1)  # (B, T, S)


class LuongAttention(Attention):
    """Multiplicative attention: ``kind="dot"`` (e_j = s^T h_j, needs equal sizes) or
    ``kind="general"`` (e_j = s^T W h_j)."""

    def __init__(self, query_size: int, memory_size: int, kind: str = "general"):
        super().__init__()
        self.kind = kind
        if kind == "dot":
            if query_size != memory_size:
                raise ValueError(
                    f"Received an invalid value for argument `attention`: Luong dot attention needs the decoder "
                    f"state size ({query_size}) to equal the encoder output size ({memory_size}); use "
                    f"'luong-general' or 'bahdanau', or matching sizes."
                )
            self.key_layer = None
        else:
            self.key_layer = nn.Linear(memory_size, query_size, bias=False)  # W, applied to memory once

    def prepare(self, memory):
        return memory if self.key_layer is None else self.key_layer(memory)  # (B, S, Q)

    def score(self, query, keys):
        return torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)


def build_attention(kind: str, query_size: int, memory_size: int, attention_size: int) -> Attention:
    if kind == "bahdanau":
        return BahdanauAttention(query_size, memory_size, attention_size)
    return LuongAttention(query_size, memory_size, kind.split("-", 1)[1])
