"""The resolved options of one training run, from defaults, a TOML file and the command line.

Precedence, lowest first: ``RunConfig`` defaults, the task's defaults for the chosen built-in
dataset, the TOML file (``--config``), then options given on the command line. Task-specific
settings live in ``options`` (a TOML table named after the task, or ``--option KEY=VALUE``)
and are checked by the task's own frozen dataclass, so a typo is an error, not ignored.

Example TOML::

    task = "classify"
    dataset = "JapaneseVowels"
    cell = "gru"
    hidden = 128
    epochs = 40

    [classify]
    pooling = "mean"
"""

from __future__ import annotations

import dataclasses
import numbers
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from rnnkit.errors import check_choice, describe

TASK_NAMES = ("classify", "tag", "translate", "lm", "forecast")
CELL_NAMES = ("lstm", "gru", "rnn")
LR_SCHEDULES = ("constant", "cosine", "plateau")
KEEP_CHOICES = ("val_loss", "val_accuracy", "last")  # which epoch's weights a run keeps (tasks/run.py)


def _check_number(value, name, *, integer=False, low=None, low_open=False, high=None):
    bad = isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real)
    if not bad and low is not None:
        bad = value <= low if low_open else value < low
    if not bad and high is not None:
        bad = value > high
    if bad:
        kind = "an integer" if integer else "a number"
        bound = "" if low is None else f" {'>' if low_open else '>='} {low}"
        bound += "" if high is None else f" and <= {high}"
        raise ValueError(f"Received an invalid value for option `{name}`: expected {kind}{bound}, got {describe(value)}.")
    return int(value) if integer else float(value)


@dataclass(frozen=True)
class RunConfig:
    task: str
    dataset: Optional[str] = None  # a built-in dataset name (`rnnkit datasets`)
    data: Optional[str] = None  # or a path to the user's file
    cell: str = "lstm"
    hidden: int = 64
    layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0  # between recurrent layers
    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    lr_schedule: str = "constant"  # or "cosine" (per step, down to 0) or "plateau" (halves when the loss stalls; tasks/run.py)
    seed: int = 0
    clip_norm: float = 1.0  # gradient norm clipping; 0 turns it off
    validation: float = 0.1  # fraction of the training part held out for validation
    keep: str = "val_loss"  # the epoch kept: lowest validation loss, highest validation accuracy, or the last
    options: Mapping[str, Any] = field(default_factory=dict)  # task-specific, checked by the task

    def __post_init__(self):
        check_choice(self.task, TASK_NAMES, "task")
        check_choice(self.cell, CELL_NAMES, "cell")
        check_choice(self.lr_schedule, LR_SCHEDULES, "lr_schedule")
        check_choice(self.keep, KEEP_CHOICES, "keep")
        if (self.dataset is None) == (self.data is None):
            raise ValueError(
                "Received an invalid value for options `--dataset` and `--data`: expected exactly one of them "
                f"(a built-in dataset name or a file path), got dataset={self.dataset!r}, data={self.data!r}."
            )
        for name in ("hidden", "layers", "epochs", "batch_size"):
            _check_number(getattr(self, name), name, integer=True, low=1)
        _check_number(self.seed, "seed", integer=True, low=0)
        _check_number(self.lr, "lr", low=0, low_open=True)
        _check_number(self.dropout, "dropout", low=0, high=0.99)
        _check_number(self.clip_norm, "clip_norm", low=0)
        _check_number(self.validation, "validation", low=0, high=0.5)
        if not isinstance(self.bidirectional, bool):
            raise ValueError(f"Received an invalid value for option `bidirectional`: expected true or false, "
                             f"got {describe(self.bidirectional)}.")
        if not isinstance(self.options, Mapping):
            raise ValueError(f"Received an invalid value for option `options`: expected a table, got {describe(self.options)}.")

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["options"] = dict(self.options)
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "RunConfig":
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"Received unknown option(s) {unknown}; expected some of {sorted(cls.field_names())}.")
        return cls(**values)


