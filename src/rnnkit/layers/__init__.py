"""Layers: the runner, stacking, bidirectional, torch drop-ins and trace()."""

from rnnkit.layers.recurrent import Recurrent, reverse_sequences, scan
from rnnkit.layers.stack import DirectionTrace, Trace
from rnnkit.layers.stacked import RecurrentStack
from rnnkit.layers.stream import Stream, StreamSpec, open_stream
from rnnkit.layers.torch_compat import GRU, LSTM, RNN

__all__ = ["Recurrent", "scan", "reverse_sequences", "RecurrentStack", "Trace", "DirectionTrace", "LSTM", "GRU", "RNN", "Stream", "StreamSpec", "open_stream"]
