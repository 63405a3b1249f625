"""Held-out parts cut from training data only: validation, and the test part of a user file."""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.tasks.base import Split


def _take(value, index):
    if isinstance(value, (tuple, list)):
        return tuple(_take(v, index) for v in value)
    return value[index]


MIN_VALIDATION = 20


def split_validation(inputs, targets, config, *, stratify: bool = True, min_samples: int = MIN_VALIDATION):
    """(train Split, validation Split or None): ``config.validation`` of the training samples,
    stratified by class for integer class targets (B,), seeded by ``config.seed``.

    A validation part of fewer than MIN_VALIDATION samples is too small to pick the best
    epoch by (on 5 samples one lucky epoch wins), so then nothing is held out: the model
    trains on everything and the last epoch is kept. ``min_samples`` lowers that bound where
    one sample is long (a whole file of tagged characters)."""
    n = int(inputs[0].shape[0])
    if config.validation <= 0 or n < 2 or max(1, round(config.validation * n)) < min_samples:
        return Split(tuple(inputs), targets), None
    from rnnkit.data.batching import validation_split

    labels = targets if stratify and isinstance(targets, torch.Tensor) and targets.dim() == 1 and not targets.is_floating_point() else None
    train_idx, val_idx = validation_split(n, fraction=config.validation, seed=config.seed, labels=labels)
    train_idx, val_idx = torch.as_tensor(train_idx), torch.as_tensor(val_idx)
    return (Split(_take(tuple(inputs), train_idx), _take(targets, train_idx)),
            Split(_take(tuple(inputs), val_idx), _take(targets, val_idx)))


def stratified_test_split(labels, fraction: float, seed: int, source: str):
    """(train indices, test indices) of a user's labelled file: ``fraction`` of each class
    (at least one sample of every class with two or more) goes to the test part."""
    if not 0 < fraction < 1:
        raise ValueError(f"Received an invalid value for option `test_fraction`: expected a number in (0, 1), got {fraction!r}.")
    labels = [str(label) for label in labels]
    if len(labels) < 4:
        raise ValueError(f"{source}: only {len(labels)} records; need at least 4 to hold out a test part "
                         "(or give a separate file with --option test_data=PATH).")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in sorted(set(labels)):
        members = [i for i, l in enumerate(labels) if l == label]
        rng.shuffle(members)
        k = int(round(fraction * len(members)))
        k = min(len(members) - 1, max(1 if len(members) >= 2 else 0, k))
        test += members[:k]
        train += members[k:]
    return sorted(train), sorted(test)


def random_test_split(n: int, fraction: float, seed: int, source: str):
    """(train indices, test indices) without labels (tagging, translation pairs)."""
    if not 0 < fraction < 1:
        raise ValueError(f"Received an invalid value for option `test_fraction`: expected a number in (0, 1), got {fraction!r}.")
    if n < 4:
        raise ValueError(f"{source}: only {n} records; need at least 4 to hold out a test part "
                         "(or give a separate file with --option test_data=PATH).")
    order = np.random.default_rng(seed).permutation(n)
    k = min(n - 1, max(1, int(round(fraction * n))))
    return sorted(order[k:].tolist()), sorted(order[:k].tolist())


def file_train_test(read, config, options, *, evaluating: bool):
    """(train samples, test samples) of a user's file of unlabelled samples (tagged sentences,
    sentence pairs); ``read(path)`` lists the samples of a file. When evaluating, the whole of
    ``config.data`` is the test part; else ``options.test_data`` names the test file, or
    ``options.test_fraction`` of ``config.data`` is held out (``random_test_split``)."""
    samples = read(config.data)
    if evaluating:
        return [], samples
    if options.test_data:
        return samples, read(options.test_data)
    train_idx, test_idx = random_test_split(len(samples), options.test_fraction, config.seed,
                                            config.data)
    return [samples[i] for i in train_idx], [samples[i] for i in test_idx]
