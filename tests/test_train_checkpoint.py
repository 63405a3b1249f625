"""Checkpoints: atomic writes, corruption and mismatch errors, exact resume after SIGKILL,
and the stop on a non-finite loss or gradient."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import torch
from torch import nn
from train_helpers import SequenceClassifier, resume_setup, sign_data

import rnnkit
from rnnkit.train import (ArrayLoader, CheckpointError, NonFiniteError, Trainer, load_checkpoint, load_weights,
                          save_weights)
from rnnkit.train.checkpoint import list_checkpoints

TESTS = pathlib.Path(__file__).parent
SRC = pathlib.Path(rnnkit.__file__).resolve().parent.parent


def small_run(checkpoint_dir, epochs=2, resume=False, hidden=6, **kwargs):
    torch.manual_seed(0)
    x, y = sign_data(48, steps=5)
    trainer = Trainer(SequenceClassifier(hidden=hidden), loss="bce", seed=1, progress=False, **kwargs)
    trainer.fit(ArrayLoader(x, y, batch_size=16), epochs=epochs, checkpoint_dir=checkpoint_dir, resume=resume)
    return trainer


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()}


def test_checkpoint_layout_json_state_and_pruning(tmp_path):
    trainer = small_run(tmp_path, epochs=3)
    assert [os.path.basename(p) for p in list_checkpoints(tmp_path)] == ["epoch-000001", "epoch-000002"]  # keep 2
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
    newest = tmp_path / "epoch-000002"
    assert sorted(os.listdir(newest)) == ["model.safetensors", "state.json", "state.safetensors"]
    document = json.loads((newest / "state.json").read_text())
    state = document["state"]
    assert state["epoch"] == 2 and state["global_step"] == 9
    assert isinstance(state["rng"]["torch"], list) and isinstance(state["rng"]["numpy"][1], list)
    assert state["history"]["history"]["loss"] == trainer.history.history["loss"]
    assert state["config"]["optimizer_class"] == "Adam" and state["config"]["seed"] == 1
    assert set(document["sha256"]) == {"model.safetensors", "state.safetensors"}
    from safetensors.torch import load_file  # the weights file stands on its own

    weights = load_file(str(newest / "model.safetensors"))
    assert all(torch.equal(weights[k], v) for k, v in trainer.model.state_dict().items())


def test_package_never_unpickles():
    source = "\n".join(p.read_text() for p in (SRC / "rnnkit" / "train").rglob("*.py"))
    assert "torch.load(" not in source and "import pickle" not in source


def test_kill_with_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    epochs = 6
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(TESTS)]))
    process = subprocess.Popen([sys.executable, str(TESTS / "train_resume_script.py"), str(tmp_path), str(epochs), "0.2"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "epoch-000000").exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the training subprocess wrote no checkpoint in 120 s"
            time.sleep(0.02)
        assert process.poll() is None  # still training: the kill lands mid-run
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    written = list_checkpoints(tmp_path)
    assert written and not (tmp_path / f"epoch-{epochs - 1:06d}").exists()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the subprocess
    try:
        model, loader, kwargs = resume_setup()
        resumed = Trainer(model, **kwargs)
        resumed.fit(loader, epochs=epochs, checkpoint_dir=tmp_path, resume=True)
        assert resumed.resumed_from == written[-1] or resumed.resumed_from in written
        model_ref, loader_ref, kwargs_ref = resume_setup()
        reference = Trainer(model_ref, **kwargs_ref)
        reference.fit(loader_ref, epochs=epochs)
    finally:
        torch.set_num_threads(threads)
    for (name, a), b in zip(reference.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"
    assert resumed.history.history == reference.history.history
    assert resumed.global_step == reference.global_step
    assert resumed.optimizer.param_groups[0]["lr"] == reference.optimizer.param_groups[0]["lr"]


def test_a_crash_while_writing_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    import safetensors.torch as st

    small_run(tmp_path, epochs=1)
    before = snapshot(tmp_path)
    real = st.save_file
    calls = []

    def failing(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) == 2:  # the state file of the second epoch's checkpoint
            real(tensors, filename, metadata)
            raise OSError("disk full (simulated)")
        return real(tensors, filename, metadata)

    monkeypatch.setattr(st, "save_file", failing)
    with pytest.raises(OSError, match="simulated"):
        small_run(tmp_path, epochs=2, resume=True)
    monkeypatch.undo()
    assert snapshot(tmp_path) == before  # no half-written folder, the old one untouched
    trainer = small_run(tmp_path, epochs=2, resume=True)  # and the run goes on from it
    assert trainer.epoch == 1


def test_truncated_or_corrupt_checkpoint_is_reported_and_nothing_is_overwritten(tmp_path):
    small_run(tmp_path, epochs=2)
    weights = tmp_path / "epoch-000001" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    before = snapshot(tmp_path)
    with pytest.raises(CheckpointError, match=r"model\.safetensors is truncated or corrupt"):
        small_run(tmp_path, epochs=4, resume=True)
    assert snapshot(tmp_path) == before
    (tmp_path / "epoch-000001" / "state.json").write_text('{"format": "rnnkit-checkpoint-1", "sha2')
    with pytest.raises(CheckpointError, match=r"state\.json is truncated or corrupt"):
        small_run(tmp_path, epochs=4, resume=True)
    single = tmp_path / "w.safetensors"
    model = SequenceClassifier(hidden=6)
    save_weights(model, single)
    single.write_bytes(single.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_weights(model, single)


def test_architecture_mismatch_names_the_keys(tmp_path):
    small_run(tmp_path, epochs=1, hidden=6)
    with pytest.raises(CheckpointError, match=r"does not match.*lstm\.weight_ih_l0: model \(32, 3\), checkpoint \(24, 3\)"):
        small_run(tmp_path, epochs=2, resume=True, hidden=8)

    class Wider(SequenceClassifier):
        def __init__(self):
            super().__init__(hidden=6)
            self.extra = nn.Linear(2, 2)

    with pytest.raises(CheckpointError, match=r"missing from the checkpoint: extra\.bias, extra\.weight"):
        load_checkpoint(tmp_path / "epoch-000000", Wider())
    file = tmp_path / "w.safetensors"
    save_weights(Wider(), file)
    with pytest.raises(CheckpointError, match=r"not in the model: extra\.bias, extra\.weight"):
        load_weights(SequenceClassifier(hidden=6), file)


def test_resume_with_another_optimizer_or_fresh_run_over_checkpoints_is_refused(tmp_path):
    small_run(tmp_path, epochs=1)
    with pytest.raises(CheckpointError, match="written with optimizer Adam, but the trainer uses SGD"):
        small_run(tmp_path, epochs=2, resume=True, optimizer="sgd")
    with pytest.raises(ValueError, match="already holds checkpoints.*resume=True"):
        small_run(tmp_path, epochs=2)


def test_resume_of_a_finished_run_trains_no_more(tmp_path):
    first = small_run(tmp_path, epochs=2)
    again = small_run(tmp_path, epochs=2, resume=True)
    assert again.history.history == first.history.history
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values()))


class NaNAtCall:
    """MSE that turns NaN at its ``at``-th call (a training step)."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, outputs, targets):
        self.calls += 1
        loss = nn.functional.mse_loss(outputs, targets)
        return loss * float("nan") if self.calls == self.at else loss


