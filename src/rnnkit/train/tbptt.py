r"""Truncated backpropagation through time: ``Trainer(tbptt=(k1, k2))``.

Each batch of sequences (time on axis ``time_dim``, 1 by default: ``(B, T, ...)``) is cut into
windows of ``k1`` steps, and each window is one optimizer update:

    for each window [s, s + k1):
        run steps [s, e - k2) without gradient        (only when k2 < k1; they advance the state)
        state <- detach(state)
        run steps [e - k2, e) with gradient, loss on those steps, backward, clip, step
        state <- detach(state)                         (carried to the next window)

so gradients flow back at most ``k2`` steps and memory holds ``k2`` steps of activations. With
``k1 = k2 = T`` it is ordinary (full) backpropagation through time. The state starts at zero
for every batch (each batch holds new sequences).

Variable lengths: a batch whose inputs are ``(x, lengths)`` (``lengths`` a 1-D integer tensor,
found as the last input, or at index ``lengths_index``) trains each sample on its own steps
only: the loss is taken over valid steps, and a sample whose sequence has ended keeps its final
state while the others go on (per-sample reset happens at the next batch).

The stateful protocol (what a model must offer):

- an rnnkit recurrent layer (``rnnkit.LSTM/GRU/RNN``, ``RecurrentStack``) or ``torch.nn.RNNBase``
  is used directly: ``layer(x, state, lengths=...) -> (output, state)``;
- any other model defines ``forward(..., state=None)`` (and optionally ``lengths=None``) that
  returns ``(output, new_state)``; ``state=None`` means the zero state. ``new_state`` is any
  nesting of tuples/lists/dicts/NamedTuples of tensors. Example::

      class Tagger(nn.Module):
          def forward(self, x, state=None):
              out, state = self.lstm(x, state)         # rnnkit.LSTM(..., batch_first=True)
              return self.head(out), state

- to freeze finished samples the trainer must know each state tensor's batch axis: 1 for 3-D
  tensors (torch's ``(layers * directions, B, H)``), 0 otherwise; a model can set
  ``state_batch_dim`` to override.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from rnnkit.train.batches import detach
from rnnkit.train.stateful import StateAdapter, batch_dim, map_state


@dataclass(frozen=True)
class TBPTT:
    """``k1`` steps per update, gradients through the last ``k2 <= k1`` of them. ``time_dim``:
    the time axis of inputs, targets and outputs (None: 0 for a layer with batch_first=False,
    else 1). ``lengths_index``: position of the lengths tensor among the inputs ("auto": the
    last input when it is a 1-D integer tensor; None: no lengths). ``targets_per_step``: whether
    targets have the time axis (None: when their size on ``time_dim`` equals the inputs').
    ``recompute``: activation checkpointing; the gradient part of each window runs in pieces of
    this many steps whose activations are recomputed during backward, so memory holds
    ``recompute`` steps of activations plus one state per piece (gradients are unchanged)."""

    k1: int
    k2: int
    time_dim: int | None = None
    lengths_index: object = "auto"
    targets_per_step: bool | None = None
    recompute: int | None = None

    def __post_init__(self):
        for name in ("k1", "k2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Received an invalid value for argument `tbptt`: expected positive integers (k1, k2), "
                                 f"got {name}={value!r}.")
        if self.recompute is not None and (isinstance(self.recompute, bool) or not isinstance(self.recompute, int)
                                           or self.recompute <= 0):
            raise ValueError(f"Received an invalid value for argument `recompute`: expected a positive integer or None, "
                             f"got {self.recompute!r}.")
        if self.k2 > self.k1:
            raise ValueError(f"Received an invalid value for argument `tbptt`: expected k2 <= k1 (backpropagate through "
                             f"at most the k1 steps of a window), got k1={self.k1}, k2={self.k2}.")

    @classmethod
    def from_argument(cls, value, model):
        if isinstance(value, TBPTT):
            config = value
        elif isinstance(value, int) and not isinstance(value, bool):
            config = cls(value, value)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            config = cls(*value)
        else:
            raise ValueError(f"Received an invalid value for argument `tbptt`: expected (k1, k2), an int k (k1 = k2 = k) "
                             f"or a TBPTT, got {value!r}.")
        object.__setattr__(config, "_adapter", StateAdapter(model))  # checks the protocol now, at construction
        return config

    # ---- batch layout ---------------------------------------------------------------------
    def _layout(self, inputs, targets=None):
        adapter = self.__dict__.get("_adapter")
        time_dim = self.time_dim if self.time_dim is not None else (1 if adapter.batch_first else 0)
        lengths = None
        items = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
        index = self.lengths_index
        if index == "auto":
            last = items[-1]
            index = len(items) - 1 if (len(items) > 1 and isinstance(last, torch.Tensor) and last.dim() == 1
                                       and not last.is_floating_point()) else None
        if index is not None:
            lengths = items.pop(index)
        if isinstance(targets, (tuple, list)):
            raise ValueError("tbptt supports models with one output and one target tensor, got a tuple of targets.")
        return items, lengths, time_dim

    def valid_view(self, inputs, outputs, targets):
        """(outputs, targets, weight) for metrics: with lengths and per-step targets, the valid
        steps only, flattened to (N, ...), weighted by N; otherwise unchanged, weighted by B."""
        items, lengths, time_dim = self._layout(inputs, targets)
        steps = items[0].shape[time_dim]
        per_step = self.targets_per_step
        if per_step is None:
            per_step = targets.dim() > time_dim and targets.shape[time_dim] == steps
        if not per_step:
            return outputs, targets, int(targets.shape[0])  # sequence-level targets: (B, ...)
        if lengths is None:
            return outputs, targets, int(targets.shape[1 if time_dim == 0 else 0])
        valid = (torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)).to(outputs.device)
        out_bt = outputs.movedim(time_dim, 1) if time_dim != 1 else outputs
        tgt_bt = targets.movedim(time_dim, 1) if time_dim != 1 else targets
        return out_bt[valid], tgt_bt[valid], int(valid.sum())

    # ---- streams ----------------------------------------------------------------------------
    def initial_state(self, carried, reset):
        """The state a batch starts from: zero (None) for ordinary batches; for a stream batch
        (``reset`` is a (B,) bool mask) the previous batch's final state, zeroed in reset rows."""
        if reset is None:
            return None
        adapter = self.__dict__["_adapter"]
        if (self.time_dim if self.time_dim is not None else (1 if adapter.batch_first else 0)) != 1:
            raise ValueError("Stream batches are batch-first (B, chunk, ...), but tbptt reads time on axis 0 here: use "
                             "a batch_first=True model or TBPTT(..., time_dim=1).")
        if carried is None:
            return None
        reset = torch.as_tensor(reset, dtype=torch.bool)

        def zero_rows(tensor):
            dim = batch_dim(tensor, adapter.model)
            if tensor.shape[dim] != reset.shape[0]:
                raise ValueError(f"A stream batch of {reset.shape[0]} rows follows one of {tensor.shape[dim]} rows: "
                                 f"stream batches must keep their size.")
            shape = [1] * tensor.dim()
            shape[dim] = -1
            return tensor.masked_fill(reset.to(tensor.device).view(shape), 0.0)

        return map_state(zero_rows, carried)

    # ---- training ---------------------------------------------------------------------------
    def train_batch(self, trainer, inputs, targets, epoch_step, state=None):
        """Train on one batch window by window; returns (mean loss, outputs, final state)."""
        adapter = self.__dict__["_adapter"]
        items, lengths, time_dim = self._layout(inputs, targets)
        steps = items[0].shape[time_dim]
        per_step = self.targets_per_step
        if per_step is None:
            per_step = isinstance(targets, torch.Tensor) and targets.dim() > time_dim and targets.shape[time_dim] == steps
        if not per_step and lengths is not None:
            raise ValueError("tbptt with per-sample lengths needs per-step targets (with the time axis); sequence-level "
                             "targets with variable lengths are not supported.")
        end_all = int(lengths.max()) if lengths is not None else steps
        total, weight, outputs = 0.0, 0, []
        for start in range(0, end_all, self.k1):
            end = min(start + self.k1, end_all)
            last_window = end == end_all
            split = max(start, end - self.k2)
            trainer.optimizer.zero_grad(set_to_none=True)
            if split > start:
                with torch.no_grad():
                    out_a, state = self._run(adapter, items, lengths, state, start, split, time_dim)
                if per_step:
                    loss_a, n_a = self._loss(trainer, out_a, targets, lengths, start, split, time_dim)
                    total, weight = total + loss_a * n_a, weight + n_a
                    outputs.append(out_a)
            state = detach(state)
            if not per_step and not last_window:  # sequence-level target: only the last window has a loss
                with torch.no_grad():
                    _, state = self._run(adapter, items, lengths, state, split, end, time_dim)
                continue
            out_b, state = self._run_with_grad(adapter, items, lengths, state, split, end, time_dim, per_step)
            if per_step:
                loss, n_b = self._loss(trainer, out_b, targets, lengths, split, end, time_dim, keep_graph=True)
            else:
                loss, n_b = trainer.compute_loss(out_b, targets), 1
            trainer.backward_and_step(loss, epoch_step)
            total, weight = total + float(loss.detach()) * n_b, weight + n_b
            outputs.append(detach(out_b))
            state = detach(state)
        if per_step:
            full = torch.cat(outputs, dim=time_dim)
            if full.shape[time_dim] < steps:  # steps past every length: padded outputs are zero
                pad = list(full.shape)
                pad[time_dim] = steps - full.shape[time_dim]
                full = torch.cat([full, full.new_zeros(pad)], dim=time_dim)
            if lengths is not None:
                full = full * _valid_mask(lengths, steps, time_dim, full)  # padded steps give zero, as rnnkit layers
        else:
            full = outputs[-1]
        return total / max(weight, 1), full, state

    def _run_with_grad(self, adapter, items, lengths, state, lo, hi, time_dim, per_step):
        if self.recompute is None or hi - lo <= self.recompute:
            return self._run(adapter, items, lengths, state, lo, hi, time_dim)
        pieces = []
        for start in range(lo, hi, self.recompute):
            end = min(start + self.recompute, hi)
            output, state = checkpoint(self._run, adapter, items, lengths, state, start, end, time_dim,
                                       use_reentrant=False)
            pieces.append(output)
        return (torch.cat(pieces, dim=time_dim) if per_step else pieces[-1]), state

    def _run(self, adapter, items, lengths, state, lo, hi, time_dim):
        chunk = [t.narrow(time_dim, lo, hi - lo) if isinstance(t, torch.Tensor) and t.dim() > time_dim
                 and t.shape[time_dim] == items[0].shape[time_dim] else t for t in items]
        inputs = tuple(chunk) if len(chunk) > 1 else chunk[0]
        if lengths is None:
            return adapter(inputs, state, None)
        chunk_lengths = (lengths - lo).clamp(0, hi - lo)
        active = chunk_lengths > 0  # (B,)
        output, new_state = adapter(inputs, state, chunk_lengths.clamp(min=1))
        if state is not None and not bool(active.all()):
            def keep(new, old):  # finished samples keep their final state
                dim = batch_dim(new, adapter.model)
                shape = [1] * new.dim()
                shape[dim] = -1
                return torch.where(active.to(new.device).view(shape), new, old)

            new_state = map_state(keep, new_state, state)
        return output, new_state

    def _loss(self, trainer, outputs, targets, lengths, lo, hi, time_dim, keep_graph=False):
        """Loss on the window's valid steps and their count (a plain float unless ``keep_graph``)."""
        chunk_targets = targets.narrow(time_dim, lo, hi - lo)
        if lengths is None:
            loss = trainer.compute_loss(outputs, chunk_targets)
            count = hi - lo  # every sample is valid on every step of the window
        else:
            steps = torch.arange(lo, hi, device=lengths.device)
            valid = steps.unsqueeze(0) < lengths.unsqueeze(1)  # (B, t)
            out_bt = outputs.movedim(time_dim, 1) if time_dim != 1 else outputs
            tgt_bt = chunk_targets.movedim(time_dim, 1) if time_dim != 1 else chunk_targets
            valid = valid.to(out_bt.device)
            loss = trainer.compute_loss(out_bt[valid], tgt_bt[valid])
            count = int(valid.sum())
        return (loss if keep_graph else float(loss)), count

    # ---- evaluation -------------------------------------------------------------------------
    def predict_batch(self, trainer, inputs, state=None):
        """(outputs, final state) for whole sequences in one window, without gradient: the same as
        the model's forward from ``state``."""
        adapter = self.__dict__["_adapter"]
        items, lengths, time_dim = self._layout(inputs)
        return self._run(adapter, items, lengths, state, 0, items[0].shape[time_dim], time_dim)

    def evaluate_batch(self, trainer, inputs, targets, state=None):
        """(outputs, loss, final state) for whole sequences; with lengths, the loss covers valid
        steps only, as in training."""
        outputs, final = self.predict_batch(trainer, inputs, state)
        items, lengths, time_dim = self._layout(inputs, targets)
        steps = items[0].shape[time_dim]
        per_step = self.targets_per_step
        if per_step is None:
            per_step = targets.dim() > time_dim and targets.shape[time_dim] == steps
        if lengths is not None and per_step:
            loss, _ = self._loss(trainer, outputs, targets, lengths, 0, steps, time_dim)
        else:
            loss = float(trainer.compute_loss(outputs, targets))
        return outputs, loss, final


def _valid_mask(lengths, steps, time_dim, like):
    """1.0 at valid steps, 0.0 at padding, shaped to broadcast against ``like``."""
    valid = (torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1))  # (B, T)
    if time_dim == 0:
        valid = valid.t()
    shape = list(valid.shape) + [1] * (like.dim() - 2)
    return valid.reshape(shape).to(device=like.device, dtype=like.dtype)
