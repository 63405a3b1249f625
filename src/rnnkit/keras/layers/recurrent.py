"""Keras ``SimpleRNN``, ``LSTM`` and ``GRU`` on rnnkit's own layers (``rnnkit.RNN/LSTM/GRU``).

Keras semantics kept here: batch-first (B, T, F) inputs; ``return_sequences`` / ``return_state``
(``[output, h, c]`` for LSTM, ``[output, h]`` otherwise); ``initial_state=[...]``; masks from
``Embedding(mask_zero=True)`` or ``Masking`` become per-sample lengths; ``go_backwards``
reverses the whole padded sequence (mask included) and returns outputs in processing order;
``stateful=True`` carries the final state to the next batch (fixed batch size, ``reset_states()``);
``dropout`` is one input mask per sequence; ``recurrent_dropout`` one mask per sequence and gate
on h_{t-1}. Keras 3 defaults: glorot_uniform kernel, orthogonal recurrent kernel, zero bias,
``unit_forget_bias=True``, GRU ``reset_after=True``.
"""

from __future__ import annotations

import torch

import rnnkit
from rnnkit.errors import check_positive_int, check_probability
from rnnkit.keras import activations, initializers
from rnnkit.keras.engine import Layer, format_shape
from rnnkit.keras.layers import recurrent_dropout, recurrent_weights as rw
from rnnkit.keras.layers.core import _reject_unsupported, check_weight_list
from rnnkit.keras.layers.sequence_mask import compact, expand


