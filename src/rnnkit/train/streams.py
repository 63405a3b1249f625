"""``StreamLoader``: one long sequence, or many, fed to truncated BPTT in consecutive chunks.

The sequences are laid out on ``batch_size`` rows, one after another on each row; each batch
is the next ``chunk`` steps of every row::

    row 0: [seq 0 ......][seq 3 ...]          batch k holds steps [k*chunk, (k+1)*chunk) of
    row 1: [seq 1 ...][seq 4 .........]       the sequence each row is in; a sequence that ends
    row 2: [seq 2 ..............]             inside a chunk leaves the rest of that row padded

Each batch is ``((x, lengths), y)`` with ``x`` of shape ``(B, chunk, ...)`` (zero padded),
``lengths`` the valid steps of each row, and a ``reset`` attribute: a ``(B,)`` bool mask of the
rows where a new sequence starts. ``Trainer(tbptt=...)`` carries the recurrent state from one
batch to the next and zeroes it where ``reset`` is set, so each sequence is trained from a zero
state as if whole, with gradients truncated at the chunk boundaries.

Only one chunk per row is materialized at a time: the sequences may be numpy memmaps (a long
recording on disk) or anything that supports ``len()`` and slicing along its first axis.
A single long sequence is split into ``batch_size`` contiguous segments (as language-model
training does); pass ``split_single=False`` to keep it on one row.
"""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.errors import check_positive_int, describe


class StreamBatch(tuple):
    """A ``(inputs, targets)`` pair that also carries ``reset``, the rows starting a new sequence."""

    reset: torch.Tensor

    def __new__(cls, inputs, targets, reset):
        batch = super().__new__(cls, (inputs, targets))
        batch.reset = reset
        return batch


def _to_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32 if array.dtype == np.float64 else None))


def _as_list(value, argument):
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"Received an invalid value for argument `{argument}`: expected at least one sequence, got none.")
        return list(value)
    if hasattr(value, "__len__") and hasattr(value, "__getitem__"):
        return [value]
    raise TypeError(f"Received an invalid value for argument `{argument}`: expected a sequence array (time first) or a "
                    f"list of them, got {describe(value)}.")


class StreamLoader:
    """Chunks of ``chunk`` steps over ``sequences`` (with per-step ``targets``) on ``batch_size`` rows.

    ``shuffle=True`` permutes the order of the sequences each epoch, from ``(seed, epoch)``.
    """

    def __init__(self, sequences, targets, batch_size: int, chunk: int, *, shuffle: bool = False, seed: int = 0,
                 split_single: bool = True):
        self.sequences = _as_list(sequences, "sequences")
        self.targets = _as_list(targets, "targets")
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.chunk = check_positive_int(chunk, "chunk")
        if len(self.sequences) != len(self.targets):
            raise ValueError(f"Received {len(self.sequences)} sequences and {len(self.targets)} target sequences: "
                             f"expected one target sequence per input sequence.")
        for i, (x, y) in enumerate(zip(self.sequences, self.targets)):
            if len(x) != len(y):
                raise ValueError(f"Sequence {i} has {len(x)} steps but its targets have {len(y)}: expected per-step targets.")
            if len(x) == 0:
                raise ValueError(f"Sequence {i} is empty: expected at least one step.")
        if len(self.sequences) == 1 and split_single and self.batch_size > 1:
            self.sequences, self.targets = self._split(self.sequences[0], self.targets[0])
        self.shuffle, self.seed, self.epoch = bool(shuffle), int(seed), 0

    def _split(self, x, y):
        steps = len(x)
        if steps < self.batch_size:
            raise ValueError(f"A single sequence of {steps} steps cannot be split over batch_size={self.batch_size} rows.")
        bounds = np.linspace(0, steps, self.batch_size + 1).astype(int)
        return ([x[a:b] for a, b in zip(bounds[:-1], bounds[1:])], [y[a:b] for a, b in zip(bounds[:-1], bounds[1:])])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rows(self):
        """Per row, the list of sequence indices it plays, filled greedily by total length."""
        order = np.arange(len(self.sequences))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(order)
        rows, loads = [[] for _ in range(self.batch_size)], [0] * self.batch_size
        for index in order:
            row = int(np.argmin(loads))
            rows[row].append(int(index))
            loads[row] += -(-len(self.sequences[index]) // self.chunk)  # chunks it occupies
        return rows, loads

    def __len__(self) -> int:
        return max(self._rows()[1])

    def __iter__(self):
        rows, loads = self._rows()
        cursors = [[0, 0] for _ in rows]  # (position in the row's list, offset in that sequence)
        example_x, example_y = _to_tensor(self.sequences[0][:1]), _to_tensor(self.targets[0][:1])
        for _ in range(max(loads)):
            x = example_x.new_zeros((self.batch_size, self.chunk) + tuple(example_x.shape[1:]))
            y = example_y.new_zeros((self.batch_size, self.chunk) + tuple(example_y.shape[1:]))
            lengths = torch.zeros(self.batch_size, dtype=torch.int64)
            reset = torch.zeros(self.batch_size, dtype=torch.bool)
            for r, (row, cursor) in enumerate(zip(rows, cursors)):
                if cursor[0] >= len(row):
                    continue  # this row has played all its sequences: length 0, masked out
                index, offset = row[cursor[0]], cursor[1]
                seq_x, seq_y = self.sequences[index], self.targets[index]
                take = min(self.chunk, len(seq_x) - offset)
                x[r, :take] = _to_tensor(seq_x[offset:offset + take])
                y[r, :take] = _to_tensor(seq_y[offset:offset + take])
                lengths[r], reset[r] = take, offset == 0
                cursor[1] = offset + take
                if cursor[1] >= len(seq_x):
                    cursor[0], cursor[1] = cursor[0] + 1, 0
            yield StreamBatch((x, lengths), y, reset)
