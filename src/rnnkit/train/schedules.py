"""Learning-rate schedules: any torch scheduler (or a callable ``optimizer -> scheduler``),
stepped once per epoch by default or once per batch with ``interval="step"``.
``ReduceLROnPlateau`` is stepped with the epoch's ``val_loss`` (``loss`` without validation)."""

from __future__ import annotations

import torch

from rnnkit.errors import describe

_Plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
_Base = torch.optim.lr_scheduler.LRScheduler


class Scheduler:
    """Wraps an optional torch scheduler so the trainer can call it without special cases."""

    def __init__(self, scheduler=None, interval="epoch"):
        self.scheduler, self.interval = scheduler, interval

    @classmethod
    def wrap(cls, scheduler, optimizer, interval="epoch"):
        if interval not in ("epoch", "step"):
            raise ValueError(f"Received an invalid value for argument `scheduler_interval`: expected 'epoch' or 'step', got {interval!r}.")
        if scheduler is None:
            return cls(None, interval)
        if not isinstance(scheduler, (_Base, _Plateau)) and callable(scheduler):
            scheduler = scheduler(optimizer)
        if not isinstance(scheduler, (_Base, _Plateau)):
            raise TypeError(f"Received an invalid value for argument `scheduler`: expected a torch LR scheduler or a "
                            f"callable optimizer -> scheduler, got {describe(scheduler)}.")
        if scheduler.optimizer is not optimizer:
            raise ValueError("Received an invalid value for argument `scheduler`: it drives a different optimizer than "
                             "the trainer's; pass a callable `lambda optimizer: Scheduler(optimizer, ...)` instead.")
        if isinstance(scheduler, _Plateau) and interval == "step":
            raise ValueError("Received `scheduler_interval='step'` with ReduceLROnPlateau: it needs an epoch's loss; use 'epoch'.")
        return cls(scheduler, interval)

    def after_batch(self):
        if self.scheduler is not None and self.interval == "step":
            self.scheduler.step()

    def after_epoch(self, logs: dict):
        if self.scheduler is None or self.interval != "epoch":
            return
        if isinstance(self.scheduler, _Plateau):
            self.scheduler.step(logs.get("val_loss", logs["loss"]))
        else:
            self.scheduler.step()

    def state_dict(self):
        return None if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state):
        if self.scheduler is not None and state is not None:
            self.scheduler.load_state_dict(state)