def read_toml(path) -> dict:
    """A TOML file as a dict, with messages that name the file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"Received an invalid value for option `--config`: no such file {str(path)!r}.") from None
    except IsADirectoryError:
        raise ValueError(f"Received an invalid value for option `--config`: {str(path)!r} is a directory, expected a TOML file.") from None
    except PermissionError:
        raise ValueError(f"Received an invalid value for option `--config`: cannot read {str(path)!r} (permission denied).") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(f"Received an invalid value for option `--config`: {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start}).") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"Received an invalid value for option `--config`: {str(path)!r} is not valid TOML ({err}).") from None


def parse_option_value(text: str):
    """``--option key=VALUE``: VALUE read as a TOML value (number, true/false, "string", [list]),
    or taken as a plain string when it is not one."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def resolve(task: str, *, file_values: Optional[Mapping] = None, cli_values: Optional[Mapping] = None,
            task_defaults=None) -> RunConfig:
    """Merge defaults, the TOML file and command-line values into one checked RunConfig.

    ``task_defaults(dataset) -> dict`` gives the task's defaults for a built-in dataset, or for
    a user's file when ``dataset`` is None.
    """
    file_values = dict(file_values or {})
    cli_values = dict(cli_values or {})
    file_task = file_values.pop("task", task)
    if file_task != task:
        raise ValueError(f"Received an invalid value for option `--config`: the file is for task {file_task!r}, "
                         f"but the command trains {task!r}.")
    file_options = {}
    for name in TASK_NAMES:  # task tables; only the current task's is used, others are ignored
        table = file_values.pop(name, None)
        if name == task and table is not None:
            if not isinstance(table, Mapping):
                raise ValueError(f"Received an invalid value for option `[{name}]`: expected a TOML table, got {describe(table)}.")
            file_options = dict(table)
    unknown = sorted(set(file_values) - set(RunConfig.field_names()) - {"options"})
    if unknown:
        raise ValueError(f"Received unknown option(s) {unknown} in the --config file; expected some of "
                         f"{sorted(set(RunConfig.field_names()) - {'task', 'options'})} or a [{task}] table.")
    cli_options = dict(cli_values.pop("options", {}) or {})
    merged = {**file_values, **cli_values}
    if "dataset" in cli_values or "data" in cli_values:  # a source on the command line replaces the file's
        for key in ("dataset", "data"):
            if key not in cli_values:
                merged.pop(key, None)
    defaults = dict(task_defaults(merged.get("dataset")) if task_defaults else {})  # dataset None: a user file
    options = {**dict(defaults.pop("options", {})), **dict(file_values.pop("options", {}) or {}), **file_options, **cli_options}
    merged.pop("options", None)
    values = {**defaults, **merged, "task": task, "options": options}
    return RunConfig.from_dict(values)


def task_options(cls, values: Mapping[str, Any], task: str):
    """Build a task's frozen options dataclass, refusing unknown keys and checking types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"Received unknown option(s) {unknown} for task {task!r}; expected some of {sorted(fields)}.")
    out = {}
    for name, value in values.items():
        default = getattr(cls, name, None) if fields[name].default is not dataclasses.MISSING else None
        if isinstance(default, tuple) and isinstance(value, (list, tuple, str)):
            out[name] = (value,) if isinstance(value, str) else tuple(value)
            continue
        if default is not None and not isinstance(value, type(default)) and not (
                isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)):
            raise ValueError(f"Received an invalid value for option `{name}` of task {task!r}: expected "
                             f"{type(default).__name__} like {default!r}, got {describe(value)}.")
        out[name] = float(value) if isinstance(default, float) else value
    return cls(**out)


def check_positive_options(options, names) -> None:
    """Refuse any of the options ``names`` of a task's options dataclass that is below 1."""
    for name in names:
        value = getattr(options, name)
        if value < 1:
            raise ValueError(f"Received an invalid value for option `{name}`: "
                             f"expected a positive integer, got {value}.")
