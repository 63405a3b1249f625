"""Bad input to streams gets errors that name the argument, the expected and the received value."""

import pytest
import torch

import rnnkit
from rnnkit.layers.stream import open_stream


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread avoids spinning threads on a shared, loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def stream():
    return rnnkit.LSTM(3, 4, num_layers=2).stream(2)


def test_wrong_batch_size(stream):
    with pytest.raises(ValueError, match=r"`x_t`: expected shape \(2, 3\).*shape \(5, 3\)"):
        stream.step(torch.randn(5, 3))


def test_wrong_feature_size(stream):
    with pytest.raises(ValueError, match=r"`x_t`: expected feature size input_size=3.*shape \(2, 7\)"):
        stream.step(torch.randn(2, 7))


def test_wrong_rank_dtype_and_type(stream):
    with pytest.raises(ValueError, match="`x_t`: expected shape"):
        stream.step(torch.randn(1, 2, 3))
    with pytest.raises(TypeError, match="`x_t`: expected dtype torch.float32"):
        stream.step(torch.randn(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="`x_t`: expected a torch.Tensor"):
        stream.step([[0.0] * 3] * 2)


def test_reset_mask_of_wrong_shape_or_dtype(stream):
    with pytest.raises(ValueError, match=r"`mask`: expected shape \(2,\).*got shape \(3,\)"):
        stream.reset(torch.tensor([True, False, True]))
    with pytest.raises(ValueError, match=r"`mask`: expected shape \(2,\).*got shape \(2, 1\)"):
        stream.reset(torch.ones(2, 1, dtype=torch.bool))
    with pytest.raises(TypeError, match="`mask`: expected a bool tensor.*torch.int64"):
        stream.reset(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"`valid`: expected shape \(2,\)"):
        stream.step(torch.randn(2, 3), valid=torch.ones(4, dtype=torch.bool))


def test_bidirectional_is_not_streamable():
    with pytest.raises(ValueError, match="bidirectional.*bidirectional=False"):
        rnnkit.GRU(3, 4, bidirectional=True).stream(2)
    with pytest.raises(ValueError, match="bidirectional"):
        rnnkit.RecurrentStack("lstm", 3, [4], bidirectional=True).stream(2)


def test_bad_batch_size_and_module():
    with pytest.raises(ValueError, match="`batch_size`: expected a positive integer, got 0"):
        rnnkit.RNN(3, 4).stream(0)
    with pytest.raises(TypeError, match="`module`: expected an object with a stream_spec"):
        open_stream(torch.nn.Linear(2, 2), 1)


def test_bad_state(stream):
    with pytest.raises(ValueError, match=r"`state`: expected a list with one state per layer \(2\), got 1"):
        stream.set_state(stream.get_state()[:1])
    bad = stream.get_state()
    bad[1] = type(bad[1])(bad[1].h, torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"`state\[1\]`: expected shape \(2, 4\), got shape \(3, 4\)"):
        stream.set_state(bad)
    with pytest.raises(ValueError, match=r"`tensors`: expected keys"):
        stream.load_state_dict({"layer0.h": torch.zeros(2, 4)})