def test_non_finite_loss_stops_naming_epoch_and_step_and_keeps_last_checkpoint(tmp_path):
    x, y = torch.randn(64, 3), torch.randn(64, 1)
    model = nn.Linear(3, 1)
    trainer = Trainer(model, loss=NaNAtCall(at=7), progress=False)  # 4 steps per epoch: epoch 2, step 3
    with pytest.raises(NonFiniteError, match=r"Non-finite loss \(nan\) at epoch 2, step 3 \(global step 7\).*last good checkpoint is kept in"):
        trainer.fit(ArrayLoader(x, y, batch_size=16), epochs=3, checkpoint_dir=tmp_path)
    assert [os.path.basename(p) for p in list_checkpoints(tmp_path)] == ["epoch-000000"]
    weights_after_step_6 = {k: v.clone() for k, v in model.state_dict().items()}
    load_checkpoint(tmp_path / "epoch-000000", nn.Linear(3, 1))  # intact
    assert all(torch.isfinite(v).all() for v in weights_after_step_6.values())


def test_non_finite_gradient_stops_and_stop_mode_returns_quietly():
    class InfGrad(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x * self.w + torch.sqrt(self.w - self.w.detach())  # finite value, infinite gradient

    x, y = torch.randn(8, 1), torch.randn(8, 1)
    with pytest.raises(NonFiniteError, match=r"Non-finite gradient \(global norm (inf|nan)\) at epoch 1, step 1"):
        Trainer(InfGrad(), progress=False).fit(ArrayLoader(x, y, batch_size=4), epochs=2)
    model = InfGrad()
    trainer = Trainer(model, progress=False, on_nonfinite="stop")
    history = trainer.fit(ArrayLoader(x, y, batch_size=4), epochs=2)
    assert history.epoch == [] and "epoch 1, step 1" in trainer.stop_reason
    assert torch.equal(model.w.detach(), torch.ones(1))  # the bad step was not applied


def test_trainer_save_and_load_checkpoint_by_hand(tmp_path):
    trainer = small_run(None, epochs=2)
    path = trainer.save_checkpoint(tmp_path / "manual")
    torch.manual_seed(5)
    other = Trainer(SequenceClassifier(hidden=6), loss="bce", progress=False)
    state = other.load_checkpoint(path)
    assert state["epoch"] == 1 and other.global_step == trainer.global_step == 6
    assert other.history.history == trainer.history.history
    assert all(torch.equal(a, b) for a, b in zip(trainer.model.state_dict().values(), other.model.state_dict().values()))
    moments = [s["exp_avg"] for s in other.optimizer.state.values()]
    assert moments and all(torch.equal(a, b["exp_avg"]) for a, b in zip(moments, trainer.optimizer.state.values()))


def test_resume_with_a_shuffling_torch_dataloader_is_exact(tmp_path):
    x, y = sign_data(48, steps=4)

    def run(epochs, checkpoint_dir=None, resume=False):
        torch.manual_seed(0)
        model = SequenceClassifier(hidden=4, dropout=0.2)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
        trainer = Trainer(model, loss="bce", seed=3, deterministic=True, progress=False)
        trainer.fit(loader, epochs=epochs, checkpoint_dir=checkpoint_dir, resume=resume)
        return trainer

    run(2, tmp_path)
    resumed = run(4, tmp_path, resume=True)
    reference = run(4)
    assert all(torch.equal(a, b) for a, b in zip(reference.model.state_dict().values(), resumed.model.state_dict().values()))
    assert resumed.history.history == reference.history.history


def test_resume_restores_callback_state(tmp_path):
    from rnnkit.train import EarlyStopping

    x, y = torch.randn(16, 2), torch.randn(16, 1)

    def run(epochs, checkpoint_dir=None, resume=False):
        model = nn.Linear(2, 1)
        trainer = Trainer(model, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), progress=False,
                          callbacks=[EarlyStopping(monitor="loss", patience=2)])
        return trainer.fit(ArrayLoader(x, y, batch_size=8, shuffle=False), epochs=epochs, checkpoint_dir=checkpoint_dir,
                           resume=resume)

    assert run(10).epoch == [0, 1, 2]  # lr 0: no improvement after epoch 0, patience 2
    run(2, tmp_path)
    assert run(10, tmp_path, resume=True).epoch == [0, 1, 2]  # the patience counter survived the restart
