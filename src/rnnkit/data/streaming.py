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

Reading from files is incremental: each row keeps one open file, at most ``k + 1`` decoded
characters and at most ``k`` undecoded bytes, never the whole text.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, Optional, Sequence

import torch

from rnnkit.data.files import DataError, check_path
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


class _TextSource:
    """Characters of bytes [start, end) of a UTF-8 file, read incrementally, as (input, next) id pairs."""

    def __init__(self, path: str, start: int, end: int, encode: Callable[[str], List[int]]):
        self.path, self.pos, self.end, self.encode = path, start, end, encode
        self.file = open(path, "rb")
        self.file.seek(start)
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.carry = ""  # the last character read: next chunk's first input
        self.at_bof = start == 0

    def _read_chars(self, n: int) -> str:
        out = ""
        while len(out) < n and self.pos < self.end:
            size = min(n - len(out), self.end - self.pos)  # one byte gives at most one character
            data = self.file.read(size)
            pending = len(self.decoder.getstate()[0])
            try:
                text = self.decoder.decode(data, final=self.pos + len(data) >= self.end)
            except UnicodeDecodeError as err:
                self.close()
                offset = self.pos - pending + err.start
                raise DataError(
                    f"{self.path!r} is not valid UTF-8 text: byte offset {offset} (line {_line_of(self.path, offset)}) "
                    f"cannot be decoded ({err.reason})."
                ) from None
            if self.at_bof and text.startswith("\ufeff"):
                text = text[1:]
            self.at_bof = self.at_bof and not text and not data
            self.pos += len(data)
            out += text
        return out

    def take(self, k: int):
        text = self.carry + self._read_chars(k + (0 if self.carry else 1))
        if len(text) < 2:
            self.carry = text
            empty = torch.zeros(0, dtype=torch.int64)
            return empty, empty
        ids = torch.tensor(self.encode(text), dtype=torch.int64)  # (n + 1,)
        self.carry = text[-1]
        return ids[:-1], ids[1:]

    def close(self):
        self.file.close()


def _line_of(path: str, offset: int) -> int:
    line, done = 1, 0
    with open(path, "rb") as f:
        while done < offset:
            block = f.read(min(1 << 20, offset - done))
            if not block:
                break
            line += block.count(b"\n")
            done += len(block)
    return line


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


def _char_start(f, offset: int, end: int) -> int:
    """The first byte at or after ``offset`` that starts a UTF-8 character."""
    f.seek(offset)
    while offset < end:
        byte = f.read(1)
        if not byte or (byte[0] & 0xC0) != 0x80:
            break
        offset += 1
    return offset


def _encoder(vocab) -> Callable[[str], List[int]]:
    if hasattr(vocab, "encode"):
        return vocab.encode
    if callable(vocab):
        return vocab
    raise TypeError(f"Received an invalid value for argument `vocab`: expected a Vocab (or a function str -> ids), got {type(vocab).__name__}.")


def stream_text_file(path, vocab, *, batch_size: int, chunk_length: int, ignore_index: int = -100) -> ChunkStream:
    """One long UTF-8 text file as B character streams (batchify layout), read incrementally.

    Row b covers bytes [b S / B, (b + 1) S / B) of the file of S bytes (moved to character
    starts); inputs are character ids and targets the next character's id within the row.
    """
    p = str(check_path(path))
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_length = check_positive_int(chunk_length, "chunk_length")
    encode = _encoder(vocab)
    size = os.path.getsize(p)
    if size < 2 * batch_size:
        raise DataError(f"{p!r} is too short ({size} bytes) for batch_size={batch_size}: expected at least {2 * batch_size} bytes.")
    with open(p, "rb") as f:
        bounds = [_char_start(f, b * size // batch_size, size) for b in range(batch_size)] + [size]

    def queues():
        return [iter([_TextSource(p, bounds[b], bounds[b + 1], encode)]) for b in range(batch_size)]

    return ChunkStream(queues, batch_size, chunk_length, target_padding=ignore_index, description=f"stream_text_file({p!r})")


def stream_text_files(paths: Sequence, vocab, *, batch_size: int, chunk_length: int, ignore_index: int = -100) -> ChunkStream:
    """Many UTF-8 text files (one sequence each) over B rows; a row resets when it opens the next file."""
    if isinstance(paths, (str, bytes, os.PathLike)) or not paths:
        raise ValueError(f"Received an invalid value for argument `paths`: expected a non-empty list of file paths, got {paths!r}.")
    checked = [str(check_path(p, "paths")) for p in paths]
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_length = check_positive_int(chunk_length, "chunk_length")
    encode = _encoder(vocab)

    def queues():
        shared = (_TextSource(p, 0, os.path.getsize(p), encode) for p in checked)
        return [shared] * batch_size

    return ChunkStream(queues, batch_size, chunk_length, target_padding=ignore_index, description="stream_text_files")


def iter_text_blocks(path, block_chars: int = 1 << 16) -> Iterator[str]:
    """A UTF-8 file as consecutive blocks of at most ``block_chars`` characters, read incrementally
    (for building a vocabulary of a file too large to hold: ``Vocab.build(map(list, iter_text_blocks(p)))``)."""
    p = str(check_path(path))
    block_chars = check_positive_int(block_chars, "block_chars")
    source = _TextSource(p, 0, os.path.getsize(p), lambda s: [])
    try:
        while True:
            text = source._read_chars(block_chars)
            if not text:
                return
            yield text
    finally:
        source.close()
