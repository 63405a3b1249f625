"""Saving a ``Trainer``'s whole state after an epoch and restoring it, so that a run killed at any
moment and resumed ends with the same weights as an uninterrupted run (in deterministic mode).

What makes the resumed run identical: model and optimizer tensors, the scheduler's and the
callbacks' state, the epoch and global step, and every random generator's state (torch CPU and
CUDA, numpy, Python) as it was at the end of the saved epoch; ``ArrayLoader`` draws each
epoch's order from ``(seed, epoch)`` alone, and a torch ``DataLoader`` draws its shuffling seed
from the restored torch generator.
"""

from __future__ import annotations

import json
import os
import shutil

import rnnkit
from rnnkit.train.checkpoint import (CheckpointError, checkpoint_name, list_checkpoints, load_checkpoint,
                                     save_checkpoint)
from rnnkit.train.determinism import get_rng_states, set_rng_states


def prepare_checkpoint_dir(checkpoint_dir, resume: bool) -> None:
    """Create the folder, remove temp folders left by a killed writer, and refuse to start a
    fresh run over existing checkpoints (which it would silently mix with)."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    for name in os.listdir(checkpoint_dir):
        if name.startswith(".tmp-") or name.startswith(".old-"):
            shutil.rmtree(os.path.join(checkpoint_dir, name), ignore_errors=True)
    existing = list_checkpoints(checkpoint_dir)
    if existing and not resume:
        raise ValueError(f"Received `checkpoint_dir={os.fspath(checkpoint_dir)!r}` which already holds checkpoints "
                         f"(newest {os.path.basename(existing[-1])}) and `resume=False`: pass resume=True to continue "
                         f"that run, or choose an empty folder.")


def trainer_config(trainer) -> dict:
    loss = trainer.loss_fn
    return {
        "model_class": type(trainer.model).__name__,
        "loss": [repr(fn) for fn in loss] if isinstance(loss, list) else repr(loss),
        "optimizer_class": type(trainer.optimizer).__name__,
        "metrics": list(trainer.metrics),
        "clip_value": trainer.clip_value, "clip_norm": trainer.clip_norm,
        "clip_norm_per_tensor": trainer.clip_norm_per_tensor,
        "seed": trainer.seed, "deterministic": trainer.deterministic,
        "tbptt": None if trainer.tbptt is None else [trainer.tbptt.k1, trainer.tbptt.k2],
        "rnnkit_version": rnnkit.__version__,
    }


def save_trainer_state(trainer, path, epoch: int) -> str:
    """Write the trainer's whole state as a checkpoint folder at ``path``."""
    state = {
        "epoch": int(epoch),
        "global_step": int(trainer.global_step),
        "stopped": bool(trainer.stop_training),
        "rng": get_rng_states(),
        "history": {"history": trainer.history.history, "epoch": trainer.history.epoch},
        "callbacks": trainer._callbacks.state_dicts()[1:],  # [0] is the History itself
        "scheduler": trainer.scheduler.state_dict(),
        "config": trainer_config(trainer),
    }
    return save_checkpoint(path, trainer.model, trainer.optimizer, state)


def save_training_checkpoint(trainer, checkpoint_dir, epoch: int) -> str:
    """Write ``epoch-NNNNNN`` for the epoch just finished and prune to ``trainer.keep_checkpoints``."""
    path = save_trainer_state(trainer, os.path.join(checkpoint_dir, checkpoint_name(epoch)), epoch)
    for old in list_checkpoints(checkpoint_dir)[:-trainer.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
    return path


def restore_trainer_state(trainer, path) -> dict:
    """Load a checkpoint folder into the trainer; callback states are left in
    ``trainer._pending_callback_states`` to apply after ``on_train_begin``."""
    state = load_checkpoint_for(trainer, path)
    trainer.epoch = state["epoch"]
    trainer.global_step = state["global_step"]
    trainer.history.history = {k: list(v) for k, v in state["history"]["history"].items()}
    trainer.history.epoch = list(state["history"]["epoch"])
    trainer._pending_callback_states = [{}] + list(state["callbacks"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    set_rng_states(state["rng"])
    trainer.resumed_from = os.fspath(path)
    return state


def resume_from(trainer, checkpoint_dir, epochs: int) -> int:
    """Restore the newest checkpoint into ``trainer``; return the epoch to start from (0 when
    there is no checkpoint yet). A corrupt newest checkpoint raises and changes nothing."""
    found = list_checkpoints(checkpoint_dir)
    if not found:
        return 0
    state = restore_trainer_state(trainer, found[-1])
    trainer.stop_training = bool(state["stopped"])
    return state["epoch"] + 1


def load_checkpoint_for(trainer, path) -> dict:
    """Load a training checkpoint into the trainer's model and optimizer, after checking that it
    was written by the same kind of optimizer."""
    try:
        with open(os.path.join(path, "state.json")) as handle:
            saved_class = json.load(handle)["state"]["config"]["optimizer_class"]
    except (OSError, ValueError, KeyError, TypeError):
        saved_class = None  # load_checkpoint reports what is wrong with the file
    current = type(trainer.optimizer).__name__
    if saved_class is not None and saved_class != current:
        raise CheckpointError(f"The checkpoint {path} was written with optimizer {saved_class}, but the trainer uses "
                              f"{current}: resume with the same optimizer.")
    return load_checkpoint(path, trainer.model, trainer.optimizer)
