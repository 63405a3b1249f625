"""Padding, length bucketing and the validation split.

- :func:`pad_sequences` turns a list of variable-length sequences into one batch-first tensor
  plus their lengths, the form every rnnkit layer takes (``layer(x, lengths=lengths)``).
- :func:`bucket_batches` groups samples of similar length into batches, so little compute is
  spent on padding, and shuffles the batches with a seed ("sortish" sampling: shuffle, cut
  into pools of ``pool_size`` samples, sort each pool by length, cut pools into batches,
  shuffle the batch order).
- :func:`validation_split` holds out part of the *training* data (it is only ever handed the
  training set), seeded, stratified by label when every class can spare a sample.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from rnnkit.errors import check_positive_int, describe


def _as_tensor(seq, index: int) -> torch.Tensor:
    if isinstance(seq, torch.Tensor):
        return seq
    if isinstance(seq, np.ndarray):
        return torch.from_numpy(seq)
    if isinstance(seq, (list, tuple)):
        return torch.tensor(seq)
    raise TypeError(
        f"Received an invalid value for argument `sequences`: expected tensors, arrays or lists, got "
        f"{type(seq).__name__} at index {index}."
    )


def pad_sequences(sequences: Sequence, *, padding_value: float = 0, max_length: Optional[int] = None,
                  dtype: Optional[torch.dtype] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pad a list of sequences of shape (T_i, *F) to (N, T_max, *F); return (padded, lengths).

    Sequences longer than ``max_length`` are cut to their first ``max_length`` steps. Padding
    goes at the end (right padding), which is what ``lengths=`` expects.
    """
    if not isinstance(sequences, (list, tuple)) or len(sequences) == 0:
        raise ValueError(
            f"Received an invalid value for argument `sequences`: expected a non-empty list of sequences, "
            f"got {describe(sequences) if not isinstance(sequences, (list, tuple)) else 'an empty list'}."
        )
    if max_length is not None:
        max_length = check_positive_int(max_length, "max_length")
    tensors = [_as_tensor(s, i) for i, s in enumerate(sequences)]
    feature_shape = tuple(tensors[0].shape[1:])
    for i, t in enumerate(tensors):
        if t.dim() == 0 or tuple(t.shape[1:]) != feature_shape:
            raise ValueError(
                f"Received an invalid value for argument `sequences`: expected every sequence to have shape "
                f"(T, {', '.join(map(str, feature_shape)) or ''}) like the first, got shape {tuple(t.shape)} at index {i}."
            )
        if t.shape[0] == 0:
            raise ValueError(f"Received an invalid value for argument `sequences`: the sequence at index {i} is empty.")
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.int64)
    if max_length is not None:
        lengths = lengths.clamp(max=max_length)
    steps = int(lengths.max())
    dtype = dtype or tensors[0].dtype
    out = torch.full((len(tensors), steps) + feature_shape, padding_value, dtype=dtype)  # (N, T, *F)
    for i, t in enumerate(tensors):
        n = int(lengths[i])
        out[i, :n] = t[:n].to(dtype)
    return out, lengths


def lengths_to_mask(lengths: torch.Tensor, steps: Optional[int] = None) -> torch.Tensor:
    """(N,) lengths -> (N, T) boolean mask, True at valid steps."""
    lengths = torch.as_tensor(lengths)
    steps = int(lengths.max()) if steps is None else steps
    return torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]


