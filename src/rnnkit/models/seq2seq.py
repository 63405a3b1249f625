"""Encoder-decoder with attention (many-to-many, different lengths).

The encoder (any cell, stacked, optionally bidirectional) reads the source x_1..x_S into
memory h_1..h_S. A bridge sets the decoder's initial state from the encoder's final state,
s_0 = tanh(W_b [h_fwd; h_bwd] + b_b) for every layer (and for c as well as h with an LSTM).
At each target step t, with previous token y_{t-1} (the start token at t = 1):

    Bahdanau:  c_t = attend(s_{t-1}, h)      s_t = RNN([E y_{t-1}; c_t], s_{t-1})
    Luong:     s_t = RNN(E y_{t-1}, s_{t-1}) c_t = attend(s_t, h)
    both:      o_t = tanh(W_c [s_t; c_t])    logits_t = W_o o_t

(``s`` used as a query is the top layer's h.) Luong's decoder does not feed c_t back into its
input, so with teacher forcing its recurrent part runs over the whole target in one scan and
attends for all steps at once; Bahdanau's needs c_t before each step and runs step by step.
Decoding (greedy, beam search) runs the same ``decode_step`` for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.errors import check_choice, check_nonnegative_int, check_positive_int, describe
from rnnkit.layers.stacked import RecurrentStack
from rnnkit.models.attention import ATTENTIONS, build_attention
from rnnkit.models.config import ModelConfig, check_encoder_fields, check_optional_positive_int
from rnnkit.models.decoding import Decoded, beam_search, greedy_search
from rnnkit.models.encoder import EncoderConfig, SequenceEncoder, check_token_ids, lengths_tensor, step_mask


@dataclass(frozen=True)
class Seq2SeqConfig(ModelConfig):
    """``attention``: "bahdanau", "luong-dot" or "luong-general". ``bidirectional`` is the encoder's."""

    source_vocab_size: int
    target_vocab_size: int
    embedding_size: int = 32
    hidden_size: int = 64
    cell: str = "lstm"
    num_layers: int = 1
    bidirectional: bool = True
    dropout: float = 0.0  # between stacked layers (encoder and decoder) and before the output layer
    attention: str = "bahdanau"
    attention_size: Optional[int] = None  # Bahdanau's tanh layer width; hidden_size by default
    pad_id: int = 0
    bos_id: int = 1
    eos_id: int = 2

    def __post_init__(self):
        check_positive_int(self.source_vocab_size, "source_vocab_size")
        check_positive_int(self.target_vocab_size, "target_vocab_size")
        check_positive_int(self.embedding_size, "embedding_size")
        check_encoder_fields(self)
        check_choice(self.attention, ATTENTIONS, "attention")
        check_optional_positive_int(self.attention_size, "attention_size")
        for name in ("pad_id", "bos_id", "eos_id"):
            value = check_nonnegative_int(getattr(self, name), name)
            if value >= self.target_vocab_size:
                raise ValueError(f"Received an invalid value for argument `{name}`: expected an id below "
                                 f"target_vocab_size={self.target_vocab_size}, got {value}.")
        if len({self.pad_id, self.bos_id, self.eos_id}) != 3:
            raise ValueError(f"Received an invalid value for arguments `pad_id`, `bos_id`, `eos_id`: expected three "
                             f"different ids, got {self.pad_id}, {self.bos_id}, {self.eos_id}.")


class Memory(NamedTuple):
    """The encoded source: outputs (B, S, M), their attention keys, the valid-step mask (B, S)
    and the decoder's initial state."""

    outputs: torch.Tensor
    keys: torch.Tensor
    mask: torch.Tensor
    state: list


class Seq2SeqOutput(NamedTuple):
    logits: torch.Tensor  # (B, T, V)
    attention: torch.Tensor  # (B, T, S), each row sums to 1 over valid source steps, 0 on padding


def reorder_state(state, index: torch.Tensor):
    """Gather rows ``index`` of every tensor in a [layer][direction] grid of state NamedTuples."""
    return [[type(s)(*(t.index_select(0, index) for t in s)) for s in row] for row in state]


