"""Language model and generator (one-to-many): next-token logits, sampling, conditioning.

    h_t = RNN(E x_t, h_{t-1})            logits_t = W h_t + b  predicts x_{t+1}

Generation feeds each sampled token back in. A token is drawn from
``softmax(logits / temperature)`` restricted to the ``top_k`` most probable tokens (all
tokens when ``top_k`` is None); a ``torch.Generator`` makes the draws reproducible.

Conditioning (the image-captioning pattern, Vinyals et al. 2015 "Show and Tell", with the
vector setting the state rather than being the first input): when ``condition_size`` is set,
a vector v (B, C) gives the initial state of every layer,

    h_0 = tanh(W_h v + b_h)      (and for an LSTM  c_0 = tanh(W_c v + b_c))

so the same prompt continues differently for different vectors.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.errors import check_nonnegative_int, check_positive_int, describe
from rnnkit.models.config import (ModelConfig, check_bool, check_cell, check_dropout, check_optional_positive_int,
                                  check_positive_number)
from rnnkit.models.encoder import EncoderConfig, SequenceEncoder, check_token_ids, lengths_tensor


@dataclass(frozen=True)
class LanguageModelConfig(ModelConfig):
    """``bos_id`` starts generation without a prompt; ``condition_size`` enables conditioning."""

    vocab_size: int
    embedding_size: int = 32
    hidden_size: int = 128
    cell: str = "lstm"
    num_layers: int = 1
    dropout: float = 0.0  # between layers and before the head
    tie_weights: bool = False  # head shares the embedding matrix (needs embedding_size == hidden_size)
    condition_size: Optional[int] = None
    bos_id: Optional[int] = None

    def __post_init__(self):
        check_positive_int(self.vocab_size, "vocab_size")
        check_positive_int(self.embedding_size, "embedding_size")
        check_positive_int(self.hidden_size, "hidden_size")
        check_cell(self.cell)
        check_positive_int(self.num_layers, "num_layers")
        check_dropout(self.dropout)
        check_bool(self.tie_weights, "tie_weights")
        check_optional_positive_int(self.condition_size, "condition_size")
        if self.bos_id is not None and check_nonnegative_int(self.bos_id, "bos_id") >= self.vocab_size:
            raise ValueError(f"Received an invalid value for argument `bos_id`: expected an id below vocab_size="
                             f"{self.vocab_size}, got {self.bos_id}.")
        if self.tie_weights and self.embedding_size != self.hidden_size:
            raise ValueError(f"Received an invalid value for argument `tie_weights`: tying needs embedding_size == "
                             f"hidden_size, got {self.embedding_size} and {self.hidden_size}.")


def check_sampling(temperature, top_k, generator) -> None:
    check_positive_number(temperature, "temperature")
    if top_k is not None:
        check_positive_int(top_k, "top_k")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"Received an invalid value for argument `generator`: expected a torch.Generator or None, "
                        f"got {type(generator).__name__}.")


def sample_next(logits: torch.Tensor, *, temperature: float = 1.0, top_k: Optional[int] = None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Draw one token per row of logits (B, V) -> (B,). ``top_k`` larger than V means all of V."""
    check_sampling(temperature, top_k, generator)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1) the k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class LanguageModel(nn.Module):
    """``forward(tokens (B, T), state=None, *, lengths=None, condition=None) -> (logits (B, T, V), state)``.

    ``state`` is the recurrent stack's [layer][0] grid of state NamedTuples; pass it back to
    continue a sequence (truncated BPTT, streaming generation). The stack is ``self.encoder.rnn``.
    """

    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embedding_size)
        self.encoder = SequenceEncoder(EncoderConfig(c.embedding_size, c.hidden_size, c.cell, c.num_layers,
                                                     bidirectional=False, dropout=c.dropout))
        self.state_type = self.encoder.rnn.cells[0][0].state_type
        self.dropout = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden_size, c.vocab_size)
        if c.tie_weights:
            self.head.weight = self.embedding.weight
        self.condition = None
        if c.condition_size is not None:
            self.condition = nn.ModuleList(nn.Linear(c.condition_size, c.num_layers * c.hidden_size)
                                           for _ in self.state_type._fields)

    def initial_state(self, condition: torch.Tensor):
        """The state set by a conditioning vector (B, condition_size): [layer][0] NamedTuples."""
        c = self.config
        if self.condition is None:
            raise ValueError("Received an invalid value for argument `condition`: this model was built without "
                             "conditioning (condition_size=None), got a condition.")
        if not isinstance(condition, torch.Tensor) or not condition.is_floating_point() or condition.dim() != 2 \
                or condition.shape[1] != c.condition_size:
            raise ValueError(f"Received an invalid value for argument `condition`: expected a float tensor of shape "
                             f"(B, {c.condition_size}), got {describe(condition)}.")
        parts = [torch.tanh(layer(condition)).view(condition.shape[0], c.num_layers, c.hidden_size)
                 for layer in self.condition]  # each (B, L, H)
        return [[self.state_type(*(p[:, layer] for p in parts))] for layer in range(c.num_layers)]

    def forward(self, tokens: torch.Tensor, state=None, *, lengths=None, condition=None):
        ids = check_token_ids(tokens, self.config.vocab_size, "tokens")
        if ids.dim() != 2:
            raise ValueError(f"Received an invalid value for argument `tokens`: expected token ids of shape (B, T), got {describe(tokens)}.")
        if condition is not None:
            if state is not None:
                raise ValueError("Received an invalid value for argument `condition`: give either `state` or "
                                 "`condition` (which sets the initial state), not both.")
            state = self.initial_state(condition)
        lengths = lengths_tensor(lengths, ids.shape[0], ids.shape[1], ids.device)
        outputs, state = self.encoder(self.embedding(ids), lengths, state)  # (B, T, H)
        return self.head(self.dropout(outputs)), state  # (B, T, V)

    def stream(self, batch_size: int, *, grad: bool = False, condition=None):
        """One step at a time: ``stream.step(x_t)`` -> (B, vocab) next-token logits per step; ``condition`` sets the start state. See ``rnnkit.models.streaming``."""
        from rnnkit.models.streaming import open_model_stream

        return open_model_stream(self, batch_size, grad=grad, condition=condition)

    @torch.no_grad()
    def generate(self, prompt: Optional[torch.Tensor] = None, *, max_new_tokens: int, condition=None,
                 temperature: float = 1.0, top_k: Optional[int] = None, generator: Optional[torch.Generator] = None,
                 eos_id: Optional[int] = None, batch_size: Optional[int] = None) -> torch.Tensor:
        """Continue ``prompt`` (B, P) by ``max_new_tokens`` sampled tokens -> (B, P + N).

        Without a prompt, generation starts from ``config.bos_id`` (then P = 1) for
        ``batch_size`` samples (default: the condition's batch, else 1). Once a sample emits
        ``eos_id`` its remaining positions repeat ``eos_id``; the output may be shorter than
        P + max_new_tokens when every sample has ended. ``top_k=1`` is greedy decoding.
        """
        c = self.config
        check_positive_int(max_new_tokens, "max_new_tokens")
        check_sampling(temperature, top_k, generator)
        if eos_id is not None and (isinstance(eos_id, bool) or not isinstance(eos_id, numbers.Integral)
                                   or not 0 <= eos_id < c.vocab_size):
            raise ValueError(f"Received an invalid value for argument `eos_id`: expected an id in [0, {c.vocab_size - 1}], got {eos_id!r}.")
        device = self.head.weight.device
        if prompt is None:
            if c.bos_id is None:
                raise ValueError("Received an invalid value for argument `prompt`: expected token ids (B, P) "
                                 "because the model has no bos_id to start from, got None.")
            batch = batch_size if batch_size is not None else (condition.shape[0] if isinstance(condition, torch.Tensor) else 1)
            prompt = torch.full((check_positive_int(batch, "batch_size"), 1), c.bos_id, dtype=torch.long, device=device)
        prompt = check_token_ids(prompt, c.vocab_size, "prompt")
        if prompt.dim() != 2:
            raise ValueError(f"Received an invalid value for argument `prompt`: expected token ids of shape (B, P), got {describe(prompt)}.")
        if isinstance(condition, torch.Tensor) and condition.dim() == 2 and condition.shape[0] != prompt.shape[0]:
            raise ValueError(f"Received an invalid value for argument `condition`: expected {prompt.shape[0]} rows "
                             f"(one per prompt), got {describe(condition)}.")
        logits, state = self(prompt, condition=condition)
        tokens = [prompt]
        finished = torch.zeros(prompt.shape[0], dtype=torch.bool, device=device)
        for step in range(max_new_tokens):
            nxt = sample_next(logits[:, -1], temperature=temperature, top_k=top_k, generator=generator)  # (B,)
            if eos_id is not None:
                nxt = nxt.masked_fill(finished, eos_id)
                finished = finished | (nxt == eos_id)
            tokens.append(nxt.unsqueeze(1))
            if (eos_id is not None and bool(finished.all())) or step == max_new_tokens - 1:
                break
            logits, state = self(nxt.unsqueeze(1), state)
        return torch.cat(tokens, dim=1)
