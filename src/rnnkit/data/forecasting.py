"""Forecasting series shipped inside packages: airline passengers (sktime) and sunspots (statsmodels).

- ``airline``: monthly totals of international airline passengers (thousands), January 1949 to
  December 1960, 144 months (Box and Jenkins, Series G), from ``sktime.datasets.load_airline``.
  The default test part is the last 36 months, as in sktime's forecasting tutorial.
- ``sunspots``: yearly mean sunspot numbers 1700-2008, 309 years, from
  ``statsmodels.datasets.sunspots``. The default test part is the last 30 years (our choice,
  about 10% of the series and close to three 11-year solar cycles).

Both packages are imported only here, only when the series is loaded; both read files of their
own package data, nothing is downloaded.
"""

from __future__ import annotations

import numpy as np

from rnnkit.data.dataset import Dataset, DatasetInfo
from rnnkit.data.deps import require
from rnnkit.data.readers_series import TimeSeries

AIRLINE_TEST_SIZE = 36
SUNSPOTS_TEST_SIZE = 30


def forecasting_infos():
    return [
        DatasetInfo("airline", "forecast",
                    "monthly international airline passengers (thousands), 1949-01 to 1960-12, univariate",
                    "Box & Jenkins Series G, shipped in sktime (sktime.datasets.load_airline)",
                    {"train": 144 - AIRLINE_TEST_SIZE, "test": AIRLINE_TEST_SIZE}, ("sktime",)),
        DatasetInfo("sunspots", "forecast", "yearly mean sunspot numbers, 1700-2008, univariate",
                    "shipped in statsmodels (statsmodels.datasets.sunspots)",
                    {"train": 309 - SUNSPOTS_TEST_SIZE, "test": SUNSPOTS_TEST_SIZE}, ("statsmodels",)),
    ]


def _dataset(name: str, series: TimeSeries, test_size: int, metadata: dict) -> Dataset:
    train, test = series.split(test_size)
    return Dataset(name, "forecast", train, test, None, dict(metadata, series=series, test_size=test_size))


def load_airline(test_size: int = AIRLINE_TEST_SIZE) -> Dataset:
    datasets = require("sktime.datasets", "Loading the dataset 'airline'", package="sktime")
    y = datasets.load_airline()
    values = np.asarray(y.to_numpy(), dtype=np.float64)[:, None]  # (144, 1)
    time = np.array([str(p) for p in y.index])  # "1949-01", ...
    series = TimeSeries(values, ["passengers"], time, "airline")
    return _dataset("airline", series, test_size, {"frequency": "monthly", "season_length": 12,
                                                  "unit": "thousands of passengers", "num_features": 1})


def load_sunspots(test_size: int = SUNSPOTS_TEST_SIZE) -> Dataset:
    require("statsmodels", "Loading the dataset 'sunspots'")
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    values = frame["SUNACTIVITY"].to_numpy(dtype=np.float64)[:, None]  # (309, 1)
    time = np.array([str(int(year)) for year in frame["YEAR"]])
    series = TimeSeries(values, ["sunactivity"], time, "sunspots")
    return _dataset("sunspots", series, test_size, {"frequency": "yearly", "season_length": 11,
                                                   "unit": "mean sunspot number", "num_features": 1})
