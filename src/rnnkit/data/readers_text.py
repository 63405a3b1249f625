"""Readers for text data: classification (CSV/TSV/JSONL), CoNLL tagging, TSV sentence pairs, plain text.

All of them read UTF-8 only, and their errors name the file and, for a bad record, the line
number (1-based, counting the header): a missing file, a directory, a non-UTF-8 byte (with
its byte offset and line), a missing column (listing those available), a malformed line, an
empty dataset, a single class where a classifier needs two.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from rnnkit.data.files import DataError, check_path, infer_format, read_text_file
from rnnkit.errors import check_positive_int

_TEXT_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class LabeledTexts:
    """Texts with one string label each (classification)."""

    texts: List[str]
    labels: List[str]

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def classes(self) -> List[str]:
        """Distinct labels, sorted (numerically when every label is an integer)."""
        return sort_labels(set(self.labels))

    def label_ids(self, classes: Optional[Sequence[str]] = None) -> List[int]:
        """Labels as ids into ``classes`` (default: this set's own); unknown labels are an error."""
        classes = list(self.classes if classes is None else classes)
        index = {c: i for i, c in enumerate(classes)}
        missing = sorted(set(self.labels) - set(index))
        if missing:
            raise DataError(f"Labels {missing[:5]} are not among the known classes {classes[:20]}.")
        return [index[label] for label in self.labels]


@dataclass(frozen=True)
class TaggedSentences:
    """Token sequences with one tag per token (CoNLL)."""

    tokens: List[List[str]]
    tags: List[List[str]]

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class TextPairs:
    """Aligned source and target strings (translation, date normalization)."""

    sources: List[str]
    targets: List[str]

    def __len__(self) -> int:
        return len(self.sources)


def sort_labels(labels) -> List[str]:
    labels = list(labels)
    try:
        return sorted(labels, key=lambda s: (int(s), s))
    except (TypeError, ValueError):
        return sorted(labels)


def _missing_column(path, column, available, line: Optional[int] = None) -> DataError:
    where = f" on line {line}" if line is not None else ""
    return DataError(f"{str(path)!r}: column {column!r} not found{where}; available columns: {list(available)}.")


def read_text_classification(path, *, text_column: str = "text", label_column: str = "label",
                             format: Optional[str] = None, min_classes: int = 2) -> LabeledTexts:
    """Read (text, label) records from a CSV/TSV file with a header row, or from JSON Lines.

    ``format`` is ``"csv"``, ``"tsv"`` or ``"jsonl"``, inferred from the suffix by default.
    ``min_classes=2`` rejects a training file with a single class; pass 1 for a test file.
    """
    min_classes = check_positive_int(min_classes, "min_classes")
    p = check_path(path)
    fmt = format or infer_format(p, _TEXT_FORMATS)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(f"Received an invalid value for argument `format`: expected 'csv', 'tsv' or 'jsonl', got {fmt!r}.")
    text = read_text_file(p)
    if fmt == "jsonl":
        texts, labels = _read_jsonl(p, text, text_column, label_column)
    else:
        texts, labels = _read_csv(p, text, text_column, label_column, "\t" if fmt == "tsv" else ",")
    if not texts:
        raise DataError(f"{str(p)!r} is empty: expected at least one record after the header.")
    classes = set(labels)
    if len(classes) < min_classes:
        raise DataError(
            f"{str(p)!r} has a single class ({next(iter(classes))!r} in all {len(labels)} records): a "
            f"classifier needs at least {min_classes} classes in column {label_column!r}."
        )
    return LabeledTexts(texts, labels)


def _read_csv(path, text: str, text_column: str, label_column: str, delimiter: str):
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as err:
        raise DataError(f"{str(path)!r}: malformed CSV on line 1: {err}.") from None
    header = [h.strip() for h in header]
    for column in (text_column, label_column):
        if column not in header:
            raise _missing_column(path, column, header)
    ti, li = header.index(text_column), header.index(label_column)
    texts, labels = [], []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise DataError(f"{str(path)!r}: malformed CSV on line {reader.line_num}: {err}.") from None
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if len(row) != len(header):
            raise DataError(
                f"{str(path)!r}: malformed line {reader.line_num}: expected {len(header)} fields like the "
                f"header {header}, got {len(row)}."
            )
        label = row[li].strip()
        if not label:
            raise DataError(f"{str(path)!r}: empty label in column {label_column!r} on line {reader.line_num}.")
        texts.append(row[ti])
        labels.append(label)
    return texts, labels


def _read_jsonl(path, text: str, text_column: str, label_column: str):
    texts, labels = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{str(path)!r}: malformed JSON on line {number}: {err.msg} (column {err.colno}).") from None
        if not isinstance(record, dict):
            raise DataError(f"{str(path)!r}: line {number} is not a JSON object (got {type(record).__name__}).")
        for column in (text_column, label_column):
            if column not in record:
                raise _missing_column(path, column, record.keys(), number)
        value = record[text_column]
        if not isinstance(value, str):
            raise DataError(f"{str(path)!r}: column {text_column!r} on line {number} is {type(value).__name__}, expected a string.")
        label = record[label_column]
        if isinstance(label, (dict, list)) or label is None or str(label).strip() == "":
            raise DataError(f"{str(path)!r}: label {label!r} in column {label_column!r} on line {number} is not a class name.")
        texts.append(value)
        labels.append(str(label).strip())
    return texts, labels


def read_conll(path, *, token_column: int = 0, tag_column: int = -1, delimiter: Optional[str] = None) -> TaggedSentences:
    """Read a CoNLL file: one token per line with its columns, sentences separated by blank lines.

    ``token_column``/``tag_column`` index the columns (negative counts from the end);
    ``delimiter=None`` splits on any whitespace, ``"\\t"`` on tabs only (tokens with spaces).
    ``-DOCSTART-`` lines are skipped.
    """
    p = check_path(path)
    text = read_text_file(p)
    sentences, tags, tokens_now, tags_now = [], [], [], []
    # Columns needed on every line: enough for both indices (a negative one counts from the end).
    needed = max(2, *(c + 1 if c >= 0 else -c for c in (token_column, tag_column)))
    if token_column == tag_column:
        raise ValueError(
            f"Received invalid values for `token_column` and `tag_column`: expected two different columns, got "
            f"{token_column} and {tag_column}."
        )
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            if tokens_now:
                sentences.append(tokens_now)
                tags.append(tags_now)
                tokens_now, tags_now = [], []
            continue
        if stripped.startswith("-DOCSTART-"):
            continue
        fields = line.rstrip("\r\n").split(delimiter) if delimiter else stripped.split()
        if len(fields) < needed:
            raise DataError(
                f"{str(p)!r}: malformed line {number}: expected at least {needed} columns (token and tag), "
                f"got {len(fields)}: {line[:60]!r}."
            )
        tokens_now.append(fields[token_column])
        tags_now.append(fields[tag_column])
    if tokens_now:
        sentences.append(tokens_now)
        tags.append(tags_now)
    if not sentences:
        raise DataError(f"{str(p)!r} is empty: expected at least one sentence (only -DOCSTART- or blank lines found).")
    return TaggedSentences(sentences, tags)


def read_sentence_pairs(path, *, source_column: int = 0, target_column: int = 1, header: bool = False) -> TextPairs:
    """Read tab-separated sentence pairs, one pair per line (``source<TAB>target``).

    Extra columns (for example attribution, as in the Tatoeba/ManyThings files) are ignored.
    ``header=True`` skips the first line.
    """
    p = check_path(path)
    text = read_text_file(p)
    needed = max(source_column, target_column) + 1
    sources, targets = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if header and number == 1 or not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < needed:
            raise DataError(
                f"{str(p)!r}: malformed line {number}: expected at least {needed} tab-separated columns, got "
                f"{len(fields)}: {line[:60]!r}."
            )
        source, target = fields[source_column].strip(), fields[target_column].strip()
        if not source or not target:
            raise DataError(f"{str(p)!r}: malformed line {number}: empty {'source' if not source else 'target'} text.")
        sources.append(source)
        targets.append(target)
    if not sources:
        raise DataError(f"{str(p)!r} is empty: expected at least one sentence pair.")
    return TextPairs(sources, targets)


def read_text(path) -> str:
    """Read a whole UTF-8 text file for a language model (non-empty; a BOM is dropped)."""
    return read_text_file(path)


def read_texts(paths: Sequence) -> Dict[str, str]:
    """Read several text files into ``{path: text}`` (e.g. a corpus held out by whole files)."""
    if isinstance(paths, (str, bytes)) or not paths:
        raise ValueError(f"Received an invalid value for argument `paths`: expected a non-empty list of paths, got {paths!r}.")
    return {str(p): read_text_file(p, "paths") for p in paths}
