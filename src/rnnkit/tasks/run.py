"""Train a task into a directory, and load a trained run back.

``train_run(config, out_dir)`` is what ``rnnkit train`` does: prepare the data, build the
model, fit with ``rnnkit.train.Trainer`` (Adam, gradient-norm clipping, the weights of the
epoch with the best validation loss kept, or as ``config.keep`` says), evaluate on the test part, and write the files of a
run directory (see ``rnnkit.cli.rundir``). Weights are stored as safetensors, everything else
as JSON: loading a run never unpickles anything.
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import torch

from rnnkit.tasks.base import Prepared, Task
from rnnkit.tasks.config import RunConfig

WEIGHTS = "model.safetensors"


class KeepBest:
    """Callback: remember the weights of the best epoch by ``monitor`` and put them back when
    training ends (without validation data, or with ``monitor="last"``, the last epoch stays).

    ``val_loss``: the lowest validation loss; ``val_accuracy``: the highest validation accuracy,
    a tie going to the lower validation loss (the task's own metric: a tagger's loss can rise
    on a few confident mistakes while more tokens become right)."""

    def __init__(self, monitor: str = "val_loss"):
        self.monitor = monitor
        self.best, self.best_epoch, self.weights = None, None, None

    def on_train_begin(self, trainer): ...
    def on_epoch_begin(self, trainer, epoch): ...
    def on_batch_end(self, trainer, step, logs): ...

    def score(self, logs):
        """A tuple that is larger for a better epoch, or None when the logs cannot rank it."""
        loss = logs.get("val_loss")
        if loss is None or not math.isfinite(loss):
            return None
        if self.monitor == "val_accuracy":
            accuracy = logs.get("val_accuracy")
            return None if accuracy is None or not math.isfinite(accuracy) else (accuracy, -loss)
        return (-loss,)

    def on_epoch_end(self, trainer, epoch, logs):
        if self.monitor == "last":  # nothing to copy: the weights at the end are the ones kept
            self.best_epoch = epoch
            return
        score = self.score(logs)
        if score is not None and (self.best is None or score > self.best):
            self.best, self.best_epoch = score, epoch
            self.weights = copy.deepcopy(trainer.model.state_dict())

    def on_train_end(self, trainer):
        if self.weights is not None:
            trainer.model.load_state_dict(self.weights)


def fit(task: Task, model, prepared: Prepared, config: RunConfig, *, progress: bool = True, callbacks=()):
    """Train ``model`` as ``rnnkit train`` does; ``callbacks`` (``rnnkit.train.Callback``) run
    after the one that keeps the best epoch (benchmarks use them to record curves)."""
    from rnnkit.train import Callback, Trainer

    metrics = task.train_metrics() or None
    if config.keep == "val_accuracy" and "accuracy" not in (metrics or {}):
        raise ValueError(f"Received an invalid value for option `keep`: task {task.name!r} logs no validation accuracy; "
                         f"expected 'val_loss' or 'last', got {config.keep!r}.")
    keep = type("KeepBestCallback", (KeepBest, Callback), {})(config.keep)
    data = task.training_data(prepared, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=task.weight_decay(config))
    trainer = Trainer(task.training_module(model), loss=task.loss, optimizer=optimizer, metrics=metrics,
                      clip_norm=config.clip_norm or None, callbacks=[keep, *callbacks], seed=config.seed, progress=progress,
                      progress_stream=sys.stderr, tbptt=data.tbptt, **schedule(task, optimizer, config, len(data.train)))
    history = trainer.fit(data.train, epochs=config.epochs, validation_data=data.validation)
    return {"history": {k: [float(x) for x in v] for k, v in history.history.items()},
            "best_epoch": None if keep.best_epoch is None else int(keep.best_epoch)}


def schedule(task: Task, optimizer, config: RunConfig, steps_per_epoch: int) -> dict:
    """The trainer's ``scheduler`` arguments from ``config.lr_schedule`` or the task's own
    options (classify's older ``-o lr_schedule=plateau``). Both naming the same plateau schedule
    is one schedule; two different schedules at once is an error."""
    own = task.lr_scheduler(optimizer, config)
    if own is not None and config.lr_schedule != "constant" and not (
            config.lr_schedule == "plateau" and isinstance(own, torch.optim.lr_scheduler.ReduceLROnPlateau)):
        raise ValueError(f"Received an invalid value for option `lr_schedule`: task {task.name!r} already sets a "
                         f"learning-rate schedule from its own options (e.g. -o lr_schedule=plateau); expected "
                         f"'constant' or the same schedule, got {config.lr_schedule!r}. Pass -o lr_schedule=constant "
                         f"to use --lr-schedule {config.lr_schedule}.")
    if own is not None:
        return {"scheduler": own}
    if config.lr_schedule == "plateau":
        return {"scheduler": plateau_schedule(optimizer, config.lr, task.plateau_patience(config))}
    cosine = lr_schedule(config, steps_per_epoch)
    return {} if cosine is None else {"scheduler": cosine, "scheduler_interval": "step"}


def plateau_schedule(optimizer, lr: float, patience: int):
    """``lr_schedule="plateau"``, stepped once per epoch: the learning rate halves after
    ``patience`` epochs without a lower loss (validation loss, else training loss), down to lr/64
    (Keras' ReduceLROnPlateau pattern)."""
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=patience, min_lr=lr / 64)


def lr_schedule(config: RunConfig, steps_per_epoch: int):
    """None unless ``lr_schedule="cosine"``; then a per-step factor

        lr_s = lr * (1 + cos(pi * s / S)) / 2,   S = epochs * steps_per_epoch

    that falls from ``lr`` at the first step to 0 at the last (Loshchilov & Hutter 2017, SGDR,
    without restarts)."""
    if config.lr_schedule != "cosine":
        return None
    total = max(1, config.epochs * steps_per_epoch)
    return lambda optimizer: torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))


