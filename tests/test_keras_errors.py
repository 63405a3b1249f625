"""Bad input: each error names the layer/argument, what was expected and what was given."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.keras import (GRU, LSTM, Adam, Dense, Embedding, Input, Model, RepeatVector, Sequential, SimpleRNN,
                          TimeDistributed, concatenate, load_model)
from rnnkit.keras.losses import BinaryCrossentropy, SparseCategoricalCrossentropy


def needs_trainer():
    import rnnkit.train

    if not hasattr(rnnkit.train, "Trainer"):
        pytest.skip("fit needs rnnkit.train.Trainer, which is not merged here yet")


# ---- shapes at build time -------------------------------------------------------------------
def test_lstm_on_2d_input_names_layer_and_shape():
    with pytest.raises(ValueError, match=r'layer "lstm_in_2d" \(LSTM\) is incompatible .* expected ndim=3 .* '
                                         r"received input with shape \(None, 10\)"):
        Sequential([Input((10,)), LSTM(4, name="lstm_in_2d")])


def test_dense_after_sequence_mismatch_names_layer_and_shapes():
    x = Input((5, 3))
    h = LSTM(4, return_sequences=True)(x)
    dense = Dense(2, name="head")
    dense(Input((5, 4)))
    with pytest.raises(ValueError, match=r'layer "head" \(Dense\) .* axis -1 of input shape to have value 4, but '
                                         r"received input with shape \(None, 5, 8\)"):
        dense(concatenate([h, h]))


def test_repeat_vector_needs_2d():
    with pytest.raises(ValueError, match=r'"repeat_bad" \(RepeatVector\) .* expected ndim=2.*\(None, 5, 3\)'):
        RepeatVector(3, name="repeat_bad")(Input((5, 3)))


def test_concatenate_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"Concatenate.*matching shapes.*\[\(None, 5, 3\), \(None, 6, 3\)\]"):
        concatenate([Input((5, 3)), Input((6, 3))])


def test_time_distributed_needs_time_axis():
    with pytest.raises(ValueError, match=r"TimeDistributed.*min_ndim=3.*\(None, 4\)"):
        TimeDistributed(Dense(2))(Input((4,)))


def test_initial_state_of_wrong_shape():
    x = torch.randn(2, 5, 3)
    layer = LSTM(4, name="dec")
    with pytest.raises(ValueError, match=r'"dec" \(LSTM\) expects each initial state of shape \(2, 4\), got shape \(2, 5\)'):
        layer(x, initial_state=[torch.zeros(2, 5), torch.zeros(2, 5)])


def test_model_input_shape_mismatch_at_call():
    x = Input((5, 3), name="series")
    model = Model(x, Dense(1)(LSTM(4)(x)))
    with pytest.raises(ValueError, match=r'Input "series" .* expected shape \(None, 5, 3\), got data of shape \(2, 5, 4\)'):
        model.predict(np.zeros((2, 5, 4), "float32"))


def test_eager_shape_change_after_build():
    layer = GRU(3, name="gru_fixed")
    layer(torch.randn(2, 4, 5))
    with pytest.raises(ValueError, match=r'"gru_fixed" \(GRU\) .* axis -1 of input shape to have value 5.*\(2, 4, 6\)'):
        layer(torch.randn(2, 4, 6))


# ---- data -----------------------------------------------------------------------------------
def compiled(loss="mse", **kwargs):
    model = Sequential([Input((4, 2)), SimpleRNN(3), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss=loss, **kwargs)
    return model


def test_x_and_y_of_different_lengths():
    needs_trainer()
    with pytest.raises(ValueError, match=r"`x` and `y` must hold the same number of samples, got x sizes: 10, y sizes: 9"):
        compiled().fit(np.zeros((10, 4, 2)), np.zeros((9, 2)), verbose=0)


def test_sparse_labels_outside_range():
    loss = SparseCategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"expected labels in \[0, 2\) for a model with 2 output classes, got a label of 5"):
        loss(torch.full((3, 2), 0.5), torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match=r"got a label of -1"):
        loss(torch.full((3, 2), 0.5), torch.tensor([0, -1, 1]))


def test_sparse_labels_outside_range_in_fit():
    needs_trainer()
    model = compiled("sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expected labels in \[0, 2\).*got a label of 7"):
        model.fit(np.zeros((4, 4, 2), "float32"), np.array([0, 1, 7, 1]), verbose=0)


def test_binary_labels_outside_range():
    with pytest.raises(ValueError, match=r"binary_crossentropy.*expected labels in \[0, 1\], got a label of 2"):
        BinaryCrossentropy()(torch.full((2, 1), 0.5), torch.tensor([[1.0], [2.0]]))


def test_embedding_ids_outside_vocabulary():
    layer = Embedding(10, 4, name="words")
    with pytest.raises(ValueError, match=r"'words' \(Embedding\): expected token ids in \[0, 10\).*got an id of 12"):
        layer(torch.tensor([[1, 12]]))


# ---- names ----------------------------------------------------------------------------------
def test_unknown_optimizer_loss_metric_names():
    model = Sequential([Input((3,)), Dense(1)])
    with pytest.raises(ValueError, match=r"argument `optimizer`: expected one of \['adam', 'rmsprop', 'sgd'\].*'adamm'"):
        model.compile(optimizer="adamm", loss="mse")
    with pytest.raises(ValueError, match=r"argument `loss`: expected one of .*'mean_squared_eror'"):
        model.compile(optimizer="adam", loss="mean_squared_eror")
    with pytest.raises(ValueError, match=r"argument `metrics`: expected names from .*'accuracyy'"):
        model.compile(optimizer="adam", loss="mse", metrics=["accuracyy"])


def test_unknown_initializer_and_activation_names():
    with pytest.raises(ValueError, match=r"argument `kernel_initializer`: expected an initializer name .*'glorot_unifrom'"):
        Dense(3, kernel_initializer="glorot_unifrom")
    with pytest.raises(ValueError, match=r"argument `recurrent_initializer`.*'orthogonall'"):
        LSTM(3, recurrent_initializer="orthogonall")
    with pytest.raises(ValueError, match=r"argument `activation` of layer .*'relux'"):
        Dense(3, activation="relux")


def test_bad_optimizer_clip_arguments():
    with pytest.raises(ValueError, match=r"argument `clipvalue`: expected a positive number, got -1"):
        Adam(clipvalue=-1)
    with pytest.raises(ValueError, match="Only one of"):
        Adam(clipvalue=1.0, clipnorm=1.0)


def test_unknown_layer_keyword():
    with pytest.raises(TypeError, match=r"Unrecognized keyword arguments passed to LSTM: \{'unitz': 3\}"):
        LSTM(3, unitz=3)


def test_simple_rnn_activation_outside_tanh_relu():
    with pytest.raises(ValueError, match=r"`activation` of layer .*\(SimpleRNN\): expected 'tanh' or 'relu', got 'sigmoid'"):
        SimpleRNN(4, activation="sigmoid")


def test_load_model_of_subclassed_model_says_what_to_do(tmp_path):
    class Net(Model):
        def __init__(self):
            super().__init__()
            self.dense = Dense(1)

        def call(self, inputs):
            return self.dense(inputs)

    net = Net()
    net(torch.zeros(1, 3))
    net.save(str(tmp_path / "net"))
    with pytest.raises(ValueError, match=r"Cannot rebuild a 'Net' model from its config: rebuild it in code and use "
                                         r"load_weights\(\)"):
        load_model(str(tmp_path / "net"))
    twin = Net()
    twin(torch.zeros(1, 3))
    twin.load_weights(str(tmp_path / "net" / "model.safetensors"))
    np.testing.assert_array_equal(twin.get_weights()[0], net.get_weights()[0])


def test_bad_units():
    with pytest.raises(ValueError, match=r"argument `units`: expected a positive integer, got 0"):
        GRU(0)


# ---- stateful -------------------------------------------------------------------------------
def test_stateful_without_fixed_batch_size():
    with pytest.raises(ValueError, match=r'"stateful_lstm" \(LSTM\) has stateful=True, which needs a fixed batch size, '
                                         r"but received input shape \(None, 5, 3\)"):
        Sequential([Input((5, 3)), LSTM(4, stateful=True, name="stateful_lstm")])


def test_stateful_batch_size_change():
    model = Sequential([Input(batch_shape=(2, 5, 3)), LSTM(4, stateful=True, name="fixed")])
    model.predict(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r'"fixed" \(LSTM\) has stateful=True and was built for batch size 2.*\(3, 5, 3\)'):
        model(torch.zeros(3, 5, 3))


# ---- checkpoints ----------------------------------------------------------------------------
def test_load_weights_architecture_mismatch(tmp_path):
    small = Sequential([Input((5, 3)), LSTM(4), Dense(1)])
    small.save_weights(str(tmp_path / "w.safetensors"))
    big = Sequential([Input((5, 3)), LSTM(6), Dense(1)])
    with pytest.raises(ValueError, match=r"do not match the architecture.*mis-shaped \[.*expected \(24, 3\), got \(16, 3\)"):
        big.load_weights(str(tmp_path / "w.safetensors"))


def test_truncated_weights_file(tmp_path):
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1)])
    path = tmp_path / "w.safetensors"
    model.save_weights(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="truncated or corrupt"):
        model.load_weights(str(path))
    assert path.read_bytes() == data[: len(data) // 2]  # nothing overwritten
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_corrupt_model_config(tmp_path):
    model = Sequential([Input((5, 3)), LSTM(4), Dense(1)])
    model.save(str(tmp_path / "m"))
    (tmp_path / "m" / "config.json").write_text('{"format": "rnnkit.keras/1", "model": {')
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_model(str(tmp_path / "m"))


def test_fit_before_compile():
    model = Sequential([Input((3,)), Dense(1)])
    with pytest.raises(RuntimeError, match="must call compile"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 1)))
