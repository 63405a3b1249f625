"""Generated date-format translation: human-written dates -> ISO 8601 ("2026-11-22").

Dates run from 1950-01-01 to 2049-12-31, so a two-digit year is unambiguous: 50-99 means
19xx and 00-49 means 20xx. Month and weekday names are English and written here, not taken
from the locale, so the data is the same on every machine.

The held-out set is fixed: its dates are drawn once with :data:`HELD_OUT_SEED` (they depend
only on ``num_test``, never on the training seed), and no training pair uses any of those
dates, in any format. Training pairs are drawn with replacement from the remaining dates, each
written in a format chosen at random, with ``seed``.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable, Dict, List

import numpy as np

from rnnkit.data.dataset import Dataset, DatasetInfo
from rnnkit.data.readers_text import TextPairs
from rnnkit.errors import check_positive_int

FIRST_DATE = dt.date(1950, 1, 1)
LAST_DATE = dt.date(2049, 12, 31)
HELD_OUT_SEED = 20261122
DEFAULT_TRAIN, DEFAULT_TEST = 20_000, 2_000

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


def _weekday(d: dt.date) -> str:
    return WEEKDAYS[d.weekday()]


# name -> writer; the example in each comment is 2026-11-22 (a Sunday).
DATE_FORMATS: Dict[str, Callable[[dt.date], str]] = {
    "day_month_year": lambda d: f"{d.day} {_month(d)} {d.year}",                      # 22 November 2026
    "us_short": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",            # 11/22/26
    "weekday_abbrev": lambda d: f"{_weekday(d)}, {_month(d)[:3]} {d.day} {d.year}",   # Sunday, Nov 22 2026
    "month_day_year": lambda d: f"{_month(d)} {d.day}, {d.year}",                     # November 22, 2026
    "day_abbrev_year": lambda d: f"{d.day} {_month(d)[:3]} {d.year}",                 # 22 Nov 2026
    "european_dots": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",                 # 22.11.2026
    "year_slashes": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",                  # 2026/11/22
    "ordinal": lambda d: f"the {_ordinal(d.day)} of {_month(d)}, {d.year}",           # the 22nd of November, 2026
    "short_weekday": lambda d: f"{_weekday(d)[:3]} {d.day} {_month(d)[:3]} {d.year}", # Sun 22 Nov 2026
    "upper": lambda d: f"{_month(d).upper()} {d.day}, {d.year}",                      # NOVEMBER 22, 2026
    "compact": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",                         # 20261122
    "lower_abbrev": lambda d: f"{_month(d)[:3].lower()} {d.day} {d.year}",            # nov 22 2026
}


def format_date(date: dt.date, format: str) -> str:
    """Write ``date`` in the named format (a key of :data:`DATE_FORMATS`)."""
    if format not in DATE_FORMATS:
        raise ValueError(f"Received an invalid value for argument `format`: expected one of {sorted(DATE_FORMATS)}, got {format!r}.")
    return DATE_FORMATS[format](date)


def _render(days: np.ndarray, rng) -> TextPairs:
    names = list(DATE_FORMATS)
    choice = rng.integers(0, len(names), size=days.size)
    sources, targets = [], []
    for day, f in zip(days.tolist(), choice.tolist()):
        date = FIRST_DATE + dt.timedelta(days=day)
        sources.append(DATE_FORMATS[names[f]](date))
        targets.append(date.isoformat())
    return TextPairs(sources, targets)


def date_translation(num_train: int = DEFAULT_TRAIN, num_test: int = DEFAULT_TEST, *, seed: int = 0) -> Dataset:
    """Generate (source, "YYYY-MM-DD") pairs; train and test are disjoint by date."""
    num_train = check_positive_int(num_train, "num_train")
    num_test = check_positive_int(num_test, "num_test")
    total = (LAST_DATE - FIRST_DATE).days + 1
    if num_test > total // 2:
        raise ValueError(f"Received an invalid value for argument `num_test`: expected at most {total // 2} held-out dates, got {num_test}.")
    held_rng = np.random.default_rng(HELD_OUT_SEED)
    test_days = np.sort(held_rng.choice(total, size=num_test, replace=False))
    test = _render(test_days, held_rng)
    remaining = np.setdiff1d(np.arange(total), test_days, assume_unique=True)
    rng = np.random.default_rng(seed)
    train = _render(rng.choice(remaining, size=num_train, replace=True), rng)
    metadata = {"formats": list(DATE_FORMATS), "first_date": FIRST_DATE.isoformat(), "last_date": LAST_DATE.isoformat(),
                "held_out_seed": HELD_OUT_SEED, "seed": seed, "target_length": 10}
    return Dataset("dates", "translate", train, test, None, metadata)


def dates_info() -> DatasetInfo:
    return DatasetInfo(
        "dates", "translate",
        f"dates written in {len(DATE_FORMATS)} formats ('22 November 2026', '11/22/26', 'Sunday, Nov 22 2026', ...) "
        "-> '2026-11-22'; held-out dates never seen in training",
        "generated by rnnkit (seeded)", {"train": DEFAULT_TRAIN, "test": DEFAULT_TEST})


def all_formats(date: dt.date) -> List[str]:
    """The date in every format (for tests and demos)."""
    return [writer(date) for writer in DATE_FORMATS.values()]
