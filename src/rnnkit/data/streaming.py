"""Streaming loaders for truncated BPTT: B parallel streams, consecutive chunks of k steps.

The classic "batchify" layout (Zaremba et al. 2014; PyTorch's word_language_model example):
a long sequence is cut into B contiguous rows, and chunk j holds steps [j k, (j + 1) k) of
every row, so the state a row ends chunk j with is exactly the state it needs to start chunk
j + 1. The trainer carries the state across chunks (detached) and resets a row's state where
``chunk.reset`` is True: the row's step 0 in this chunk begins a new sequence.

With many sequences (files, recordings), each row takes the next sequence when its current one
ends; a new sequence always starts at a chunk boundary, so one reset flag per row and chunk is
enough. A row that ends mid-chunk is padded, and ``chunk.lengths`` gives its valid steps
(0 for a row with nothing left at the end of the stream). Input padding is 0 (PAD); target
padding is ``ignore_index`` (-100, what ``cross_entropy`` skips) for token streams.

This file holds the engine and the in-memory streams; ``streaming_files.py`` the streams that
read text and CSV files incrementally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, Optional

import torch

from rnnkit.errors import check_positive_int


@dataclass(frozen=True)
class StreamChunk:
    """inputs (B, t, *F), targets (B, t, *G) or None, lengths (B,) valid steps, reset (B,) bool;
    t = max(lengths) <= chunk_length."""

    inputs: torch.Tensor
    targets: Optional[torch.Tensor]
    lengths: torch.Tensor
    reset: torch.Tensor

    @property
    def active(self) -> torch.Tensor:
        """(B,) True for rows with at least one valid step in this chunk."""
        return self.lengths > 0


def batchify(sequence: torch.Tensor, batch_size: int) -> torch.Tensor:
    """(L, *F) -> (B, L // B, *F): B contiguous rows; the last L mod B steps are dropped."""
    batch_size = check_positive_int(batch_size, "batch_size")
    if not isinstance(sequence, torch.Tensor) or sequence.dim() == 0:
        raise TypeError(f"Received an invalid value for argument `sequence`: expected a tensor of shape (L, ...), got {type(sequence).__name__}.")
    steps = sequence.shape[0] // batch_size
    if steps == 0:
        raise ValueError(
            f"Received an invalid value for argument `batch_size`: expected at most the sequence length "
            f"{sequence.shape[0]}, got {batch_size}."
        )
    return sequence[: steps * batch_size].reshape(batch_size, steps, *sequence.shape[1:])


# ---- sources: one sequence, taken k steps at a time ---------------------------------------------
class _TensorSource:
    def __init__(self, inputs: torch.Tensor, targets: Optional[torch.Tensor]):
        self.inputs, self.targets, self.pos = inputs, targets, 0

    def take(self, k: int):
        a, self.pos = self.pos, min(self.pos + k, self.inputs.shape[0])
        return self.inputs[a:self.pos], (None if self.targets is None else self.targets[a:self.pos])

    def close(self):
        pass


# ---- the engine: B rows, each pulling sources from its queue ------------------------------------
class ChunkStream:
    """A re-iterable stream of :class:`StreamChunk`; each pass starts from the beginning."""

    def __init__(self, make_queues: Callable[[], List[Iterator]], batch_size: int, chunk_length: int,
                 *, target_padding: float = 0, description: str = "stream"):
        self.make_queues, self.batch_size, self.chunk_length = make_queues, batch_size, chunk_length
        self.target_padding, self.description = target_padding, description

    def __iter__(self) -> Iterator[StreamChunk]:
        queues = self.make_queues()
        B, k = self.batch_size, self.chunk_length
        current: List = [None] * B
        done = [False] * B
        try:
            while True:
                pieces, reset = [None] * B, [False] * B
                for b in range(B):
                    while not done[b]:
                        if current[b] is None:
                            current[b] = next(queues[b], None)
                            if current[b] is None:
                                done[b] = True
                                break
                            reset[b] = True
                        inputs, targets = current[b].take(k)
                        if inputs.shape[0] > 0:
                            pieces[b] = (inputs, targets)
                            break
                        current[b].close()
                        current[b] = None
                    if pieces[b] is None:
                        reset[b] = False
                if all(p is None for p in pieces):
                    return
                yield self._collate(pieces, reset)
        finally:
            for source in current:
                if source is not None:
                    source.close()

    def _collate(self, pieces, reset) -> StreamChunk:
        first = next(p for p in pieces if p is not None)
        lengths = torch.tensor([0 if p is None else p[0].shape[0] for p in pieces], dtype=torch.int64)
        steps = int(lengths.max())
        inputs = first[0].new_zeros((self.batch_size, steps) + tuple(first[0].shape[1:]))  # (B, t, *F)
        targets = None
        if first[1] is not None:
            targets = first[1].new_full((self.batch_size, steps) + tuple(first[1].shape[1:]), self.target_padding)
        for b, p in enumerate(pieces):
            if p is None:
                continue
            if p[0].shape[1:] != first[0].shape[1:] or (p[1] is None) != (targets is None):
                raise ValueError(
                    f"{self.description}: every sequence must have the same feature shape {tuple(first[0].shape[1:])} "
                    f"and all or none must have targets; row {b} has {tuple(p[0].shape[1:])}."
                )
            n = p[0].shape[0]
            inputs[b, :n] = p[0]
            if targets is not None:
                targets[b, :n] = p[1]
        return StreamChunk(inputs, targets, lengths, torch.tensor(reset, dtype=torch.bool))


# ---- public constructors --------------------------------------------------------------------------
def stream_tensor(inputs: torch.Tensor, targets: Optional[torch.Tensor] = None, *, batch_size: int,
                  chunk_length: int) -> ChunkStream:
    """One long in-memory sequence (L, *F) in the batchify layout; ``targets`` (L, *G) aligned
    step by step (for next-step prediction pass ``ids[:-1], ids[1:]``). All rows reset at chunk 0."""
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_length = check_positive_int(chunk_length, "chunk_length")
    rows_in = batchify(inputs, batch_size)  # (B, S, *F)
    rows_out = None
    if targets is not None:
        if not isinstance(targets, torch.Tensor) or targets.shape[0] != inputs.shape[0]:
            raise ValueError(
                f"Received an invalid value for argument `targets`: expected a tensor with {inputs.shape[0]} steps "
                f"like `inputs`, got {tuple(targets.shape) if isinstance(targets, torch.Tensor) else type(targets).__name__}."
            )
        rows_out = batchify(targets, batch_size)

    def queues():
        return [iter([_TensorSource(rows_in[b], None if rows_out is None else rows_out[b])]) for b in range(batch_size)]

    return ChunkStream(queues, batch_size, chunk_length, description="stream_tensor")


def stream_sequences(sequences: Iterable, *, batch_size: int, chunk_length: int) -> ChunkStream:
    """Many sequences, each a tensor (T_i, *F) or an (inputs, targets) pair; each row takes the
    next sequence when its own ends. A list can be iterated again; a generator only once."""
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_length = check_positive_int(chunk_length, "chunk_length")

    def sources():
        for i, item in enumerate(sequences):
            inputs, targets = item if isinstance(item, (tuple, list)) else (item, None)
            if not isinstance(inputs, torch.Tensor) or inputs.dim() == 0:
                raise TypeError(f"Received an invalid value in `sequences` at index {i}: expected a tensor (T, ...) or a pair of them, got {type(inputs).__name__}.")
            if targets is not None and (not isinstance(targets, torch.Tensor) or targets.shape[0] != inputs.shape[0]):
                raise ValueError(f"Received an invalid value in `sequences` at index {i}: targets must be a tensor with {inputs.shape[0]} steps like the inputs.")
            yield _TensorSource(inputs, targets)

    def queues():
        shared = sources()
        return [shared] * batch_size

    return ChunkStream(queues, batch_size, chunk_length, description="stream_sequences")
