"""GradientFlowCallback inside the real Trainer.fit."""

import pytest
import torch

import rnnkit
from rnnkit.diagnostics import GradientFlowCallback

train = pytest.importorskip("rnnkit.train")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Regressor(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = rnnkit.LSTM(2, 5, batch_first=True)
        self.head = torch.nn.Linear(5, 1)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


def test_callback_in_trainer_fit(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 9, 2, generator=g), torch.randn(16, 1, generator=g)
    callback = GradientFlowCallback((x[:4], y[:4]), every=3, out_dir=tmp_path, warn=False)
    assert isinstance(callback, train.Callback)
    trainer = train.Trainer(Regressor(), loss="mse", optimizer="sgd", callbacks=[callback], progress=False, seed=0)
    trainer.fit(train.ArrayLoader(x, y, batch_size=4, shuffle=True, seed=0), epochs=2)
    assert [s for s, _ in callback.history] == [0, 3, 6, 8]
    assert [s for s, _ in callback.monitor.norms] == list(range(1, 9))
    with torch.no_grad():  # the recorded loss is the trainer's MSE on the fixed batch
        final = torch.nn.functional.mse_loss(trainer.model(x[:4]), y[:4])
    assert callback.history[-1][1].loss == pytest.approx(float(final), rel=1e-6)
    assert (tmp_path / "gradient_flow_heatmap.png").is_file() and (tmp_path / "gradient_flow_history.json").is_file()


def test_callback_state_round_trips_through_json():
    import json

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 5, 2, generator=g), torch.randn(8, 1, generator=g)
    callback = GradientFlowCallback((x[:2], y[:2]), every=2, warn=False)
    trainer = train.Trainer(Regressor(), loss="mse", optimizer="sgd", callbacks=[callback], progress=False, seed=0)
    trainer.fit(train.ArrayLoader(x, y, batch_size=4, seed=0), epochs=2)
    state = json.loads(json.dumps(callback.state_dict()))
    again = GradientFlowCallback((x[:2], y[:2]), warn=False)
    again.load_state_dict(state)
    assert [s for s, _ in again.history] == [s for s, _ in callback.history]
    assert again.history[-1][1].directions[0].grad_norm == pytest.approx(callback.history[-1][1].directions[0].grad_norm)
    assert again.monitor.previous == callback.monitor.previous
