import subprocess
import sys

import pytest
import torch

from rnnkit.data import DatasetInfo, MissingDependencyError, dataset_info, list_datasets, load_dataset

EXPECTED = {"JapaneseVowels", "GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "OSULeaf", "airline",
            "sunspots", "dates", "adding", "copy_memory"}


def test_list_datasets_describes_every_set_without_importing_optional_packages():
    code = ("import sys, rnnkit.data as d; infos = d.list_datasets(); [i.available for i in infos]; "
            "print(len(infos), any(m in sys.modules for m in ('sktime', 'statsmodels', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(len(EXPECTED)), "False"]
    infos = list_datasets()
    assert {i.name for i in infos} == EXPECTED
    for info in infos:
        assert isinstance(info, DatasetInfo) and info.task in ("classify", "forecast", "translate", "regress", "tag")
        assert info.description and info.source and info.sizes["train"] > 0 and info.sizes["test"] > 0


def test_unknown_dataset_suggests_a_name():
    with pytest.raises(ValueError, match="unknown dataset 'JapaneseVowel'. Did you mean 'JapaneseVowels'"):
        load_dataset("JapaneseVowel")
    with pytest.raises(TypeError, match="invalid option for dataset 'dates'"):
        load_dataset("dates", steps=3)
    assert dataset_info("japanesevowels").name == "JapaneseVowels"


def test_generated_sets():
    adding = load_dataset("adding", steps=50, num_train=64, num_test=16, seed=1)
    assert adding.task == "regress" and adding.train.x.shape == (64, 50, 2) and adding.test.y.shape == (16, 1)
    assert (adding.train.lengths == 50).all()
    assert torch.equal(load_dataset("adding", steps=50, num_train=64, num_test=16, seed=1).train.x, adding.train.x)
    copy = load_dataset("copy-memory", blank_steps=30, num_train=8, num_test=4)
    assert copy.train.x.shape == (8, 50) and copy.train.y.shape == (8, 50)
    assert torch.equal(copy.train.y[:, -10:], copy.train.x[:, :10])
    assert copy.metadata["baseline_cross_entropy"] == pytest.approx(10 * 2.0794415 / 50, rel=1e-6)


def test_missing_optional_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsmodels", None)
    with pytest.raises(MissingDependencyError, match="'sunspots' needs the package 'statsmodels'.*pip install statsmodels"):
        load_dataset("sunspots")
    monkeypatch.setitem(sys.modules, "sktime", None)
    monkeypatch.setitem(sys.modules, "sktime.datasets", None)
    with pytest.raises(MissingDependencyError, match="'GunPoint' needs the package 'sktime'"):
        load_dataset("GunPoint")


@pytest.fixture(scope="module")
def sktime():
    return pytest.importorskip("sktime")


@pytest.fixture(scope="module")
def vowels(sktime):
    return load_dataset("JapaneseVowels")


@pytest.mark.parametrize("name", ["JapaneseVowels", "GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "OSULeaf"])
def test_sktime_classification_sets_match_the_listed_sizes(sktime, name, request):
    ds = request.getfixturevalue("vowels") if name == "JapaneseVowels" else load_dataset(name)
    info = dataset_info(name)
    assert ds.task == "classify" and len(ds.train) == info.sizes["train"] and len(ds.test) == info.sizes["test"]
    assert ds.train.x.dtype == torch.float32 and ds.train.y.dtype == torch.int64
    assert ds.train.x.shape[2] == ds.metadata["num_features"] and len(ds.classes) == ds.metadata["num_classes"]
    assert set(ds.train.y.tolist()) == set(range(len(ds.classes)))  # every class in training
    assert all(isinstance(c, str) for c in ds.classes)
    assert not torch.isnan(ds.test.x).any()


def test_japanese_vowels_is_variable_length_and_zero_padded(vowels):
    ds = vowels
    assert ds.metadata["variable_length"] and (ds.metadata["min_length"], ds.metadata["max_length"]) == (7, 29)
    assert ds.train.x.shape == (270, int(ds.train.lengths.max()), 12)
    short = int(ds.train.lengths.argmin())
    n = int(ds.train.lengths[short])
    assert (ds.train.x[short, n:] == 0).all() and (ds.train.x[short, :n] != 0).any()
    assert ds.classes == [str(i) for i in range(1, 10)]


def test_airline(sktime):
    ds = load_dataset("airline")
    assert ds.task == "forecast" and len(ds.train) == 108 and len(ds.test) == 36
    series = ds.metadata["series"]
    assert series.values[:3, 0].tolist() == [112.0, 118.0, 132.0]  # Box & Jenkins Series G
    assert series.time[0] == "1949-01" and ds.test.time[-1] == "1960-12"
    assert len(load_dataset("airline", test_size=12).test) == 12


def test_sunspots():
    pytest.importorskip("statsmodels")
    ds = load_dataset("sunspots")
    assert len(ds.train) + len(ds.test) == 309 and len(ds.test) == 30
    assert ds.train.time[0] == "1700" and ds.test.time[-1] == "2008"
    assert ds.train.values[0, 0] == 5.0
