import datetime as dt

import pytest

from rnnkit.data import DATE_FORMATS, date_translation, format_date
from rnnkit.data.dates import FIRST_DATE, LAST_DATE, all_formats


def test_formats_of_the_issue_example():
    d = dt.date(2026, 11, 22)
    assert format_date(d, "day_month_year") == "22 November 2026"
    assert format_date(d, "us_short") == "11/22/26"
    assert format_date(d, "weekday_abbrev") == "Sunday, Nov 22 2026"
    assert format_date(d, "ordinal") == "the 22nd of November, 2026"
    assert format_date(dt.date(2011, 3, 11), "ordinal") == "the 11th of March, 2011"
    assert format_date(dt.date(2001, 1, 3), "ordinal") == "the 3rd of January, 2001"
    assert len(set(all_formats(d))) == len(DATE_FORMATS) >= 10
    with pytest.raises(ValueError, match="`format`: expected one of"):
        format_date(d, "klingon")


def test_every_format_is_unambiguous_over_the_range():
    # Each written form must identify one date: no two dates share a source string.
    seen = {}
    day = FIRST_DATE
    step = dt.timedelta(days=1)
    while day <= LAST_DATE:
        for s in all_formats(day):
            assert seen.setdefault(s, day) == day, s
        day += step


def test_held_out_set_is_fixed_and_disjoint_by_date():
    a = date_translation(3000, 500, seed=0)
    b = date_translation(1000, 500, seed=1)
    assert a.test == b.test  # the held-out set does not depend on the training seed or size
    assert len(a.train) == 3000 and len(a.test) == 500
    assert set(a.train.targets).isdisjoint(a.test.targets) and set(b.train.targets).isdisjoint(b.test.targets)
    assert len(set(a.test.targets)) == 500  # distinct held-out dates
    assert a.train != b.train
    assert date_translation(3000, 500, seed=0).train == a.train  # seeded
    for src, tgt in zip(a.test.sources[:50], a.test.targets[:50]):
        assert src in all_formats(dt.date.fromisoformat(tgt))
    assert len({s for s in a.train.sources}) > 2000  # formats and dates vary


def test_date_translation_errors():
    with pytest.raises(ValueError, match="`num_test`: expected at most"):
        date_translation(10, 30_000)
    with pytest.raises(ValueError, match="`num_train`"):
        date_translation(0)
