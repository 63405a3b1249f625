"""Time series from CSV or Parquet files, univariate or multivariate, with an optional time column.

A series is a table: one row per time step, one column per variable. CSV is read with the
standard library; Parquet needs pandas and pyarrow, imported only when a Parquet file is read.
Every value must be a finite number: a missing or non-numeric cell is an error naming the
line (CSV) or row (Parquet) and the column, because forecasters cannot train on holes.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from rnnkit.data.deps import require
from rnnkit.data.files import DataError, check_path, infer_format, read_text_file
from rnnkit.errors import check_positive_int

_SERIES_FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class TimeSeries:
    """values (T, F) float64, one name per column, and the time stamps (T,) when known."""

    values: np.ndarray
    columns: List[str]
    time: Optional[np.ndarray] = None
    name: str = ""

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def num_features(self) -> int:
        return self.values.shape[1]

    def split(self, test_size: int) -> Tuple["TimeSeries", "TimeSeries"]:
        """(train, test): the last ``test_size`` steps are the test part."""
        test_size = check_positive_int(test_size, "test_size")
        if test_size >= len(self):
            raise ValueError(
                f"Received an invalid value for argument `test_size`: expected fewer steps than the series "
                f"length {len(self)}, got {test_size}."
            )
        cut = len(self) - test_size
        time = (None, None) if self.time is None else (self.time[:cut], self.time[cut:])
        return (TimeSeries(self.values[:cut], self.columns, time[0], self.name),
                TimeSeries(self.values[cut:], self.columns, time[1], self.name))


def read_time_series(path, *, columns: Optional[Sequence[str]] = None, time_column: Optional[str] = None,
                     format: Optional[str] = None) -> TimeSeries:
    """Read a time series table from CSV/TSV (header row required) or Parquet.

    ``columns``: the variables to read, in this order (default: every column but the time
    column). ``time_column``: a column of time stamps kept as given (strings for CSV).
    """
    p = check_path(path)
    fmt = format or infer_format(p, _SERIES_FORMATS)
    if fmt not in ("csv", "tsv", "parquet"):
        raise ValueError(f"Received an invalid value for argument `format`: expected 'csv', 'tsv' or 'parquet', got {fmt!r}.")
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        columns = list(columns)
        if not columns:
            raise ValueError("Received an invalid value for argument `columns`: expected at least one column name, got [].")
    if fmt == "parquet":
        header, rows, row_label = _parquet_table(p)
    else:
        header, rows, row_label = _csv_table(p, "\t" if fmt == "tsv" else ",")
    if time_column is not None and time_column not in header:
        raise DataError(f"{str(p)!r}: time column {time_column!r} not found; available columns: {header}.")
    wanted = columns if columns is not None else [h for h in header if h != time_column]
    for column in wanted:
        if column not in header:
            raise DataError(f"{str(p)!r}: column {column!r} not found; available columns: {header}.")
    if not wanted:
        raise DataError(f"{str(p)!r} has no value columns besides the time column {time_column!r}.")
    if not rows:
        raise DataError(f"{str(p)!r} is empty: expected at least one row of values after the header.")
    indices = [header.index(c) for c in wanted]
    values = np.empty((len(rows), len(wanted)), dtype=np.float64)  # (T, F)
    for r, row in enumerate(rows):
        for f, (column, i) in enumerate(zip(wanted, indices)):
            values[r, f] = _number(row[i], p, column, row_label(r))
    time = None
    if time_column is not None:
        ti = header.index(time_column)
        time = np.array([row[ti] for row in rows])
    return TimeSeries(values, wanted, time, p.stem)


def _number(cell, path, column: str, where: str) -> float:
    if isinstance(cell, str):
        text = cell.strip()
        if not text:
            raise DataError(f"{str(path)!r}: missing value in column {column!r} on {where}.")
        try:
            value = float(text)
        except ValueError:
            raise DataError(f"{str(path)!r}: non-numeric value {text[:30]!r} in column {column!r} on {where}.") from None
    else:
        try:
            value = float(cell)
        except (TypeError, ValueError):
            raise DataError(f"{str(path)!r}: non-numeric value {cell!r} in column {column!r} on {where}.") from None
    if not math.isfinite(value):
        raise DataError(f"{str(path)!r}: missing or infinite value ({value}) in column {column!r} on {where}.")
    return value


def _csv_table(path, delimiter: str):
    text = read_text_file(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows, lines = [], []
    header = None
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if header is None:
                header = [h.strip() for h in row]
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{str(path)!r}: malformed line {reader.line_num}: expected {len(header)} fields like the header "
                    f"{header}, got {len(row)}."
                )
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as err:
        raise DataError(f"{str(path)!r}: malformed CSV on line {reader.line_num}: {err}.") from None
    return header or [], rows, lambda r: f"line {lines[r]}"


def _parquet_table(path):
    pd = require("pandas", "Reading Parquet files")
    require("pyarrow", "Reading Parquet files")
    try:
        frame = pd.read_parquet(path, engine="pyarrow")
    except Exception as err:  # pyarrow raises its own types for corrupt files
        raise DataError(f"{str(path)!r} is not a readable Parquet file: {err}.") from None
    header = [str(c) for c in frame.columns]
    rows = frame.itertuples(index=False, name=None)
    return header, list(rows), lambda r: f"row {r + 1}"
