"""Keras-style long sequences: stateful layers stepped in chunks, and fit(tbptt=(k1, k2))."""

import numpy as np
import pytest
import torch

from rnnkit.keras import GRU, Adam, LSTM, SGD, Bidirectional, Dense, Input, Masking, Sequential, SimpleRNN
from rnnkit.keras.tbptt import StateCarrier

B, T, F = 3, 12, 4


def _pair(make_layers, batch=B):
    """A stateful model and a plain twin with the same weights."""
    torch.manual_seed(0)
    stateful = Sequential([Input(batch_shape=(batch, None, F)), *make_layers(True)])
    whole = Sequential([Input((None, F)), *make_layers(False)])
    whole.set_weights(stateful.get_weights())
    return stateful, whole


STACKS = {
    "simple_rnn": lambda s: [SimpleRNN(5, stateful=s, return_sequences=True)],
    "lstm": lambda s: [LSTM(5, stateful=s, return_sequences=True)],
    "gru": lambda s: [GRU(5, stateful=s, return_sequences=True)],
    "gru_before": lambda s: [GRU(5, stateful=s, return_sequences=True, reset_after=False)],
    "stacked": lambda s: [LSTM(6, stateful=s, return_sequences=True), GRU(5, stateful=s, return_sequences=True),
                          SimpleRNN(4, stateful=s, return_sequences=True), Dense(2)],
}


@pytest.mark.parametrize("chunk", [1, 5])
@pytest.mark.parametrize("name", sorted(STACKS))
def test_stateful_chunks_equal_the_whole_sequence(name, chunk):
    stateful, whole = _pair(STACKS[name])
    rng = np.random.default_rng(1)
    for _ in range(2):  # two sequences, reset_states() between them
        x = rng.normal(size=(B, T, F)).astype("float32")
        expected = whole.predict(x, batch_size=B, verbose=0)
        got = np.concatenate([stateful.predict(x[:, s:s + chunk], batch_size=B, verbose=0)
                              for s in range(0, T, chunk)], axis=1)
        np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
        stateful.reset_states()


def test_stateful_many_to_one_step_by_step():
    make = lambda s: [LSTM(5, stateful=s, return_sequences=True), GRU(3, stateful=s), Dense(1)]
    stateful, _ = _pair(make)
    whole = Sequential([Input((None, F)), LSTM(5, return_sequences=True), GRU(3), Dense(1)])
    whole.set_weights(stateful.get_weights())
    x = np.random.default_rng(2).normal(size=(B, T, F)).astype("float32")
    for t in range(T):  # the output after each step is the whole model's output on the prefix
        np.testing.assert_allclose(stateful.predict(x[:, t:t + 1], batch_size=B, verbose=0),
                                   whole.predict(x[:, :t + 1], batch_size=B, verbose=0), atol=1e-6, rtol=0)


# ---- fit(tbptt=...) ------------------------------------------------------------------------------

def _fit_pair(make, x, y, tbptt, optimizer=lambda: SGD(0.1), epochs=2, batch_size=4):
    torch.manual_seed(3)
    full, trunc = Sequential([Input((None, F)), *make()]), Sequential([Input((None, F)), *make()])
    trunc.set_weights(full.get_weights())
    for model in (full, trunc):
        model.compile(optimizer=optimizer(), loss="mse")
    h_full = full.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
    h_trunc = trunc.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0, tbptt=tbptt)
    return full, trunc, h_full, h_trunc


@pytest.mark.parametrize("per_step", [True, False])
@pytest.mark.parametrize("clip", [None, "clipnorm", "clipvalue"])
def test_tbptt_with_k1_k2_T_equals_full_bptt(per_step, clip):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, T, F)).astype("float32")
    y = rng.normal(size=(8, T, 1) if per_step else (8, 1)).astype("float32")
    make = lambda: [GRU(5, return_sequences=True), LSTM(4, return_sequences=per_step), Dense(1)]
    kwargs = {} if clip is None else {clip: 0.05}
    full, trunc, h_full, h_trunc = _fit_pair(make, x, y, (T, T), optimizer=lambda: SGD(0.1, **kwargs))
    np.testing.assert_allclose(h_trunc.history["loss"], h_full.history["loss"], atol=1e-6, rtol=0)
    for a, b in zip(trunc.get_weights(), full.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    assert not np.allclose(full.get_weights()[0], Sequential([Input((None, F)), *make()]).get_weights()[0])


def test_tbptt_with_masked_variable_lengths():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(8, T, F)).astype("float32")
    lengths = rng.integers(2, T + 1, size=8)
    for row, n in enumerate(lengths):
        x[row, n:] = 0.0  # post-padding, masked by Masking(0.0)
    y = rng.normal(size=(8, T, 1)).astype("float32")
    make = lambda: [Masking(0.0), LSTM(5, return_sequences=True), Dense(1)]
    full, trunc, h_full, h_trunc = _fit_pair(make, x, y, (T, T))
    np.testing.assert_allclose(h_trunc.history["loss"], h_full.history["loss"], atol=1e-6, rtol=0)
    for a, b in zip(trunc.get_weights(), full.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    _, _, _, h_short = _fit_pair(make, x, y, (4, 4), epochs=3)
    assert np.isfinite(h_short.history["loss"]).all() and h_short.history["loss"][-1] < h_short.history["loss"][0]


def test_tbptt_with_a_functional_tagger_on_token_ids():
    from rnnkit.keras import Embedding, Model

    rng = np.random.default_rng(11)
    ids = rng.integers(1, 20, size=(8, T))
    ids[3, 6:] = 0  # padding, masked by mask_zero
    tags = rng.integers(0, 3, size=(8, T))

    def make():
        inputs = Input((None,), dtype="int64")
        h = Embedding(20, 6, mask_zero=True)(inputs)
        h = GRU(5, return_sequences=True)(h)
        model = Model(inputs, Dense(3, activation="softmax")(h))
        model.compile(optimizer=SGD(0.5), loss="sparse_categorical_crossentropy")
        return model

    torch.manual_seed(12)
    full, trunc = make(), make()
    trunc.set_weights(full.get_weights())
    h_full = full.fit(ids, tags, batch_size=4, epochs=2, shuffle=False, verbose=0)
    h_trunc = trunc.fit(ids, tags, batch_size=4, epochs=2, shuffle=False, verbose=0, tbptt=(T, T))
    assert np.isfinite(h_full.history["loss"]).all()
    np.testing.assert_allclose(h_trunc.history["loss"], h_full.history["loss"], atol=1e-6, rtol=0)
    for a, b in zip(trunc.get_weights(), full.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


def test_tbptt_fit_trains_a_delayed_copy():
    # y_t = x_{t-2}: needs memory across steps, and across windows at the window edges
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 30, 1)).astype("float32")
    y = np.concatenate([np.zeros((16, 2, 1), "float32"), x[:, :-2]], axis=1)
    torch.manual_seed(6)
    model = Sequential([Input((None, 1)), LSTM(12, return_sequences=True), Dense(1)])
    model.compile(optimizer=Adam(0.05), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=8, epochs=8, shuffle=False, verbose=0, tbptt=(10, 10))
    after = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < 0.2 * before, (before, after)  # measured: 0.93 -> 0.05


