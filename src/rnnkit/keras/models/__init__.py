"""Keras-style models: Sequential, functional Model and subclassed Model."""

from rnnkit.keras.models.functional import Functional
from rnnkit.keras.models.model import Model
from rnnkit.keras.models.sequential import Sequential

__all__ = ["Model", "Sequential", "Functional"]
