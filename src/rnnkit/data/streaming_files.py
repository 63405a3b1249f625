"""Streams read incrementally from text files, for truncated BPTT (CSV recordings: ``streaming_csv.py``).

Each batch row keeps one open file and reads only what the next chunk needs: at most ``k + 1``
decoded characters (text) or ``k`` parsed lines (CSV), plus the file object's fixed-size read
buffer, never the whole file. See ``streaming.py`` for the chunk layout and the reset flags.

- One long file: its bytes are cut into B contiguous ranges (moved to the next character start
  for text, the next line start for CSV), one per row: the batchify layout.
- Many files: each file is one sequence; a row opens the next file when its own ends, and its
  ``reset`` flag is True in the chunk where the new file begins.
"""

from __future__ import annotations

import codecs
import os
from typing import Callable, Iterator, List, Sequence

import torch

from rnnkit.data.files import DataError, check_path
from rnnkit.data.streaming import ChunkStream
from rnnkit.errors import check_positive_int


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
            if not data:  # the file shrank while streaming
                self.end = self.pos
                break
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
            if text:
                self.at_bof = False
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