def test_tbptt_k2_below_k1_differs_but_trains():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(8, T, F)).astype("float32")
    y = x[:, :, :1].cumsum(axis=1) / 4
    make = lambda: [SimpleRNN(6, return_sequences=True), Dense(1)]
    full, trunc, h_full, h_trunc = _fit_pair(make, x, y, (6, 2), epochs=3)
    assert np.isfinite(h_trunc.history["loss"]).all()
    assert h_trunc.history["loss"][-1] < h_trunc.history["loss"][0]
    assert not np.allclose(trunc.get_weights()[0], full.get_weights()[0], atol=1e-6)


def test_state_carrier_with_masks_equals_the_whole_call():
    torch.manual_seed(8)
    model = Sequential([Input((None, F)), Masking(0.0), LSTM(5, return_sequences=True), GRU(3, return_sequences=True)])
    x = torch.randn(B, T, F)
    x[1, 7:] = 0.0  # row 1 ends at step 7, row 2 at step 2: padding spans a window edge
    x[2, 2:] = 0.0
    model.eval()
    expected = model(x)
    carrier = StateCarrier(model)
    with torch.no_grad():
        first, state = carrier(x[:, :5])
        second, state = carrier(x[:, 5:], state)
    valid = (x != 0).any(-1)  # (B, T); at masked steps Keras repeats the previous output of the same call
    got = torch.cat([first, second], dim=1)
    torch.testing.assert_close(got[valid], expected.detach()[valid], atol=1e-6, rtol=0)
    torch.testing.assert_close(state[1][0][2], first[2, 1], atol=1e-6, rtol=0)  # row 2 held its state
    assert len(state) == 2 and len(state[0]) == 2 and len(state[1]) == 1  # [h, c] of the LSTM, [h] of the GRU


def test_tbptt_leaves_a_stateful_models_states_alone():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(4, T, F)).astype("float32"), rng.normal(size=(4, T, 1)).astype("float32")
    model = Sequential([Input(batch_shape=(4, None, F)), LSTM(3, stateful=True, return_sequences=True), Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.predict(x, batch_size=4, verbose=0)
    layer = model.layers[0]
    kept = [s.clone() for s in layer.states]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, tbptt=(4, 4))
    assert layer.stateful and all(torch.equal(a, b) for a, b in zip(layer.states, kept))


# ---- bad input --------------------------------------------------------------------------------

def _compiled(layers):
    model = Sequential([Input((None, F)), *layers])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_tbptt_errors():
    x, y = np.zeros((4, T, F), "float32"), np.zeros((4, T, 1), "float32")
    dense = _compiled([Dense(1)])
    with pytest.raises(ValueError, match=r"tbptt.*carries no recurrent state.*has no recurrent layer"):
        dense.fit(x, y, epochs=1, verbose=0, tbptt=(4, 4))
    bidir = _compiled([Bidirectional(LSTM(3, return_sequences=True)), Dense(1)])
    with pytest.raises(ValueError, match=r"tbptt.*is Bidirectional.*expected unidirectional layers"):
        bidir.fit(x, y, epochs=1, verbose=0, tbptt=(4, 4))
    backwards = _compiled([GRU(3, return_sequences=True, go_backwards=True), Dense(1)])
    with pytest.raises(ValueError, match=r"go_backwards=True.*expected go_backwards=False"):
        backwards.fit(x, y, epochs=1, verbose=0, tbptt=(4, 4))
    model = _compiled([LSTM(3, return_sequences=True), Dense(1)])
    with pytest.raises(ValueError, match=r"expected k2 <= k1.*got k1=2, k2=4"):
        model.fit(x, y, epochs=1, verbose=0, tbptt=(2, 4))
    with pytest.raises(ValueError, match=r"expected positive integers \(k1, k2\), got k1=0"):
        model.fit(x, y, epochs=1, verbose=0, tbptt=(0, 0))
    with pytest.raises(ValueError, match=r"argument `state`: expected a list with one entry per recurrent layer \(1\)"):
        StateCarrier(model)(torch.zeros(4, T, F), state="h")
