"""The callback protocol, the list that dispatches to callbacks, and ``History``."""

from __future__ import annotations


class Callback:
    """Hooks called by the trainer; each receives the trainer (``trainer.model``,
    ``trainer.optimizer``, ``trainer.epoch``, ``trainer.global_step``). Set
    ``trainer.stop_training = True`` to stop after the current epoch.

    ``logs`` are dicts of floats: ``on_batch_end`` gets ``{'loss': ..., metric: ...}`` of the
    batch; ``on_epoch_end`` gets the epoch's means plus ``val_`` entries.

    A callback that keeps state across epochs (a best value, a patience counter) returns it
    from ``state_dict()`` as JSON-serializable values, so checkpoints restore it on resume.
    """

    def on_train_begin(self, trainer): ...

    def on_epoch_begin(self, trainer, epoch): ...

    def on_batch_end(self, trainer, step, logs): ...

    def on_epoch_end(self, trainer, epoch, logs): ...

    def on_train_end(self, trainer): ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


class History(Callback):
    """Per-epoch logs: ``history.history['loss']``, ``['val_loss']``, ... and ``history.epoch``
    (the 0-based epoch numbers), as in Keras."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.epoch.append(int(epoch))
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def state_dict(self):
        return {"history": self.history, "epoch": self.epoch}

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={sorted(self.history)})"


class CallbackList:
    """Calls every callback's hook in order."""

    def __init__(self, callbacks):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback) and not all(hasattr(cb, h) for h in ("on_epoch_end",)):
                raise TypeError(f"Received an invalid value in `callbacks`: expected Callback instances, got {type(cb).__name__}.")

    def _call(self, hook, *args):
        for cb in self.callbacks:
            method = getattr(cb, hook, None)
            if method is not None:
                method(*args)

    def on_train_begin(self, trainer):
        self._call("on_train_begin", trainer)

    def on_epoch_begin(self, trainer, epoch):
        self._call("on_epoch_begin", trainer, epoch)

    def on_batch_end(self, trainer, step, logs):
        self._call("on_batch_end", trainer, step, logs)

    def on_epoch_end(self, trainer, epoch, logs):
        self._call("on_epoch_end", trainer, epoch, logs)

    def on_train_end(self, trainer):
        self._call("on_train_end", trainer)

    def state_dicts(self) -> list:
        return [{"class": type(cb).__name__, "state": cb.state_dict() if hasattr(cb, "state_dict") else {}}
                for cb in self.callbacks]

    def load_state_dicts(self, states: list) -> None:
        """Restore states saved by ``state_dicts``, matching callbacks by position and class."""
        for cb, saved in zip(self.callbacks, states):
            if saved.get("class") == type(cb).__name__ and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(saved.get("state", {}))
