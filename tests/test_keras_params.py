"""Parameter counts of the textbook models at their real sizes equal Keras 3's (recorded by
tests/fixtures/make_keras_fixtures.py in param_counts.json), per layer and in total."""

from __future__ import annotations

import json
import os

import pytest

from rnnkit.keras import (GRU, LSTM, Activation, AdditiveAttention, Attention, Bidirectional, Dense, Embedding, Input,
                          Model, RepeatVector, Sequential, SimpleRNN, TimeDistributed, concatenate, glorot_uniform)
from rnnkit.keras.summary import layer_rows, summary_text

with open(os.path.join(os.path.dirname(__file__), "fixtures", "keras", "param_counts.json")) as fh:
    KERAS = json.load(fh)["models"]


def seq(shape, *stack, dtype="float32"):
    return Sequential([Input(shape, dtype=dtype), *stack])


def build(name):
    if name == "p1_lstm100":
        return seq((20, 8), LSTM(100), Dense(1, activation="sigmoid"))
    if name == "p2_emb_lstm128":
        return seq((10,), Embedding(1000, 64), LSTM(128), Dense(10), dtype="int32")
    if name == "p3_bilstm":
        return seq((200,), Embedding(10000, 128), Bidirectional(LSTM(128)), Dense(128, activation="relu"),
                   Dense(1, activation="sigmoid"), dtype="int32")
    if name == "p4_gru128":
        return seq((None, 10), GRU(128), Dense(1))
    if name == "p5_simplernn50":
        return seq((12, 1), SimpleRNN(50, activation="relu"), Dense(1))
    if name == "p5_lstm50":
        return seq((12, 1), LSTM(50, activation="relu"), Dense(1))
    if name == "p6_tagger":
        return seq((30,), Embedding(5000, 64), LSTM(50, return_sequences=True),
                   TimeDistributed(Dense(17, activation="softmax")), dtype="int32")
    if name == "p7_seq2seq":
        return seq((15,), Embedding(3000, 64), LSTM(50), RepeatVector(12), LSTM(50, return_sequences=True),
                   TimeDistributed(Dense(2000, activation="softmax")), dtype="int32")
    if name == "p8_caption":
        img, cap = Input((4096,)), Input((20,), dtype="int32")
        f = RepeatVector(20)(Dense(256, activation="relu")(img))
        h = LSTM(256, return_sequences=True)(concatenate([f, Embedding(5000, 256)(cap)]))
        return Model([img, cap], Dense(5000, activation="softmax")(h))
    if name == "p9_encdec":
        enc_in, dec_in = Input((None, 71)), Input((None, 93))
        _, h, c = LSTM(256, return_state=True)(enc_in)
        dec, _, _ = LSTM(256, return_sequences=True, return_state=True)(dec_in, initial_state=[h, c])
        return Model([enc_in, dec_in], Dense(93, activation="softmax")(dec))
    if name == "p10_simplernn64":
        return seq((100,), Embedding(10000, 128), SimpleRNN(64), Dense(1, activation="sigmoid"), dtype="int32")
    if name == "p11_dense":
        return seq((16,), Dense(32, kernel_initializer=glorot_uniform()), Activation("relu"), Dense(1))
    if name == "p12_bilstm_tagger":
        return seq((40,), Embedding(5000, 100), Bidirectional(LSTM(64, return_sequences=True)),
                   Dense(17, activation="softmax"), dtype="int32")
    if name == "gru_reset_before":
        return seq((None, 10), GRU(32, reset_after=False), Dense(1))
    if name == "attention_free_bigru":
        return seq((25, 8), Bidirectional(GRU(16, return_sequences=True), merge_mode="ave"), GRU(8))
    if name == "attention":
        q, v = Input((4, 8)), Input((6, 8))
        return Model([q, v], [Attention(use_scale=True)([q, v]), AdditiveAttention()([q, v])])
    raise KeyError(name)


@pytest.mark.parametrize("name", sorted(KERAS))
def test_counts_equal_keras(name):
    model = build(name)
    keras_layers = KERAS[name]["layers"]
    ours = [(cls, count) for _, cls, _, count in layer_rows(model)]
    assert ours == [(cls, count) for _, cls, count in keras_layers]
    assert model.count_params() == KERAS[name]["total"]


def test_program2_summary_table_shows_keras_counts(capsys):
    model = Sequential([Embedding(1000, 64), LSTM(128), Dense(10)])
    model.build((None, 10))
    model.summary()
    text = capsys.readouterr().out
    for expected in ("embedding", "(None, 10, 64)", "64,000", "98,816", "1,290", "Total params: 164,106",
                     "Trainable params: 164,106", "Non-trainable params: 0"):
        assert expected in text
    assert [row[3] for row in layer_rows(model)] == [64_000, 98_816, 1_290]


def test_unbuilt_model_summary_says_unbuilt():
    model = Sequential([Embedding(1000, 64), LSTM(128)])
    assert "0 (unbuilt)" in summary_text(model)


def test_functional_summary_has_connections():
    text = summary_text(build("p9_encdec"))
    assert "Connected to" in text and "Total params: 718,173" in text