class Seq2Seq(nn.Module):
    """``forward(source (B, S), target_input (B, T), source_lengths=None) -> logits (B, T, V)``.

    ``target_input`` is the teacher-forcing input: the start token then the target shifted
    right. Source ids at padded steps are ignored (give ``source_lengths``).
    """

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = c = config
        self.source_embedding = nn.Embedding(c.source_vocab_size, c.embedding_size)
        self.target_embedding = nn.Embedding(c.target_vocab_size, c.embedding_size, padding_idx=c.pad_id)
        self.encoder = SequenceEncoder(EncoderConfig(c.embedding_size, c.hidden_size, c.cell, c.num_layers,
                                                     c.bidirectional, c.dropout))
        memory_size = self.encoder.output_size
        self.bahdanau = c.attention == "bahdanau"
        decoder_input = c.embedding_size + (memory_size if self.bahdanau else 0)
        self.decoder = RecurrentStack(c.cell, decoder_input, c.hidden_size, num_layers=c.num_layers,
                                      dropout=c.dropout, batch_first=True)
        self.state_type = self.decoder.cells[0][0].state_type
        self.bridge = nn.ModuleList(nn.Linear(memory_size, c.num_layers * c.hidden_size) for _ in self.state_type._fields)
        self.attention = build_attention(c.attention, c.hidden_size, memory_size, c.attention_size or c.hidden_size)
        self.combine = nn.Linear(c.hidden_size + memory_size, c.hidden_size)  # W_c
        self.dropout = nn.Dropout(c.dropout)
        self.output = nn.Linear(c.hidden_size, c.target_vocab_size)  # W_o

    # ---- encoder side -----------------------------------------------------------------------
    def encode(self, source: torch.Tensor, source_lengths=None) -> Memory:
        ids = check_token_ids(source, self.config.source_vocab_size, "source")
        if ids.dim() != 2:
            raise ValueError(f"Received an invalid value for argument `source`: expected token ids of shape (B, S), got {describe(source)}.")
        batch, steps = ids.shape
        lengths = lengths_tensor(source_lengths, batch, steps, ids.device)
        outputs, states = self.encoder(self.source_embedding(ids), lengths)  # (B, S, M)
        top = states[-1]
        layers = self.config.num_layers
        initial = []
        for field_index, bridge in enumerate(self.bridge):
            final = torch.cat([s[field_index] for s in top], dim=-1)  # (B, M)
            initial.append(torch.tanh(bridge(final)).view(batch, layers, -1))  # (B, L, H)
        state = [[self.state_type(*(part[:, layer] for part in initial))] for layer in range(layers)]
        return Memory(outputs, self.attention.prepare(outputs), step_mask(lengths, batch, steps, ids.device), state)

    # ---- decoder side -----------------------------------------------------------------------
    def _logits(self, top: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        features = torch.tanh(self.combine(torch.cat([top, context], dim=-1)))  # o_t
        return self.output(self.dropout(features))

    def decode_step(self, previous: torch.Tensor, state, memory: Memory):
        """One step: previous tokens (N,) -> (logits (N, V), new state, attention weights (N, S))."""
        embedded = self.target_embedding(previous).unsqueeze(1)  # (N, 1, E)
        if self.bahdanau:
            context, weights = self.attention(state[-1][0].h.unsqueeze(1), memory.outputs, memory.keys, memory.mask)
            top, state = self.decoder(torch.cat([embedded, context], dim=-1), state)  # (N, 1, H)
        else:
            top, state = self.decoder(embedded, state)
            context, weights = self.attention(top, memory.outputs, memory.keys, memory.mask)
        return self._logits(top, context).squeeze(1), state, weights.squeeze(1)

    def run(self, source, target_input, source_lengths=None) -> Seq2SeqOutput:
        """Teacher-forced pass returning logits and attention weights."""
        memory = self.encode(source, source_lengths)
        target = check_token_ids(target_input, self.config.target_vocab_size, "target_input")
        if target.dim() != 2 or target.shape[0] != source.shape[0]:
            raise ValueError(f"Received an invalid value for argument `target_input`: expected token ids of shape "
                             f"(B={source.shape[0]}, T), got {describe(target_input)}.")
        if self.bahdanau:
            logits, weights, state = [], [], memory.state
            for t in range(target.shape[1]):
                step_logits, state, step_weights = self.decode_step(target[:, t], state, memory)
                logits.append(step_logits)
                weights.append(step_weights)
            return Seq2SeqOutput(torch.stack(logits, 1), torch.stack(weights, 1))
        top, _ = self.decoder(self.target_embedding(target), memory.state)  # (B, T, H), one scan
        context, weights = self.attention(top, memory.outputs, memory.keys, memory.mask)  # (B, T, M)
        return Seq2SeqOutput(self._logits(top, context), weights)

    def forward(self, source, target_input, source_lengths=None) -> torch.Tensor:
        return self.run(source, target_input, source_lengths).logits

    def score(self, source, target, source_lengths=None) -> torch.Tensor:
        """log P(target | source) per sample (B,): target (B, T) without the start token, ending
        with the end token, padded with ``pad_id`` (padded steps count nothing)."""
        c = self.config
        target = check_token_ids(target, c.target_vocab_size, "target")
        start = torch.full_like(target[:, :1], c.bos_id)
        log_probs = F.log_softmax(self(source, torch.cat([start, target[:, :-1]], 1), source_lengths), -1)
        picked = log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B, T)
        return (picked * (target != c.pad_id)).sum(dim=1)

    # ---- inference --------------------------------------------------------------------------
    def _search_step(self, memory: Memory):
        never = [self.config.pad_id, self.config.bos_id]  # ids a decoder must not emit

        def step(previous, state):
            logits, state, weights = self.decode_step(previous, state, memory)
            log_probs = F.log_softmax(logits, dim=-1)
            log_probs[:, never] = float("-inf")  # not renormalized: scores stay the model's log P
            return log_probs, state, weights
        return step

    @torch.no_grad()
    def greedy_decode(self, source, source_lengths=None, *, max_length: int = 50) -> Decoded:
        c = self.config
        memory = self.encode(source, source_lengths)
        return greedy_search(self._search_step(memory), memory.state, batch=source.shape[0], max_length=max_length,
                             bos_id=c.bos_id, eos_id=c.eos_id, pad_id=c.pad_id, device=source.device)

    @torch.no_grad()
    def beam_search(self, source, source_lengths=None, *, beam_size: int = 4, max_length: int = 50,
                    alpha: float = 0.6) -> Decoded:
        """Batched beam search; the winner maximizes log P / ((5 + length) / 6) ** alpha."""
        c = self.config
        check_positive_int(beam_size, "beam_size")
        memory = self.encode(source, source_lengths)
        grow = lambda t: t.repeat_interleave(beam_size, dim=0)  # noqa: E731  (B, ...) -> (B*K, ...)
        memory = Memory(grow(memory.outputs), grow(memory.keys), grow(memory.mask),
                        [[type(s)(*(grow(t) for t in s)) for s in row] for row in memory.state])
        return beam_search(self._search_step(memory), memory.state, reorder_state, batch=source.shape[0],
                           beam_size=beam_size, max_length=max_length, bos_id=c.bos_id, eos_id=c.eos_id,
                           pad_id=c.pad_id, alpha=alpha, device=source.device)

    def decode(self, source, source_lengths=None, *, beam_size: int = 1, max_length: int = 50,
               alpha: float = 0.6) -> Decoded:
        """Greedy when ``beam_size == 1``, else beam search."""
        if check_positive_int(beam_size, "beam_size") == 1:
            return self.greedy_decode(source, source_lengths, max_length=max_length)
        return self.beam_search(source, source_lengths, beam_size=beam_size, max_length=max_length, alpha=alpha)
