"""Keras-named layers built on rnnkit's layers."""

from rnnkit.keras.engine import Input, InputLayer, Layer
from rnnkit.keras.layers.attention import AdditiveAttention, Attention
from rnnkit.keras.layers.core import Activation, Dense, Dropout, Embedding, Masking, RepeatVector
from rnnkit.keras.layers.merge import Concatenate, concatenate
from rnnkit.keras.layers.recurrent import GRU, LSTM, RNNLayer, SimpleRNN
from rnnkit.keras.layers.wrappers import Bidirectional, TimeDistributed

__all__ = [
    "Input", "Layer", "InputLayer", "Dense", "Embedding", "Dropout", "Activation", "RepeatVector", "Masking",
    "Concatenate", "concatenate", "SimpleRNN", "LSTM", "GRU", "RNNLayer", "Bidirectional", "TimeDistributed",
    "Attention", "AdditiveAttention",
]
