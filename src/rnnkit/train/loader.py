"""``ArrayLoader``: mini-batches from in-memory tensors, in an order that depends only on
``(seed, epoch)``, so that a resumed run sees exactly the batches an uninterrupted run sees."""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.errors import check_positive_int, describe


def _as_tensor(value, argument):
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value) if value.dtype != np.float64 else torch.from_numpy(value).float()
    raise TypeError(f"Received an invalid value for argument `{argument}`: expected a tensor or numpy array "
                    f"(or a tuple of them), got {describe(value)}.")


def _as_group(value, argument):
    """(tensors, was_tuple)"""
    if isinstance(value, (tuple, list)):
        if not value:
            raise ValueError(f"Received an invalid value for argument `{argument}`: expected at least one array, got an empty {type(value).__name__}.")
        return [_as_tensor(v, f"{argument}[{i}]") for i, v in enumerate(value)], True
    return [_as_tensor(value, argument)], False


class ArrayLoader:
    """Iterate ``(inputs, targets)`` batches over the first axis of ``inputs`` and ``targets``.

    ``inputs``/``targets``: a tensor (or numpy array) or a tuple of them, all with the same
    number of samples; ``targets=None`` yields inputs only (for ``predict``). With
    ``shuffle=True`` the permutation of epoch ``e`` is drawn from ``(seed, e)`` alone; the trainer
    calls ``set_epoch(e)`` before each epoch. ``seed=None`` uses ``torch.initial_seed()``, which
    ``Trainer(seed=...)`` sets.

    Example::

        loader = ArrayLoader(x, y, batch_size=32, shuffle=True, seed=0)
        for inputs, targets in loader: ...
    """

    def __init__(self, inputs, targets=None, batch_size: int = 32, shuffle: bool = True, seed: int | None = None,
                 drop_last: bool = False):
        self.inputs, self._inputs_tuple = _as_group(inputs, "inputs")
        if targets is None:
            self.targets, self._targets_tuple = None, False
        else:
            self.targets, self._targets_tuple = _as_group(targets, "targets")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"Received an invalid value for argument `seed`: expected a non-negative integer or None, got {seed!r}.")
        self.shuffle, self.seed, self.drop_last = bool(shuffle), seed, bool(drop_last)
        named = [(f"inputs[{i}]" if self._inputs_tuple else "inputs", t) for i, t in enumerate(self.inputs)]
        if self.targets is not None:
            named += [(f"targets[{i}]" if self._targets_tuple else "targets", t) for i, t in enumerate(self.targets)]
        for name, tensor in named:
            if tensor.dim() == 0:
                raise ValueError(f"Received an invalid value for argument `{name}`: expected an array with a sample axis, got a scalar.")
        sizes = {name: t.shape[0] for name, t in named}
        if len(set(sizes.values())) != 1:
            listed = ", ".join(f"{name}: {n}" for name, n in sizes.items())
            raise ValueError(f"`inputs` and `targets` must hold the same number of samples (first axis), got {listed}.")
        self.num_samples = named[0][1].shape[0]
        if self.num_samples == 0:
            raise ValueError("Received empty `inputs`: expected at least one sample.")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        seed = torch.initial_seed() if self.seed is None else self.seed
        rng = np.random.default_rng([int(seed) % (2**63), self.epoch])
        return torch.from_numpy(rng.permutation(self.num_samples))

    def __iter__(self):
        order = self.order()
        for start in range(0, self.num_samples, self.batch_size):
            index = order[start:start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                break
            inputs = [t[index] for t in self.inputs]
            inputs = tuple(inputs) if self._inputs_tuple else inputs[0]
            if self.targets is None:
                yield inputs
                continue
            targets = [t[index] for t in self.targets]
            yield inputs, (tuple(targets) if self._targets_tuple else targets[0])
