"""The textbook's twelve Keras programs, run on rnnkit.keras with small generated data.

Each program is written as in Keras (only the import differs); sizes are reduced where the
original would be slow on one CPU core, and parameter counts are checked at the original sizes
(also against real Keras in test_keras_params.py). Every run must lower the training loss.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnkit.train  # noqa: E402

if not hasattr(rnnkit.train, "Trainer"):
    pytest.skip("fit needs rnnkit.train.Trainer, which is not merged here yet", allow_module_level=True)

from rnnkit.keras import (GRU, LSTM, Activation, Adam, Bidirectional, Dense, Embedding, Input, Model,  # noqa: E402
                          RepeatVector, Sequential, SimpleRNN, TimeDistributed, concatenate, glorot_uniform,
                          pad_sequences, to_categorical)
from rnnkit.keras.losses import SparseCategoricalCrossentropy  # noqa: E402


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
    np.random.seed(0)


def falls(history, key="loss"):
    values = history.history[key]
    assert all(np.isfinite(values))
    assert values[-1] < values[0], values
    return values


def test_program_1_lstm_binary_classifier_with_validation_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 8, 3)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("float32")
    model = Sequential()
    model.add(LSTM(100, input_shape=(8, 3)))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x[:64], y[:64], epochs=5, batch_size=32, validation_data=(x[64:], y[64:]), verbose=0)
    falls(history)
    assert len(history.history["val_loss"]) == 5 and "val_accuracy" in history.history
    loss, acc = model.evaluate(x[64:], y[64:], verbose=0)
    assert 0.0 <= acc <= 1.0 and np.isfinite(loss)


def test_program_2_embedding_lstm_dense_counts_and_trains(capsys):
    model = Sequential()
    model.add(Embedding(1000, 64))
    model.add(LSTM(128))
    model.add(Dense(10))
    model.build((None, 10))
    model.summary()
    text = capsys.readouterr().out
    assert "64,000" in text and "98,816" in text and "1,290" in text and "Total params: 164,106" in text
    rng = np.random.default_rng(2)
    x = rng.integers(1, 1000, size=(96, 10))
    y = x[:, 0] % 10
    model.compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    falls(model.fit(x, y, epochs=4, batch_size=32, verbose=0))


def test_program_3_bidirectional_lstm_on_padded_sequences():
    vocab, maxlen = 300, 16  # the textbook: 10000 words, maxlen=200, LSTM(128)
    rng = np.random.default_rng(3)
    docs = [list(rng.integers(1, vocab, size=rng.integers(5, 25))) for _ in range(64)]
    y = np.array([float(d[-1] % 2) for d in docs], dtype="float32")  # the last word decides
    x = pad_sequences(docs, maxlen=maxlen)
    assert x.shape == (64, maxlen) and (x[:, -1] > 0).all()
    model = Sequential()
    model.add(Embedding(vocab, 16, input_length=maxlen))
    model.add(Bidirectional(LSTM(16)))
    model.add(Dense(16, activation="relu"))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    falls(model.fit(x, y, epochs=4, batch_size=32, verbose=0))
    full = Sequential([Embedding(10000, 128, input_length=200), Bidirectional(LSTM(128)),
                       Dense(128, activation="relu"), Dense(1, activation="sigmoid")])
    assert full.count_params() == 1_280_000 + 263_168 + 32_896 + 129


def test_program_4_subclassed_gru_regressor_then_predict():
    class GRURegressor(Model):
        def __init__(self):
            super().__init__()
            self.gru = GRU(128)
            self.out = Dense(1)

        def call(self, inputs):
            return self.out(self.gru(inputs))

    rng = np.random.default_rng(4)
    x = rng.normal(size=(64, 6, 10)).astype("float32")
    y = x[:, :, 0].mean(axis=1, keepdims=True)
    model = GRURegressor()
    model.compile(optimizer="adam", loss="mse")
    falls(model.fit(x, y, epochs=4, batch_size=32, verbose=0))
    pred = model.predict(x[:5])
    assert pred.shape == (5, 1) and np.isfinite(pred).all()
    assert model.count_params() == 3 * (10 * 128 + 128 * 128 + 2 * 128) + 129


def sine_windows(n=64, steps=8):
    t = np.arange(n + steps + 1) * 0.3
    series = np.sin(t).astype("float32")
    x = np.stack([series[i:i + steps] for i in range(n)])[..., None]  # (n, steps, 1)
    y = series[steps:steps + n][:, None]
    return x, y


@pytest.mark.parametrize("layer", [SimpleRNN, LSTM])
def test_program_5_relu_recurrent_regressors(layer):
    x, y = sine_windows()
    model = Sequential([layer(50, activation="relu", input_shape=(8, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    falls(model.fit(x, y, epochs=5, batch_size=32, verbose=0))


def test_program_6_tagger_with_time_distributed_softmax():
    vocab, num_tags, steps = 60, 5, 12
    rng = np.random.default_rng(6)
    x = rng.integers(1, vocab, size=(96, steps))
    y = x % num_tags
    model = Sequential([Embedding(vocab, 16), LSTM(50, return_sequences=True),
                        TimeDistributed(Dense(num_tags, activation="softmax"))])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    falls(model.fit(x, y, epochs=5, batch_size=32, verbose=0))
    assert model.predict(x[:2]).shape == (2, steps, num_tags)


def test_program_7_repeat_vector_sequence_to_sequence():
    src_vocab, tgt_vocab, src_len, tgt_len = 20, 20, 6, 6
    rng = np.random.default_rng(7)
    x = rng.integers(1, src_vocab, size=(96, src_len))
    y = x[:, ::-1]  # reverse the sequence
    model = Sequential()
    model.add(Embedding(src_vocab, 32, input_length=src_len))
    model.add(LSTM(50))
    model.add(RepeatVector(tgt_len))
    model.add(LSTM(50, return_sequences=True))
    model.add(TimeDistributed(Dense(tgt_vocab, activation="softmax")))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    falls(model.fit(x, y, epochs=5, batch_size=32, verbose=0))


def test_program_8_captioning_model_with_two_inputs():
    vocab, max_len, features = 30, 8, 64  # the textbook: Input((4096,)), LSTM(256)
    inputs1 = Input(shape=(features,))
    fe1 = Dense(32, activation="relu")(inputs1)
    fe2 = RepeatVector(max_len)(fe1)
    inputs2 = Input(shape=(max_len,))
    se1 = Embedding(vocab, 32, mask_zero=True)(inputs2)
    merged = concatenate([fe2, se1])
    lm = LSTM(32, return_sequences=True)(merged)
    outputs = Dense(vocab, activation="softmax")(lm)
    model = Model(inputs=[inputs1, inputs2], outputs=outputs)
    rng = np.random.default_rng(8)
    image = rng.normal(size=(64, features)).astype("float32")
    caption = rng.integers(1, vocab, size=(64, max_len + 1))
    caption[::3, 6:] = 0  # some captions are shorter (padded with 0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    falls(model.fit([image, caption[:, :-1]], caption[:, 1:], epochs=5, batch_size=16, verbose=0))
    assert model.predict([image[:2], caption[:2, :-1]]).shape == (2, max_len, vocab)


def test_program_9_encoder_decoder_with_states_and_validation_split():
    in_tokens, out_tokens, latent = 12, 12, 32  # the textbook: LSTM(256) on character one-hots
    rng = np.random.default_rng(9)
    src = rng.integers(0, in_tokens, size=(100, 6))
    tgt = src[:, ::-1]
    enc_x = to_categorical(src, in_tokens)
    dec_target = to_categorical(tgt, out_tokens)
    dec_x = np.concatenate([np.zeros_like(dec_target[:, :1]), dec_target[:, :-1]], axis=1)  # teacher forcing
    encoder_inputs = Input(shape=(None, in_tokens))
    encoder = LSTM(latent, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = Input(shape=(None, out_tokens))
    decoder_lstm = LSTM(latent, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = Dense(out_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)
    model = Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit([enc_x, dec_x], dec_target, batch_size=16, epochs=5, validation_split=0.2, verbose=0)
    falls(history)
    assert len(history.history["val_loss"]) == 5
    # inference models share the trained layers, as in the textbook
    encoder_model = Model(encoder_inputs, encoder_states)
    h, c = encoder_model.predict(enc_x[:3])
    assert h.shape == (3, latent) and c.shape == (3, latent)
    state_h_in, state_c_in = Input(shape=(latent,)), Input(shape=(latent,))
    step_out, h2, c2 = decoder_lstm(decoder_inputs, initial_state=[state_h_in, state_c_in])
    decoder_model = Model([decoder_inputs, state_h_in, state_c_in], [decoder_dense(step_out), h2, c2])
    probs, h_next, _ = decoder_model.predict([dec_x[:3, :1], h, c])
    assert probs.shape == (3, 1, out_tokens) and h_next.shape == (3, latent)
    full = model.predict([enc_x[:3], dec_x[:3]])
    np.testing.assert_allclose(probs[:, 0], full[:, 0], atol=1e-5)  # one step of inference = teacher forcing


def test_program_10_embedding_simple_rnn_sentiment():
    vocab, maxlen = 200, 20  # the textbook: Embedding(10000, 128, input_length=100), SimpleRNN(64)
    rng = np.random.default_rng(10)
    x = rng.integers(1, vocab, size=(128, maxlen))
    y = (x[:, -3:] < vocab // 2).sum(axis=1) >= 2
    model = Sequential()
    model.add(Embedding(vocab, 32, input_length=maxlen))
    model.add(SimpleRNN(16))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["acc"])
    falls(model.fit(x, y.astype("float32"), epochs=6, batch_size=32, validation_split=0.2, verbose=0))
    full = Sequential([Embedding(10000, 128, input_length=100), SimpleRNN(64), Dense(1, activation="sigmoid")])
    assert [layer.count_params() for layer in full.layers] == [1_280_000, 12_352, 65]


def test_program_11_clipvalue_adam_glorot_dense_relu():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = (np.abs(x[:, :2]).sum(axis=1, keepdims=True)).astype("float32")
    model = Sequential()
    model.add(Dense(32, input_shape=(8,), kernel_initializer=glorot_uniform()))
    model.add(Activation("relu"))
    model.add(Dense(1))
    model.compile(optimizer=Adam(learning_rate=0.01, clipvalue=1.0), loss="mse", metrics=["mae"])
    falls(model.fit(x, y, epochs=8, batch_size=32, verbose=0))


def test_program_12_bidirectional_lstm_tagger():
    vocab, num_tags, steps = 50, 4, 10
    rng = np.random.default_rng(12)
    x = rng.integers(1, vocab, size=(64, steps))
    y = np.roll(x, 1, axis=1) % num_tags  # the tag depends on the previous word
    model = Sequential()
    model.add(Embedding(vocab, 16, input_length=steps))
    model.add(Bidirectional(LSTM(64, return_sequences=True)))
    model.add(Dense(num_tags, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    falls(model.fit(x, y, epochs=4, batch_size=32, verbose=0))
    assert model.layers[1].count_params() == 2 * 4 * (16 * 64 + 64 * 64 + 64)
