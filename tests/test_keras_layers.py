"""Keras semantics of the layers, checked against plain runs of the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.keras import (GRU, LSTM, SGD, AdditiveAttention, Attention, Bidirectional, Dense, Dropout, Embedding,
                          Input, Masking, Model, Sequential, SimpleRNN, initializers, load_model, pad_sequences,
                          to_categorical)
from rnnkit.keras.layers import recurrent_dropout


def needs_trainer():
    import rnnkit.train

    if not hasattr(rnnkit.train, "Trainer"):
        pytest.skip("fit needs rnnkit.train.Trainer, which is not merged here yet")


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def run_alone(layer, x_row):
    return layer(x_row.unsqueeze(0))[0]


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_mask_skips_padding_anywhere(cls):
    emb = Embedding(12, 4, mask_zero=True)
    layer = cls(5, return_sequences=True)
    ids = torch.tensor([[3, 4, 5, 0, 0], [0, 0, 7, 8, 9], [1, 0, 2, 0, 3]])
    out = layer(emb(ids))  # (3, 5, 5)
    for row, valid in ((0, [0, 1, 2]), (1, [2, 3, 4]), (2, [0, 2, 4])):
        alone = layer(emb(ids[row, valid].unsqueeze(0)))[0]  # (len, 5)
        np.testing.assert_allclose(out[row, valid].detach(), alone.detach(), atol=1e-6)
        # at a masked step Keras repeats the previous output (zeros before the first valid step)
        for t in range(5):
            if t not in valid:
                before = [v for v in valid if v < t]
                expected = out[row, before[-1]] if before else torch.zeros(5)
                np.testing.assert_allclose(out[row, t].detach(), expected.detach(), atol=1e-7)


def test_masking_layer_gives_lengths():
    x = torch.randn(2, 6, 3)
    x[0, 4:] = 0.0
    model = Sequential([Input((6, 3)), Masking(), LSTM(4)])
    alone = Sequential([Input((4, 3)), LSTM(4)])
    alone.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x)[0], alone.predict(x[:1, :4])[0], atol=1e-6)


def test_go_backwards_reverses_the_whole_sequence():
    x = torch.randn(2, 5, 3)
    back = LSTM(4, go_backwards=True, return_sequences=True)
    fwd = LSTM(4, return_sequences=True)
    back(x), fwd(x)
    fwd.set_weights(back.get_weights())
    np.testing.assert_allclose(back(x).detach(), fwd(x.flip(1)).detach(), atol=1e-6)


def test_stateful_carries_state_and_resets():
    x = torch.randn(2, 8, 3)
    whole = LSTM(4)
    stateful = LSTM(4, stateful=True, batch_input_shape=(2, 4, 3))
    model = Sequential([stateful])
    whole(x)
    whole.set_weights(stateful.get_weights())
    model(x[:, :4])
    second = model(x[:, 4:])
    np.testing.assert_allclose(second.detach(), whole(x).detach(), atol=1e-6)
    model.reset_states()
    np.testing.assert_allclose(model(x[:, :4]).detach(), whole(x[:, :4]).detach(), atol=1e-6)


@pytest.mark.parametrize("cls,kwargs", [(SimpleRNN, {}), (LSTM, {}), (GRU, {}), (GRU, {"reset_after": False})])
def test_recurrent_dropout_loop_without_dropping_equals_runner(cls, kwargs):
    layer = cls(5, **kwargs)
    x = torch.randn(3, 6, 4)
    layer(x)
    lengths = torch.tensor([6, 2, 4])
    init = [torch.randn(3, 5) for _ in range(layer.state_count)]
    out, finals = recurrent_dropout.run(layer.cell, x, init, lengths, rate=0.0)
    hx = tuple(s.unsqueeze(0) for s in init) if layer.state_count == 2 else init[0].unsqueeze(0)
    ref, ref_final = layer.rnn(x, hx, lengths=lengths)
    ref_finals = ref_final if layer.state_count == 2 else (ref_final,)
    np.testing.assert_allclose(out.detach(), ref.detach(), atol=1e-6)
    for a, b in zip(finals, ref_finals):
        np.testing.assert_allclose(a.detach(), b[0].detach(), atol=1e-6)


def test_recurrent_dropout_only_in_training():
    layer = LSTM(8, recurrent_dropout=0.5, dropout=0.3)
    x = torch.randn(4, 6, 3)
    layer.eval()
    a, b = layer(x), layer(x)
    np.testing.assert_array_equal(a.detach(), b.detach())
    layer.train()
    c = layer(x)
    assert not torch.allclose(a, c)
    c.sum().backward()
    assert layer.cell.weights().weight_hh.grad is not None


def test_single_bias_is_frozen_and_not_counted():
    layer = LSTM(4)
    layer(torch.randn(1, 2, 3))
    assert layer.count_params() == 4 * (3 * 4 + 4 * 4 + 4)
    assert not layer.cell.weights().bias_hh.requires_grad
    gru = GRU(4)
    gru(torch.randn(1, 2, 3))
    assert gru.cell.weights().bias_hh.requires_grad  # reset_after=True has two biases, as Keras


def test_keras_default_initialization():
    layer = LSTM(6)
    layer(torch.randn(1, 2, 5))
    kernel, recurrent, bias = layer.get_weights()
    np.testing.assert_allclose(bias, np.r_[np.zeros(6), np.ones(6), np.zeros(12)])
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(6), atol=1e-5)  # orthogonal rows (6, 24)
    limit = np.sqrt(6 / (5 + 24))
    assert np.abs(kernel).max() <= limit


def test_initializers_by_name_and_object():
    assert isinstance(initializers.get("he_normal"), initializers.VarianceScaling)
    assert initializers.get("HeNormal")((100, 50)).std().item() == pytest.approx(np.sqrt(2 / 100), rel=0.15)
    init = initializers.RandomUniform(-0.1, 0.1, seed=3)
    np.testing.assert_array_equal(init((3, 3)), init((3, 3)))
    dense = Dense(4, kernel_initializer=initializers.Constant(0.5), bias_initializer="ones")
    dense(torch.zeros(1, 2))
    np.testing.assert_array_equal(dense.get_weights()[0], np.full((2, 4), 0.5))


def test_dropout_layer_train_and_eval():
    layer = Dropout(0.5)
    x = torch.ones(1000)
    layer.eval()
    assert torch.equal(layer(x), x)
    layer.train()
    y = layer(x)
    assert 0.3 < (y == 0).float().mean() < 0.7


def test_bidirectional_states_and_initial_state():
    x = torch.randn(2, 5, 3)
    bi = Bidirectional(LSTM(4, return_state=True, return_sequences=True))
    out, fh, fc, bh, bc = bi(x)
    assert out.shape == (2, 5, 8) and fh.shape == (2, 4)
    np.testing.assert_allclose(out[:, -1, :4].detach(), fh.detach(), atol=1e-6)
    np.testing.assert_allclose(out[:, 0, 4:].detach(), bh.detach(), atol=1e-6)
    again = bi(x, initial_state=[fh, fc, bh, bc])[0]
    assert not torch.allclose(again, out)


@pytest.mark.parametrize("cls", [Attention, AdditiveAttention])
def test_attention_masks_and_shapes(cls):
    q, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    layer = cls()
    out, scores = layer([q, v], return_attention_scores=True)
    assert out.shape == (2, 3, 4) and scores.shape == (2, 3, 5)
    np.testing.assert_allclose(scores.sum(-1).detach(), np.ones((2, 3)), atol=1e-6)
    v_mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    _, masked = layer([q, v], mask=[None, v_mask], return_attention_scores=True)
    assert masked[1, :, 2:].abs().max() < 1e-6
    if cls is Attention:
        np.testing.assert_allclose(scores.detach(), torch.softmax(q @ v.transpose(1, 2), -1).detach(), atol=1e-6)


def test_functional_two_outputs_train():
    needs_trainer()
    x_in = Input((6, 3))
    seq = LSTM(8, return_sequences=True)(x_in)
    out_a = Dense(1, name="a")(LSTM(4)(seq))
    out_b = Dense(2, activation="softmax", name="b")(seq)
    model = Model(x_in, [out_a, out_b])
    model.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"])
    x = np.random.default_rng(0).normal(size=(32, 6, 3)).astype("float32")
    ya, yb = x[:, :, 0].sum(1, keepdims=True), (x[:, :, 1] > 0).astype("int64")
    history = model.fit(x, [ya, yb], epochs=4, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    a, b = model.predict(x[:3])
    assert a.shape == (3, 1) and b.shape == (3, 6, 2)


def test_sgd_clipvalue_clips_inside_step():
    layer = Dense(1, use_bias=False)
    layer(torch.zeros(1, 3))
    opt = SGD(learning_rate=1.0, clipvalue=0.1).build(layer.parameters())
    before = layer.kernel.detach().clone()
    (layer(torch.full((1, 3), 100.0)).sum()).backward()
    opt.step()
    np.testing.assert_allclose((before - layer.kernel.detach()).numpy(), np.full((3, 1), 0.1), atol=1e-6)


def test_save_and_load_functional_with_initial_state(tmp_path):
    enc_in, dec_in = Input((5, 4)), Input((3, 4))
    _, h, c = LSTM(6, return_state=True)(enc_in)
    dec = LSTM(6, return_sequences=True)(dec_in, initial_state=[h, c])
    model = Model([enc_in, dec_in], Dense(5, activation="softmax")(dec))
    x = [np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32"),
         np.random.default_rng(2).normal(size=(2, 3, 4)).astype("float32")]
    model.save(str(tmp_path / "model"))
    loaded = load_model(str(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict(x), model.predict(x), atol=1e-6)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]


def test_save_and_load_lazily_built_sequential(tmp_path):
    model = Sequential([Embedding(30, 4, mask_zero=True), Bidirectional(GRU(3, reset_after=False)), Dense(2)])
    x = np.array([[1, 2, 3, 0], [4, 5, 0, 0]])
    expected = model.predict(x)
    model.save(str(tmp_path / "m"))
    np.testing.assert_allclose(load_model(str(tmp_path / "m")).predict(x), expected, atol=1e-6)


def test_pad_sequences_matches_keras_defaults():
    seqs = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=4), [[0, 1, 2, 3], [0, 0, 4, 5], [7, 8, 9, 10]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=4, padding="post", truncating="post", value=-1),
                                  [[1, 2, 3, -1], [4, 5, -1, -1], [6, 7, 8, 9]])
    assert pad_sequences(seqs).shape == (3, 5) and pad_sequences(seqs).dtype == np.int32


def test_to_categorical():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), np.eye(3)[[0, 2, 1]])
    assert to_categorical([[1], [3]], num_classes=5).shape == (2, 5)
    with pytest.raises(ValueError, match=r"expected class ids in \[0, 3\), got 4"):
        to_categorical([4], num_classes=3)


def test_keras_callbacks_stop_fit():
    needs_trainer()
    from rnnkit.keras.callbacks import EarlyStopping

    model = Sequential([Input((4, 2)), GRU(3), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(3).normal(size=(16, 4, 2)).astype("float32")
    history = model.fit(x, x[:, 0, :1], epochs=10, verbose=0,
                        callbacks=[EarlyStopping(monitor="loss", min_delta=100.0, patience=1)])
    assert len(history.history["loss"]) == 2


def test_keras_import_paths_and_numpy_inputs():
    from rnnkit.keras.initializers import glorot_uniform
    from rnnkit.keras.layers import LSTM as KLSTM
    from rnnkit.keras.layers import Input as KInput
    from rnnkit.keras.models import Model as KModel
    from rnnkit.keras.models import Sequential as KSequential
    from rnnkit.keras.optimizers import Adam
    from rnnkit.keras.preprocessing.sequence import pad_sequences as pad
    from rnnkit.keras.utils import to_categorical as onehot

    assert KSequential is Sequential and KModel is Model and callable(pad) and callable(onehot) and Adam
    x = KInput((3, 2))
    model = KModel(x, Dense(1, kernel_initializer=glorot_uniform())(KLSTM(2)(x)))
    data = np.random.default_rng(0).normal(size=(2, 3, 2))[:, ::-1]  # float64, negative strides
    assert model(data).dtype == torch.float32


def test_trainable_false_and_pretrained_embedding():
    matrix = np.arange(20, dtype="float32").reshape(5, 4)
    emb = Embedding(5, 4, weights=[matrix], trainable=False)
    model = Sequential([Input((3,), dtype="int32"), emb, LSTM(2), Dense(1)])
    np.testing.assert_array_equal(emb.get_weights()[0], matrix)
    assert not emb.embeddings.requires_grad
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 20 (80.00 B)" in lines[0]
    lstm = model.layers[1]
    lstm.trainable = False
    assert not any(p.requires_grad for p in lstm.parameters())
    lstm.trainable = True
    assert lstm.cell.weights().weight_ih.requires_grad and not lstm.cell.weights().bias_hh.requires_grad


def test_subclassed_model_build_and_summary():
    class Tagger(Model):
        def __init__(self):
            super().__init__(name="tagger")
            self.embed = Embedding(100, 8, mask_zero=True)
            self.rnn = Bidirectional(GRU(4, return_sequences=True))
            self.head = Dense(3, activation="softmax")

        def call(self, inputs):
            return self.head(self.rnn(self.embed(inputs)))

    model = Tagger()
    model.build((None, 7))
    lines = []
    model.summary(print_fn=lines.append)
    assert "bidirectional" in lines[0] and "(None, 7, 8)" in lines[0]
    assert model.count_params() == 800 + 2 * 3 * (8 * 4 + 4 * 4 + 2 * 4) + 27


def test_keras_style_callback_hooks_and_stop():
    needs_trainer()
    from rnnkit.keras.callbacks import Callback

    class Recorder(Callback):
        def __init__(self):
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append((epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

    model = Sequential([Input((4, 2)), SimpleRNN(3), Dense(1)])
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    x = np.random.default_rng(4).normal(size=(16, 4, 2)).astype("float32")
    recorder = Recorder()
    history = model.fit(x, x[:, 0, :1], epochs=5, verbose=0, callbacks=[recorder])
    assert recorder.model is model and recorder.params["epochs"] == 5
    assert recorder.seen == [(0, ["loss", "mae"]), (1, ["loss", "mae"])]
    assert len(history.history["loss"]) == 2
    with pytest.raises(TypeError, match="expected rnnkit.keras.callbacks.Callback"):
        model.fit(x, x[:, 0, :1], epochs=1, verbose=0, callbacks=[object()])


def test_fit_progress_bar_and_evaluate_dict(capsys):
    needs_trainer()
    model = Sequential([Input((4, 2)), LSTM(3), Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(5).normal(size=(20, 4, 2)).astype("float32")
    y = (x[:, 0, 0] > 0).astype("float32")
    model.fit(x, y, epochs=2, batch_size=8, verbose=1)
    printed = capsys.readouterr()
    assert "loss" in printed.out + printed.err
    logs = model.evaluate(x, y, return_dict=True, verbose=0)
    assert set(logs) == {"loss", "accuracy"}


def test_stateful_model_fits_with_fixed_batches():
    needs_trainer()
    model = Sequential([Input(batch_shape=(4, 5, 2)), LSTM(3, stateful=True), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(6).normal(size=(16, 5, 2)).astype("float32")
    for _ in range(2):
        history = model.fit(x, x[:, -1, :1], batch_size=4, epochs=1, shuffle=False, verbose=0)
        model.reset_states()
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(x, batch_size=4).shape == (16, 1)
