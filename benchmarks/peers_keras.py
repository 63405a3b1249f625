"""Keras 3 on TensorFlow peer for benchmarks/speed.py: keras.layers.LSTM / GRU / SimpleRNN.

Keras has no layer-normalized LSTM, so that cell has no Keras number. ``recurrent_dropout``
is Keras' own option (which makes Keras leave its fused path). Steps run inside
``tf.function``; a training step takes gradients of the summed outputs for every weight.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras  # noqa: E402


def make(cell: str, batch: int, hidden: int, steps: int, inputs: int, train: bool):
    """A zero-argument callable that runs one (traced, warmed-up) step, or None if Keras lacks the cell."""
    if cell == "lstm_ln":
        return None
    layer = {
        "lstm": lambda: keras.layers.LSTM(hidden, return_sequences=True),
        "lstm_rd": lambda: keras.layers.LSTM(hidden, return_sequences=True, recurrent_dropout=0.25),
        "gru": lambda: keras.layers.GRU(hidden, return_sequences=True, reset_after=True),
        "gru_orig": lambda: keras.layers.GRU(hidden, return_sequences=True, reset_after=False),
        "rnn": lambda: keras.layers.SimpleRNN(hidden, return_sequences=True),
    }[cell]()
    x = tf.constant(np.random.default_rng(0).standard_normal((batch, steps, inputs)).astype(np.float32))
    layer.build(x.shape)

    if train:
        @tf.function
        def step(xx):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(xx, training=True))
            return tape.gradient(loss, layer.trainable_variables)
    else:
        @tf.function
        def step(xx):
            return layer(xx, training=False)

    def run():
        result = step(x)
        (result[0] if isinstance(result, list) else result).numpy()
    run()  # trace
    return run


def version() -> str:
    return f"keras {keras.__version__}, tensorflow {tf.__version__}"