def train_run(config: RunConfig, out_dir, *, progress: bool = True, log: Callable = print) -> dict:
    """Train and write a complete run into ``out_dir`` (an existing empty directory)."""
    from rnnkit.tasks import get_task
    from rnnkit.tasks.plots import plot_history

    import safetensors.torch  # noqa: F401  (fail before training, not after it, when it is missing)

    out_dir = Path(out_dir)
    task = get_task(config.task)
    task.check_source(config)
    torch.manual_seed(config.seed)
    prepared = task.prepare(config)
    if prepared.summary:
        log(prepared.summary)
    model = task.build_model(prepared.model_config)
    log(f"model: {type(model).__name__}, {sum(p.numel() for p in model.parameters()):,} parameters")
    start = time.perf_counter()
    fitted = fit(task, model, prepared, config, progress=progress)
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        metrics, plot_data = task.evaluate(model, prepared, config)
    metrics = {k: float(v) for k, v in metrics.items()}
    save_run(out_dir, task, config, prepared, model)
    write_json(out_dir / "metrics.json", {"test": metrics})
    write_json(out_dir / "history.json", {**fitted, "train_seconds": round(seconds, 3)})
    try:
        plots = plot_history(fitted["history"], out_dir / "loss.png") + task.plot(plot_data, out_dir)
    except ImportError as err:  # matplotlib is what draws them
        plots = []
        log(f"no plots written: {err}")
    write_json(out_dir / "run.json", {"task": task.name, "format": 1, "weights": WEIGHTS, "plots": plots})
    return metrics


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def save_run(out_dir: Path, task: Task, config: RunConfig, prepared: Prepared, model) -> None:
    from safetensors.torch import save_file

    write_json(out_dir / "config.json", config.to_dict())
    write_json(out_dir / "task.json", {"model_config": prepared.model_config, "state": prepared.state})
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, str(out_dir / WEIGHTS))


class LoadedRun:
    """A trained run: its config, task, model (in eval mode) and learned state."""

    def __init__(self, run_dir, *, task: Optional[str] = None, command: str = ""):
        from safetensors.torch import load_file

        from rnnkit.cli.rundir import open_run, read_json
        from rnnkit.tasks import get_task

        self.dir = Path(run_dir)
        self.info = open_run(self.dir, task=task, command=command)
        self.task = get_task(self.info["task"])
        self.config = RunConfig.from_dict(read_json(self.dir / "config.json", "config"))
        saved = read_json(self.dir / "task.json", "task")
        self.model_config, self.state = saved["model_config"], saved["state"]
        self.model = self.task.build_model(self.model_config)
        weights = self.dir / WEIGHTS
        if not weights.is_file():
            raise ValueError(f"{weights}: missing; the run in {self.dir} is incomplete.")
        self.model.load_state_dict(load_file(str(weights)))
        self.model.eval()

    def evaluate(self, data_path: Optional[str] = None) -> dict:
        config = self.config
        if data_path is not None:
            config = RunConfig.from_dict({**config.to_dict(), "dataset": None, "data": str(data_path)})
        prepared = self.task.prepare(config, state=self.state, test_only=data_path is not None)
        with torch.no_grad():
            metrics, _ = self.task.evaluate(self.model, prepared, config)
        return {k: float(v) for k, v in metrics.items()}
