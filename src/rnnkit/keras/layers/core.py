"""Core Keras layers: Dense, Embedding, Dropout, Activation, RepeatVector, Masking.

Weights are stored in Keras' layout (a Dense kernel is (in, units), an embedding matrix is
(input_dim, output_dim)), so ``get_weights``/``set_weights`` and Keras weight files map one
to one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rnnkit.errors import check_positive_int, check_probability
from rnnkit.keras import activations, initializers
from rnnkit.keras.engine import Layer, format_shape


def check_weight_list(layer, weights, shapes) -> list[torch.Tensor]:
    """Tensors for ``set_weights``: the right number, each of the expected Keras shape."""
    if len(weights) != len(shapes):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) expects {len(shapes)} weights "
            f"{[name for name, _ in shapes]}, got {len(weights)} arrays."
        )
    out = []
    for value, (name, shape) in zip(weights, shapes):
        tensor = torch.as_tensor(np.asarray(value), dtype=torch.float32)
        if tuple(tensor.shape) != tuple(shape):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) weight {name!r}: expected shape "
                f"{format_shape(shape)}, got shape {format_shape(tuple(tensor.shape))}."
            )
        out.append(tensor)
    return out


class DirectWeightsLayer(Layer):
    """A layer whose parameters are already in Keras layout, listed in ``keras_params``."""

    keras_params: tuple[str, ...] = ()

    def _present(self):
        return [n for n in self.keras_params if getattr(self, n, None) is not None]

    def weight_shapes(self):
        return [(n, tuple(getattr(self, n).shape)) for n in self._present()]

    def get_weights(self):
        return [getattr(self, n).detach().cpu().numpy().copy() for n in self._present()]

    @torch.no_grad()
    def set_weights(self, weights):
        for name, tensor in zip(self._present(), check_weight_list(self, weights, self.weight_shapes())):
            getattr(self, name).copy_(tensor)


class Dense(DirectWeightsLayer):
    """``y = activation(x @ kernel + bias)`` on the last axis (so also per time step of 3-D input)."""

    keras_params = ("kernel", "bias")

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")
        self.activation = activations.get(activation, layer=self.name)
        self.activation_name = activations.name_of(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer, argument="kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, argument="bias_initializer")
        _reject_unsupported(self, kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                            bias_constraint=bias_constraint)
        self.kernel = None
        self.bias = None

    def check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 2:
            raise self.incompatible("min_ndim=2", input_shape)
        if input_shape[-1] is None:
            raise self.incompatible("a known size of the last axis", input_shape)
        if self.built and input_shape[-1] != self.kernel.shape[0]:
            raise self.incompatible(f"axis -1 of input shape to have value {self.kernel.shape[0]}", input_shape)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        self.kernel = nn.Parameter(self.kernel_initializer((fan_in, self.units)))  # (in, units)
        if self.use_bias:
            self.bias = nn.Parameter(self.bias_initializer((self.units,)))
        self.built = True

    def call(self, inputs, mask=None, **kwargs):
        y = torch.matmul(inputs.to(self.kernel.dtype), self.kernel)  # (..., units)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def compute_output_shape(self, input_shape, **kwargs):
        return (*input_shape[:-1], self.units)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation_name,
                "use_bias": self.use_bias, "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("kernel_initializer", "bias_initializer"):
            config[key] = initializers.deserialize(config[key])
        return cls(**config)


class Embedding(DirectWeightsLayer):
    """Integer ids (B, T) -> vectors (B, T, output_dim). ``mask_zero=True`` makes id 0 padding:
    the mask it produces reaches the recurrent layers as per-sample lengths."""

    keras_params = ("embeddings",)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, weights=None, **kwargs):
        if input_length is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = check_positive_int(input_dim, "input_dim")
        self.output_dim = check_positive_int(output_dim, "output_dim")
        self.embeddings_initializer = initializers.get(embeddings_initializer, argument="embeddings_initializer")
        _reject_unsupported(self, embeddings_regularizer=embeddings_regularizer,
                            embeddings_constraint=embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        self.embeddings = None
        if weights is not None:  # a pretrained matrix: Embedding(V, D, weights=[matrix], trainable=False)
            self.build(None)
            self.built = True
            self.set_weights(weights)
            self._apply_trainable()

    def build(self, input_shape):
        self.embeddings = nn.Parameter(self.embeddings_initializer((self.input_dim, self.output_dim)))
        self.built = True

    def check_input_shape(self, input_shape):
        if isinstance(input_shape, list):
            raise self.incompatible("one tensor of integer ids", input_shape)

    def call(self, inputs, mask=None, **kwargs):
        ids = inputs if not inputs.is_floating_point() else inputs.round()
        ids = ids.long()
        if ids.numel():
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                raise ValueError(
                    f"Layer {self.name!r} (Embedding): expected token ids in [0, {self.input_dim}) "
                    f"(input_dim={self.input_dim}), got an id of {bad}."
                )
        return self.embeddings[ids]  # (..., output_dim)

    def compute_output_shape(self, input_shape, **kwargs):
        return (*input_shape, self.output_dim)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return inputs != 0

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "mask_zero": self.mask_zero, "input_length": self.input_length}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["embeddings_initializer"] = initializers.deserialize(config["embeddings_initializer"])
        return cls(**config)


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs in training and scales the rest by 1/(1-rate)."""

    supports_masking = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_probability(rate, "rate")
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed

    def call(self, inputs, mask=None, **kwargs):
        if not self.training or self.rate == 0:
            return inputs
        if self.noise_shape is None:
            return torch.nn.functional.dropout(inputs, self.rate, training=True)
        shape = [inputs.shape[i] if d is None else d for i, d in enumerate(self.noise_shape)]
        keep = torch.empty(shape, device=inputs.device).bernoulli_(1 - self.rate) / (1 - self.rate)
        return inputs * keep

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class Activation(Layer):
    """Applies an activation by name (``'relu'``, ``'softmax'``, ...) or callable."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation, layer=self.name)
        self.activation_name = activations.name_of(activation)

    def call(self, inputs, mask=None, **kwargs):
        return self.activation(inputs)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation_name}


class RepeatVector(Layer):
    """(B, F) -> (B, n, F): the same vector at every one of ``n`` steps."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_positive_int(n, "n")

    def check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) != 2:
            raise self.incompatible("ndim=2", input_shape)

    def call(self, inputs, mask=None, **kwargs):
        return inputs.unsqueeze(1).expand(-1, self.n, -1)  # (B, n, F)

    def compute_output_shape(self, input_shape, **kwargs):
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class Masking(Layer):
    """Marks time steps whose features all equal ``mask_value`` as padding (and zeroes them)."""

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def check_input_shape(self, input_shape):
        if isinstance(input_shape, list) or len(input_shape) < 3:
            raise self.incompatible("min_ndim=3 (batch, timesteps, features)", input_shape)

    def call(self, inputs, mask=None, **kwargs):
        keep = (inputs != self.mask_value).any(dim=-1, keepdim=True)  # (B, T, 1)
        return inputs * keep.to(inputs.dtype)

    def compute_mask(self, inputs, mask=None):
        return (inputs != self.mask_value).any(dim=-1)  # (B, T)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


def _reject_unsupported(layer, **options):
    for name, value in options.items():
        if value is not None:
            raise NotImplementedError(
                f"Layer {layer.name!r} ({type(layer).__name__}): argument `{name}` is not supported by "
                f"rnnkit.keras yet; got {value!r}. Leave it as None."
            )
