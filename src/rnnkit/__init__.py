"""rnnkit: recurrent sequence models on PyTorch, from the textbook equations.

Layers: ``LSTM``, ``GRU``, ``RNN`` (drop-ins for torch.nn), ``RecurrentStack``, ``Recurrent``.
Cells: ``LSTMCell``, ``GRUCell``, ``RNNCell``, ``LayerNormLSTMCell``. Backends: ``explain``.
Training: ``Trainer``, ``ArrayLoader``. Sub-packages: ``rnnkit.models``, ``rnnkit.keras``,
``rnnkit.data``, ``rnnkit.train``, ``rnnkit.diagnostics``.
"""

from rnnkit.cells import GRUCell, LSTMCell, RecurrentCell, RNNCell
from rnnkit.cells.layer_norm import LayerNormLSTMCell
from rnnkit.kernels import BackendUnavailableError, explain
from rnnkit.layers import GRU, LSTM, RNN, Recurrent, RecurrentStack, Stream, StreamSpec, Trace, open_stream
from rnnkit.train import ArrayLoader, Trainer

__version__ = "0.1.0"

__all__ = [
    "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell", "LayerNormLSTMCell", "RecurrentCell", "Recurrent",
    "RecurrentStack", "Trace", "Stream", "StreamSpec", "open_stream", "explain", "BackendUnavailableError", "Trainer", "ArrayLoader",
]
