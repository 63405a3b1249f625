"""Which epoch's weights a run keeps: ``keep`` = val_loss, val_accuracy or last."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from _cli_data import FAST, conll, run_cli, series_csv
from rnnkit.tasks import RunConfig
from rnnkit.tasks.run import KeepBest

# (val_loss, val_accuracy) of four epochs: the loss is lowest at epoch 1, the accuracy highest
# at epoch 3 (tied with epoch 2, whose loss is higher), as a tagger's curves go
LOGS = [(0.30, 0.90), (0.04, 0.991), (0.05, 0.993), (0.045, 0.993)]


class FakeTrainer:
    def __init__(self):
        self.model = nn.Linear(1, 1, bias=False)


def replay(monitor):
    """Run KeepBest over LOGS, the weight of epoch e set to e; returns (best_epoch, weight kept)."""
    keep, trainer = KeepBest(monitor), FakeTrainer()
    for epoch, (loss, accuracy) in enumerate(LOGS):
        with torch.no_grad():
            trainer.model.weight.fill_(epoch)
        keep.on_epoch_end(trainer, epoch, {"loss": 1.0, "val_loss": loss, "val_accuracy": accuracy})
    keep.on_train_end(trainer)
    return keep.best_epoch, float(trainer.model.weight.detach())


def test_keep_by_validation_loss_accuracy_or_last():
    assert replay("val_loss") == (1, 1.0)
    assert replay("val_accuracy") == (3, 3.0)  # a tie in accuracy goes to the lower loss
    assert replay("last") == (3, 3.0)


def test_keep_skips_epochs_without_finite_validation_logs():
    keep, trainer = KeepBest("val_accuracy"), FakeTrainer()
    keep.on_epoch_end(trainer, 0, {"loss": 1.0})  # no validation data
    keep.on_epoch_end(trainer, 1, {"val_loss": float("nan"), "val_accuracy": 0.5})
    assert keep.best_epoch is None and keep.weights is None


def test_keep_is_checked_by_the_config():
    with pytest.raises(ValueError, match=r"argument `keep`: expected one of \['last', 'val_accuracy', 'val_loss'\], "
                                         r"got 'best'"):
        RunConfig(task="tag", data="x", keep="best")


def test_tag_keeps_its_best_validation_accuracy_and_the_flag_overrides_it(tmp_path):
    data = conll(tmp_path / "train.conll", n=60)
    out = tmp_path / "run"
    assert run_cli("train", "tag", "--data", data, "--out", out, "--validation", "0.4", *FAST) == 0
    assert json.loads((out / "config.json").read_text())["keep"] == "val_accuracy"
    last = tmp_path / "last"
    assert run_cli("train", "tag", "--data", data, "--out", last, "--keep", "last", "--epochs", "2",
                   *FAST[2:]) == 0
    assert json.loads((last / "config.json").read_text())["keep"] == "last"
    assert json.loads((last / "history.json").read_text())["best_epoch"] == 1  # the second and last epoch


def test_keep_val_accuracy_without_an_accuracy_metric_is_an_error(tmp_path, capsys):
    data = series_csv(tmp_path / "series.csv")
    assert run_cli("train", "forecast", "--data", data, "--out", tmp_path / "run", "--keep", "val_accuracy",
                   *FAST) != 0
    assert "option `keep`: task 'forecast' logs no validation accuracy; expected 'val_loss' or 'last', " \
           "got 'val_accuracy'" in capsys.readouterr().err
