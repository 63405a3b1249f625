"""Trainer: real training on generated data, the API contract, clipping, schedules, bad input."""

import io

import pytest
import torch
from torch import nn
from train_helpers import SequenceClassifier, max_abs_diff, sign_data

from rnnkit.train import Adam, ArrayLoader, Callback, SGD, Trainer


def test_loss_falls_and_accuracy_rises_with_validation():
    x, y = sign_data(256, steps=8)
    torch.manual_seed(0)
    trainer = Trainer(SequenceClassifier(hidden=8), loss="binary_crossentropy", optimizer=Adam(learning_rate=0.03),
                      metrics=["accuracy"], seed=0, progress=False)
    history = trainer.fit(ArrayLoader(x[:192], y[:192], batch_size=32, seed=0), epochs=6,
                          validation_data=ArrayLoader(x[192:], y[192:], shuffle=False))
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == list(range(6))
    assert h["loss"][-1] < 0.6 * h["loss"][0]
    assert h["val_accuracy"][-1] > 0.8
    result = trainer.evaluate(ArrayLoader(x[192:], y[192:], shuffle=False))
    assert result["loss"] == pytest.approx(h["val_loss"][-1], rel=1e-6)
    assert trainer.epoch == 5 and trainer.global_step == 6 * 6


def test_predict_matches_model_and_accepts_tensor_loader_and_tuple():
    x, y = sign_data(70)
    model = SequenceClassifier()
    trainer = Trainer(model, loss="bce", progress=False)
    model.eval()
    with torch.no_grad():
        expected = model(x)
    assert torch.allclose(trainer.predict(x, batch_size=16), expected, atol=1e-6)
    assert torch.allclose(trainer.predict(ArrayLoader(x, y, batch_size=32, shuffle=False)), expected, atol=1e-6)
    assert torch.allclose(trainer.predict(ArrayLoader(x, batch_size=32, shuffle=False)), expected, atol=1e-6)


class TwoInputTwoOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 1)

    def forward(self, u, v):
        return self.a(u), self.b(v)


def test_multi_input_multi_output_losses_are_summed():
    torch.manual_seed(0)
    u, v = torch.randn(40, 3), torch.randn(40, 4)
    t1, t2 = u @ torch.randn(3, 2), v.sum(1, keepdim=True)
    trainer = Trainer(TwoInputTwoOutput(), loss=["mse", "mae"], optimizer="adam", metrics=["mae"], progress=False)
    history = trainer.fit(ArrayLoader((u, v), (t1, t2), batch_size=8, seed=1), epochs=3)
    outputs = trainer.predict((u, v))
    assert isinstance(outputs, tuple) and outputs[0].shape == (40, 2) and outputs[1].shape == (40, 1)
    expected = nn.functional.mse_loss(outputs[0], t1) + nn.functional.l1_loss(outputs[1], t2)
    assert trainer.evaluate(ArrayLoader((u, v), (t1, t2), shuffle=False, batch_size=40))["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_torch_dataloader_and_optimizer_object_work():
    x, y = sign_data(64)
    dataset = torch.utils.data.TensorDataset(x, y)
    model = SequenceClassifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, loss="binary_crossentropy", optimizer=optimizer, progress=False)
    history = trainer.fit(torch.utils.data.DataLoader(dataset, batch_size=16), epochs=2)
    assert trainer.optimizer is optimizer and len(history.history["loss"]) == 2


def test_keras_optimizer_defaults():
    model = nn.Linear(2, 1)
    adam = Trainer(model, optimizer="adam").optimizer.param_groups[0]
    assert (adam["lr"], adam["betas"], adam["eps"]) == (1e-3, (0.9, 0.999), 1e-7)
    rms = Trainer(model, optimizer="rmsprop").optimizer.param_groups[0]
    assert (rms["lr"], rms["alpha"], rms["eps"], rms["momentum"]) == (1e-3, 0.9, 1e-7, 0)
    sgd = Trainer(model, optimizer="sgd").optimizer.param_groups[0]
    assert (sgd["lr"], sgd["momentum"]) == (0.01, 0)


