"""Callbacks that watch one logged quantity: ``EarlyStopping`` and ``ReduceLROnPlateau``, with
Keras' arguments, defaults and rules."""

from __future__ import annotations

import math
import sys
import warnings

import torch

from rnnkit.errors import check_nonnegative_int
from rnnkit.train.callbacks.base import Callback


def resolve_mode(mode: str, monitor: str) -> str:
    """'min' or 'max'; 'auto' means 'max' for accuracies and AUC, else 'min' (as Keras)."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"Received an invalid value for argument `mode`: expected 'auto', 'min' or 'max', got {mode!r}.")
    if mode != "auto":
        return mode
    name = monitor.lower()
    return "max" if ("acc" in name or "auc" in name or name.endswith("f1")) else "min"


def _check_nonnegative(value, argument):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected a non-negative number, got {value!r}.")
    return float(value)


def monitored(logs, monitor, who):
    value = logs.get(monitor)
    if value is None:
        warnings.warn(f"{who}: the monitored quantity {monitor!r} is not in the logs (available: {sorted(logs)}); "
                      f"skipping this epoch.", stacklevel=3)
    return value


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    Improvement: ``current < best - min_delta`` (mode 'min') or ``current > best + min_delta``
    ('max'). ``baseline``: training stops unless the model beats it within ``patience``.
    ``restore_best_weights``: when stopping, load the weights of the best epoch (kept in memory).
    ``start_from_epoch``: epochs to wait before counting.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        self.monitor = monitor
        self.min_delta = abs(_check_nonnegative(min_delta, "min_delta"))
        self.patience = check_nonnegative_int(patience, "patience")
        self.start_from_epoch = check_nonnegative_int(start_from_epoch, "start_from_epoch")
        self.verbose, self.baseline, self.restore_best_weights = verbose, baseline, bool(restore_best_weights)
        self.mode = resolve_mode(mode, monitor)
        self._reset()

    def _reset(self):
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def _improved(self, current, reference):
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def on_train_begin(self, trainer):
        self._reset()

    def on_epoch_end(self, trainer, epoch, logs):
        current = monitored(logs, self.monitor, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self._copy(trainer.model)
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = float(current), int(epoch)
            if self.restore_best_weights:
                self.best_weights = self._copy(trainer.model)
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = int(epoch)
            trainer.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                trainer.model.load_state_dict(self.best_weights)
            if self.verbose:
                print(f"Epoch {epoch + 1}: early stopping; best {self.monitor} {self.best:.4f} at epoch "
                      f"{self.best_epoch + 1}", file=sys.stdout)

    @staticmethod
    def _copy(model):
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def state_dict(self):
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best_epoch": self.best_epoch,
                "best": self.best, "best_weights": self.best_weights}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if self.best_weights is not None:
            self.best_weights = {k: torch.as_tensor(v) for k, v in self.best_weights.items()}


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs; then wait ``cooldown`` epochs; never below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
            raise ValueError(f"Received an invalid value for argument `factor`: expected a number in (0, 1), got {factor!r}.")
        self.monitor, self.factor, self.verbose = monitor, float(factor), verbose
        self.patience = check_nonnegative_int(patience, "patience")
        self.cooldown = check_nonnegative_int(cooldown, "cooldown")
        self.min_delta = _check_nonnegative(min_delta, "min_delta")
        self.min_lr = _check_nonnegative(min_lr, "min_lr")
        self.mode = resolve_mode(mode, monitor)
        self._reset()

    def _reset(self):
        self.wait, self.cooldown_counter = 0, 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_train_begin(self, trainer):
        self._reset()

    def on_epoch_end(self, trainer, epoch, logs):
        current = monitored(logs, self.monitor, "ReduceLROnPlateau")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = current < self.best - self.min_delta if self.mode == "min" else current > self.best + self.min_delta
        if better:
            self.best, self.wait = float(current), 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                for group in trainer.optimizer.param_groups:
                    old = float(group["lr"])
                    if old > self.min_lr * (1 + 1e-12):
                        group["lr"] = max(old * self.factor, self.min_lr)
                        if self.verbose:
                            print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {group['lr']:.4g}.")
                self.cooldown_counter, self.wait = self.cooldown, 0

    def state_dict(self):
        return {"wait": self.wait, "cooldown_counter": self.cooldown_counter, "best": self.best}
