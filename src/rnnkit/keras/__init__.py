"""rnnkit.keras: run Keras programs on rnnkit by changing the import line.

    from rnnkit.keras import Sequential, Embedding, LSTM, Dense

    model = Sequential([Embedding(1000, 64), LSTM(128), Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2)

Layers, models and utilities are importable from here and from the Keras-like submodules
``rnnkit.keras.layers``, ``.models``, ``.optimizers``, ``.losses``, ``.initializers``, ``.utils``.
"""

from rnnkit.keras import initializers, losses, metrics, optimizers
from rnnkit.keras.engine import Input, InputLayer, KerasTensor, Layer
from rnnkit.keras.initializers import (Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Ones, Orthogonal,
                                       RandomNormal, RandomUniform, Zeros)
from rnnkit.keras.keras_h5 import load_keras_weights
from rnnkit.keras.layers import (Activation, AdditiveAttention, Attention, Bidirectional, Concatenate, Dense, Dropout,
                                 Embedding, GRU, LSTM, Masking, RepeatVector, SimpleRNN, TimeDistributed, concatenate)
from rnnkit.keras.models import Model, Sequential
from rnnkit.keras.optimizers import SGD, Adam, RMSprop
from rnnkit.keras.saving import load_model
from rnnkit.keras.utils import pad_sequences, to_categorical

# Keras' lower-case initializer aliases: kernel_initializer=glorot_uniform()
glorot_uniform, glorot_normal, he_normal, he_uniform, orthogonal = (
    GlorotUniform, GlorotNormal, HeNormal, HeUniform, Orthogonal)
zeros, ones = Zeros, Ones

__all__ = [
    "Input", "InputLayer", "KerasTensor", "Layer", "Model", "Sequential",
    "Dense", "Embedding", "Dropout", "Activation", "RepeatVector", "Masking", "Concatenate", "concatenate",
    "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed", "Attention", "AdditiveAttention",
    "Adam", "RMSprop", "SGD", "pad_sequences", "to_categorical", "load_model", "load_keras_weights",
    "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "Orthogonal", "Zeros", "Ones", "Constant",
    "RandomNormal", "RandomUniform", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "orthogonal",
    "zeros", "ones", "initializers", "losses", "metrics", "optimizers",
]
