"""`-o transform=sqrt|log|boxcox`: variance-stabilizing transforms of a forecast series."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from _cli_data import FAST, run_cli, series_csv
from rnnkit.data.power_transform import PowerTransform, boxcox_log_likelihood, fit_boxcox_lambda

FORECAST = ["-o", "time_column=month", "-o", "lookback=12", "-o", "horizon=6", "-o", "test_size=12",
            "-o", "strategy=recursive"]


def positive_series(steps=80, columns=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    noise = 0.1 * rng.normal(size=(steps, columns))
    return np.exp(0.02 * t + 0.3 * np.sin(t / 3 + np.arange(columns)) + noise)  # (steps, columns)


@pytest.mark.parametrize("kind", ["none", "sqrt", "log", "boxcox"])
def test_inverse_undoes_the_transform(kind):
    y = positive_series()  # (80, 2)
    transform = PowerTransform(kind).fit(y[:60])
    np.testing.assert_allclose(transform.inverse_transform(transform.transform(y)), y, rtol=1e-10)
    again = PowerTransform.from_state_dict(json.loads(json.dumps(transform.state_dict())))
    np.testing.assert_array_equal(again.transform(y), transform.transform(y))


def test_known_values_and_inverse_clipping():
    y = np.array([[0.0], [4.0], [9.0]])
    np.testing.assert_allclose(PowerTransform("sqrt").fit(y).transform(y), [[0.0], [2.0], [3.0]])
    inverse = PowerTransform("sqrt").inverse_transform(np.array([[-0.5], [2.0]]))
    assert inverse.tolist() == [[0.0], [4.0]]  # below sqrt(0) means 0
    boxcox = PowerTransform("boxcox")
    boxcox.lambdas = np.array([0.5])
    np.testing.assert_allclose(boxcox.transform(np.array([[4.0]])), [[2.0]])  # (sqrt(4) - 1) / 0.5
    assert boxcox.inverse_transform(np.array([[-3.0]])).tolist() == [[0.0]]  # 0.5 * -3 + 1 < 0
    boxcox.lambdas = np.array([0.0])
    np.testing.assert_allclose(boxcox.transform(np.array([[math.e]])), [[1.0]])


def test_boxcox_lambda_matches_scipy_maximum_likelihood():
    stats = pytest.importorskip("scipy.stats")
    gamma = np.random.default_rng(2).gamma(2.0, size=60) + 0.1
    for y in (positive_series(120, 1, seed=1)[:, 0], gamma):
        lam = fit_boxcox_lambda(y)
        assert lam == pytest.approx(stats.boxcox(y)[1], abs=1e-5)
        assert boxcox_log_likelihood(y, 0.3) == pytest.approx(stats.boxcox_llf(0.3, y), rel=1e-10)
    assert fit_boxcox_lambda(np.full(10, 3.0)) == 1.0  # a constant series has nothing to stabilize


def test_lambda_finds_the_power_that_makes_the_values_normal():
    normal = np.random.default_rng(3).normal(size=2000)
    assert fit_boxcox_lambda((10 + 2 * normal) ** 2) == pytest.approx(0.5, abs=0.1)  # squares
    assert fit_boxcox_lambda(np.exp(1 + 0.5 * normal)) == pytest.approx(0.0, abs=0.1)  # log-normal


@pytest.mark.parametrize("kind", ["sqrt", "boxcox"])
def test_cli_trains_saves_forecasts_and_evaluates(tmp_path, capsys, kind):
    data = series_csv(tmp_path / "sales.csv")  # 120 positive months
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", data, "--out", out, *FORECAST,
                   "-o", f"transform={kind}", "-o", "difference=[1]", *FAST) == 0
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert all(0 < metrics[name] < math.inf for name in ("mape", "mase", "rmse"))
    assert json.loads((out / "config.json").read_text())["options"]["transform"] == kind
    capsys.readouterr()
    assert run_cli("forecast", out, "--horizon", "4") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all(float(line.split(",")[1]) > 0 for line in lines[1:])
    assert run_cli("evaluate", out) == 0


def test_boxcox_lambda_is_fitted_on_the_training_part_only(tmp_path):
    values = np.exp(np.linspace(0.0, 1.0, 120)) * (1 + 0.2 * np.sin(np.arange(120)))
    values[108:] *= 50  # a test part unlike the training part would move lambda if it were read
    data = tmp_path / "series.csv"
    rows = "".join(f"{t},{v:.10g}\n" for t, v in enumerate(values))
    data.write_text("month,value\n" + rows, encoding="utf-8")
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", data, "--out", out, *FORECAST,
                   "-o", "transform=boxcox", *FAST) == 0
    state = json.loads((out / "task.json").read_text())["state"]
    train = np.array([float(f"{v:.10g}") for v in values[:108]])
    assert state["transform"]["lambdas"] == [pytest.approx(fit_boxcox_lambda(train), abs=1e-9)]
    assert abs(fit_boxcox_lambda(values) - fit_boxcox_lambda(train)) > 0.05


def test_saved_log_runs_without_a_transform_entry_still_load():
    from rnnkit.tasks.forecast import saved_transform

    assert saved_transform({"log": True}).kind == "log"
    assert saved_transform({"log": False}).kind == "none"


@pytest.mark.parametrize("kind, first, expected", [("sqrt", -1.5, "'sqrt' needs values >= 0"),
                                                    ("log", 0.0, "'log' needs values > 0"),
                                                    ("boxcox", 0.0, "'boxcox' needs values > 0")])
def test_values_outside_the_domain_are_refused(tmp_path, capsys, kind, first, expected):
    data = tmp_path / "series.csv"
    rows = f"0,{first}\n" + "".join(f"{t},{5 + t % 7}\n" for t in range(1, 60))
    data.write_text("month,value\n" + rows, encoding="utf-8")
    capsys.readouterr()
    assert run_cli("train", "forecast", "--data", data, "--out", tmp_path / "run", *FORECAST,
                   "-o", f"transform={kind}", *FAST) != 0
    err = capsys.readouterr().err
    assert "option `transform`" in err and expected in err and f"smallest is {first:g}" in err, err
    assert not (tmp_path / "run").exists()


def test_bad_transform_options_are_refused(tmp_path, capsys):
    from rnnkit.tasks.forecast import ForecastOptions

    with pytest.raises(ValueError, match=r"argument `transform`: expected one of .*got 'cube'"):
        ForecastOptions(transform="cube")
    with pytest.raises(ValueError, match=r"option `transform`: 'sqrt' together with `log=true`"):
        ForecastOptions(log=True, transform="sqrt")
    assert ForecastOptions(log=True, transform="log").power_transform().kind == "log"
    data = series_csv(tmp_path / "sales.csv")
    capsys.readouterr()
    assert run_cli("train", "forecast", "--data", data, "--out", tmp_path / "run", *FORECAST,
                   "-o", "transform=cube", *FAST) != 0
    assert "`transform`" in capsys.readouterr().err


def test_forecasting_a_new_series_checks_the_saved_transform(tmp_path, capsys):
    data = series_csv(tmp_path / "sales.csv")
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", data, "--out", out, *FORECAST,
                   "-o", "transform=sqrt", *FAST) == 0
    later = tmp_path / "later.csv"
    later.write_text("month,value\n" + "".join(f"{t},{t - 5}\n" for t in range(30)), encoding="utf-8")
    capsys.readouterr()
    assert run_cli("forecast", out, "--horizon", "3", "--data", later) != 0
    err = capsys.readouterr().err
    assert "option `transform`" in err and "'sqrt' needs values >= 0" in err and "later.csv" in err, err
