"""Streaming equality with the Keras-style ``stateful=True`` layers: stepping a stateful layer
one time step per call, stepping the rnnkit layer inside it with ``stream()``, and the
whole-sequence call agree."""

import pytest
import torch

keras = pytest.importorskip("rnnkit.keras")


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_keras_stateful_one_step_per_call_equals_stream_and_whole(name):
    torch.manual_seed(0)
    cls = getattr(keras.layers, name)
    x = torch.randn(2, 7, 3)
    whole = cls(4, return_sequences=True)
    whole(x)
    stateful = cls(4, stateful=True, batch_input_shape=(2, 1, 3))
    model = keras.Sequential([stateful])
    model(x[:, :1])
    model.reset_states()
    stateful.set_weights(whole.get_weights())
    with torch.no_grad():
        expected = whole(x)  # (2, 7, 4)
        per_call = torch.stack([model(x[:, t:t + 1]).reshape(2, 4) for t in range(7)], dim=1)
    stream = stateful.rnn.stream(2)
    streamed = torch.stack([stream.step(x[:, t]) for t in range(7)], dim=1)
    torch.testing.assert_close(per_call, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(streamed, expected, atol=1e-6, rtol=0)
    # the stateful layer's carried state is the stream's state
    for carried, state in zip(stateful.states, stream.get_state()[0]):
        torch.testing.assert_close(carried.reshape(state.shape), state, atol=1e-6, rtol=0)
