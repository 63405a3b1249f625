"""``ModelCheckpoint``: save the model after each epoch (or only when ``monitor`` improves),
as Keras' callback does, with safetensors weights written atomically."""

from __future__ import annotations

import math
import os

from rnnkit.train.callbacks.base import Callback
from rnnkit.train.callbacks.monitor import monitored, resolve_mode
from rnnkit.train.checkpoint import save_weights


class ModelCheckpoint(Callback):
    """Save the model at the end of epochs.

    ``filepath`` may hold format fields filled with the 1-based ``epoch`` and the epoch's logs,
    e.g. ``"ckpt/model-{epoch:02d}-{val_loss:.3f}.safetensors"``. A ``.safetensors`` path gets
    the ``state_dict`` (temp file + rename, so a crash never leaves half a file); another
    suffix calls ``save_fn(model, path)`` if given, else ``model.save(path)`` (a Keras-style
    model's own format). ``save_best_only``: write only when ``monitor`` improves on the best
    value so far (mode 'auto' / 'min' / 'max', as Keras). ``initial_value_threshold``: a value
    the monitored quantity must beat before the first save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=True,
                 mode="auto", save_freq="epoch", initial_value_threshold=None, save_fn=None):
        if not isinstance(filepath, (str, os.PathLike)) or not os.fspath(filepath):
            raise ValueError(f"Received an invalid value for argument `filepath`: expected a non-empty path, got {filepath!r}.")
        if save_freq != "epoch":
            raise ValueError(f"Received an invalid value for argument `save_freq`: only 'epoch' is supported, got {save_freq!r}.")
        if save_fn is not None and not callable(save_fn):
            raise TypeError(f"Received an invalid value for argument `save_fn`: expected a callable (model, path), got {save_fn!r}.")
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only, self.save_fn = bool(save_best_only), save_weights_only, save_fn
        self.mode = resolve_mode(mode, monitor)
        worst = math.inf if self.mode == "min" else -math.inf
        self.best = float(initial_value_threshold) if initial_value_threshold is not None else worst
        self.saved: list[str] = []

    def _path(self, epoch, logs):
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint: `filepath` {self.filepath!r} names {error.args[0]!r}, which is not in the "
                           f"logs {sorted(logs)} nor 'epoch'.") from None

    def _write(self, model, path):
        if self.save_fn is not None:
            self.save_fn(model, path)
        elif path.endswith(".safetensors"):
            save_weights(model, path)
        elif hasattr(model, "save"):
            model.save(path)
        else:
            raise ValueError(f"ModelCheckpoint: cannot write {path!r}: expected a path ending in '.safetensors', "
                             f"a `save_fn`, or a model with a save() method ({type(model).__name__} has none).")
        self.saved.append(path)

    def on_epoch_end(self, trainer, epoch, logs):
        path = self._path(epoch, logs)
        if not self.save_best_only:
            self._write(trainer.model, path)
            return
        current = monitored(logs, self.monitor, "ModelCheckpoint")
        if current is None:
            return
        better = current < self.best if self.mode == "min" else current > self.best
        if better:
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, saving to {path}")
            self.best = float(current)
            self._write(trainer.model, path)

    def state_dict(self):
        return {"best": self.best, "saved": self.saved}
