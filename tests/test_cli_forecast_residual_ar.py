"""`rnnkit train forecast -o residual_ar=p`: the hybrid AR + recurrent residual from the command line."""

from __future__ import annotations

import json

import numpy as np

from _cli_data import FAST, run_cli, series_csv


def test_forecast_with_residual_ar_trains_saves_and_forecasts(tmp_path, capsys):
    data = series_csv(tmp_path / "sales.csv")
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", data, "--out", out, "-o", "time_column=month", "-o", "lookback=12",
                   "-o", "horizon=6", "-o", "test_size=12", "-o", "strategy=recursive", "-o", "residual_ar=6", *FAST) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["residual_ar"] == 6
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert metrics["mape"] > 0 and metrics["mase"] > 0
    capsys.readouterr()
    assert run_cli("forecast", out, "--horizon", "4") == 0  # the saved model rebuilds with its fitted AR
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert run_cli("evaluate", out) == 0
    assert np.isfinite(metrics["rmse"])


def test_residual_ar_bad_values_are_refused(tmp_path, capsys):
    data = series_csv(tmp_path / "sales.csv")
    for value, expected in (("13", "got 13"), ("-1", "got -1"), ("true", "got True")):
        capsys.readouterr()
        assert run_cli("train", "forecast", "--data", data, "--out", tmp_path / "run", "-o", "time_column=month",
                       "-o", "lookback=12", "-o", f"residual_ar={value}", *FAST) != 0
        err = capsys.readouterr().err
        assert "option `residual_ar`" in err and "from 0 to lookback (12)" in err and expected in err, err
    assert not (tmp_path / "run").exists()


def test_weight_decay_option_reaches_adam_and_bad_values_are_refused(tmp_path, monkeypatch):
    import pytest
    import torch

    from rnnkit.tasks.forecast import ForecastOptions

    for bad in (-0.1, float("inf"), True, "x"):
        with pytest.raises(ValueError, match=r"option `weight_decay`: expected a finite number >= 0, got"):
            ForecastOptions(weight_decay=bad)
    seen, adam = [], torch.optim.Adam
    monkeypatch.setattr(torch.optim, "Adam", lambda *a, **kw: seen.append(kw.get("weight_decay")) or adam(*a, **kw))
    data = series_csv(tmp_path / "sales.csv")
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", data, "--out", out, "-o", "time_column=month", "-o", "lookback=12",
                   "-o", "horizon=6", "-o", "test_size=12", "-o", "strategy=recursive", "-o", "residual_ar=6",
                   "-o", "weight_decay=0.01", *FAST) == 0
    assert seen == [0.01]
    assert json.loads((out / "config.json").read_text())["options"]["weight_decay"] == 0.01
