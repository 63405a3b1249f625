"""LSTM-FCN classification and forecast ensembles through the command line, on tiny settings."""

from __future__ import annotations

import json

import pytest

from _cli_data import FAST, read_metrics, run_cli, series_csv, text_csv

TINY_CONV = ["-o", "conv=true", "-o", "conv_filters=[4,6,4]", "-o", "conv_kernels=[8,5,3]"]


def test_lstm_fcn_on_a_builtin_series_set_trains_evaluates_predicts(tmp_path, capsys):
    pytest.importorskip("sktime")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--dataset", "GunPoint", "--out", out, *TINY_CONV, "-o", "lr_schedule=plateau",
                   *FAST) == 0
    model_config = json.loads((out / "task.json").read_text())["model_config"]
    assert model_config["conv"] is True and model_config["conv_filters"] == [4, 6, 4]
    assert model_config["patch"] == 10 and model_config["input_size"] == 1  # the model patches, the task does not
    accuracy = read_metrics(out)["accuracy"]
    capsys.readouterr()
    assert run_cli("evaluate", out) == 0
    assert json.loads(capsys.readouterr().out)["test"]["accuracy"] == pytest.approx(accuracy)
    series = tmp_path / "series.txt"
    series.write_text(",".join(str((i % 13) / 13) for i in range(150)) + "\n", encoding="utf-8")
    assert run_cli("predict", out, series) == 0
    name, label, probability = capsys.readouterr().out.strip().split("\t")
    assert name == "series 1" and label in ("1", "2") and 0.5 <= float(probability) <= 1.0


def test_builtin_series_sets_default_to_lstm_fcn():
    from rnnkit.tasks import get_task

    task = get_task("classify")
    for name in ("JapaneseVowels", "GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "OSULeaf"):
        assert task.defaults(name)["options"]["conv"] is True, name
    assert "conv" not in task.defaults(None).get("options", {})  # a user's text file: recurrent only


def test_conv_option_from_a_toml_file_on_texts(tmp_path):
    data = text_csv(tmp_path / "reviews.csv")
    config = tmp_path / "run.toml"
    config.write_text(f'task = "classify"\ndata = "{data.name}"\nhidden = 6\nepochs = 1\n'
                      '[classify]\nconv = true\nconv_filters = [3, 3]\nconv_kernels = [3, 3]\n', encoding="utf-8")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--config", config, "--out", out, "--quiet") == 0
    model_config = json.loads((out / "task.json").read_text())["model_config"]
    assert model_config["conv"] is True and model_config["conv_kernels"] == [3, 3]


def test_bad_lstm_fcn_options_are_named(tmp_path, capsys):
    data = text_csv(tmp_path / "reviews.csv")
    assert run_cli("train", "classify", "--data", data, "--out", tmp_path / "a", "-o", "lr_schedule=cosine", *FAST) != 0
    assert "`lr_schedule`" in capsys.readouterr().err
    assert run_cli("train", "classify", "--data", data, "--out", tmp_path / "b", "-o", "conv=yes", *FAST) != 0
    assert "`conv`" in capsys.readouterr().err
    assert run_cli("train", "classify", "--data", data, "--out", tmp_path / "c", "-o", "conv=true",
                   "-o", "conv_kernels=[8,5]", *FAST) != 0
    assert "`conv_kernels`" in capsys.readouterr().err


def test_forecast_ensemble_reports_open_loop_and_one_step_metrics(tmp_path, capsys):
    data = series_csv(tmp_path / "sales.csv")
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", data, "--out", out, "-o", "time_column=month", "-o", "lookback=12",
                   "-o", "horizon=6", "-o", "test_size=12", "-o", "ensemble=3", *FAST) == 0
    model_config = json.loads((out / "task.json").read_text())["model_config"]
    assert model_config["members"] == 3
    values = read_metrics(out)
    assert set(values) == {"mape", "mase", "rmse", "mape_1step", "mase_1step", "rmse_1step"}
    capsys.readouterr()
    assert run_cli("evaluate", out) == 0
    again = json.loads(capsys.readouterr().out)["test"]
    assert again == pytest.approx(values)
    assert run_cli("forecast", out, "--horizon", "4") == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert run_cli("train", "forecast", "--data", data, "--out", tmp_path / "bad", "-o", "time_column=month",
                   "-o", "ensemble=0", *FAST) != 0
    assert "`ensemble`" in capsys.readouterr().err


def test_runs_saved_when_the_task_patched_the_steps_still_load(tmp_path, capsys):
    """Before patching moved into the model, a run stored the patch in its state and a model of
    input_size channels * patch. The same weights read that way give the same accuracy."""
    pytest.importorskip("sktime")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--dataset", "GunPoint", "--out", out, "-o", "conv=false", *FAST) == 0
    accuracy = read_metrics(out)["accuracy"]
    saved = json.loads((out / "task.json").read_text())
    old_config = {k: v for k, v in saved["model_config"].items() if k not in ("patch", "conv", "conv_filters", "conv_kernels")}
    old_config["input_size"] = 10
    (out / "task.json").write_text(json.dumps({"model_config": old_config, "state": {**saved["state"], "patch": 10}}))
    capsys.readouterr()
    assert run_cli("evaluate", out) == 0
    assert json.loads(capsys.readouterr().out)["test"]["accuracy"] == pytest.approx(accuracy)
