"""``evaluate`` and ``predict`` of a ``Trainer``: the model in eval mode, no gradient, batches
moved to the trainer's device; with tbptt, stream batches carry their state."""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.train.batches import WeightedMeans, call_model, concat_outputs, detach, split_batch, to_device
from rnnkit.train.loader import ArrayLoader


@torch.no_grad()
def evaluate(trainer, data) -> dict:
    """Mean loss and metrics over ``data`` (batches of (inputs, targets)), weighted by batch size."""
    was_training = trainer.model.training
    trainer.model.eval()
    means, carried = WeightedMeans(), None
    try:
        for batch in data:
            inputs, targets = split_batch(batch)
            inputs, targets = to_device(inputs, trainer.device), to_device(targets, trainer.device)
            if trainer.tbptt is not None:
                reset = getattr(batch, "reset", None)
                state = trainer.tbptt.initial_state(carried, reset)
                outputs, loss, carried = trainer.tbptt.evaluate_batch(trainer, inputs, targets, state)
            else:
                outputs = call_model(trainer.model, inputs)
                loss = float(trainer.compute_loss(outputs, targets))
            logs, weight = trainer.batch_logs(loss, inputs, outputs, targets)
            means.add(logs, weight)
    finally:
        trainer.model.train(was_training)
    if means.count == 0:
        raise ValueError("Received empty data in `evaluate`: expected at least one batch.")
    return means.means()

@torch.no_grad()
def predict(trainer, data_or_inputs, batch_size: int = 32):
    """Model outputs for a tensor / tuple of tensors (batched by ``batch_size``) or for an
    iterable of batches (an ``ArrayLoader`` without targets yields inputs; a pair
    ``(inputs, targets)`` from other loaders is split and its targets ignored)."""
    if isinstance(data_or_inputs, np.ndarray) or (isinstance(data_or_inputs, tuple) and data_or_inputs
                                                  and all(isinstance(t, np.ndarray) for t in data_or_inputs)):
        data_or_inputs = ArrayLoader(data_or_inputs, None, batch_size=batch_size, shuffle=False).inputs
        data_or_inputs = tuple(data_or_inputs) if len(data_or_inputs) > 1 else data_or_inputs[0]
    if isinstance(data_or_inputs, torch.Tensor) or (
            isinstance(data_or_inputs, tuple) and data_or_inputs and all(isinstance(t, torch.Tensor) for t in data_or_inputs)):
        batches, pairs = ArrayLoader(data_or_inputs, None, batch_size=batch_size, shuffle=False), False
    else:
        batches = data_or_inputs
        pairs = not (isinstance(batches, ArrayLoader) and batches.targets is None)
    was_training = trainer.model.training
    trainer.model.eval()
    chunks = []
    try:
        for batch in batches:
            inputs = batch[0] if pairs and isinstance(batch, (tuple, list)) and len(batch) == 2 else batch
            chunks.append(detach(trainer.forward_eval(to_device(inputs, trainer.device))))
    finally:
        trainer.model.train(was_training)
    if not chunks:
        raise ValueError("Received empty data in `predict`: expected at least one batch.")
    return concat_outputs(chunks)