def bucket_batches(lengths, batch_size: int, *, seed: Optional[int] = 0, pool_size: Optional[int] = None,
                   shuffle: bool = True, drop_last: bool = False) -> List[List[int]]:
    """Batches of sample indices whose lengths are close; every index appears exactly once.

    ``pool_size`` (default 50 batches) trades similarity of lengths (large pools) against
    randomness (small pools). ``shuffle=False`` sorts all samples by length, deterministically.
    The same ``seed`` gives the same batches; pass a different seed each epoch (e.g. seed + epoch).
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    lengths = np.asarray(torch.as_tensor(lengths).cpu().numpy() if isinstance(lengths, torch.Tensor) else lengths)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ValueError(f"Received an invalid value for argument `lengths`: expected a non-empty 1-D sequence, got shape {lengths.shape}.")
    pool_size = batch_size * 50 if pool_size is None else check_positive_int(pool_size, "pool_size")
    n = lengths.size
    rng = np.random.default_rng(seed)
    if shuffle:
        order = rng.permutation(n)
        pools = [order[i:i + pool_size] for i in range(0, n, pool_size)]
        # Stable sort inside each pool keeps the shuffled order among equal lengths.
        order = np.concatenate([p[np.argsort(lengths[p], kind="stable")] for p in pools])
    else:
        order = np.argsort(lengths, kind="stable")
    batches = [order[i:i + batch_size].tolist() for i in range(0, n, batch_size)]
    if drop_last and len(batches[-1]) < batch_size:
        batches.pop()
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class BucketBatchSampler:
    """``bucket_batches`` as a ``torch.utils.data.DataLoader(batch_sampler=...)``, reshuffled every epoch.

    Epoch e uses seed ``seed + e``; call :meth:`set_epoch` (or iterate repeatedly: the epoch
    advances after each full pass).
    """

    def __init__(self, lengths, batch_size: int, *, seed: int = 0, pool_size: Optional[int] = None,
                 shuffle: bool = True, drop_last: bool = False):
        self.lengths = lengths
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.seed, self.pool_size, self.shuffle, self.drop_last = seed, pool_size, shuffle, drop_last
        self.epoch = 0
        self._count = len(self._batches())

    def _batches(self):
        return bucket_batches(self.lengths, self.batch_size, seed=self.seed + self.epoch, pool_size=self.pool_size,
                              shuffle=self.shuffle, drop_last=self.drop_last)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self._count

    def __iter__(self):
        batches = self._batches()
        self.epoch += 1
        return iter(batches)


def validation_split(num_samples: int, *, fraction: float = 0.1, seed: int = 0,
                     labels=None) -> Tuple[np.ndarray, np.ndarray]:
    """Split ``range(num_samples)`` of the training set into (train_indices, validation_indices).

    With ``labels`` (classification) the split is stratified: each class gives about
    ``fraction`` of its samples, allocated by largest remainder so that the total is
    ``round(fraction * num_samples)`` (at least 1) and no class loses its last training
    sample. When that is impossible (too many singleton classes) the split falls back to a
    plain random one. Both index arrays are sorted.
    """
    num_samples = check_positive_int(num_samples, "num_samples")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0.0 < fraction < 1.0:
        raise ValueError(f"Received an invalid value for argument `fraction`: expected a number in (0, 1), got {fraction!r}.")
    if num_samples < 2:
        raise ValueError(
            f"Received an invalid value for argument `num_samples`: expected at least 2 samples to split off a "
            f"validation set, got {num_samples}."
        )
    target = min(num_samples - 1, max(1, int(round(fraction * num_samples))))
    rng = np.random.default_rng(seed)
    val = None
    if labels is not None:
        labels = np.asarray(labels.cpu().numpy() if isinstance(labels, torch.Tensor) else labels)
        if labels.shape != (num_samples,):
            raise ValueError(
                f"Received an invalid value for argument `labels`: expected shape ({num_samples},) (one label "
                f"per sample), got shape {labels.shape}."
            )
        val = _stratified(labels, target, rng)
    if val is None:
        val = rng.choice(num_samples, size=target, replace=False)
    mask = np.zeros(num_samples, dtype=bool)
    mask[val] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _stratified(labels: np.ndarray, target: int, rng) -> Optional[np.ndarray]:
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    capacity = counts - 1  # every class keeps at least one training sample
    if capacity.sum() < target:
        return None
    exact = counts * (target / counts.sum())
    take = np.minimum(np.floor(exact).astype(int), capacity)
    # Hand out the rest by largest remainder among classes with room left.
    remainder = exact - take
    while take.sum() < target:
        room = take < capacity
        k = int(np.argmax(np.where(room, remainder, -np.inf)))
        take[k] += 1
        remainder[k] = -1.0
    chosen = []
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        chosen.append(rng.choice(members, size=int(take[c]), replace=False))
    return np.concatenate(chosen)
