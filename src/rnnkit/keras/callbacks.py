"""Keras callbacks by their Keras names; they are the trainer's (``rnnkit.train.callbacks``):
``model.fit(..., callbacks=[EarlyStopping(patience=2), ModelCheckpoint(path)])``."""

from rnnkit.train.callbacks import (Callback, CSVLogger, EarlyStopping, History, ModelCheckpoint, ReduceLROnPlateau,
                                    TensorBoard)

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "CSVLogger", "TensorBoard"]