def _one_step(clip_value=None, clip_norm=None, optimizer=None, per_tensor=False):
    torch.manual_seed(3)
    model = nn.Linear(4, 3)
    x, y = torch.randn(8, 4) * 10, torch.randn(8, 3) * 10
    reference = nn.Linear(4, 3)
    reference.load_state_dict(model.state_dict())
    trainer = Trainer(model, loss="mse", optimizer=optimizer or SGD(learning_rate=1.0), clip_value=clip_value,
                      clip_norm=clip_norm, clip_norm_per_tensor=per_tensor, progress=False)
    trainer.fit(ArrayLoader(x, y, batch_size=8, shuffle=False), epochs=1)
    loss = nn.functional.mse_loss(reference(x), y)
    grads = torch.autograd.grad(loss, list(reference.parameters()))
    return model, reference, grads


def test_clip_by_value_equals_manual_clamp():
    model, reference, grads = _one_step(clip_value=0.5)
    assert max(g.abs().max() for g in grads) > 0.5  # clipping is active
    with torch.no_grad():
        for p, g in zip(reference.parameters(), grads):
            p -= g.clamp(-0.5, 0.5)
    assert max_abs_diff(model, reference) < 1e-6


def test_clip_by_global_norm_equals_manual_rescale():
    model, reference, grads = _one_step(clip_norm=1.0)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    assert norm > 1.0
    with torch.no_grad():
        for p, g in zip(reference.parameters(), grads):
            p -= g * (1.0 / (norm + 1e-6))
    assert max_abs_diff(model, reference) < 1e-6


def test_keras_clipnorm_on_optimizer_clips_each_tensor():
    model, reference, grads = _one_step(optimizer=SGD(learning_rate=1.0, clipnorm=0.1))
    with torch.no_grad():
        for p, g in zip(reference.parameters(), grads):
            p -= g * min(1.0, 0.1 / (g.norm() + 1e-6))
    assert max_abs_diff(model, reference) < 1e-6


def test_scheduler_object_or_factory_steps_once_per_epoch():
    x, y = torch.randn(32, 2), torch.randn(32, 1)
    trainer = Trainer(nn.Linear(2, 1), loss="mse", optimizer="sgd", progress=False,
                      scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5))
    trainer.fit(ArrayLoader(x, y, batch_size=8), epochs=3)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5 ** 3)
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    trainer = Trainer(model, optimizer=opt, scheduler=plateau, progress=False)
    trainer.fit(ArrayLoader(x, torch.zeros(32, 1) + 100, batch_size=32), epochs=1)
    assert plateau.best < float("inf")  # stepped with the epoch's loss


def test_callback_hooks_order_and_stop_training():
    events = []

    class Recorder(Callback):
        def on_train_begin(self, trainer):
            events.append("train_begin")

        def on_epoch_begin(self, trainer, epoch):
            events.append(f"epoch_begin {epoch}")

        def on_batch_end(self, trainer, step, logs):
            events.append(f"batch {step} {sorted(logs)}")

        def on_epoch_end(self, trainer, epoch, logs):
            events.append(f"epoch_end {epoch} {sorted(logs)}")
            trainer.stop_training = epoch == 1

        def on_train_end(self, trainer):
            events.append("train_end")

    x, y = torch.randn(8, 2), torch.randn(8, 1)
    trainer = Trainer(nn.Linear(2, 1), metrics=["mae"], callbacks=[Recorder()], progress=False)
    history = trainer.fit(ArrayLoader(x, y, batch_size=4), epochs=5, validation_data=ArrayLoader(x, y))
    assert events == ["train_begin", "epoch_begin 0", "batch 1 ['grad_norm', 'loss', 'mae']", "batch 2 ['grad_norm', 'loss', 'mae']",
                      "epoch_end 0 ['loss', 'mae', 'val_loss', 'val_mae']", "epoch_begin 1", "batch 3 ['grad_norm', 'loss', 'mae']",
                      "batch 4 ['grad_norm', 'loss', 'mae']", "epoch_end 1 ['loss', 'mae', 'val_loss', 'val_mae']", "train_end"]
    assert history.epoch == [0, 1]


def test_progress_bar_prints_and_is_quiet_when_disabled():
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    stream = io.StringIO()
    Trainer(nn.Linear(2, 1), progress=True, progress_stream=stream).fit(ArrayLoader(x, y, batch_size=4), epochs=2)
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "2/2 [" in text and "loss:" in text
    quiet = io.StringIO()
    Trainer(nn.Linear(2, 1), progress=0, progress_stream=quiet).fit(ArrayLoader(x, y, batch_size=4), epochs=2)
    assert quiet.getvalue() == ""


