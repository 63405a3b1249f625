"""Streaming one step at a time equals the whole-sequence call (every cell, stacked, lengths)."""

import weakref

import pytest
import torch

import rnnkit
from rnnkit.layers.stream import Stream, StreamSpec, open_stream


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread avoids spinning threads on a shared, loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

LAYERS = {
    "rnn_tanh": lambda dt: rnnkit.RNN(3, 5, num_layers=2, dtype=dt),
    "rnn_relu": lambda dt: rnnkit.RNN(3, 5, nonlinearity="relu", dtype=dt),
    "lstm": lambda dt: rnnkit.LSTM(3, 6, num_layers=2, dtype=dt),
    "lstm_proj": lambda dt: rnnkit.LSTM(3, 6, num_layers=2, proj_size=4, dtype=dt),
    "lstm_hard": lambda dt: rnnkit.LSTM(3, 6, recurrent_activation="hard_sigmoid", dtype=dt),
    "gru": lambda dt: rnnkit.GRU(3, 6, num_layers=3, dtype=dt),
    "gru_before": lambda dt: rnnkit.GRU(3, 6, reset_after=False, dtype=dt),
    "stack_lstm": lambda dt: rnnkit.RecurrentStack("lstm", 3, [7, 4], dtype=dt),
    "stack_gru": lambda dt: rnnkit.RecurrentStack("gru", 3, [5, 5, 2], reset_after=False, dtype=dt),
    "stack_rnn": lambda dt: rnnkit.RecurrentStack("rnn", 3, [8, 3], dtype=dt),
}


def _final_grid(layer, final):
    """Final states of a layer's forward as a list per layer of state tuples."""
    if isinstance(layer, rnnkit.RecurrentStack):
        return [tuple(row[0]) for row in final]
    parts = final if isinstance(final, tuple) else (final,)
    return [tuple(p[i] for p in parts) for i in range(parts[0].shape[0])]


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_step_by_step_equals_whole_sequence(name, dtype):
    torch.manual_seed(0)
    layer = LAYERS[name](dtype).eval()
    x = torch.randn(12, 4, 3, dtype=dtype)
    expected, final = layer(x)
    stream = layer.stream(4)
    got = torch.stack([stream.step(x_t) for x_t in x])
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    for state, want in zip(stream.get_state(), _final_grid(layer, final)):
        for a, b in zip(state, want):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_tanh", "stack_lstm"])
def test_valid_mask_matches_lengths(name):
    torch.manual_seed(1)
    layer = LAYERS[name](torch.float64).eval()
    x = torch.randn(9, 3, 3, dtype=torch.float64)
    lengths = torch.tensor([9, 4, 1])
    expected, final = layer(x, lengths=lengths)
    stream = layer.stream(3)
    got = torch.stack([stream.step(x_t, valid=t < lengths) for t, x_t in enumerate(x)])
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)
    for state, want in zip(stream.get_state(), _final_grid(layer, final)):
        for a, b in zip(state, want):
            torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_reset_rows_starts_them_again():
    torch.manual_seed(2)
    layer = rnnkit.LSTM(3, 5, num_layers=2, dtype=torch.float64).eval()
    a, b = torch.randn(6, 2, 3, dtype=torch.float64), torch.randn(4, 2, 3, dtype=torch.float64)
    stream = layer.stream(2)
    stream.run(a)
    stream.reset(torch.tensor([True, False]))
    got = stream.run(b)
    fresh = layer(b)[0]  # row 0 started from zero
    carried = layer(torch.cat([a, b]))[0][6:]  # row 1 carried its state
    torch.testing.assert_close(got[:, 0], fresh[:, 0], atol=1e-12, rtol=0)
    torch.testing.assert_close(got[:, 1], carried[:, 1], atol=1e-12, rtol=0)
    stream.reset()
    assert all(float(t.abs().sum()) == 0 for s in stream.get_state() for t in s)


def test_state_hand_off_between_streams(tmp_path):
    torch.manual_seed(3)
    layer = rnnkit.GRU(3, 5, num_layers=2).eval()
    x = torch.randn(10, 2, 3)
    whole = layer(x)[0]
    first = layer.stream(2)
    first.run(x[:6])
    torch.save(first.state_dict(), tmp_path / "state.pt")  # what another process would read
    second = layer.stream(2)
    second.load_state_dict(torch.load(tmp_path / "state.pt", weights_only=True))
    torch.testing.assert_close(second.run(x[6:]), whole[6:], atol=1e-6, rtol=0)
    third = layer.stream(2)
    third.state = first.state  # get_state()/set_state() with plain tensors
    torch.testing.assert_close(third.run(x[6:]), whole[6:], atol=1e-6, rtol=0)


def test_constant_memory_under_no_grad():
    torch.manual_seed(4)
    layer = rnnkit.LSTM(4, 8, num_layers=2)  # parameters require grad
    stream = layer.stream(3)
    x_t = torch.randn(3, 4)
    for _ in range(20):
        stream.step(x_t)
    # nothing may keep an earlier step's tensors alive: no graph, no history
    old = [weakref.ref(t) for s in stream._state for t in s]
    old.append(weakref.ref(stream.step(x_t)))
    for _ in range(300):
        y = stream.step(x_t)
    assert all(ref() is None for ref in old)
    assert y.grad_fn is None and all(t.grad_fn is None for s in stream._state for t in s)
    assert stream.steps == 321


def test_grad_stream_keeps_graph():
    layer = rnnkit.RNN(2, 3)
    stream = layer.stream(1, grad=True)
    y = stream.step(torch.randn(1, 2))
    assert y.requires_grad


def test_protocol_with_head():
    torch.manual_seed(5)
    rnn = rnnkit.GRU(3, 5).eval()
    head = torch.nn.Linear(5, 2)

    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = rnn, head

        def forward(self, x):
            return self.head(self.rnn(x)[0])

        def stream_spec(self):
            return StreamSpec(cells=self.rnn.stream_spec().cells, head=self.head)

    model = Tagger()
    x = torch.randn(5, 2, 3)
    stream = open_stream(model, 2)
    assert isinstance(stream, Stream)
    torch.testing.assert_close(stream.run(x), model(x), atol=1e-6, rtol=0)
    torch.testing.assert_close(open_stream(model, 2).run(x.transpose(0, 1), batch_first=True), model(x).transpose(0, 1), atol=1e-6, rtol=0)


def test_protocol_with_embedding_like_a_language_model():
    torch.manual_seed(6)
    embedding, rnn, head = torch.nn.Embedding(11, 4), rnnkit.LSTM(4, 6, num_layers=2).eval(), torch.nn.Linear(6, 11)

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.rnn, self.head = embedding, rnn, head

        def forward(self, ids):  # (T, B)
            return self.head(self.rnn(self.embedding(ids))[0])

        def stream_spec(self):
            return StreamSpec(cells=self.rnn.stream_spec().cells, embed=self.embedding, head=self.head)

    model = LM()
    ids = torch.randint(0, 11, (8, 3))
    stream = open_stream(model, 3)
    torch.testing.assert_close(torch.stack([stream.step(t) for t in ids]), model(ids), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match=r"`x_t`: expected 3 rows"):
        stream.step(torch.tensor([1, 2]))