class RNNLayer(Layer):
    """Shared machinery of SimpleRNN, LSTM and GRU."""

    family = "rnn"
    blocks = 1
    state_count = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True, zero_output_for_mask=False,
                 use_cudnn="auto", **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        activations.get(activation, layer=self.name)  # validates the name
        activations.get(recurrent_activation, argument="recurrent_activation", layer=self.name)
        self.activation, self.recurrent_activation = activation, recurrent_activation
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, argument="kernel_initializer")
        self.recurrent_initializer = initializers.get(recurrent_initializer, argument="recurrent_initializer")
        self.bias_initializer = initializers.get(bias_initializer, argument="bias_initializer")
        self.unit_forget_bias = bool(unit_forget_bias)
        _reject_unsupported(self, kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                            bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                            bias_constraint=bias_constraint)
        self.dropout = check_probability(dropout, "dropout")
        self.recurrent_dropout = check_probability(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.reset_after = bool(reset_after)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.rnn = None
        self.__dict__["states"] = None  # stateful: the carried final states

    # ---- building -----------------------------------------------------------------------
    def check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) != 3:
            raise self.incompatible("ndim=3 (batch, timesteps, features)", input_shape)
        if input_shape[-1] is None:
            raise self.incompatible("a known number of features (axis -1)", input_shape)
        if self.built and input_shape[-1] != self.rnn.input_size:
            raise self.incompatible(f"axis -1 of input shape to have value {self.rnn.input_size}", input_shape)
        if self.stateful:
            if input_shape[0] is None:
                raise ValueError(
                    f'Layer "{self.name}" ({type(self).__name__}) has stateful=True, which needs a fixed batch size, '
                    f"but received input shape {format_shape(input_shape)} with an unknown batch size. Give one: "
                    f"Input(batch_shape=(batch, timesteps, features)) or batch_input_shape=... on the first layer."
                )
            if self.states is not None and self.states[0].shape[0] != input_shape[0]:
                raise ValueError(
                    f'Layer "{self.name}" ({type(self).__name__}) has stateful=True and was built for batch size '
                    f"{self.states[0].shape[0]}, but received input with shape {format_shape(input_shape)}."
                )

    def _make_layer(self, features: int):
        act, ract = self.activation, self.recurrent_activation
        if self.family == "lstm":
            return rnnkit.LSTM(features, self.units, bias=self.use_bias, batch_first=True,
                               activation=act, recurrent_activation=ract)
        if self.family == "gru":
            return rnnkit.GRU(features, self.units, bias=self.use_bias, batch_first=True, reset_after=self.reset_after,
                              activation=act, recurrent_activation=ract)
        return rnnkit.RNN(features, self.units, nonlinearity=act, bias=self.use_bias, batch_first=True)

    def build(self, input_shape):
        self.rnn = self._make_layer(input_shape[-1])
        cell = self.cell
        rw.initialize(cell, self.kernel_initializer, self.recurrent_initializer, self.bias_initializer,
                      unit_forget_bias=self.unit_forget_bias, reset_after=self.reset_after)
        rw.freeze_unused_bias(cell, self.reset_after)
        if self.stateful:
            self.__dict__["states"] = [torch.zeros(input_shape[0], self.units) for _ in range(self.state_count)]
        self.built = True

    @property
    def cell(self):
        return self.rnn.cell_grid()[0][0]

    def reset_states(self, states=None) -> None:
        """Zero the carried states of a stateful layer (or set them to ``states``)."""
        if not self.stateful:
            raise ValueError(f'Layer "{self.name}" is not stateful; reset_states() needs stateful=True.')
        if self.states is None:
            return
        if states is None:
            self.__dict__["states"] = [torch.zeros_like(s) for s in self.states]
        else:
            self.__dict__["states"] = [torch.as_tensor(s, dtype=torch.float32).clone() for s in states]

    # ---- weights ------------------------------------------------------------------------
    def weight_shapes(self):
        return rw.keras_shapes(self.family, self.blocks, self.rnn.input_size, self.units, self.use_bias,
                               self.reset_after)

    def get_weights(self):
        return [t.detach().cpu().numpy().copy() for t in rw.to_keras(self.cell, self.reset_after)]

    def set_weights(self, weights):
        rw.from_keras(self.cell, check_weight_list(self, weights, self.weight_shapes()), self.reset_after)

    # ---- running ------------------------------------------------------------------------
    def _initial_state(self, initial_state, batch, like):
        if initial_state is None:
            if self.stateful and self.states is not None:
                return [s.to(like.device, like.dtype) for s in self.states]
            return [like.new_zeros(batch, self.units) for _ in range(self.state_count)]
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != self.state_count:
            raise ValueError(
                f'Layer "{self.name}" ({type(self).__name__}) expects initial_state as a list of '
                f"{self.state_count} tensor(s) of shape (batch, {self.units}), got {len(states)}."
            )
        for s in states:
            if tuple(s.shape) != (batch, self.units):
                raise ValueError(
                    f'Layer "{self.name}" ({type(self).__name__}) expects each initial state of shape '
                    f"{format_shape((batch, self.units))}, got shape {format_shape(tuple(s.shape))}."
                )
        return [s.to(like.dtype) for s in states]

    def call(self, inputs, mask=None, initial_state=None, training=None, **kwargs):
        training = self.training if training is None else bool(training)
        x = inputs.float() if not inputs.is_floating_point() else inputs  # (B, T, F)
        batch = x.shape[0]
        init = self._initial_state(initial_state, batch, x)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        if training and self.dropout > 0:
            keep = torch.empty(batch, 1, x.shape[-1], device=x.device, dtype=x.dtype).bernoulli_(1 - self.dropout)
            x = x * keep / (1 - self.dropout)  # one input mask per sequence
        packed = None
        if mask is not None:
            x, packed = compact(x, mask)
        lengths = None if packed is None else packed.lengths
        if training and self.recurrent_dropout > 0:
            out, finals = recurrent_dropout.run(self.cell, x, init, lengths, self.recurrent_dropout)
        else:
            hx = tuple(s.unsqueeze(0) for s in init) if self.state_count == 2 else init[0].unsqueeze(0)
            out, final = self.rnn(x, hx, lengths=lengths)  # (B, T, H)
            finals = [s.squeeze(0) for s in (final if self.state_count == 2 else (final,))]
        if packed is not None:
            if bool(packed.empty.any()):
                empty = packed.empty.unsqueeze(1)
                finals = [torch.where(empty, s0, s) for s0, s in zip(init, finals)]
            out = expand(out, packed, zero_output_for_mask=self.zero_output_for_mask)
        if self.stateful:
            self.__dict__["states"] = [s.detach() for s in finals]
        output = out if self.return_sequences else out[:, -1]
        return [output, *finals] if self.return_state else output

    def compute_output_shape(self, input_shape, initial_state=None, **kwargs):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self.state_count
        return out

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * self.state_count if self.return_state else out

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": activations.name_of(self.activation),
                "use_bias": self.use_bias, "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer), "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            if key in config:
                config[key] = initializers.deserialize(config[key])
        return cls(**config)

    def extra_repr(self):
        return f"name={self.name!r}, units={self.units}"


class SimpleRNN(RNNLayer):
    """Fully connected RNN: h_t = activation(x_t W + h_{t-1} U + b)."""

    family, blocks, state_count = "rnn", 1, 1

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", **kwargs):
        super().__init__(units, activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer, **kwargs)
        if activation not in ("tanh", "relu"):  # rnnkit's RNN cell offers these two, as torch.nn.RNN
            raise ValueError(
                f"Received an invalid value for argument `activation` of layer {self.name!r} (SimpleRNN): "
                f"expected 'tanh' or 'relu', got {activation!r}."
            )


class LSTM(RNNLayer):
    """Long short-term memory (gates i, f, c, o); see ``rnnkit.cells.LSTMCell`` for the equations."""

    family, blocks, state_count = "lstm", 4, 2

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.name_of(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRU(RNNLayer):
    """Gated recurrent unit (Keras gate order z, r, h); ``reset_after=True`` is the Keras 3 default."""

    family, blocks, state_count = "gru", 3, 1

    def __init__(self, units, *args, reset_after=True, **kwargs):
        kwargs.pop("unit_forget_bias", None)
        super().__init__(units, *args, reset_after=reset_after, unit_forget_bias=False, **kwargs)

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": activations.name_of(self.recurrent_activation),
                "reset_after": self.reset_after}
