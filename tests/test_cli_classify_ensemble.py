"""Classifier ensembles (`-o ensemble=N`) through the command line, on tiny settings."""

from __future__ import annotations

import json

import pytest

from _cli_data import FAST, read_metrics, run_cli, text_csv


def test_ensemble_trains_saves_evaluates_and_predicts(tmp_path, capsys):
    data = text_csv(tmp_path / "reviews.csv")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--data", data, "--out", out, "-o", "ensemble=3", *FAST) == 0
    model_config = json.loads((out / "task.json").read_text())["model_config"]
    assert model_config["members"] == 3
    from rnnkit.models import ClassifierEnsemble
    from rnnkit.tasks.run import LoadedRun

    loaded = LoadedRun(out)
    assert isinstance(loaded.model, ClassifierEnsemble) and len(loaded.model.members) == 3
    accuracy = read_metrics(out)["accuracy"]
    capsys.readouterr()
    assert run_cli("evaluate", out) == 0
    assert json.loads(capsys.readouterr().out)["test"]["accuracy"] == pytest.approx(accuracy)
    texts = tmp_path / "texts.txt"
    texts.write_text("good great film\nawful bad poor\n", encoding="utf-8")
    assert run_cli("predict", out, texts) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
    assert len(rows) == 2 and all(label in ("pos", "neg") and 0.5 <= float(p) <= 1.0 for _, label, p in rows)


def test_ensemble_option_from_a_toml_file(tmp_path):
    data = text_csv(tmp_path / "reviews.csv")
    config = tmp_path / "run.toml"
    config.write_text(f'task = "classify"\ndata = "{data.name}"\nhidden = 6\nepochs = 1\n'
                      '[classify]\nensemble = 2\n', encoding="utf-8")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--config", config, "--out", out, "--quiet") == 0
    assert json.loads((out / "task.json").read_text())["model_config"]["members"] == 2


def test_single_model_runs_keep_their_config(tmp_path):
    data = text_csv(tmp_path / "reviews.csv")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--data", data, "--out", out, *FAST) == 0
    assert "members" not in json.loads((out / "task.json").read_text())["model_config"]


@pytest.mark.parametrize("value, expected", [("0", "expected a positive integer, got 0"),
                                             ("1.5", "expected int like 1, got"),
                                             ('"three"', "expected int like 1, got")])
def test_bad_ensemble_values_are_named(tmp_path, capsys, value, expected):
    data = text_csv(tmp_path / "reviews.csv")
    out = tmp_path / "bad"
    assert run_cli("train", "classify", "--data", data, "--out", out, "-o", f"ensemble={value}", *FAST) != 0
    err = capsys.readouterr().err
    assert "`ensemble`" in err and expected in err
    assert not (out / "model.safetensors").exists()


def test_builtin_sets_below_target_default_to_an_ensemble_on_all_training_series():
    from rnnkit.tasks import get_task

    task = get_task("classify")
    for name in ("JapaneseVowels", "ArrowHead"):
        defaults = task.defaults(name)
        assert defaults["options"]["ensemble"] == 3 and defaults["validation"] == 0.0, name
    for name in ("GunPoint", "ItalyPowerDemand"):  # they met their targets; their defaults are unchanged
        assert "ensemble" not in task.defaults(name)["options"], name
