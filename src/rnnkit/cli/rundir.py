"""Run directories: refuse to clobber, never leave half-written output.

A run directory holds ``run.json`` (task, rnnkit version, files), ``config.json`` (the
resolved options), ``task.json`` (what the task learned from its data: vocabulary, class
names, scaler), ``model.safetensors``, ``metrics.json`` (``{"test": {metric: value}}``),
``history.json`` and PNG plots.

``RunWriter`` writes everything into a hidden temporary directory beside the target and
renames it into place only when the command succeeded; on any error the temporary directory
is removed and an existing run is left exactly as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

from rnnkit.cli.errors import CLIError

MARKER = "run.json"


def is_run_dir(path: Path) -> bool:
    return (path / MARKER).is_file()


def check_out_dir(out, *, overwrite: bool) -> Path:
    """The target path for a new run, refused when it would destroy something.

    An existing run is replaced only with ``overwrite``; an existing file, or a non-empty
    directory that is not an rnnkit run, is never replaced (it is not ours to delete).
    """
    path = Path(out)
    if path.exists() or path.is_symlink():
        if path.is_file() or path.is_symlink():
            raise CLIError(f"--out {out}: a file with that name exists; choose another directory.")
        if is_run_dir(path):
            if not overwrite:
                raise CLIError(f"--out {out}: a run already exists there; pass --overwrite to replace it, "
                               "or choose another directory.")
        elif any(path.iterdir()):
            raise CLIError(f"--out {out}: the directory exists and is not an rnnkit run (no {MARKER}); "
                           "refusing to replace it, even with --overwrite.")
    return path


class RunWriter:
    """Context manager: ``with RunWriter(out, overwrite=...) as tmp: write files into tmp``."""

    def __init__(self, out, *, overwrite: bool = False):
        self.out = check_out_dir(out, overwrite=overwrite)
        self.tmp: Optional[Path] = None

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)  # e.g. runs/ for --out runs/demo
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o777 & ~umask)  # mkdtemp made it private; a run is an ordinary directory
        old = None
        if self.out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.out.parent))
            old.rmdir()
            self.out.rename(old)  # the previous run stays whole until the new one is in place
        try:
            self.tmp.rename(self.out)
        except BaseException:
            if old is not None:
                old.rename(self.out)
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return False


def read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CLIError(f"{path}: missing; is {path.parent} a complete rnnkit run?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CLIError(f"{path}: not a valid {what} file ({err}).") from None


def open_run(run_dir, *, task: Optional[str] = None, command: str = "") -> dict:
    """Read ``run.json`` of an existing run, checking it belongs to ``task`` when given."""
    path = Path(run_dir)
    if not path.exists():
        raise CLIError(f"{run_dir}: no such run directory.")
    if not path.is_dir():
        raise CLIError(f"{run_dir}: not a directory (expected a run written by `rnnkit train`).")
    if not is_run_dir(path):
        raise CLIError(f"{run_dir}: not an rnnkit run directory (no {MARKER}); train one with `rnnkit train`.")
    info = read_json(path / MARKER, "run")
    if task is not None and info.get("task") != task:
        raise CLIError(f"{run_dir}: this is a `{info.get('task')}` run; `rnnkit {command}` needs a `{task}` run.")
    return info
