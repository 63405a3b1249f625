"""Plots, JSON, the exploding monitor, the trainer callback and diagnose_run."""

import json
from types import SimpleNamespace

import pytest
import torch

import rnnkit
from rnnkit.diagnostics import (ExplodingMonitor, FlowReport, GradientFlowWarning, diagnose, diagnose_run,
                                gradient_flow)


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread avoids spinning threads on a shared, loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class Regressor(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = rnnkit.GRU(2, 6, num_layers=2)
        self.head = torch.nn.Linear(6, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][-1])


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(12, 4, 2, generator=g), torch.randn(4, 1, generator=g)


def test_exploding_monitor_names_the_step():
    monitor = ExplodingMonitor(warn=False)
    assert monitor.update(1, 1.0) is None
    assert monitor.update(2, 50.0) is None
    message = monitor.update(3, 6000.0)
    assert "jumped 120x at training step 3" in message
    assert "not finite" not in message
    with pytest.warns(GradientFlowWarning, match="is nan at training step 9"):
        ExplodingMonitor().update(9, float("nan"))
    with pytest.raises(ValueError, match="`jump`: expected a number > 1, got 0.5"):
        ExplodingMonitor(0.5)


def test_report_json_round_trip_and_diagnose(tmp_path):
    model = Regressor()
    report = diagnose(model, _batch(), tmp_path)
    assert _is_png(tmp_path / "gradient_flow.png")
    data = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert [d["name"] for d in data["directions"]] == ["rnn.l0.forward", "rnn.l1.forward"]
    again = FlowReport.from_dict(data)
    assert again.directions[1].grad_norm == pytest.approx(report.directions[1].grad_norm)
    assert again.loss == pytest.approx(report.loss)


def _train(model, callbacks, steps=6, lr=0.05):
    """A minimal loop that calls the hooks the Trainer contract defines."""
    trainer = SimpleNamespace(model=model, global_step=0, stop_training=False, epoch=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    x, y = _batch(1)
    for cb in callbacks:
        cb.on_train_begin(trainer)
        cb.on_epoch_begin(trainer, 0)
    for step in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        trainer.global_step += 1
        for cb in callbacks:
            cb.on_batch_end(trainer, step, {"loss": float(loss.detach())})
    for cb in callbacks:
        cb.on_epoch_end(trainer, 0, {})
        cb.on_train_end(trainer)
    return trainer


def test_callback_records_and_writes(tmp_path):
    from rnnkit.diagnostics import GradientFlowCallback

    model = Regressor()
    callback = GradientFlowCallback(_batch(), every=2, out_dir=tmp_path, warn=False)
    _train(model, [callback], steps=5)
    assert [s for s, _ in callback.history] == [0, 2, 4, 5]
    assert len(callback.monitor.norms) == 5
    for name in ("gradient_flow.png", "gradient_flow_heatmap.png"):
        assert _is_png(tmp_path / name)
    history = json.loads((tmp_path / "gradient_flow_history.json").read_text())
    assert [r["step"] for r in history["records"]] == [0, 2, 4, 5]
    # diagnose_run finds the history and redraws the heatmap
    result = diagnose_run(tmp_path, model=model, batch=_batch())
    assert [p.name for p in result["files"]] == ["gradient_flow.png", "gradient_flow.json", "gradient_flow_heatmap.png"]
    assert all(p.is_file() for p in result["files"])


def test_callback_warns_on_exploding_jump():
    from rnnkit.diagnostics import GradientFlowCallback

    model = Regressor()
    callback = GradientFlowCallback(_batch(), every=100, warn=False)
    trainer = SimpleNamespace(model=model, global_step=0)
    callback.on_train_begin(trainer)
    for step, norm in enumerate([1.0, 2.0, 500.0], start=1):
        trainer.global_step = step
        callback.on_batch_end(trainer, step, {"loss": 1.0, "grad_norm": norm})
    assert len(callback.monitor.messages) == 1 and "at training step 3" in callback.monitor.messages[0]


def test_callback_and_run_errors(tmp_path):
    from rnnkit.diagnostics import GradientFlowCallback

    with pytest.raises(ValueError, match="no rnnkit recurrent layer"):
        GradientFlowCallback(torch.randn(2, 2)).on_train_begin(SimpleNamespace(model=torch.nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="`every`: expected a positive integer, got 0"):
        GradientFlowCallback(torch.randn(2, 2), every=0)
    with pytest.raises(ValueError, match="`run_dir`: expected an existing directory"):
        diagnose_run(tmp_path / "missing", model=Regressor(), batch=_batch())
    with pytest.raises(ValueError, match="no rnnkit recurrent layer|containing rnnkit recurrent layers"):
        diagnose(torch.nn.Linear(2, 1), torch.randn(3, 2), tmp_path)


def test_gradient_flow_accepts_targets_by_dtype():
    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = rnnkit.LSTM(3, 5, batch_first=True), torch.nn.Linear(5, 4)

        def forward(self, x):
            return self.head(self.rnn(x)[0])  # (B, T, 4)

    x, tags = torch.randn(2, 7, 3), torch.randint(0, 4, (2, 7))
    model = Tagger()
    report = gradient_flow(model, (x, tags))  # integer targets: cross-entropy
    with torch.no_grad():
        want = torch.nn.functional.cross_entropy(model(x).reshape(-1, 4), tags.reshape(-1))
    assert report.loss == pytest.approx(float(want), rel=1e-6)
    assert len(report.directions[0].grad_norm) == 7
