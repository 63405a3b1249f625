"""Cells: the math of one step of each recurrent network family."""

from rnnkit.cells.base import CellWeights, RecurrentCell
from rnnkit.cells.gru import GRUCell, GRUState
from rnnkit.cells.lstm import LSTMCell, LSTMState
from rnnkit.cells.rnn import RNNCell, RNNState

__all__ = [
    "CellWeights", "RecurrentCell", "RNNCell", "RNNState", "LSTMCell", "LSTMState", "GRUCell", "GRUState",
]
