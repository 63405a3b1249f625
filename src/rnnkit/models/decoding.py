"""Greedy decoding and batched beam search over any step function.

A step function maps the previous tokens (N,) and a decoder state to log-probabilities of the
next token (N, V), the new state and, optionally, attention weights (N, S) of that step.
Both searches stop when every hypothesis has produced ``eos_id`` or after ``max_length`` steps;
a finished hypothesis is extended by ``pad_id`` at no cost.

Beam search keeps ``beam_size`` hypotheses per sample ranked by their summed log-probability
and, at the end, picks the hypothesis with the best length-normalized score (Wu et al. 2016,
"Google's Neural Machine Translation System", section 7):

    score(Y) = log P(Y | X) / lp(Y),   lp(Y) = ((5 + |Y|) / 6) ** alpha

``alpha = 0`` ranks by raw log-probability (which favours short outputs); larger alpha favours
longer ones. |Y| counts the generated tokens including the end token.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch

from rnnkit.errors import check_positive_int, describe


class Decoded(NamedTuple):
    """tokens (B, L): generated ids without the start token, ``pad_id`` after the end token;
    lengths (B,): tokens up to and including the end token; scores (B,): summed log-probability
    of those tokens; attention (B, L, S) or None: each step's attention weights (zero after the end)."""

    tokens: torch.Tensor
    lengths: torch.Tensor
    scores: torch.Tensor
    attention: Optional[torch.Tensor]


def check_search_args(max_length, beam_size=1, alpha=0.0) -> None:
    check_positive_int(max_length, "max_length")
    check_positive_int(beam_size, "beam_size")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
        raise ValueError(f"Received an invalid value for argument `alpha`: expected a number >= 0, got {describe(alpha)}.")


def length_penalty(lengths: torch.Tensor, alpha: float) -> torch.Tensor:
    """GNMT's lp = ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + lengths.to(torch.float32)) / 6.0) ** alpha


def greedy_search(step: Callable, state, *, batch: int, max_length: int, bos_id: int, eos_id: int, pad_id: int,
                  device=None) -> Decoded:
    """Pick the most probable token at every step."""
    check_search_args(max_length)
    prev = torch.full((batch,), bos_id, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, dtype=torch.long, device=device)
    scores = None
    tokens, weights = [], []
    for _ in range(max_length):
        log_probs, state, attn = step(prev, state)  # (B, V)
        best, token = log_probs.max(dim=-1)  # (B,)
        token = token.masked_fill(finished, pad_id)
        step_score = best.masked_fill(finished, 0.0)
        scores = step_score if scores is None else scores + step_score
        lengths = lengths + (~finished).long()
        if attn is not None:
            weights.append(attn * (~finished).unsqueeze(-1).to(attn.dtype))
        finished = finished | (token == eos_id)
        tokens.append(token)
        prev = token
        if bool(finished.all()):
            break
    return Decoded(torch.stack(tokens, 1), lengths, scores, torch.stack(weights, 1) if weights else None)


def beam_search(step: Callable, state, reorder: Callable, *, batch: int, beam_size: int, max_length: int,
                bos_id: int, eos_id: int, pad_id: int, alpha: float = 0.0, device=None) -> Decoded:
    """Batched beam search. ``state`` must already hold ``beam_size`` copies of each sample's
    state, sample-major (row b * beam_size + k); ``reorder(state, index (N,))`` gathers rows."""
    check_search_args(max_length, beam_size, alpha)
    K = beam_size
    rows = torch.arange(batch, device=device).unsqueeze(1) * K  # (B, 1)
    prev = torch.full((batch * K,), bos_id, dtype=torch.long, device=device)
    scores = None  # (B, K) summed log-probabilities, in the step function's dtype
    finished = torch.zeros(batch, K, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch, K, dtype=torch.long, device=device)
    history = torch.zeros(batch, K, 0, dtype=torch.long, device=device)
    attn_history = None
    for _ in range(max_length):
        log_probs, state, attn = step(prev, state)  # (B*K, V)
        vocab = log_probs.shape[-1]
        log_probs = log_probs.view(batch, K, vocab)
        if scores is None:
            scores = torch.full((batch, K), float("-inf"), dtype=log_probs.dtype, device=log_probs.device)
            scores[:, 0] = 0.0  # one live hypothesis at the start, so the beam is not K copies of it
        after_end = torch.full_like(log_probs, float("-inf"))
        after_end[..., pad_id] = 0.0  # a finished hypothesis only continues with pad, at no cost
        log_probs = torch.where(finished.unsqueeze(-1), after_end, log_probs)
        candidates = (scores.unsqueeze(-1) + log_probs).view(batch, K * vocab)  # (B, K*V)
        scores, index = candidates.topk(K, dim=-1)  # (B, K)
        beam, token = index // vocab, index % vocab  # (B, K)
        was_finished = finished.gather(1, beam)
        lengths = lengths.gather(1, beam) + (~was_finished).long()
        finished = was_finished | (token == eos_id)
        history = torch.cat([history.gather(1, beam.unsqueeze(-1).expand_as(history)), token.unsqueeze(-1)], dim=-1)
        flat = (rows + beam).view(-1)  # (B*K,) rows of the parents
        state = reorder(state, flat)
        if attn is not None:
            attn = attn.view(batch, K, 1, -1).gather(1, beam.view(batch, K, 1, 1).expand(-1, -1, 1, attn.shape[-1]))
            attn = attn * (~was_finished).view(batch, K, 1, 1).to(attn.dtype)
            if attn_history is None:
                attn_history = attn
            else:
                idx = beam.view(batch, K, 1, 1).expand(-1, -1, *attn_history.shape[2:])
                attn_history = torch.cat([attn_history.gather(1, idx), attn], dim=2)  # (B, K, t, S)
        prev = token.view(-1)
        if bool(finished.all()):
            break
    normalized = scores / length_penalty(lengths, alpha)
    best = normalized.argmax(dim=-1, keepdim=True)  # (B, 1)
    tokens = history.gather(1, best.unsqueeze(-1).expand(-1, 1, history.shape[-1])).squeeze(1)
    attention = None
    if attn_history is not None:
        attention = attn_history.gather(1, best.view(batch, 1, 1, 1).expand(-1, 1, *attn_history.shape[2:])).squeeze(1)
    return Decoded(tokens, lengths.gather(1, best).squeeze(1), scores.gather(1, best).squeeze(1), attention)
