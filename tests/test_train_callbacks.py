"""Callbacks: Keras' rules on scripted logs, and each callback inside a real fit."""

import csv
import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from rnnkit.train import (ArrayLoader, CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, TensorBoard,
                          Trainer, load_weights)


def fake_trainer(lr=1.0):
    model = nn.Linear(2, 1)
    return SimpleNamespace(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=lr), stop_training=False,
                           epoch=0)


def run_scripted(callback, values, key="val_loss", trainer=None, on_epoch=None):
    trainer = trainer or fake_trainer()
    callback.on_train_begin(trainer)
    for epoch, value in enumerate(values):
        if on_epoch:
            on_epoch(trainer, epoch)
        callback.on_epoch_end(trainer, epoch, {key: value})
        if trainer.stop_training:
            return trainer, epoch
    return trainer, None


def test_early_stopping_patience_and_min_delta():
    _, stopped = run_scripted(EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.91, 0.5])
    assert stopped == 3  # no improvement at epochs 2 and 3
    _, stopped = run_scripted(EarlyStopping(patience=1, min_delta=0.2), [1.0, 0.9, 0.5])
    assert stopped == 1  # 0.9 is not better than 1.0 by more than 0.2
    _, stopped = run_scripted(EarlyStopping(monitor="val_accuracy", patience=1), [0.5, 0.6, 0.55], key="val_accuracy")
    assert stopped == 2  # 'auto' maximizes accuracies


def test_early_stopping_restores_the_best_weights():
    def set_weights(trainer, epoch):
        with torch.no_grad():
            trainer.model.weight.fill_(float(epoch))

    trainer, stopped = run_scripted(EarlyStopping(patience=2, restore_best_weights=True), [3.0, 1.0, 2.0, 2.5],
                                    on_epoch=set_weights)
    assert stopped == 3 and torch.all(trainer.model.weight == 1.0)


def test_early_stopping_in_a_fit_stops_and_warns_on_missing_key():
    x, y = torch.randn(16, 2), torch.randn(16, 1)
    model = nn.Linear(2, 1)
    frozen = Trainer(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), progress=False,
                     callbacks=[EarlyStopping(monitor="loss", patience=1)])
    assert frozen.fit(ArrayLoader(x, y, batch_size=8, shuffle=False), epochs=10).epoch == [0, 1]  # lr 0: the loss never improves
    with pytest.warns(UserWarning, match="'val_loss' is not in the logs"):
        Trainer(nn.Linear(2, 1), progress=False, callbacks=[EarlyStopping()]).fit(ArrayLoader(x, y), epochs=1)


def test_reduce_lr_on_plateau_patience_cooldown_and_floor():
    trainer = fake_trainer(lr=1.0)
    callback = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.2)
    lrs = []
    run_scripted(callback, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], trainer=trainer,
                 on_epoch=lambda t, e: lrs.append(t.optimizer.param_groups[0]["lr"]))
    lrs.append(trainer.optimizer.param_groups[0]["lr"])
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]
    with pytest.raises(ValueError, match=r"argument `factor`: expected a number in \(0, 1\)"):
        ReduceLROnPlateau(factor=1.5)


def test_model_checkpoint_best_only_writes_on_improvement(tmp_path):
    path = str(tmp_path / "model-{epoch:02d}-{val_loss:.2f}.safetensors")
    callback = ModelCheckpoint(path, save_best_only=True)
    trainer = fake_trainer()
    run_scripted(callback, [1.0, 2.0, 0.5, 0.7], trainer=trainer)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-01-1.00.safetensors", "model-03-0.50.safetensors"]
    restored = nn.Linear(2, 1)
    load_weights(restored, tmp_path / "model-03-0.50.safetensors")
    assert torch.equal(restored.weight, trainer.model.weight)
    every = ModelCheckpoint(str(tmp_path / "all" / "e{epoch}.safetensors"))
    run_scripted(every, [1.0, 2.0])
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["e1.safetensors", "e2.safetensors"]
    saved = []
    custom = ModelCheckpoint(str(tmp_path / "m.keras"), save_fn=lambda model, p: saved.append(p))
    run_scripted(custom, [1.0])
    assert saved == [str(tmp_path / "m.keras")]
    with pytest.raises(ValueError, match=r"cannot write .*m\.h5.*Linear has none"):
        run_scripted(ModelCheckpoint(str(tmp_path / "m.h5")), [1.0])
    with pytest.raises(KeyError, match="names 'val_acc'"):
        run_scripted(ModelCheckpoint(str(tmp_path / "{val_acc}.safetensors")), [1.0])


def test_csv_logger_rows_and_resume_drops_rerun_epochs(tmp_path):
    log = tmp_path / "log.csv"
    x, y = torch.randn(16, 2), torch.randn(16, 1)

    def run(epochs, resume=False):
        trainer = Trainer(nn.Linear(2, 1), metrics=["mae"], seed=0, progress=False, callbacks=[CSVLogger(log)])
        trainer.fit(ArrayLoader(x, y, batch_size=8), epochs=epochs, validation_data=ArrayLoader(x, y),
                    checkpoint_dir=tmp_path / "ck", resume=resume)
        return trainer

    first = run(2)
    rows = list(csv.reader(log.open()))
    assert rows[0] == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [r[0] for r in rows[1:]] == ["0", "1"]
    assert float(rows[2][1]) == pytest.approx(first.history.history["loss"][1])
    with log.open("a") as handle:  # a row written just before a crash, for an epoch with no checkpoint
        handle.write("2,9,9,9,9\n")
    run(4, resume=True)
    assert [r[0] for r in csv.reader(log.open())][1:] == ["0", "1", "2", "3"]


def test_tensorboard_writes_real_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, y = torch.randn(16, 2), torch.randn(16, 1)
    trainer = Trainer(nn.Linear(2, 1), metrics=["mae"], progress=False,
                      callbacks=[TensorBoard(tmp_path, update_freq=1)])
    history = trainer.fit(ArrayLoader(x, y, batch_size=8), epochs=2, validation_data=ArrayLoader(x, y))
    train = EventAccumulator(str(tmp_path / "train"))
    train.Reload()
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate", "batch_loss"} <= set(train.Tags()["scalars"])
    assert [e.value for e in train.Scalars("epoch_loss")] == pytest.approx(history.history["loss"], rel=1e-6)
    validation = EventAccumulator(str(tmp_path / "validation"))
    validation.Reload()
    assert [e.value for e in validation.Scalars("epoch_loss")] == pytest.approx(history.history["val_loss"], rel=1e-6)
    assert len(train.Scalars("batch_loss")) == 4


def test_tensorboard_without_the_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="needs the `tensorboard` package.*pip install tensorboard"):
        TensorBoard("logs")
