"""What every task provides: data -> model -> loss -> metrics, and how to use a trained model.

A task module defines a subclass of ``Task`` and one frozen dataclass of its own options.
``prepare`` reads the data and returns a ``Prepared``: the train/validation/test tensors, the
model configuration, and ``state``, a JSON-able dict of everything learned from the training
part (vocabulary, class names, scaler) that prediction needs later. Nothing in ``state`` is
ever fitted on validation or test data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import nn

from rnnkit.tasks.config import RunConfig, task_options


@dataclass
class Split:
    """Model inputs (a tuple, called as ``model(*inputs)``) and targets of one part of the data."""

    inputs: Tuple[torch.Tensor, ...]
    targets: Any
    texts: Optional[list] = None  # the raw samples, where a metric compares strings (translate)

    def __len__(self) -> int:
        return int(self.inputs[0].shape[0])


@dataclass
class Prepared:
    train: Split
    validation: Optional[Split]
    test: Split
    model_config: Dict[str, Any]
    state: Dict[str, Any] = field(default_factory=dict)
    summary: str = ""  # one line about the data, printed before training


@dataclass
class TrainingData:
    """The trainer's inputs: batches to train on, to validate on (or None), and ``tbptt``
    (``(k1, k2)`` or None) when consecutive batches continue the same streams."""

    train: Any
    validation: Any = None
    tbptt: Any = None


class Task:
    name: str = ""
    Options: type = None  # a frozen dataclass of task-specific options
    metric_names: Tuple[str, ...] = ()
    datasets: Tuple[str, ...] = ()  # built-in datasets this task can train on

    # ---- configuration ------------------------------------------------------------------------
    def defaults(self, dataset: Optional[str]) -> dict:
        """RunConfig values (and an ``options`` dict) that suit a built-in dataset."""
        return {}

    def options(self, config: RunConfig):
        return task_options(self.Options, config.options, self.name)

    # ---- training -----------------------------------------------------------------------------
    def prepare(self, config: RunConfig, state: Optional[dict] = None, *, test_only: bool = False) -> Prepared:
        """Read the data. With `state` (from a trained run) reuse its vocabulary, classes and scaler and
        return only the test part; with `test_only` the whole file given is the test part."""
        raise NotImplementedError

    def build_model(self, model_config: Dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def training_module(self, model: nn.Module) -> nn.Module:
        """What the trainer calls: the model itself, or a thin wrapper sharing its parameters."""
        return model

    def loss(self, outputs, targets) -> torch.Tensor:
        raise NotImplementedError

    def training_data(self, prepared: Prepared, config: RunConfig) -> "TrainingData":
        """What the trainer reads: by default shuffled batches of whole samples and, for
        validation, batches of at least 256 samples; no truncated BPTT. A task whose samples
        are pieces of one long text overrides this to stream them with carried state."""
        from rnnkit.train import ArrayLoader

        train = ArrayLoader(prepared.train.inputs, prepared.train.targets, batch_size=config.batch_size,
                            shuffle=True, seed=config.seed)
        validation = None
        if prepared.validation is not None and len(prepared.validation):
            v = prepared.validation
            validation = ArrayLoader(v.inputs, v.targets, batch_size=max(config.batch_size, 256), shuffle=False)
        return TrainingData(train, validation)

    def weight_decay(self, config: RunConfig) -> float:
        """Adam's L2 penalty on every weight (``grad += weight_decay * w``) from the task's options; 0: none."""
        return 0.0

    def lr_scheduler(self, optimizer, config: RunConfig):
        """A torch LR scheduler for ``optimizer`` (stepped once per epoch; ReduceLROnPlateau with the
        validation loss, or the training loss without validation data), or None for a constant rate."""
        return None

    def plateau_patience(self, config: RunConfig) -> int:
        """Epochs without a lower loss before ``--lr-schedule plateau`` halves the learning rate."""
        return 10

    def train_metrics(self) -> Dict[str, Callable]:
        """Metrics the trainer logs per epoch (on training and validation batches)."""
        return {}

    def evaluate(self, model: nn.Module, prepared: Prepared, config: RunConfig) -> Tuple[Dict[str, float], Dict[str, Any]]:
        """Test metrics, and data for the plots (``plot_data``) of this task."""
        raise NotImplementedError

    def plot(self, plot_data: Dict[str, Any], out_dir) -> list:
        """Write the task's PNG plots into ``out_dir``; return their file names."""
        return []

    def diagnosis_batch(self, loaded, batch_size: int):
        """(inputs, targets) of the first ``batch_size`` test samples, for ``rnnkit diagnose``."""
        prepared = self.prepare(loaded.config, state=loaded.state)
        test = prepared.test
        if test.targets is None:
            raise ValueError(f"{loaded.dir}: this task has no per-sample test targets to diagnose on.")
        take = lambda t: t[:batch_size]  # noqa: E731
        return tuple(take(t) for t in test.inputs), take(test.targets)

    def check_source(self, config: RunConfig) -> None:
        from rnnkit.tasks.datasets import check_dataset_for_task
        if config.dataset is not None:
            check_dataset_for_task(config.dataset, self.name)


def cross_entropy_accuracy(outputs: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Share of positions where argmax(outputs) equals targets, ignoring ``ignore_index``."""
    predicted = outputs.argmax(dim=-1)
    valid = targets != ignore_index
    return (predicted.eq(targets) & valid).sum().float() / valid.sum().clamp(min=1).float()


def step_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor,
                       ignore_index: int) -> torch.Tensor:
    """Mean cross-entropy of logits (B, T, C) against targets (B, T) over the steps whose
    target is not ``ignore_index`` (padding)."""
    return nn.functional.cross_entropy(outputs.flatten(0, 1), targets.flatten(),  # (B*T, C), (B*T,)
                                       ignore_index=ignore_index)


def model_config_dict(config) -> Dict[str, Any]:
    return config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)


def single_or_ensemble(model_config, config_type, single: Callable, ensemble: Callable) -> nn.Module:
    """The model a saved ``model_config`` describes: ``single(config)``, or ``ensemble(config, M)``
    where it records ``members = M > 1`` (absent in single-model runs and in runs saved before
    ensembles)."""
    values = dict(model_config)
    members = values.pop("members", 1)
    config = config_type.from_dict(values)
    return single(config) if members == 1 else ensemble(config, members)
