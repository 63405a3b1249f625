"""``Model``: subclass it and write ``call``, or call ``Model(inputs, outputs)`` for a functional
graph (that returns a ``Functional``). Training methods come from ``TrainingMixin``."""

from __future__ import annotations

import inspect

import numpy as np
import torch

from rnnkit.keras.engine import Layer, KerasTensor, flatten
from rnnkit.keras.training import TrainingMixin


class Model(TrainingMixin, Layer):
    """A model: layers plus ``compile``/``fit``/``evaluate``/``predict``/``summary``/``save``.

    Subclassing::

        class Regressor(Model):
            def __init__(self):
                super().__init__()
                self.gru = GRU(128)
                self.out = Dense(1)

            def call(self, inputs):
                return self.out(self.gru(inputs))
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from rnnkit.keras.models.functional import Functional

            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, name=None, trainable=True, **kwargs):
        if args:
            raise TypeError(f"Model() got unexpected positional arguments {args!r}; a subclass takes none.")
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        self._init_training()

    @property
    def layers(self) -> list[Layer]:
        return [m for m in self.children() if isinstance(m, Layer)]

    def __call__(self, *inputs, **kwargs):
        if len(inputs) == 1:
            inputs = inputs[0]
        elif len(inputs) > 1:
            inputs = list(inputs)  # the trainer calls model(*inputs) for several inputs
        else:
            raise TypeError(f"Model {self.name!r} was called without inputs.")
        if any(isinstance(t, KerasTensor) for t in flatten(inputs)) and type(self).call is not Model.call:
            if not hasattr(self, "_graph_outputs"):
                raise NotImplementedError(
                    f"Model {self.name!r}: calling a subclassed model on symbolic Input tensors is not supported; "
                    f"call it on data (its layers build on the first call)."
                )
        return Layer.__call__(self, inputs, **kwargs)

    def _eager_call(self, inputs, kwargs):
        inputs = _to_tensors(inputs)
        return super()._eager_call(inputs, kwargs)

    def call(self, inputs, mask=None, **kwargs):
        raise NotImplementedError(
            f"Model {self.name!r} ({type(self).__name__}) has no call(): subclasses of Model must define "
            f"call(self, inputs), or build a model with Model(inputs, outputs) or Sequential([...])."
        )

    def forward(self, inputs, mask=None, **kwargs):
        params = inspect.signature(self.call).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if mask is not None and ("mask" in params or takes_any):
            kwargs["mask"] = mask
        kwargs = {k: v for k, v in kwargs.items() if k in params or takes_any}
        return self.call(inputs, **kwargs)

    def _maybe_build(self, input_shape, device=None) -> None:
        self.built = True  # a model's layers build themselves on their first call

    def build(self, input_shape=None) -> None:
        """Build a subclassed model for ``input_shape`` (batch axis included, None allowed) by
        running it once on zeros, so that ``summary()`` and ``count_params()`` work before fit."""
        if input_shape is None:
            raise ValueError(f"Model {self.name!r}: build() needs an input shape such as (None, 10, 8).")
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        zeros = [torch.zeros(*[1 if d is None else int(d) for d in shape]) for shape in shapes]
        was = self.training
        self.eval()
        with torch.no_grad():
            self(*zeros)
        self.train(was)
        self.built = True

    def compute_output_shape(self, input_shape, **kwargs):
        raise NotImplementedError(f"Model {self.name!r} cannot infer its output shape without data.")

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers if layer.built)

    def weight_shapes(self):
        return [s for layer in self.layers for s in layer.weight_shapes()]

    def get_weights(self):
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        for layer in self.layers:
            n = len(layer.weight_shapes())
            layer.set_weights(weights[:n])
            weights = weights[n:]
        if weights:
            raise ValueError(f"Model {self.name!r}: {len(weights)} more weight arrays given than the model has.")

    def get_layer(self, name=None, index=None) -> Layer:
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}. Existing layers are: {[l.name for l in layers]}.")

    def reset_states(self) -> None:
        for module in self.modules():
            if module is not self and getattr(module, "stateful", False) and hasattr(module, "reset_states"):
                if not isinstance(module, Model):
                    module.reset_states()


def _to_tensors(value):
    """numpy arrays and lists of numbers -> tensors (float64 -> float32)."""
    if isinstance(value, (list, tuple)) and value and not all(isinstance(v, (int, float)) for v in flatten(value)):
        return [_to_tensors(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype == torch.float64 else value
    tensor = torch.as_tensor(np.ascontiguousarray(value))
    return tensor.float() if tensor.dtype == torch.float64 else tensor
