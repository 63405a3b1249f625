"""Callbacks with Keras' names and arguments."""

from rnnkit.train.callbacks.base import Callback, CallbackList, History

__all__ = ["Callback", "CallbackList", "History"]
