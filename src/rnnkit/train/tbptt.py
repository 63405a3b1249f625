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

import inspect
from dataclasses import dataclass

import torch
from torch import nn

from rnnkit.errors import describe
from rnnkit.train.batches import call_model, detach

_RECURRENT_TYPES: tuple = (nn.RNNBase,)
try:  # rnnkit's own layers and cells
    from rnnkit.cells.base import RecurrentCell
    from rnnkit.layers.stack import RecurrentLayerBase

    _RECURRENT_TYPES = (nn.RNNBase, RecurrentLayerBase, RecurrentCell, nn.RNNCellBase)
except ImportError:  # pragma: no cover
    pass


def map_state(fn, state, *others):
    """Apply ``fn`` to every tensor of a nested state (and the matching tensors of ``others``)."""
    if isinstance(state, torch.Tensor):
        return fn(state, *others)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # NamedTuple
        return type(state)(*(map_state(fn, s, *(o[i] for o in others)) for i, s in enumerate(state)))
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(fn, s, *(o[i] for o in others)) for i, s in enumerate(state))
    if isinstance(state, dict):
        return {k: map_state(fn, v, *(o[k] for o in others)) for k, v in state.items()}
    return state


def has_tensor(state) -> bool:
    found = []
    map_state(lambda t: found.append(t) or t, state)
    return bool(found)


class StateAdapter:
    """Calls a model with a carried state; see the module docstring for the protocol."""

    def __init__(self, model):
        self.model = model
        self.is_layer = isinstance(model, _RECURRENT_TYPES[:2])
        if self.is_layer:
            self.accepts_lengths = not isinstance(model, nn.RNNBase)
            self.batch_first = bool(getattr(model, "batch_first", False))
            return
        try:
            params = inspect.signature(model.forward).parameters
        except (TypeError, ValueError):  # pragma: no cover
            params = {}
        if "state" not in params:
            recurrent = any(isinstance(m, _RECURRENT_TYPES) for m in model.modules())
            reason = ("its forward() has no `state` argument" if recurrent
                      else "it has no recurrent layer and its forward() has no `state` argument")
            raise ValueError(f"Received `tbptt` with a model that carries no recurrent state: {type(model).__name__}: "
                             f"{reason}. Define forward(..., state=None) returning (output, new_state), as "
                             f"rnnkit.LSTM/GRU/RNN do with their hx (see rnnkit.train.tbptt).")
        self.accepts_lengths = "lengths" in params
        self.batch_first = True

    def __call__(self, inputs, state, lengths):
        if lengths is not None and not self.accepts_lengths:
            raise ValueError(f"The batch carries per-sample lengths but {type(self.model).__name__}.forward accepts no "
                             f"`lengths` argument; add one, or pass tbptt=TBPTT(k1, k2, lengths_index=None).")
        extra = {"lengths": lengths} if lengths is not None else {}
        if self.is_layer:
            result = self.model(inputs if not isinstance(inputs, (tuple, list)) else inputs[0], state, **extra)
        else:
            result = call_model(self.model, inputs, state=state, **extra)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise ValueError(f"With tbptt, {type(self.model).__name__} must return (output, state) when called with "
                             f"`state=`; got {describe(result) if isinstance(result, torch.Tensor) else type(result).__name__}.")
        output, new_state = result
        if not has_tensor(new_state):
            raise ValueError(f"Received `tbptt` with a model that carries no recurrent state: {type(self.model).__name__} "
                             f"returned state {new_state!r}; expected tensors to carry between windows.")
        return output, new_state


def _batch_dim(tensor, model):
    override = getattr(model, "state_batch_dim", None)
    if override is not None:
        return override
    return 1 if tensor.dim() == 3 else 0


@dataclass(frozen=True)
class TBPTT:
    """``k1`` steps per update, gradients through the last ``k2 <= k1`` of them. ``time_dim``:
    the time axis of inputs, targets and outputs (None: 0 for a layer with batch_first=False,
    else 1). ``lengths_index``: position of the lengths tensor among the inputs ("auto": the
    last input when it is a 1-D integer tensor; None: no lengths). ``targets_per_step``: whether
    targets have the time axis (None: when their size on ``time_dim`` equals the inputs')."""

    k1: int
    k2: int
    time_dim: int | None = None
    lengths_index: object = "auto"
    targets_per_step: bool | None = None

    def __post_init__(self):
        for name in ("k1", "k2"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Received an invalid value for argument `tbptt`: expected positive integers (k1, k2), "
                                 f"got {name}={value!r}.")
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

    # ---- training ---------------------------------------------------------------------------
    def train_batch(self, trainer, inputs, targets, epoch_step):
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
        state, total, weight, outputs = None, 0.0, 0, []
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
            out_b, state = self._run(adapter, items, lengths, state, split, end, time_dim)
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
        return total / max(weight, 1), full

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
                dim = _batch_dim(new, adapter.model)
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
    def predict_batch(self, trainer, inputs):
        """Outputs for whole sequences (one window, no gradient): the same as the model's forward."""
        adapter = self.__dict__["_adapter"]
        items, lengths, _ = self._layout(inputs)
        output, _ = adapter(tuple(items) if len(items) > 1 else items[0], None, lengths)
        return output

    def evaluate_batch(self, trainer, inputs, targets):
        """(outputs, loss) for whole sequences; with lengths, the loss covers valid steps only,
        as in training."""
        outputs = self.predict_batch(trainer, inputs)
        items, lengths, time_dim = self._layout(inputs, targets)
        steps = items[0].shape[time_dim]
        per_step = self.targets_per_step
        if per_step is None:
            per_step = targets.dim() > time_dim and targets.shape[time_dim] == steps
        if lengths is not None and per_step:
            loss, _ = self._loss(trainer, outputs, targets, lengths, 0, steps, time_dim)
        else:
            loss = float(trainer.compute_loss(outputs, targets))
        return outputs, loss


def _valid_mask(lengths, steps, time_dim, like):
    """1.0 at valid steps, 0.0 at padding, shaped to broadcast against ``like``."""
    valid = (torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1))  # (B, T)
    if time_dim == 0:
        valid = valid.t()
    shape = list(valid.shape) + [1] * (like.dim() - 2)
    return valid.reshape(shape).to(device=like.device, dtype=like.dtype)
