"""`rnnkit train forecast -o highway=p`: the linear autoregressive highway from the command line."""

from __future__ import annotations

import json

from _cli_data import FAST, run_cli, series_csv


def test_forecast_with_highway_trains_forecasts_and_saves_it(tmp_path, capsys):
    data = series_csv(tmp_path / "sales.csv")
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", data, "--out", out, "-o", "time_column=month", "-o", "lookback=12",
                   "-o", "horizon=6", "-o", "test_size=12", "-o", "strategy=recursive", "-o", "highway=6", *FAST) == 0
    assert json.loads((out / "config.json").read_text())["options"]["highway"] == 6
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert metrics["mape"] > 0 and metrics["mase"] > 0
    capsys.readouterr()
    assert run_cli("forecast", out, "--horizon", "4") == 0  # the saved model rebuilds with its highway
    assert len(capsys.readouterr().out.splitlines()) == 5


def test_highway_longer_than_the_window_is_refused(tmp_path, capsys):
    data = series_csv(tmp_path / "sales.csv")
    capsys.readouterr()
    assert run_cli("train", "forecast", "--data", data, "--out", tmp_path / "run", "-o", "time_column=month",
                   "-o", "lookback=12", "-o", "highway=13", *FAST) != 0
    err = capsys.readouterr().err
    assert "option `highway`" in err and "from 0 to lookback (12)" in err and "got 13" in err, err
    assert not (tmp_path / "run").exists()
