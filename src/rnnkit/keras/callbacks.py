"""Keras callbacks.

``EarlyStopping``, ``ModelCheckpoint``, ``ReduceLROnPlateau``, ``CSVLogger`` and
``TensorBoard`` are the trainer's (``rnnkit.train.callbacks``), with Keras' names and
arguments. ``Callback`` here has Keras' hook signatures, for callbacks written as in Keras::

    class Stop(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs["loss"] < 0.1:
                self.model.stop_training = True

``fit`` wraps such a callback in ``KerasCallbackAdapter``, which calls its hooks from the
trainer's and sets ``callback.model``.
"""

from __future__ import annotations

from rnnkit.train.callbacks import Callback as TrainerCallback
from rnnkit.train.callbacks import CSVLogger, EarlyStopping, History, ModelCheckpoint, ReduceLROnPlateau, TensorBoard


class Callback:
    """Base of Keras-style callbacks: override any hook; ``self.model`` is the model being fit."""

    model = None
    params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...

    def on_train_end(self, logs=None): ...

    def on_epoch_begin(self, epoch, logs=None): ...

    def on_epoch_end(self, epoch, logs=None): ...

    def on_train_batch_begin(self, batch, logs=None): ...

    def on_train_batch_end(self, batch, logs=None): ...


class LambdaCallback(Callback):
    """Keras' LambdaCallback: hooks given as functions."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_end=None, **kwargs):
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_train_batch_end", on_train_batch_end)):
            if fn is not None:
                setattr(self, name, fn)


class KerasCallbackAdapter(TrainerCallback):
    """Runs a Keras-style ``Callback`` inside ``rnnkit.train.Trainer``."""

    def __init__(self, callback: Callback, model, params: dict):
        self.callback, self.model = callback, model
        callback.set_model(model)
        callback.set_params(params)

    def _sync_stop(self, trainer) -> None:
        if getattr(self.model, "stop_training", False):
            trainer.stop_training = True

    def on_train_begin(self, trainer):
        self.model.__dict__["stop_training"] = False
        self.callback.on_train_begin({})
        self._sync_stop(trainer)

    def on_epoch_begin(self, trainer, epoch):
        self._batch = 0
        self.callback.on_epoch_begin(epoch, {})

    def on_batch_end(self, trainer, step, logs):
        self.callback.on_train_batch_end(getattr(self, "_batch", 0), dict(logs))
        self._batch = getattr(self, "_batch", 0) + 1
        self._sync_stop(trainer)

    def on_epoch_end(self, trainer, epoch, logs):
        self.callback.on_epoch_end(epoch, dict(logs))
        self._sync_stop(trainer)

    def on_train_end(self, trainer):
        self.callback.on_train_end({})


def adapt(callbacks, model, params: dict) -> list:
    """Trainer callbacks for ``fit(callbacks=...)``: Keras-style ones wrapped, others as given."""
    out = []
    for cb in callbacks or ():
        if isinstance(cb, Callback):
            out.append(KerasCallbackAdapter(cb, model, params))
        elif isinstance(cb, TrainerCallback):
            out.append(cb)
        else:
            raise TypeError(
                f"Received an invalid value in `callbacks`: expected rnnkit.keras.callbacks.Callback or a trainer "
                f"callback (EarlyStopping, ModelCheckpoint, ...), got {type(cb).__name__}."
            )
    return out


__all__ = ["Callback", "LambdaCallback", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
           "CSVLogger", "TensorBoard", "KerasCallbackAdapter", "adapt"]
