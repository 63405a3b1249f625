"""The functional ``Model(inputs, outputs)``: a graph of layer calls recorded on ``KerasTensor``s
and replayed on data in topological order (several inputs and outputs, shared layers,
``initial_state=`` and ``return_state=True`` on recurrent layers)."""

from __future__ import annotations

from torch import nn

from rnnkit.keras.engine import InputLayer, KerasTensor, format_shape, map_structure
from rnnkit.keras.models.model import Model


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Functional(Model):
    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        Model.__init__(self, name=name, trainable=trainable, **kwargs)
        if inputs is None or outputs is None:
            raise ValueError("A functional Model needs both `inputs` and `outputs`, e.g. Model(inputs=x_in, outputs=y).")
        if isinstance(inputs, dict):
            inputs = list(inputs.values())
        self._single_input = not isinstance(inputs, (list, tuple))
        self._single_output = not isinstance(outputs, (list, tuple))
        self._graph_inputs = _as_list(inputs)
        self._graph_outputs = _as_list(outputs)
        for i, t in enumerate(self._graph_inputs + self._graph_outputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"Received an invalid value for argument `inputs`/`outputs` of Model: expected KerasTensors made "
                    f"from Input(...) and layer calls, got {type(t).__name__}."
                )
        for t in self._graph_inputs:
            if not isinstance(t.node.layer, InputLayer):
                raise ValueError(f"Model inputs must come from Input(...); {t!r} is the output of layer {t.node.layer.name!r}.")
        self._nodes = self._topological_nodes()
        layers = self._keras_layer_order()
        self.graph_layers = nn.ModuleList(layers)
        self.built = True

    def _topological_nodes(self):
        order, state = [], {}
        input_ids = {id(t) for t in self._graph_inputs}

        def visit(tensor):
            if id(tensor) in input_ids:
                return
            node = tensor.node
            if node is None or isinstance(node.layer, InputLayer):
                raise ValueError(
                    f"Graph disconnected: cannot reach tensor {tensor!r} from the model inputs "
                    f"{[t.name for t in self._graph_inputs]}. Pass every Input the outputs depend on."
                )
            mark = state.get(id(node))
            if mark == "done":
                return
            if mark == "visiting":
                raise ValueError("The layer graph has a cycle.")
            state[id(node)] = "visiting"
            for t in node.input_tensors():
                visit(t)
            state[id(node)] = "done"
            order.append(node)

        for t in self._graph_outputs:
            visit(t)
        return order

    def _keras_layer_order(self):
        """Layers in Keras' order: by depth from the outputs (deepest first), ties in the order of
        a depth-first walk from the outputs. Keras keys weight files by this order."""
        walk = [t.node for t in self._graph_inputs if t.node not in self._nodes]
        order = []
        seen = set()

        def visit(node):
            if id(node) in seen:
                return
            seen.add(id(node))
            for t in node.input_tensors():
                visit(t.node)
            order.append(node)

        for t in self._graph_outputs:
            visit(t.node)
        for node in walk:
            if id(node) not in seen:
                seen.add(id(node))
                order.append(node)
        node_depth, layer_depth = {}, {}
        for node in reversed(order):
            depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = depth
            node_depth[id(node)] = depth
            for t in node.input_tensors():
                node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
        index = {}
        for node in order:
            index.setdefault(id(node.layer), (len(index), node.layer))
        ranked = sorted(index.values(), key=lambda item: (-layer_depth[id(item[1])], item[0]))
        return [layer for _, layer in ranked]

    @property
    def layers(self):
        return list(self.graph_layers)

    @property
    def inputs(self):
        return list(self._graph_inputs)

    @property
    def outputs(self):
        return list(self._graph_outputs)

    def _check_inputs(self, inputs):
        values = _as_list(inputs) if not self._single_input or isinstance(inputs, (list, tuple)) else [inputs]
        if len(values) != len(self._graph_inputs):
            raise ValueError(
                f"Model {self.name!r} expects {len(self._graph_inputs)} input(s) "
                f"{[format_shape(t.shape) for t in self._graph_inputs]}, got {len(values)}."
            )
        for value, spec in zip(values, self._graph_inputs):
            shape = tuple(value.shape)
            ok = len(shape) == len(spec.shape) and all(s is None or s == d for s, d in zip(spec.shape, shape))
            if not ok:
                raise ValueError(
                    f'Input "{spec.name}" of model "{self.name}" is incompatible: expected shape '
                    f"{format_shape(spec.shape)}, got data of shape {format_shape(shape)}."
                )
        return values

    def call(self, inputs, mask=None, **kwargs):
        values = self._check_inputs(inputs)
        computed = {}
        for spec, value in zip(self._graph_inputs, values):
            if spec.dtype.startswith("int") and value.is_floating_point():
                value = value.long()
            computed[id(spec)] = value

        def lookup(item):
            return computed[id(item)] if isinstance(item, KerasTensor) else item

        for node in self._nodes:
            args = map_structure(lookup, node.args)
            kwargs_ = map_structure(lookup, node.kwargs)
            result = node.layer(args, **kwargs_)
            for tensor, value in zip(node.outputs, _as_list(result) if len(node.outputs) > 1 else [result]):
                computed[id(tensor)] = value
        outputs = [computed[id(t)] for t in self._graph_outputs]
        return outputs[0] if self._single_output else outputs

    def compute_output_shape(self, input_shape, **kwargs):
        shapes = [t.shape for t in self._graph_outputs]
        return shapes[0] if self._single_output else shapes

    def get_config(self):
        from rnnkit.keras.saving import functional_config

        return functional_config(self)
