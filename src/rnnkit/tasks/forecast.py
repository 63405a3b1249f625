"""Forecasting: sliding windows of a series -> its next steps (direct or recursive).

Data: a built-in series with its fixed held-out end (airline: the last 36 months), or
``--data`` a CSV/TSV/Parquet table (``columns``: the series to model, default every column but
``time_column``), whose last ``test_size`` steps are held out. An optional variance-stabilizing
transform (``transform = sqrt | log | boxcox``, Box-Cox's lambda fitted on the training part;
``log = true`` is ``transform = log``), optional differencing, then a scaler fitted on the
training part only. Training windows lie inside the training part.

Evaluation forecasts the whole held-out part from the end of the training part without
seeing any of it (blocks of ``horizon`` steps fed back as inputs, the way the sktime tutorial
evaluates a 36-month airline forecast), and reports on the original scale

    mape = 100 / n * sum |y - y_hat| / |y|
    rmse = sqrt(1 / n * sum (y - y_hat)^2)
    mase = mean |y - y_hat| / mean_{t > m} |y_t - y_{t-m}|   (in-sample naive error, m = season)

so MASE < 1 means better than the (seasonal) naive forecast's one-step training error.

It also reports the same three metrics for rolling-origin one-step forecasts (``mape_1step``,
``mase_1step``, ``rmse_1step``): each held-out step forecast from the true history before it,
as a model in use sees it; the MASE scale is the same in-sample naive error.

``highway = p`` adds a linear autoregression on the last p values of the modeled series (after
log, differencing and scaling) to the recurrent forecast, the highway of LSTNet
(``ForecasterConfig.highway``).

``residual_ar = p`` makes a hybrid (Zhang 2003): a linear AR(p) fitted by least squares on the
training windows' span of the modeled series (after log, differencing and scaling) is the fixed
offset of the forecast and the recurrent network learns its residual
(``ForecasterConfig.residual_ar``); the fitted coefficients are saved in the run's model config.
``weight_decay = w`` (Adam's L2 penalty) pulls the network's weights, and with them its part of
the forecast (its head starts at zero), toward zero: with nothing to learn it stays near the AR.

``ensemble = M`` trains M models of the same configuration (own initializations, same batches)
and averages their forecasts (``rnnkit.models.ForecasterEnsemble``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import nn

from rnnkit.data.power_transform import KINDS, PowerTransform
from rnnkit.errors import check_choice
from rnnkit.tasks.base import Prepared, Split, Task, single_or_ensemble
from rnnkit.tasks.config import RunConfig, check_positive_options


@dataclass(frozen=True)
class ForecastOptions:
    lookback: int = 24
    horizon: int = 12  # steps the model emits at once (direct) or default steps (recursive)
    strategy: str = "direct"
    test_size: int = 0  # held-out steps of a user file; 0: 20% of the series
    columns: list = ()  # series to model (user file); default every column but the time column
    time_column: str = ""
    log: bool = False  # model log(y) (series with growing swings, e.g. airline); transform=log
    transform: str = "none"  # none | sqrt | log | boxcox (lambda fitted on the training part)
    difference: tuple = ()  # lags to difference by, in order (e.g. [1, 12]); forecasts are integrated back
    scaler: str = "standard"
    season: int = 1  # m of MASE's naive forecast; built-in sets set their own
    ensemble: int = 1  # models trained side by side whose forecasts are averaged
    highway: int = 0  # p: a linear autoregression on the last p modeled values beside the LSTM (LSTNet); 0: none
    residual_ar: int = 0  # p: a fixed least-squares AR(p) as offset, the LSTM learns its residual (hybrid); 0: none
    weight_decay: float = 0.0  # Adam's L2 penalty on the network's weights (with residual_ar: pulls it toward the AR)

    def __post_init__(self):
        check_choice(self.strategy, ("direct", "recursive"), "strategy")
        check_choice(self.scaler, ("standard", "minmax"), "scaler")
        check_choice(self.transform, KINDS, "transform")
        if self.log and self.transform not in ("none", "log"):
            raise ValueError(f"Received an invalid value for option `transform`: "
                             f"{self.transform!r} together with `log=true`, which is "
                             f"transform=log; give one of them.")
        check_positive_options(self, ("lookback", "horizon", "season", "ensemble"))
        if any(isinstance(lag, bool) or not isinstance(lag, int) or lag < 1 for lag in self.difference):
            raise ValueError(f"Received an invalid value for option `difference`: expected positive integer lags, "
                             f"got {list(self.difference)}.")
        if isinstance(self.highway, bool) or not isinstance(self.highway, int) or not 0 <= self.highway <= self.lookback:
            raise ValueError(f"Received an invalid value for option `highway`: expected an integer from 0 to lookback "
                             f"({self.lookback}), got {self.highway!r}.")
        if isinstance(self.residual_ar, bool) or not isinstance(self.residual_ar, int) \
                or not 0 <= self.residual_ar <= self.lookback:
            raise ValueError(f"Received an invalid value for option `residual_ar`: expected an integer from 0 to "
                             f"lookback ({self.lookback}), got {self.residual_ar!r}.")
        if isinstance(self.weight_decay, bool) or not isinstance(self.weight_decay, (int, float)) \
                or not 0 <= self.weight_decay < math.inf:
            raise ValueError(f"Received an invalid value for option `weight_decay`: expected a finite number >= 0, "
                             f"got {self.weight_decay!r}.")
        if self.test_size < 0:
            raise ValueError(f"Received an invalid value for option `test_size`: expected >= 0, got {self.test_size}.")

    def power_transform(self) -> PowerTransform:
        """The unfitted transform these options ask for (``log=true`` is transform=log)."""
        if self.log:
            return PowerTransform("log", option="option `log`")
        return PowerTransform(self.transform, option="option `transform`")


class ForecastTask(Task):
    name = "forecast"
    Options = ForecastOptions
    metric_names = ("mape", "mase", "rmse", "mape_1step", "mase_1step", "rmse_1step")

    def defaults(self, dataset):
        # Built-in series: an ensemble of 5 (a rule fixed in advance); lookback and the recursive
        # strategy chosen on a validation tail of the training part, airline's hybrid AR(12) + LSTM on
        # the residual with weight decay on rolling origins (sunspots: AR(11)) (benchmarks/forecast_selection.md).
        # Round 11: sqrt (sunspots) and Box-Cox (airline) transforms did not pass the rule fixed in advance.
        dataset = (dataset or "").lower()
        if dataset == "airline":
            return {"epochs": 300, "hidden": 32, "batch_size": 16, "lr": 3e-3, "validation": 0.0,
                    "options": {"lookback": 24, "horizon": 12, "strategy": "recursive", "log": True,
                                "difference": [12], "season": 12, "ensemble": 5,
                                "residual_ar": 12, "weight_decay": 0.01}}  # round 9b: hybrid chosen on rolling origins
        if dataset == "sunspots":
            return {"epochs": 100, "hidden": 32, "batch_size": 16, "lr": 3e-3,
                    "options": {"lookback": 22, "horizon": 11, "strategy": "recursive", "season": 1, "ensemble": 5,
                                "residual_ar": 11, "weight_decay": 0.01}}  # round 9b, as airline
        return {"epochs": 100, "hidden": 32, "batch_size": 16, "lr": 3e-3}

    # ---- data -------------------------------------------------------------------------------
    def series(self, config, options, data_path=None):
        """(values (T, F) float64, column names, test_size, season) of the configured source."""
        if config.dataset is not None and data_path is None:
            from rnnkit.tasks.datasets import load

            data = load(config.dataset, self.name)
            values = np.concatenate([data.train.values, data.test.values], axis=0)
            return values, list(data.train.columns), len(data.test), options.season
        from rnnkit.data.readers_series import read_time_series

        columns = [options.columns] if isinstance(options.columns, str) else (list(options.columns) or None)
        ts = read_time_series(data_path or config.data, columns=columns, time_column=options.time_column or None)
        test_size = options.test_size or max(1, int(round(0.2 * len(ts))))
        return ts.values, list(ts.columns), test_size, options.season

    def prepare(self, config: RunConfig, state: Optional[dict] = None, *, test_only: bool = False) -> Prepared:
        from rnnkit.data.windows import Scaler, sliding_windows

        options = self.options(config)
        values, columns, test_size, season = self.series(config, options)
        steps = values.shape[0]
        source = config.dataset or config.data
        if test_size >= steps:
            raise ValueError(f"{source}: the test part ({test_size} steps) must be shorter than the series ({steps} steps).")
        cut = steps - test_size
        lags = list(state["difference"] if state else options.difference)
        usable = cut - sum(lags)  # training steps left after differencing
        if options.lookback + options.horizon > usable:
            raise ValueError(f"Received an invalid value for options `lookback` and `horizon`: lookback "
                             f"({options.lookback}) + horizon ({options.horizon}) = {options.lookback + options.horizon} "
                             f"steps is longer than the training part of {source} ({cut} of {steps} steps"
                             + (f", {usable} after differencing by {lags}" if lags else "") + ").")
        if state:
            transform = saved_transform(state)
        else:  # fitted on the training part only
            transform = options.power_transform().fit(values[:cut], source)
        modeled = differenced(transform.transform(values[:cut], source), lags)[-1]  # (usable, F)
        scaler = Scaler.from_state_dict(state["scaler"]) if state else Scaler(options.scaler).fit(modeled)
        scaled = scaler.transform(modeled)  # (usable, F)
        windows = sliding_windows(scaled, options.lookback, options.horizon if options.strategy == "direct" else 1)
        n_val = int(round(config.validation * len(windows))) if len(windows) >= 10 else 0
        n_train = len(windows) - n_val  # validation: the latest windows, so it looks forward in time
        train = Split((windows.inputs[:n_train],), windows.targets[:n_train])
        validation = Split((windows.inputs[n_train:],), windows.targets[n_train:]) if n_val else None
        given = "log" if transform.option == "option `log`" else "transform"  # for later errors
        fitted = {**transform.state_dict(), "option": given}
        new_state = {"columns": columns, "scaler": scaler.state_dict(), "transform": fitted,
                     "log": transform.kind == "log", "season": season,
                     "lookback": options.lookback, "horizon": options.horizon, "strategy": options.strategy,
                     "difference": lags}
        test = Split((torch.as_tensor(values[:cut]),), torch.as_tensor(values[cut:]))  # history, truth
        ar_span = scaled[:n_train + windows.inputs.shape[1] + windows.targets.shape[1] - 1]  # what training windows see
        model_config = self._model_config(config, options, len(columns), ar_span)
        summary = (f"{source}: {steps} steps of {len(columns)} series, last {test_size} held out; "
                   f"{len(windows)} training windows (lookback {options.lookback}, horizon {options.horizon})")
        return Prepared(train, validation, test, model_config, new_state, summary)

    def _model_config(self, config, options, target_size, ar_span):
        from rnnkit.models import ForecasterConfig
        from rnnkit.models.autoregression import fit_autoregression

        coefficients = ()
        if options.residual_ar:
            if len(ar_span) < 2 * options.residual_ar + 1:
                raise ValueError(f"Received an invalid value for option `residual_ar`: an AR({options.residual_ar}) "
                                 f"needs {2 * options.residual_ar + 1} training steps to fit, got {len(ar_span)}.")
            coefficients = fit_autoregression(ar_span, options.residual_ar).tolist()

        forecaster = ForecasterConfig(horizon=options.horizon if options.strategy == "direct" else 1, target_size=target_size,
                                      lookback=options.lookback, strategy=options.strategy, cell=config.cell,
                                      hidden_size=config.hidden, num_layers=config.layers,
                                      bidirectional=config.bidirectional, dropout=config.dropout,
                                      highway=options.highway, residual_ar=options.residual_ar,
                                      ar_coefficients=coefficients).to_dict()
        return forecaster if options.ensemble == 1 else {**forecaster, "members": options.ensemble}

    # ---- model, loss, metrics ---------------------------------------------------------------
    def weight_decay(self, config) -> float:
        return float(self.options(config).weight_decay)

    def build_model(self, model_config) -> nn.Module:
        from rnnkit.models import Forecaster, ForecasterConfig, ForecasterEnsemble

        return single_or_ensemble(model_config, ForecasterConfig, Forecaster, ForecasterEnsemble)

    def training_module(self, model):
        from rnnkit.models.ensemble import EachMember, ForecasterEnsemble

        return EachMember(model) if isinstance(model, ForecasterEnsemble) else model

    def loss(self, outputs, targets):
        # an ensemble's outputs are (M, B, H, T): the mean over members of each member's error
        return nn.functional.mse_loss(outputs, targets.expand_as(outputs))

    def evaluate(self, model, prepared, config):
        state = prepared.state
        history = prepared.test.inputs[0].numpy()  # (cut, F), original scale
        truth = prepared.test.targets.numpy()  # (n, F)
        forecast = self.roll(model, state, history, truth.shape[0])  # (n, F)
        metrics = forecast_metrics(truth, forecast, history, state["season"])
        one_step = self.one_step(model, state, history, truth)  # (n, F)
        metrics.update({f"{k}_1step": v for k, v in forecast_metrics(truth, one_step, history, state["season"]).items()})
        plot = {"history": history[:, 0].tolist(), "truth": truth[:, 0].tolist(), "forecast": forecast[:, 0].tolist(),
                "column": state["columns"][0]}
        return metrics, plot

    def diagnosis_batch(self, loaded, batch_size: int):
        train = self.prepare(loaded.config, state=loaded.state).train  # windows of the training part
        return tuple(t[:batch_size] for t in train.inputs), train.targets[:batch_size]

    def roll(self, model, state, history, steps: int, source: str = "the series"):
        """Forecast ``steps`` steps after ``history`` (T, F), both on the original scale: transform
        (e.g. log), difference and scale the history, run the model ``horizon`` steps at a time
        feeding its forecasts back, then undo the scaling, integrate the differences and invert
        the transform."""
        from rnnkit.data.windows import Scaler

        scaler = Scaler.from_state_dict(state["scaler"])
        transform = saved_transform(state)
        levels = differenced(transform.transform(history, source), state["difference"])
        lookback = state["lookback"]
        window = torch.as_tensor(scaler.transform(levels[-1])[-lookback:], dtype=torch.float32)[None]  # (1, L, F)
        outputs = []
        with torch.no_grad():
            while sum(o.shape[1] for o in outputs) < steps:
                y = model(window)  # (1, block, F)
                outputs.append(y)
                window = torch.cat([window, y], dim=1)[:, -lookback:]
        scaled = torch.cat(outputs, dim=1)[0, :steps].double().numpy()  # (steps, F)
        future = integrated(levels[:-1], scaler.inverse_transform(scaled), state["difference"])
        return transform.inverse_transform(future)

    def one_step(self, model, state, history, truth):
        """Rolling-origin one-step forecasts (n, F): step i of ``truth`` (n, F) forecast from the
        true series before it, ``history`` (T, F) followed by ``truth[:i]``."""
        series = np.concatenate([history, truth], axis=0)
        cut = history.shape[0]
        return np.concatenate([self.roll(model, state, series[:cut + i], 1) for i in range(truth.shape[0])])

    def plot(self, plot_data, out_dir):
        from rnnkit.tasks.plots import plot_forecast

        return plot_forecast(plot_data["history"], plot_data["truth"], plot_data["forecast"], out_dir / "forecast.png",
                             title=f"Forecast of {plot_data['column']} against truth (test)")

    # ---- use ----------------------------------------------------------------------------------
    def forecast(self, model, state, config, *, horizon: int, data_path=None):
        """The ``horizon`` steps after the end of the whole series (training and test parts)."""
        options = self.options(config)
        values, columns, _, _ = self.series(config, options, data_path)
        if columns != state["columns"]:
            raise ValueError(f"{data_path}: columns {columns} differ from the run's {state['columns']}.")
        if horizon > values.shape[0]:
            raise ValueError(f"Received an invalid value for option `--horizon`: {horizon} steps is longer than the "
                             f"series ({values.shape[0]} steps); forecasts that far ahead are not meaningful.")
        needed = state["lookback"] + sum(state["difference"])
        if values.shape[0] < needed:
            raise ValueError(f"{data_path}: {values.shape[0]} steps, fewer than the {needed} the model reads.")
        source = data_path or config.dataset or config.data
        forecast = self.roll(model, state, values, horizon, source)
        start = values.shape[0] + 1
        return {"columns": columns, "steps": list(range(start, start + horizon)), "values": forecast.tolist()}


def saved_transform(state: dict) -> PowerTransform:
    """The fitted transform of a run's state; runs saved before ``transform`` existed have only
    ``log``."""
    if "transform" in state:
        option = f"option `{state['transform'].get('option', 'transform')}`"  # as the run was given
        return PowerTransform.from_state_dict(state["transform"], option=option)
    return PowerTransform("log" if state["log"] else "none", option="option `log`")


def differenced(z, lags):
    """[z, diff_1(z), diff_2(diff_1(z)), ...]: each level differenced by the next lag, (T_k, F)."""
    levels = [np.asarray(z, dtype=np.float64)]
    for lag in lags:
        levels.append(levels[-1][lag:] - levels[-1][:-lag])
    return levels


def integrated(history_levels, future, lags):
    """Undo ``differenced`` for forecasts ``future`` (H, F) of the last level, given the history
    of every earlier level: x_t = d_t + x_{t - lag}, innermost lag first."""
    for level, lag in zip(reversed(history_levels), reversed(list(lags))):
        series = list(level)
        for d in future:
            series.append(d + series[len(series) - lag])
        future = np.asarray(series[len(level):])
    return future


def forecast_metrics(truth, forecast, history, season: int) -> dict:
    """MAPE (%), MASE (against the in-sample seasonal naive forecast) and RMSE over all columns."""
    error = truth - forecast
    with np.errstate(divide="ignore", invalid="ignore"):
        mape = float(np.mean(np.abs(error) / np.abs(truth)) * 100) if np.all(truth != 0) else math.nan
    m = season if history.shape[0] > season else 1
    naive = np.mean(np.abs(history[m:] - history[:-m]))
    mase = float(np.mean(np.abs(error)) / naive) if naive > 0 else math.nan
    return {"mape": mape, "mase": mase, "rmse": float(np.sqrt(np.mean(error ** 2)))}


TASK = ForecastTask()
