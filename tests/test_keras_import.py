"""Keras 3 weight import against fixtures made once by real Keras
(tests/fixtures/make_keras_fixtures.py); Keras itself is not needed here."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py")

from rnnkit.keras import (GRU, LSTM, Bidirectional, Dense, Embedding, Input, Masking, Model, Sequential,  # noqa: E402
                          SimpleRNN, TimeDistributed, load_keras_weights)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras")


def emb_lstm():
    x = Input((7,), dtype="int32")
    h = Embedding(20, 6, mask_zero=True)(x)
    h = LSTM(5, return_sequences=True)(h)
    h = LSTM(4)(h)
    return Model(x, Dense(3, activation="softmax")(h))


def gru_both():
    x = Input((6, 4))
    h = GRU(5, return_sequences=True)(x)
    h = GRU(3, reset_after=False, return_sequences=True, go_backwards=True)(h)
    h = GRU(3, reset_after=False)(h)
    return Model(x, Dense(2)(h))


def simple_rnn():
    return Sequential([Input((6, 4)), SimpleRNN(5, activation="relu", return_sequences=True), SimpleRNN(3),
                       Dense(1, activation="sigmoid")])


def bidirectional():
    x = Input((7,), dtype="int32")
    h = Embedding(20, 6, mask_zero=True)(x)
    h = Bidirectional(LSTM(4, return_sequences=True))(h)
    h = Bidirectional(GRU(3), merge_mode="sum")(h)
    return Model(x, Dense(2)(h))


def masking_td():
    return Sequential([Input((5, 3)), Masking(0.0), LSTM(4, return_sequences=True),
                       TimeDistributed(Dense(2, activation="tanh"))])


def encoder_decoder():
    enc_in, dec_in = Input((5, 4)), Input((3, 4))
    _, h, c = LSTM(6, return_state=True)(enc_in)
    dec = LSTM(6, return_sequences=True)(dec_in, initial_state=[h, c])
    return Model([enc_in, dec_in], Dense(5, activation="softmax")(dec))


CASES = {"emb_lstm": emb_lstm, "gru_both": gru_both, "simple_rnn": simple_rnn, "bidirectional": bidirectional,
         "masking_td": masking_td, "encoder_decoder": encoder_decoder}


def fixture(name):
    ext = ".keras" if name == "encoder_decoder" else ".weights.h5"
    data = np.load(os.path.join(FIXTURES, f"{name}.npz"))
    inputs = [data[k] for k in sorted(k for k in data.files if k.startswith("x"))]
    return os.path.join(FIXTURES, name + ext), inputs, data["y"], data["counts"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_predictions_match_keras(name):
    path, inputs, expected, counts = fixture(name)
    model = CASES[name]()
    load_keras_weights(model, path)
    got = model.predict(inputs if len(inputs) > 1 else inputs[0])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    ours = [layer.count_params() for layer in model.layers if layer.weight_shapes()]
    assert ours == counts.tolist()


def test_weights_round_trip_through_get_weights():
    path, inputs, expected, _ = fixture("gru_both")
    model = gru_both()
    load_keras_weights(model, path)
    twin = gru_both()
    twin.set_weights(model.get_weights())
    np.testing.assert_allclose(twin.predict(inputs[0]), expected, atol=1e-5, rtol=0)


def test_missing_weights_name_the_layer(tmp_path):
    path, _, _, _ = fixture("simple_rnn")
    broken = tmp_path / "broken.weights.h5"
    shutil.copy(path, broken)
    with h5py.File(broken, "a") as fh:
        del fh["layers/simple_rnn_1/cell/vars/2"]
    model = simple_rnn()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"missing weights for layer .*SimpleRNN.*expected 3 arrays"):
        load_keras_weights(model, str(broken))
    for a, b in zip(before, model.get_weights()):  # nothing half-loaded
        np.testing.assert_array_equal(a, b)


def test_misshaped_weights_name_the_layer_and_shapes():
    path, _, _, _ = fixture("simple_rnn")
    model = Sequential([Input((6, 4)), SimpleRNN(6, activation="relu", return_sequences=True), SimpleRNN(3),
                        Dense(1, activation="sigmoid")])
    with pytest.raises(ValueError, match=r"weight 'kernel' of layer .*\(SimpleRNN\) has shape \(4, 5\) in the file, "
                                         r"but the model expects \(4, 6\)"):
        load_keras_weights(model, path)


def test_corrupt_file_is_reported(tmp_path):
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_keras_weights(simple_rnn(), str(bad))


def test_fixtures_are_small():
    for name in os.listdir(FIXTURES):
        assert os.path.getsize(os.path.join(FIXTURES, name)) < 200_000, name


def test_imports_without_keras():
    import sys

    assert "keras" not in sys.modules
    torch.manual_seed(0)
