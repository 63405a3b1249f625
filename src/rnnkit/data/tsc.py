"""Time-series classification sets shipped inside the sktime package (UCR/UEA archive copies).

The .ts files lie in sktime's package data directory (``sktime/datasets/data/<Name>/``); they
are read with sktime's own ``load_from_tsfile`` from that local path, never downloaded. The
official TRAIN/TEST files are the train/test split. Labels become ids in sorted order
(numeric order when all labels are integers); ``Dataset.classes`` keeps the original names.
Variable-length sets (JapaneseVowels) are zero-padded, with per-sample ``lengths``.

Sizes below were read from the files shipped with sktime 1.2.0 (train / test samples,
variables, steps, classes).
"""

from __future__ import annotations

import os
from typing import Dict

import numpy as np
import torch

from rnnkit.data.dataset import Dataset, DatasetInfo, SequenceSet
from rnnkit.data.deps import require
from rnnkit.data.files import DataError
from rnnkit.data.readers_text import sort_labels

_SOURCE = "UCR/UEA time-series classification archive, as shipped in sktime's package data (no download)"

TSC_DATASETS: Dict[str, dict] = {
    "JapaneseVowels": dict(train=270, test=370, features=12, steps="7-29 (variable)", classes=9,
                           about="nine male speakers saying the vowel /ae/, 12 LPC cepstrum coefficients per frame"),
    "GunPoint": dict(train=50, test=150, features=1, steps="150", classes=2,
                     about="hand x-position while drawing a gun versus pointing a finger"),
    "ItalyPowerDemand": dict(train=67, test=1029, features=1, steps="24", classes=2,
                             about="Italian daily electricity demand curves, October-March versus April-September"),
    "ArrowHead": dict(train=36, test=175, features=1, steps="251", classes=3,
                      about="outlines of projectile points (arrowheads) as 1-D shape series, three types"),
    "BasicMotions": dict(train=40, test=40, features=6, steps="100", classes=4,
                         about="accelerometer and gyroscope of a smartwatch: walking, standing, running, playing badminton"),
    "OSULeaf": dict(train=200, test=242, features=1, steps="427", classes=6,
                    about="outlines of leaves of six tree species as 1-D shape series"),
}


def tsc_infos():
    return [
        DatasetInfo(name, "classify",
                    f"{spec['about']}; {spec['features']} variable(s), {spec['steps']} steps, {spec['classes']} classes",
                    _SOURCE, {"train": spec["train"], "test": spec["test"]}, ("sktime",))
        for name, spec in TSC_DATASETS.items()
    ]


def _ts_path(name: str, split: str) -> str:
    datasets = require("sktime.datasets", f"Loading the dataset {name!r}", package="sktime")
    path = os.path.join(os.path.dirname(datasets.__file__), "data", name, f"{name}_{split}.ts")
    if not os.path.isfile(path):
        raise DataError(
            f"The dataset {name!r} is not shipped with the installed sktime (looked for {path!r}); rnnkit does not "
            f"download data. Install an sktime version that ships it (1.2.0 does)."
        )
    return path


def _read_split(name: str, split: str):
    """(list of (T_i, F) float32 arrays, array of string labels) from sktime's local .ts file."""
    path = _ts_path(name, split)  # imports sktime, or names it as missing
    from sktime.datasets import load_from_tsfile

    frame, labels = load_from_tsfile(path, return_data_type="nested_univ")
    series = []
    for i in range(frame.shape[0]):
        columns = [np.asarray(frame.iat[i, j], dtype=np.float32) for j in range(frame.shape[1])]
        steps = {c.shape[0] for c in columns}
        if len(steps) != 1:
            raise DataError(f"{name} {split} sample {i}: its variables have different lengths {sorted(steps)}.")
        series.append(np.stack(columns, axis=1))  # (T_i, F)
    return series, [str(label) for label in labels]


def _to_set(series, labels, index) -> SequenceSet:
    lengths = torch.tensor([s.shape[0] for s in series], dtype=torch.int64)
    x = torch.zeros(len(series), int(lengths.max()), series[0].shape[1])  # (N, T, F)
    for i, s in enumerate(series):
        x[i, : s.shape[0]] = torch.from_numpy(s)
    if torch.isnan(x).any():
        raise DataError("The series contain missing values (NaN), which rnnkit's classifiers cannot take.")
    y = torch.tensor([index[label] for label in labels], dtype=torch.int64)
    return SequenceSet(x, lengths, y)


def load_tsc(name: str) -> Dataset:
    """Load one of :data:`TSC_DATASETS` with its official train/test split."""
    train_series, train_labels = _read_split(name, "TRAIN")
    test_series, test_labels = _read_split(name, "TEST")
    classes = sort_labels(set(train_labels))
    unknown = sorted(set(test_labels) - set(classes))
    if unknown:
        raise DataError(f"{name}: the test split has labels {unknown} that the training split lacks.")
    index = {c: i for i, c in enumerate(classes)}
    train = _to_set(train_series, train_labels, index)
    test = _to_set(test_series, test_labels, index)
    lengths = torch.cat([train.lengths, test.lengths])
    metadata = {
        "num_features": train.x.shape[2],
        "num_classes": len(classes),
        "variable_length": bool(lengths.min() != lengths.max()),
        "min_length": int(lengths.min()),
        "max_length": int(lengths.max()),
        "source": _SOURCE,
    }
    return Dataset(name, "classify", train, test, classes, metadata)
