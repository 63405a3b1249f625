"""The stateful protocol that truncated BPTT relies on: how the trainer calls a model with a
carried recurrent state, detaches it, and freezes finished samples.

- an rnnkit recurrent layer (``rnnkit.LSTM/GRU/RNN``, ``RecurrentStack``) or ``torch.nn.RNNBase``
  is used directly: ``layer(x, state, lengths=...) -> (output, state)``;
- any other model defines ``forward(..., state=None)`` (and optionally ``lengths=None``) that
  returns ``(output, new_state)``; ``state=None`` means the zero state; ``new_state`` is any
  nesting of tuples/lists/dicts/NamedTuples of tensors;
- each state tensor's batch axis is 1 for 3-D tensors (torch's ``(layers * directions, B, H)``)
  and 0 otherwise; a model can set ``state_batch_dim`` to override.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.errors import describe
from rnnkit.layers.stack import RecurrentLayerBase
from rnnkit.train.batches import call_model

# layers first (used directly as models), then cells (a model built on them is recurrent)
_RECURRENT_TYPES = (nn.RNNBase, RecurrentLayerBase, RecurrentCell, nn.RNNCellBase)


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


def batch_dim(tensor, model):
    override = getattr(model, "state_batch_dim", None)
    if override is not None:
        return override
    return 1 if tensor.dim() == 3 else 0
