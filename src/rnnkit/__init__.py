"""rnnkit: recurrent sequence models on PyTorch, from the textbook equations."""

from rnnkit.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from rnnkit.layers import GRU, LSTM, RNN, Recurrent, RecurrentStack, Trace

__version__ = "0.1.0"

__all__ = ["LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "RecurrentCell", "Recurrent", "RecurrentStack", "Trace"]
