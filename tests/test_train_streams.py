"""Streaming chunks with carried state, and activation recomputation inside windows."""

import numpy as np
import pytest
import torch
from train_helpers import StatefulTagger, max_abs_diff

from rnnkit.train import SGD, TBPTT, ArrayLoader, StreamLoader, Trainer


def test_stream_layout_lengths_and_resets():
    sequences = [np.arange(5, dtype=np.float32)[:, None], np.arange(10, 17, dtype=np.float32)[:, None],
                 np.arange(20, 23, dtype=np.float32)[:, None]]
    loader = StreamLoader(sequences, sequences, batch_size=2, chunk=4)
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    (x0, l0), y0 = batches[0]
    assert x0.shape == (2, 4, 1) and torch.equal(l0, torch.tensor([4, 4])) and batches[0].reset.tolist() == [True, True]
    assert x0[:, :, 0].tolist() == [[0, 1, 2, 3], [10, 11, 12, 13]]
    (x1, l1), _ = batches[1]
    assert torch.equal(l1, torch.tensor([1, 3])) and batches[1].reset.tolist() == [False, False]
    assert x1[:, :, 0].tolist() == [[4, 0, 0, 0], [14, 15, 16, 0]]
    (x2, l2), _ = batches[2]  # sequence 2 starts on row 0 (the lighter one) with a reset
    assert torch.equal(l2, torch.tensor([3, 0])) and batches[2].reset.tolist() == [True, False]
    assert x2[0, :, 0].tolist() == [20, 21, 22, 0]


def test_single_long_sequence_is_split_over_rows_from_a_memmap(tmp_path):
    data = np.lib.format.open_memmap(tmp_path / "long.npy", mode="w+", dtype=np.float32, shape=(1000, 2))
    data[:] = np.arange(2000, dtype=np.float32).reshape(1000, 2)
    loader = StreamLoader(data, data[:, :1], batch_size=4, chunk=50)
    first = next(iter(loader))
    assert first[0][0][:, 0, 0].tolist() == [0, 500, 1000, 1500]  # rows start at steps 0, 250, 500, 750
    assert len(loader) == 5


def test_streaming_equals_windows_over_whole_padded_sequences():
    torch.manual_seed(0)
    lengths = [9, 4, 7]
    xs = [torch.randn(n, 3) for n in lengths]
    ys = [torch.randn(n, 2) for n in lengths]
    padded_x = torch.zeros(3, 9, 3)
    padded_y = torch.zeros(3, 9, 2)
    for i, (x, y) in enumerate(zip(xs, ys)):
        padded_x[i, :len(x)], padded_y[i, :len(y)] = x, y
    streamed, whole = StatefulTagger(), StatefulTagger()
    whole.load_state_dict(streamed.state_dict())
    Trainer(streamed, loss="mse", optimizer=SGD(learning_rate=0.3), tbptt=(3, 3), progress=False).fit(
        StreamLoader(xs, ys, batch_size=3, chunk=3), epochs=2)
    Trainer(whole, loss="mse", optimizer=SGD(learning_rate=0.3), tbptt=(3, 3), progress=False).fit(
        ArrayLoader((padded_x, torch.tensor(lengths)), padded_y, batch_size=3, shuffle=False), epochs=2)
    assert max_abs_diff(streamed, whole) < 1e-6


def test_reset_rows_start_from_zero_state_and_size_changes_are_refused():
    config = TBPTT.from_argument((4, 4), StatefulTagger())
    carried = (torch.ones(1, 3, 8), torch.ones(1, 3, 8))  # an LSTM's (h, c), batch on axis 1
    h, c = config.initial_state(carried, torch.tensor([False, True, False]))
    assert h[0, 1].abs().sum() == 0 and c[0, 1].abs().sum() == 0 and h[0, 0].eq(1).all() and c[0, 2].eq(1).all()
    assert config.initial_state(carried, None) is None
    with pytest.raises(ValueError, match="stream batches must keep their size"):
        config.initial_state(carried, torch.tensor([True, False]))


def test_recompute_gives_the_same_gradients_with_less_memory():
    torch.manual_seed(1)
    x, y = torch.randn(4, 12, 3), torch.randn(4, 12, 2)
    plain, recomputed = StatefulTagger(), StatefulTagger()
    recomputed.load_state_dict(plain.state_dict())
    for model, config in ((plain, (12, 12)), (recomputed, TBPTT(12, 12, recompute=5))):
        Trainer(model, loss="mse", optimizer=SGD(learning_rate=0.5), tbptt=config, progress=False).fit(
            ArrayLoader(x, y, batch_size=4, shuffle=False), epochs=1)
    assert max_abs_diff(plain, recomputed) < 1e-6


def test_bad_stream_arguments():
    with pytest.raises(ValueError, match="Sequence 1 has 3 steps but its targets have 2"):
        StreamLoader([np.zeros((4, 1)), np.zeros((3, 1))], [np.zeros((4, 1)), np.zeros((2, 1))], batch_size=2, chunk=2)
    with pytest.raises(ValueError, match="2 sequences and 1 target sequences"):
        StreamLoader([np.zeros((4, 1)), np.zeros((3, 1))], [np.zeros((4, 1))], batch_size=2, chunk=2)
    with pytest.raises(ValueError, match="argument `chunk`"):
        StreamLoader(np.zeros((4, 1)), np.zeros((4, 1)), batch_size=2, chunk=0)
    with pytest.raises(ValueError, match="argument `recompute`"):
        TBPTT(4, 4, recompute=0)


def test_metrics_see_valid_steps_only():
    class Zero(StatefulTagger):  # predicts class 0 everywhere: right only where the label is 0
        def forward(self, x, lengths=None, state=None):
            out, state = super().forward(x, lengths, state)
            return torch.zeros_like(out) + torch.tensor([1.0, 0.0]), state

    x = torch.randn(2, 6, 3)
    labels = torch.ones(2, 6, dtype=torch.int64)  # every valid step is class 1; padding is 0
    trainer = Trainer(Zero(), loss="sparse_categorical_crossentropy", metrics=["accuracy"], tbptt=(6, 6), progress=False)
    result = trainer.evaluate(ArrayLoader((x, torch.tensor([6, 2])), labels, shuffle=False))
    assert result["accuracy"] == 0.0  # padded steps, which would count as right, are left out
    with pytest.raises(ValueError, match="Stream batches are batch-first"):
        import rnnkit

        Trainer(rnnkit.GRU(1, 1), tbptt=(2, 2), progress=False).fit(
            StreamLoader([np.zeros((4, 1), np.float32)], [np.zeros((4, 1), np.float32)], batch_size=1, chunk=2), epochs=1)
