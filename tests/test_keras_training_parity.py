"""Two epochs of full-batch SGD from the same weights as Keras 3 (fixtures made by
tests/fixtures/make_keras_fixtures.py): the losses Keras reported and the weights it ended with
are reproduced to 1e-5. This checks the losses (a masked tagger loss too), the gradients
through masks, Keras' clipnorm (per weight), global_clipnorm, clipvalue and momentum, and
Keras' Adam and RMSprop update rules (epsilon where Keras puts it)."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("h5py")
import rnnkit.train  # noqa: E402

if not hasattr(rnnkit.train, "Trainer"):
    pytest.skip("fit needs rnnkit.train.Trainer", allow_module_level=True)

from rnnkit.keras import GRU, LSTM, SGD, Adam, Dense, Embedding, Input, Model, RMSprop, Sequential, SimpleRNN  # noqa: E402
from rnnkit.keras import load_keras_weights  # noqa: E402

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "keras")


def masked_tagger():
    x_in = Input((6,), dtype="int32")
    h = LSTM(5, return_sequences=True)(Embedding(15, 4, mask_zero=True)(x_in))
    model = Model(x_in, Dense(3, activation="softmax")(h))
    model.compile(optimizer=SGD(learning_rate=0.5), loss="sparse_categorical_crossentropy")
    return model


def gru_clipnorm():
    model = Sequential([Input((5, 3)), GRU(4), Dense(2)])
    model.compile(optimizer=SGD(learning_rate=0.3, clipnorm=0.05), loss="mse")
    return model


def rnn_clipvalue():
    model = Sequential([Input((5, 3)), SimpleRNN(4), Dense(1, activation="sigmoid")])
    model.compile(optimizer=SGD(learning_rate=0.3, momentum=0.9, clipvalue=0.01), loss="binary_crossentropy")
    return model


def lstm_adam():
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=0.01, global_clipnorm=0.5), loss="mse")
    return model


def gru_rmsprop():
    model = Sequential([Input((5, 3)), GRU(4, reset_after=False), Dense(3, activation="softmax")])
    model.compile(optimizer=RMSprop(learning_rate=0.01, momentum=0.5), loss="categorical_crossentropy")
    return model


CASES = {"train_masked_tagger": masked_tagger, "train_gru_clipnorm": gru_clipnorm,
         "train_rnn_clipvalue": rnn_clipvalue, "train_lstm_adam": lstm_adam, "train_gru_rmsprop": gru_rmsprop}


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_sgd_epochs_match_keras(name):
    data = np.load(os.path.join(FIXTURES, f"{name}.npz"))
    model = CASES[name]()
    load_keras_weights(model, os.path.join(FIXTURES, f"{name}.weights.h5"))
    history = model.fit(data["x"], data["y"], epochs=2, batch_size=len(data["x"]), shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], data["loss"], atol=1e-5, rtol=0)
    expected = [data[f"w{i}"] for i in range(len([k for k in data.files if k.startswith("w")]))]
    got = model.get_weights()
    assert [w.shape for w in got] == [w.shape for w in expected]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, atol=1e-5, rtol=0)
