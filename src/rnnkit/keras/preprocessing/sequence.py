"""Old Keras import path: ``from keras.preprocessing.sequence import pad_sequences``."""

from rnnkit.keras.utils import pad_sequences

__all__ = ["pad_sequences"]
