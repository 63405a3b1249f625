"""Opening user files: one place for the errors every reader shares.

Every reader goes through :func:`read_text_file`, so a missing file, a directory, an unreadable
file, an empty file and text that is not UTF-8 give the same clear message everywhere. The
errors are :class:`DataError` (a ``ValueError``), so a caller catches one type; a missing file
is also a ``FileNotFoundError`` and an unreadable one a ``PermissionError``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

PathLike = Union[str, os.PathLike]


class DataError(ValueError):
    """Bad input data: the message names the file (or argument), what was expected and what was got."""


class DataFileNotFoundError(DataError, FileNotFoundError):
    """The file named by the user does not exist."""


class DataFileUnreadableError(DataError, PermissionError):
    """The file exists but cannot be read (a directory, no permission, an I/O error)."""


def check_path(path, argument: str = "path") -> Path:
    """Return ``path`` as a Path to an existing, readable regular file, or raise naming ``argument``."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"Received an invalid value for argument `{argument}`: expected a file path (str or "
            f"os.PathLike), got {type(path).__name__}."
        )
    p = Path(path)
    if not p.exists():
        raise DataFileNotFoundError(f"File not found for argument `{argument}`: {str(p)!r} does not exist.")
    if p.is_dir():
        raise DataFileUnreadableError(
            f"Received an invalid value for argument `{argument}`: expected a file, got the directory {str(p)!r}."
        )
    if not os.access(p, os.R_OK):
        raise DataFileUnreadableError(f"Cannot read {str(p)!r} (argument `{argument}`): permission denied.")
    return p


def decode_utf8(data: bytes, path: PathLike, *, start_offset: int = 0, start_line: int = 1) -> str:
    """Decode ``data`` as UTF-8, or raise a DataError naming the file, byte offset and line.

    ``start_offset``/``start_line`` place ``data`` inside the file when it is one block of many.
    A UTF-8 byte-order mark at the very start of the file is dropped.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        offset = start_offset + err.start
        line = start_line + data.count(b"\n", 0, err.start)
        bad = data[err.start:err.start + 4]
        raise DataError(
            f"{str(path)!r} is not valid UTF-8 text: byte {bad[:1]!r} at byte offset {offset} "
            f"(line {line}) cannot be decoded ({err.reason}). Convert the file to UTF-8."
        ) from None
    if start_offset == 0 and text.startswith("\ufeff"):
        text = text[1:]
    return text


def read_text_file(path, argument: str = "path", *, allow_empty: bool = False) -> str:
    """Read a whole UTF-8 text file with clear errors (missing, unreadable, empty, not UTF-8)."""
    p = check_path(path, argument)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise DataFileUnreadableError(f"Cannot read {str(p)!r} (argument `{argument}`): {err.strerror or err}.") from None
    text = decode_utf8(data, p)
    if not allow_empty and not text.strip():
        raise DataError(f"{str(p)!r} (argument `{argument}`) is empty: expected at least one record.")
    return text


def infer_format(path: Path, allowed: dict, argument: str = "format") -> str:
    """The file format from the suffix (``allowed`` maps suffix -> format name), or a clear error."""
    suffix = path.suffix.lower()
    if suffix in allowed:
        return allowed[suffix]
    raise DataError(
        f"Cannot infer the format of {str(path)!r} from its suffix {suffix!r}: expected one of "
        f"{sorted(allowed)}; pass `{argument}=` explicitly (one of {sorted(set(allowed.values()))})."
    )
