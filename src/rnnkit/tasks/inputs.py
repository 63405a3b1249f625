"""Reading the INPUT of ``rnnkit predict``: texts or series, one sample per line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _read(path) -> str:
    from rnnkit.data.files import read_text_file

    return read_text_file(path, "INPUT")


def read_text_inputs(path, text_column: str = "text"):
    """Texts from a .txt file (one per line), CSV/TSV (the text column) or JSONL."""
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv", ".jsonl", ".ndjson"):
        import csv
        import io

        text = _read(path)
        if suffix in (".jsonl", ".ndjson"):
            rows = []
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path}: line {number} is not valid JSON ({err.msg}).") from None
                    if not isinstance(record, dict) or text_column not in record:
                        raise ValueError(f"{path}: line {number} has no {text_column!r} field.")
                    rows.append(str(record[text_column]))
            return _nonempty(rows, path)
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        if text_column not in (reader.fieldnames or []):
            raise ValueError(f"{path}: column {text_column!r} not found; available columns: {reader.fieldnames}.")
        return _nonempty([row[text_column] or "" for row in reader], path)
    return _nonempty([line for line in _read(path).splitlines() if line.strip()], path)


def read_series_lines(path, *, channels: int):
    """Series from a file with one series per line: ``1.0,2.5,3.1`` (univariate) or a JSON list
    of steps, each a list of ``channels`` numbers. Returns a list of (T, channels) arrays."""
    series = []
    for number, line in enumerate(_read(path).splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            values = json.loads(line) if line.startswith("[") else [float(v) for v in line.split(",")]
            array = np.asarray(values, dtype=np.float64)
        except (ValueError, TypeError, json.JSONDecodeError):
            raise ValueError(f"{path}: line {number} is not a series of numbers: {line[:60]!r}.") from None
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] != channels or array.shape[0] == 0:
            raise ValueError(f"{path}: line {number}: expected a series with {channels} channel(s) per step, "
                             f"got shape {array.shape}.")
        if not np.isfinite(array).all():
            raise ValueError(f"{path}: line {number} contains a missing or non-finite value.")
        series.append(array)
    return _nonempty(series, path)


def _nonempty(rows, path):
    if not rows:
        raise ValueError(f"{path} is empty: expected at least one sample.")
    return rows
