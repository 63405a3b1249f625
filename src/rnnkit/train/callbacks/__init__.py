"""Callbacks with Keras' names and arguments."""

from rnnkit.train.callbacks.base import Callback, CallbackList, History
from rnnkit.train.callbacks.loggers import CSVLogger, TensorBoard
from rnnkit.train.callbacks.model_checkpoint import ModelCheckpoint
from rnnkit.train.callbacks.monitor import EarlyStopping, ReduceLROnPlateau

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
           "CSVLogger", "TensorBoard"]
