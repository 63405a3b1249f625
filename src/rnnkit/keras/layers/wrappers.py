"""``Bidirectional`` and ``TimeDistributed`` wrappers."""

from __future__ import annotations

import torch

from rnnkit.errors import check_choice
from rnnkit.keras.engine import Layer
from rnnkit.keras.layers.recurrent import RNNLayer


class Bidirectional(Layer):
    """Run a recurrent layer forward and a copy with ``go_backwards`` flipped, then merge.

    The backward layer reverses the whole padded sequence with its mask, so each sample is
    read from its last valid step; with ``return_sequences`` its outputs are flipped back so
    both directions line up in time, and masked steps give zeros (as Keras forces
    ``zero_output_for_mask`` here). ``merge_mode``: 'concat' (default), 'sum', 'mul', 'ave' or
    None (a list of both outputs).
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, RNNLayer):
            raise ValueError(
                f"Received an invalid value for argument `layer` of Bidirectional: expected a recurrent layer "
                f"(SimpleRNN, LSTM, GRU), got {type(layer).__name__}."
            )
        check_choice(merge_mode, ("concat", "sum", "mul", "ave", None), "merge_mode")
        kwargs.setdefault("name", None)
        if kwargs["name"] is None:
            from rnnkit.keras.engine import unique_name

            kwargs["name"] = unique_name("bidirectional")
        super().__init__(**kwargs)
        if backward_layer is None:
            config = layer.get_config()
            config["name"] = f"backward_{layer.name}"
            config["go_backwards"] = not layer.go_backwards
            backward_layer = type(layer).from_config(config)
        if layer._batch_input_shape is not None and self._batch_input_shape is None:
            self._batch_input_shape = layer._batch_input_shape
        layer.name = f"forward_{layer.name}"
        for sub in (layer, backward_layer):
            if sub.return_sequences:
                sub.zero_output_for_mask = True
        self.forward_layer, self.backward_layer = layer, backward_layer
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self.stateful = layer.stateful
        if weights is not None:
            raise NotImplementedError("Bidirectional(weights=...) is not supported; call set_weights() after building.")

    def check_input_shape(self, input_shape):
        self.forward_layer.check_input_shape(input_shape)

    def build(self, input_shape):
        self.forward_layer._maybe_build(input_shape)
        self.backward_layer._maybe_build(input_shape)
        self.built = True

    def _merge(self, y, y_rev):
        if self.merge_mode == "concat":
            return torch.cat([y, y_rev], dim=-1)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "mul":
            return y * y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        return [y, y_rev]

    def call(self, inputs, mask=None, initial_state=None, training=None, **kwargs):
        fwd_init = bwd_init = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fwd_init, bwd_init = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer.call(inputs, mask=mask, initial_state=fwd_init, training=training)
        y_rev = self.backward_layer.call(inputs, mask=mask, initial_state=bwd_init, training=training)
        states = []
        if self.return_state:
            y, states = y[0], y[1:] + y_rev[1:]
            y_rev = y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)
        out = self._merge(y, y_rev)
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + list(states)
        return out

    def compute_output_shape(self, input_shape, initial_state=None, **kwargs):
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], shape[1:] * 2
        if self.merge_mode == "concat":
            merged = (*shape[:-1], shape[-1] * 2)
        elif self.merge_mode is None:
            merged = [shape, shape]
        else:
            merged = shape
        if self.return_state:
            return (merged if isinstance(merged, list) else [merged]) + states
        return merged

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        if self.merge_mode is None:
            out = [out, out]
        if self.return_state:
            n = self.forward_layer.state_count * 2
            return (out if isinstance(out, list) else [out]) + [None] * n
        return out

    def reset_states(self, states=None):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def weight_shapes(self):
        return self.forward_layer.weight_shapes() + self.backward_layer.weight_shapes()

    def get_weights(self):
        return self.forward_layer.get_weights() + self.backward_layer.get_weights()

    def set_weights(self, weights):
        n = len(self.forward_layer.weight_shapes())
        self.forward_layer.set_weights(list(weights[:n]))
        self.backward_layer.set_weights(list(weights[n:]))

    def get_config(self):
        layer_config = self.forward_layer.get_config()
        layer_config["name"] = self.forward_layer.name[len("forward_"):]
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": {"class_name": type(self.forward_layer).__name__, "config": layer_config}}

    @classmethod
    def from_config(cls, config):
        from rnnkit.keras.saving import layer_from_config

        config = dict(config)
        layer = layer_from_config(config.pop("layer"))
        return cls(layer, **config)


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step: (B, T, ...) -> (B, T, ...) through (B*T, ...)."""

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Received an invalid value for argument `layer` of TimeDistributed: expected a Keras layer, "
                f"got {type(layer).__name__}."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise self.incompatible("min_ndim=3 (batch, timesteps, ...)", input_shape)
        self.layer.check_input_shape((None, *input_shape[2:]))

    def build(self, input_shape):
        self.layer._maybe_build((None, *input_shape[2:]))
        self.built = True

    def call(self, inputs, mask=None, **kwargs):
        batch, steps = inputs.shape[0], inputs.shape[1]
        flat = inputs.reshape(batch * steps, *inputs.shape[2:])  # (B*T, ...)
        out = self.layer.call(flat)
        return out.reshape(batch, steps, *out.shape[1:])

    def compute_output_shape(self, input_shape, **kwargs):
        inner = self.layer.compute_output_shape((None, *input_shape[2:]))
        if isinstance(inner, list):
            raise ValueError(f'Layer "{self.name}" (TimeDistributed) cannot wrap a layer with several outputs.')
        return (input_shape[0], input_shape[1], *inner[1:])

    def weight_shapes(self):
        return self.layer.weight_shapes()

    def get_weights(self):
        return self.layer.get_weights()

    def set_weights(self, weights):
        self.layer.set_weights(weights)

    def get_config(self):
        return {**super().get_config(),
                "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()}}

    @classmethod
    def from_config(cls, config):
        from rnnkit.keras.saving import layer_from_config

        config = dict(config)
        return cls(layer_from_config(config.pop("layer")), **config)

    def extra_repr(self):
        return f"name={self.name!r}"
