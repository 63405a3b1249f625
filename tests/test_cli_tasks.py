"""Each task trains for one epoch on tiny data from the command line, and is then used."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _cli_data import FAST, conll, pairs_tsv, read_metrics, run_cli, series_csv, text_csv, text_file

RUN_FILES = {"run.json", "config.json", "task.json", "model.safetensors", "metrics.json", "history.json", "loss.png"}


def check_run(run_dir: Path, metrics: tuple, extra=()):
    names = {p.name for p in run_dir.iterdir()}
    assert RUN_FILES | set(extra) <= names
    values = read_metrics(run_dir)
    assert set(values) == set(metrics)
    assert all(math.isfinite(v) for v in values.values())
    assert (run_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")]  # no temporary directory left
    return values


def test_classify_text_train_evaluate_predict(tmp_path, capsys):
    data = text_csv(tmp_path / "reviews.csv")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--data", data, "--out", out, *FAST) == 0
    values = check_run(out, ("accuracy",), extra={"confusion.png"})
    assert 0.0 <= values["accuracy"] <= 1.0
    capsys.readouterr()
    assert run_cli("evaluate", out) == 0
    assert json.loads(capsys.readouterr().out)["test"]["accuracy"] == pytest.approx(values["accuracy"])
    samples = tmp_path / "samples.txt"
    samples.write_text("good great film\nawful bad\n", encoding="utf-8")
    assert run_cli("predict", out, samples) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == ["good great film", "awful bad"]
    assert all(r[1] in ("pos", "neg") and 0.5 <= float(r[2]) <= 1.0 for r in rows)
    assert run_cli("diagnose", out) == 0
    assert "gradient norm" in capsys.readouterr().out
    assert (out / "diagnostics" / "gradient_flow.png").read_bytes()[:4] == b"\x89PNG"


def test_classify_builtin_dataset_and_series_predict(tmp_path, capsys):
    pytest.importorskip("sktime")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--dataset", "ItalyPowerDemand", "--out", out, *FAST) == 0
    check_run(out, ("accuracy",), extra={"confusion.png"})
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == "ItalyPowerDemand" and config["hidden"] == 8 and config["epochs"] == 1
    series = tmp_path / "series.txt"
    series.write_text(",".join(str(i % 7) for i in range(24)) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert run_cli("predict", out, series) == 0
    name, label, probability = capsys.readouterr().out.strip().split("\t")
    assert name == "series 1" and label in ("1", "2") and 0.5 <= float(probability) <= 1.0


def test_forecast_train_and_forecast(tmp_path, capsys):
    data = series_csv(tmp_path / "sales.csv")
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", data, "--out", out, "-o", "time_column=month",
                   "-o", "lookback=12", "-o", "horizon=6", "-o", "test_size=12", "-o", "log=true",
                   "-o", "difference=[1]", *FAST) == 0
    values = check_run(out, ("mape", "mase", "rmse", "mape_1step", "mase_1step", "rmse_1step"), extra={"forecast.png"})
    assert values["mape"] > 0 and values["rmse"] > 0 and values["mape_1step"] > 0
    capsys.readouterr()
    assert run_cli("forecast", out, "--horizon", "8") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "step,value" and len(lines) == 9
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(121, 129))


def test_translate_train_and_translate(tmp_path, capsys):
    data = pairs_tsv(tmp_path / "dates.tsv")
    out = tmp_path / "run"
    assert run_cli("train", "translate", "--data", data, "--out", out, *FAST) == 0
    values = check_run(out, ("exact_match",), extra={"examples.json"})
    assert 0.0 <= values["exact_match"] <= 1.0
    capsys.readouterr()
    assert run_cli("translate", out, "01 Mar 2010", "--beam", "3") == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_lm_train_and_generate(tmp_path, capsys):
    data = text_file(tmp_path / "corpus.txt")
    out = tmp_path / "run"
    assert run_cli("train", "lm", "--data", data, "--out", out, "-o", "seq_len=40", *FAST) == 0
    values = check_run(out, ("bits_per_char",))
    assert 0 < values["bits_per_char"] < 8
    capsys.readouterr()
    assert run_cli("generate", out, "--prompt", "the ", "--length", "30", "--top-k", "5") == 0
    text = capsys.readouterr().out.rstrip("\n")
    assert text.startswith("the ") and len(text) >= 4


def test_tag_train_and_predict(tmp_path, capsys):
    data = conll(tmp_path / "train.conll")
    out = tmp_path / "run"
    assert run_cli("train", "tag", "--data", data, "--out", out, *FAST) == 0
    check_run(out, ("accuracy", "accuracy_ADJ", "accuracy_DET", "accuracy_N", "accuracy_V"))  # overall and per tag
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("the dog runs\na red cat\n", encoding="utf-8")
    capsys.readouterr()
    assert run_cli("predict", out, sentences) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split("\t")[0] for r in rows] == ["the", "dog", "runs", "", "a", "red", "cat"]
    assert all(r.split("\t")[1] in ("DET", "N", "V", "ADJ") for r in rows if r)


def test_config_file_with_command_line_override(tmp_path):
    data = text_csv(tmp_path / "reviews.csv")
    config = tmp_path / "run.toml"
    config.write_text(f'task = "classify"\ndata = "{data.name}"\ncell = "gru"\nhidden = 6\nepochs = 1\n'
                      '[classify]\npooling = "max"\n', encoding="utf-8")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--config", config, "--hidden", "5", "--out", out, "--quiet") == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["cell"] == "gru" and saved["hidden"] == 5 and saved["options"] == {"pooling": "max"}


def test_python_dash_m_subprocess(tmp_path):
    """The real command line: ``python -m rnnkit`` in a fresh process, then a second command on its run."""
    data = text_csv(tmp_path / "reviews.csv")
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    done = subprocess.run([sys.executable, "-m", "rnnkit", "train", "classify", "--data", str(data), "--out", str(out),
                           *FAST], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
    again = subprocess.run([sys.executable, "-m", "rnnkit", "train", "classify", "--data", str(data), "--out", str(out),
                            *FAST], capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 1 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
