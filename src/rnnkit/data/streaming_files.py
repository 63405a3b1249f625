"""Streams read incrementally from files, for truncated BPTT: long texts and long CSV recordings.

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
import csv
import math
import os
from typing import Callable, Iterator, List, Optional, Sequence

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


# ---- CSV recordings -------------------------------------------------------------------------------
class _CsvLayout:
    """Which columns of a CSV header are inputs and which targets."""

    def __init__(self, path: str, columns, target_columns, time_column, delimiter: str):
        with open(path, "rb") as f:
            first = f.readline()
            self.data_start = f.tell()
        try:
            header_line = first.decode("utf-8").lstrip("\ufeff")
        except UnicodeDecodeError as err:
            raise DataError(f"{path!r} is not valid UTF-8 text: byte offset {err.start} (line 1) cannot be decoded.") from None
        header = [h.strip() for h in next(csv.reader([header_line], delimiter=delimiter), [])]
        if not any(header):
            raise DataError(f"{path!r} is empty: expected a header row naming the columns.")
        targets = list(target_columns or [])
        inputs = list(columns) if columns is not None else [h for h in header if h != time_column and h not in targets]
        for name in inputs + targets + ([time_column] if time_column else []):
            if name not in header:
                raise DataError(f"{path!r}: column {name!r} not found; available columns: {header}.")
        if not inputs:
            raise DataError(f"{path!r}: no input columns left (header {header}); pass `columns=`.")
        self.header, self.inputs, self.targets = header, inputs, targets
        self.input_index = [header.index(c) for c in inputs]
        self.target_index = [header.index(c) for c in targets]


class _CsvSource:
    """Lines of bytes [start, end) of a CSV file, parsed k at a time into (inputs, targets) floats."""

    def __init__(self, path: str, start: int, end: int, layout: _CsvLayout, delimiter: str):
        self.path, self.pos, self.end, self.layout, self.delimiter = path, start, end, layout, delimiter
        self.file = open(path, "rb")
        self.file.seek(start)

    def _fail(self, offset: int, what: str):
        self.close()
        raise DataError(f"{self.path!r}: {what} on line {_line_of(self.path, offset)}.")

    def take(self, k: int):
        layout = self.layout
        rows_in, rows_out = [], []
        while len(rows_in) < k and self.pos < self.end:
            offset = self.pos
            raw = self.file.readline()
            if not raw:
                break
            self.pos += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                self._fail(offset, f"text is not valid UTF-8 at byte offset {offset + err.start}")
            if not line.strip():
                continue
            fields = next(csv.reader([line], delimiter=self.delimiter))
            if len(fields) != len(layout.header):
                self._fail(offset, f"malformed line: expected {len(layout.header)} fields like the header, got {len(fields)}")
            rows_in.append([self._number(fields[i], layout.header[i], offset) for i in layout.input_index])
            rows_out.append([self._number(fields[i], layout.header[i], offset) for i in layout.target_index])
        inputs = torch.tensor(rows_in, dtype=torch.float32).reshape(len(rows_in), len(layout.input_index))  # (n, F)
        targets = None
        if layout.target_index:
            targets = torch.tensor(rows_out, dtype=torch.float32).reshape(len(rows_out), len(layout.target_index))  # (n, G)
        return inputs, targets

    def _number(self, text: str, column: str, offset: int) -> float:
        try:
            value = float(text)
        except ValueError:
            self._fail(offset, f"non-numeric value {text.strip()[:30]!r} in column {column!r}")
        if not math.isfinite(value):
            self._fail(offset, f"missing or infinite value in column {column!r}")
        return value

    def close(self):
        self.file.close()


def _line_start(f, offset: int, start: int) -> int:
    """The first line start at or after ``offset`` (``start`` is a line start)."""
    if offset <= start:
        return start
    f.seek(offset - 1)
    f.readline()
    return f.tell()


def stream_csv_file(path, *, batch_size: int, chunk_length: int, columns: Optional[Sequence[str]] = None,
                    target_columns: Optional[Sequence[str]] = None, time_column: Optional[str] = None,
                    delimiter: str = ",") -> ChunkStream:
    """One long CSV recording (header row, one line per step) as B streams of float32 chunks.

    inputs: ``columns`` (default: every column but the time and target columns), (B, t, F);
    targets: ``target_columns`` at the same steps, (B, t, G), or None when not given.
    """
    p = str(check_path(path))
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_length = check_positive_int(chunk_length, "chunk_length")
    layout = _CsvLayout(p, columns, target_columns, time_column, delimiter)
    size = os.path.getsize(p)
    if size - layout.data_start < 2 * batch_size:
        raise DataError(f"{p!r} has too little data ({size - layout.data_start} bytes after the header) for batch_size={batch_size}.")
    with open(p, "rb") as f:
        span = size - layout.data_start
        bounds = [_line_start(f, layout.data_start + b * span // batch_size, layout.data_start) for b in range(batch_size)]
    bounds.append(size)

    def queues():
        return [iter([_CsvSource(p, bounds[b], bounds[b + 1], layout, delimiter)]) for b in range(batch_size)]

    return ChunkStream(queues, batch_size, chunk_length, description=f"stream_csv_file({p!r})")


def stream_csv_files(paths: Sequence, *, batch_size: int, chunk_length: int, columns: Optional[Sequence[str]] = None,
                     target_columns: Optional[Sequence[str]] = None, time_column: Optional[str] = None,
                     delimiter: str = ",") -> ChunkStream:
    """Many CSV recordings, one sequence each, over B rows; a row resets when it opens the next file."""
    if isinstance(paths, (str, bytes, os.PathLike)) or not paths:
        raise ValueError(f"Received an invalid value for argument `paths`: expected a non-empty list of file paths, got {paths!r}.")
    checked = [str(check_path(p, "paths")) for p in paths]
    batch_size = check_positive_int(batch_size, "batch_size")
    chunk_length = check_positive_int(chunk_length, "chunk_length")
    layouts = {p: _CsvLayout(p, columns, target_columns, time_column, delimiter) for p in checked}

    def queues():
        shared = (_CsvSource(p, layouts[p].data_start, os.path.getsize(p), layouts[p], delimiter) for p in checked)
        return [shared] * batch_size

    return ChunkStream(queues, batch_size, chunk_length, description="stream_csv_files")
