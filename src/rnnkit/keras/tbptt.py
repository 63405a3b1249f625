r"""Truncated BPTT for Keras-style models: ``model.fit(x, y, tbptt=(k1, k2))``.

The trainer's TBPTT (``rnnkit.train.tbptt``) needs a model that takes the carried state and
returns the new one: ``forward(x, state=None) -> (output, state)``. A Keras model has no such
argument: its recurrent layers start from zero (or, with ``stateful=True``, from what they kept).
``StateCarrier`` gives it that protocol without touching the model: for one call it makes every
recurrent layer start from its entry of ``state`` (None: zeros) and returns their final states,

    state = [[h] (SimpleRNN, GRU) or [h, c] (LSTM), one entry per recurrent layer, in module order]

then puts each layer's own ``stateful``/carried states back, so a ``stateful=True`` model's
states are left as they were by ``fit(tbptt=...)``. Inside a window, gradients flow through the
recurrence as usual; the state handed between windows is detached (by TBPTT itself).

Variable lengths come, as in Keras, from masks (``Embedding(mask_zero=True)`` or ``Masking``):
a masked step keeps a row's state, also across windows. Only forward-reading layers can carry
a state to the next window: ``Bidirectional`` and ``go_backwards=True`` layers raise a ValueError.
"""

from __future__ import annotations

from torch import nn

from rnnkit.keras.layers.recurrent import RNNLayer
from rnnkit.keras.layers.wrappers import Bidirectional


def recurrent_layers(model) -> list:
    """The Keras recurrent layers of ``model`` (module order); ValueError for those that cannot carry state."""
    found = []
    for module in model.modules():
        if isinstance(module, Bidirectional):
            raise ValueError(f"Received `tbptt` with model {getattr(model, 'name', type(model).__name__)!r}, whose layer "
                             f"{module.name!r} is Bidirectional: truncated BPTT carries the state forward from one window "
                             f"to the next, and a backward direction needs the future; expected unidirectional layers.")
        if isinstance(module, RNNLayer):
            if module.go_backwards:
                raise ValueError(f"Received `tbptt` with layer {module.name!r} (go_backwards=True): truncated BPTT carries "
                                 f"the state forward through time; expected go_backwards=False.")
            found.append(module)
    if not found:
        raise ValueError(f"Received `tbptt` with a model that carries no recurrent state: "
                         f"{getattr(model, 'name', type(model).__name__)!r} has no recurrent layer (SimpleRNN, LSTM, GRU); "
                         f"train it without tbptt.")
    return found


class StateCarrier(nn.Module):
    """``forward(x, state=None) -> (output, state)`` around a Keras model (see the module docstring).

    Its parameters are the model's (``self.model`` is a submodule), so an optimizer built on the
    Keras model trains through it.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.__dict__["layers"] = recurrent_layers(model)

    def forward(self, x, state=None):
        layers = self.__dict__["layers"]
        if state is None:
            state = [None] * len(layers)
        if not isinstance(state, (list, tuple)) or len(state) != len(layers):
            raise ValueError(f"Received an invalid value for argument `state`: expected a list with one entry per "
                             f"recurrent layer ({len(layers)}), got {type(state).__name__}.")
        saved = [(layer.stateful, layer.__dict__.get("states")) for layer in layers]
        try:
            for layer, entry in zip(layers, state):
                layer.stateful = True  # the layer starts from __dict__["states"] and stores its final states there
                layer.__dict__["states"] = None if entry is None else list(entry)
            output = self.model(*x) if isinstance(x, (tuple, list)) else self.model(x)
            new_state = [list(layer.__dict__["states"]) for layer in layers]
        finally:
            for layer, (stateful, states) in zip(layers, saved):
                layer.stateful = stateful
                layer.__dict__["states"] = states
        return output, new_state