def test_array_loader_order_depends_only_on_seed_and_epoch():
    x = torch.arange(10).float().unsqueeze(1)
    a, b = ArrayLoader(x, x, batch_size=3, seed=5), ArrayLoader(x, x, batch_size=3, seed=5)
    torch.manual_seed(123)  # the global generator plays no part
    first = torch.cat([batch[0] for batch in a])
    torch.manual_seed(999)
    assert torch.equal(first, torch.cat([batch[0] for batch in b]))
    b.set_epoch(1)
    assert not torch.equal(first, torch.cat([batch[0] for batch in b]))
    assert sorted(first.squeeze(1).tolist()) == list(range(10)) and len(a) == 4


def test_seed_makes_runs_identical():
    x, y = sign_data(32, steps=5)
    results = []
    for _ in range(2):
        torch.manual_seed(1)
        model = SequenceClassifier(hidden=4, dropout=0.5)
        Trainer(model, loss="bce", seed=7, deterministic=True, progress=False).fit(ArrayLoader(x, y, batch_size=16), epochs=2)
        results.append(model)
    assert max_abs_diff(*results) == 0.0


def test_bad_arguments_name_what_is_wrong():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="argument `loss`.*'nope'"):
        Trainer(model, loss="nope")
    with pytest.raises(ValueError, match="argument `optimizer`.*'adamax'"):
        Trainer(model, optimizer="adamax")
    with pytest.raises(ValueError, match="argument `metrics`.*'f1'"):
        Trainer(model, metrics=["f1"])
    with pytest.raises(ValueError, match="argument `clip_norm`.*positive"):
        Trainer(model, clip_norm=-1)
    with pytest.raises(ValueError, match="argument `clip_value`.*positive"):
        Trainer(model, clip_value=0)
    with pytest.raises(TypeError, match="argument `model`"):
        Trainer("model")
    with pytest.raises(ValueError, match="argument `epochs`"):
        Trainer(model).fit(ArrayLoader(torch.ones(2, 2), torch.ones(2, 1)), epochs=0)
    with pytest.raises(ValueError, match=r"same number of samples.*inputs: 5, targets: 4"):
        ArrayLoader(torch.ones(5, 2), torch.ones(4, 1))
    with pytest.raises(ValueError, match="argument `batch_size`"):
        ArrayLoader(torch.ones(5, 2), torch.ones(5, 1), batch_size=0)
    with pytest.raises(ValueError, match=r"pair \(inputs, targets\)"):
        Trainer(model, progress=False).fit([torch.ones(2, 2)], epochs=1)
    with pytest.raises(ValueError, match="resume=True.*checkpoint_dir"):
        Trainer(model).fit(ArrayLoader(torch.ones(2, 2), torch.ones(2, 1)), resume=True)
    with pytest.raises(ValueError, match="different optimizer"):
        other = torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1)
        Trainer(model, scheduler=torch.optim.lr_scheduler.StepLR(other, 1))


def test_numpy_arrays_are_accepted_like_keras():
    x, y = sign_data(20, steps=4)
    trainer = Trainer(SequenceClassifier(hidden=4), loss="bce", progress=False)
    history = trainer.fit(ArrayLoader(x.double().numpy(), y.numpy(), batch_size=8), epochs=1)
    assert len(history.history["loss"]) == 1
    assert torch.allclose(trainer.predict(x.numpy()), trainer.predict(x))


def test_batch_logs_carry_the_gradient_norm_before_clipping():
    from rnnkit.train import Callback

    class Record(Callback):
        def __init__(self):
            self.norms = []

        def on_batch_end(self, trainer, step, logs):
            self.norms.append(logs["grad_norm"])

    torch.manual_seed(0)
    x, y = torch.randn(32, 3), 100 * torch.randn(32, 1)  # large targets: large gradients
    model = torch.nn.Linear(3, 1)
    record = Record()
    Trainer(model, optimizer=torch.optim.SGD(model.parameters(), lr=1e-6), clip_norm=0.1, progress=False,
            callbacks=[record]).fit(ArrayLoader(x, y, batch_size=32, shuffle=False), epochs=1)
    model.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()  # lr 1e-6 barely moved the weights
    expected = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm().item()
    assert len(record.norms) == 1 and record.norms[0] > 0.1
    assert abs(record.norms[0] - expected) / expected < 1e-3
