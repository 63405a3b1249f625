"""The test part of a user's file of unlabelled samples (tag and translate share it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from rnnkit.tasks.config import RunConfig
from rnnkit.tasks.splits import file_train_test

FILES = {"train.txt": [f"sample {i}" for i in range(10)], "test.txt": ["held out a", "held out b"]}


def _options(test_data="", test_fraction=0.3):
    return SimpleNamespace(test_data=test_data, test_fraction=test_fraction)


def _config(seed=0):
    return RunConfig(task="tag", data="train.txt", seed=seed)


def _split(config, options, evaluating=False):
    return file_train_test(FILES.get, config, options, evaluating=evaluating)


def test_evaluating_makes_the_whole_file_the_test_part():
    given = _options(test_data="test.txt")
    assert _split(_config(), given, evaluating=True) == ([], FILES["train.txt"])


def test_a_test_file_is_the_test_part_and_the_data_file_all_training():
    given = _options(test_data="test.txt")
    assert _split(_config(), given) == (FILES["train.txt"], FILES["test.txt"])


def test_otherwise_a_seeded_fraction_is_held_out():
    train, test = _split(_config(seed=3), _options())
    assert len(test) == 3 and sorted(train + test) == sorted(FILES["train.txt"])
    assert (train, test) == _split(_config(seed=3), _options())
    assert test != _split(_config(seed=4), _options())[1]


def test_too_few_samples_to_hold_out_names_the_file_and_the_option():
    files = {"train.txt": ["a", "b", "c"]}
    with pytest.raises(ValueError, match=r"train.txt: only 3 records.*--option test_data=PATH"):
        file_train_test(files.get, _config(), _options(), evaluating=False)
