"""Long CSV recordings streamed incrementally for truncated BPTT: one line per time step.

Each batch row keeps one open file and parses only the next ``k`` lines (one numpy call per
chunk; a line-by-line pass runs only to name a bad line). See ``streaming.py`` for the chunk
layout and ``streaming_files.py`` for the same over text files.
"""

from __future__ import annotations

import csv
import math
import os
from typing import List, Optional, Sequence

import numpy as np
import torch

from rnnkit.data.files import DataError, check_path
from rnnkit.data.streaming import ChunkStream
from rnnkit.data.streaming_files import _line_of
from rnnkit.errors import check_positive_int


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
        lines, offsets = [], []
        while len(lines) < k and self.pos < self.end:
            offset = self.pos
            raw = self.file.readline()
            if not raw:
                break
            self.pos += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                self._fail(offset, f"text is not valid UTF-8 at byte offset {offset + err.start}")
            if line.strip():
                lines.append(line)
                offsets.append(offset)
        table = self._parse(lines, offsets)  # (n, columns) float64
        inputs = torch.from_numpy(table[:, layout.input_index]).float()  # (n, F)
        targets = torch.from_numpy(table[:, layout.target_index]).float() if layout.target_index else None  # (n, G)
        return inputs, targets

    def _parse(self, lines: List[str], offsets: List[int]) -> np.ndarray:
        """All fields of ``lines`` as floats: one numpy conversion for the chunk, and a line-by-line
        pass only to name the line when something is wrong."""
        width = len(self.layout.header)
        if not lines:
            return np.zeros((0, width))
        used = sorted(set(self.layout.input_index) | set(self.layout.target_index))
        quoted = any('"' in line for line in lines)
        if not quoted and all(line.count(self.delimiter) == width - 1 for line in lines):
            try:
                table = np.zeros((len(lines), width))
                table[:, used] = np.loadtxt(lines, delimiter=self.delimiter, usecols=used, ndmin=2, dtype=np.float64,
                                            comments=None)
                if np.isfinite(table).all():
                    return table
            except ValueError:
                pass
        fields = [next(csv.reader([line], delimiter=self.delimiter)) for line in lines]
        if all(len(f) == width for f in fields):
            try:
                table = np.zeros((len(lines), width))
                table[:, used] = np.asarray([[f[i] for i in used] for f in fields]).astype(np.float64)
                if np.isfinite(table).all():
                    return table
            except ValueError:
                pass
        for f, offset in zip(fields, offsets):  # find and name the bad line
            if len(f) != width:
                self._fail(offset, f"malformed line: expected {width} fields like the header, got {len(f)}")
            for i in used:
                self._number(f[i], self.layout.header[i], offset)
        raise AssertionError("unreachable: a chunk failed to parse but every line parsed")  # pragma: no cover

    def _number(self, text: str, column: str, offset: int) -> float:
        if not text.strip():
            self._fail(offset, f"missing value in column {column!r}")
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
