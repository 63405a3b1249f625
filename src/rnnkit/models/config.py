"""Typed, frozen configurations for the architectures, saved and restored as JSON.

Every model takes one frozen dataclass (``ClassifierConfig``, ``Seq2SeqConfig``, ...) that
inherits ``ModelConfig``: ``config.to_dict()`` gives plain JSON values, and
``Config.from_dict(d)`` rebuilds it, refusing unknown keys so that a typo in a saved run or
a TOML file is an error rather than a silently ignored option. Each config checks its values
in ``__post_init__``, so a bad value fails where it is written, naming the field.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Mapping, Optional

from rnnkit.errors import check_choice, check_nonnegative_int, check_positive_int, check_probability, describe

CELL_NAMES = ("lstm", "gru", "rnn")


class ModelConfig:
    """Mixin for frozen dataclasses: JSON round trip with checked keys."""

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (str, int, float, bool, None, lists), ready for ``json.dump``."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        """Rebuild a config from ``to_dict()`` output; unknown keys raise ValueError."""
        if not isinstance(values, Mapping):
            raise TypeError(
                f"Received an invalid value for argument `values`: expected a mapping of {cls.__name__} "
                f"fields, got {type(values).__name__}."
            )
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"Received an invalid value for argument `values`: unknown {cls.__name__} field(s) "
                f"{unknown}; expected some of {sorted(names)}."
            )
        missing = sorted(
            f.name for f in dataclasses.fields(cls)
            if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        if missing:
            raise ValueError(f"Received an invalid value for argument `values`: {cls.__name__} needs field(s) {missing}.")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def replace(self, **changes):
        """A copy with some fields changed (and checked again)."""
        return dataclasses.replace(self, **changes)


# ---- checks used by the configs' __post_init__ -------------------------------------------------

def check_cell(value) -> str:
    return check_choice(value, CELL_NAMES, "cell")


def check_bool(value, argument: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"Received an invalid value for argument `{argument}`: expected a bool, got {describe(value)}.")
    return value


def check_optional_positive_int(value, argument: str) -> Optional[int]:
    return None if value is None else check_positive_int(value, argument)


def check_dropout(value, argument: str = "dropout") -> float:
    value = check_probability(value, argument)
    if value >= 1.0:
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected a number in [0, 1), got {value!r}.")
    return value


def check_positive_number(value, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(
            f"Received an invalid value for argument `{argument}`: expected a number > 0, got {describe(value)}."
        )
    return float(value)


def check_token_inputs(config) -> None:
    """A model reads either continuous features (``input_size``) or token ids (``vocab_size``)."""
    if (config.input_size is None) == (config.vocab_size is None):
        raise ValueError(
            "Received an invalid value for arguments `input_size` and `vocab_size`: expected exactly one of "
            f"them (features or token ids), got input_size={config.input_size!r}, vocab_size={config.vocab_size!r}."
        )
    check_optional_positive_int(config.input_size, "input_size")
    check_optional_positive_int(config.vocab_size, "vocab_size")
    check_positive_int(config.embedding_size, "embedding_size")
    if config.padding_idx is not None:
        check_nonnegative_int(config.padding_idx, "padding_idx")
        if config.vocab_size is None or config.padding_idx >= config.vocab_size:
            raise ValueError(
                f"Received an invalid value for argument `padding_idx`: expected an id below vocab_size="
                f"{config.vocab_size}, got {config.padding_idx}."
            )


def check_encoder_fields(config) -> None:
    check_cell(config.cell)
    check_positive_int(config.hidden_size, "hidden_size")
    check_positive_int(config.num_layers, "num_layers")
    check_bool(config.bidirectional, "bidirectional")
    check_dropout(config.dropout)
