"""Saving and loading models: a folder with ``config.json`` (the architecture) and
``model.safetensors`` (the weights). Nothing is ever unpickled.

``save(path)`` / ``load_model(path)`` handle Sequential and functional models;
``save_weights(path)`` / ``load_weights(path)`` handle any model (a subclassed model is
rebuilt by its own code, then given the weights). Loading checks that every weight is present
with the right shape and says which are not; a truncated or corrupt file is reported as such.
"""

from __future__ import annotations

import json
import os
import tempfile

from rnnkit.keras.engine import InputLayer, KerasTensor, map_structure

FORMAT = "rnnkit.keras/1"


def _registry():
    from rnnkit.keras import layers

    return {name: getattr(layers, name) for name in layers.__all__ if isinstance(getattr(layers, name), type)}


def layer_from_config(entry: dict, custom_objects=None):
    classes = {**_registry(), **(custom_objects or {})}
    name = entry["class_name"]
    if name not in classes:
        raise ValueError(f"Unknown layer class {name!r} in a saved config; pass it in custom_objects={{'{name}': cls}}.")
    return classes[name].from_config(entry["config"])


def _layer_entry(layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def sequential_config(model) -> dict:
    return {"class_name": "Sequential", "config": {
        "name": model.name, "layers": [_layer_entry(l) for l in model.layers],
        "build_input_shape": list(model.__dict__.get("_built_shape") or []) or None}}


def functional_config(model) -> dict:
    index = {id(layer): i for i, layer in enumerate(model.layers)}
    tensors = {}
    for t in model.inputs:
        tensors[id(t)] = [t.node.layer.name, 0]
    nodes = []
    for n, node in enumerate(model._nodes):
        for t in node.outputs:
            tensors[id(t)] = [f"node{n}", t.index]

        def ref(item):
            return {"__tensor__": tensors[id(item)]} if isinstance(item, KerasTensor) else item

        nodes.append({"layer": index[id(node.layer)], "args": map_structure(ref, node.args),
                      "kwargs": map_structure(ref, node.kwargs), "outputs": len(node.outputs)})

    def out_ref(t):
        return tensors[id(t)]

    return {"class_name": "Functional", "config": {
        "name": model.name, "layers": [_layer_entry(l) for l in model.layers], "nodes": nodes,
        "inputs": [out_ref(t) for t in model.inputs], "outputs": [out_ref(t) for t in model.outputs],
        "single_input": model._single_input, "single_output": model._single_output}}


def model_from_config(config: dict, custom_objects=None):
    from rnnkit.keras.models import Model, Sequential

    kind, body = config["class_name"], config["config"]
    if kind == "Sequential":
        model = Sequential([layer_from_config(e, custom_objects) for e in body["layers"]], name=body["name"])
        if body.get("build_input_shape") and not model.built:
            model.build(tuple(body["build_input_shape"]))
        return model
    if kind != "Functional":
        raise ValueError(f"Cannot rebuild a {kind!r} model from its config: rebuild it in code and use load_weights().")
    layers = []
    for entry in body["layers"]:
        if entry["class_name"] == "InputLayer":
            c = entry["config"]
            layers.append(InputLayer(batch_shape=tuple(c["batch_shape"]), dtype=c["dtype"], name=c["name"]))
        else:
            layers.append(layer_from_config(entry, custom_objects))
    values = {l.name: [l.output] for l in layers if isinstance(l, InputLayer)}
    def deref(item):
        if isinstance(item, dict) and "__tensor__" in item:
            key, i = item["__tensor__"]
            return values[key][i]
        if isinstance(item, (list, tuple)):
            return [deref(v) for v in item]
        if isinstance(item, dict):
            return {k: deref(v) for k, v in item.items()}
        return item

    for n, spec in enumerate(body["nodes"]):
        args, kwargs = deref(spec["args"]), deref(spec["kwargs"])
        out = layers[spec["layer"]](args, **kwargs)
        values[f"node{n}"] = out if isinstance(out, list) else [out]
    inputs = [values[k][i] for k, i in body["inputs"]]
    outputs = [values[k][i] for k, i in body["outputs"]]
    return Model(inputs[0] if body["single_input"] else inputs, outputs[0] if body["single_output"] else outputs,
                 name=body["name"])


def _atomic_write(path: str, write) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_weights(model, path: str) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    _atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))


def load_weights(model, path: str) -> None:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights file at {path!r}.")
    try:
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(f"The weights file {path!r} is truncated or corrupt and was not loaded ({error}).") from error
    _ensure_built_for(model, state)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [f"{k}: expected {tuple(expected[k].shape)}, got {tuple(state[k].shape)}"
              for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or shapes:
        raise ValueError(
            f"The weights in {path!r} do not match the architecture of model {model.name!r}: "
            f"missing {missing or 'none'}; unexpected {unexpected or 'none'}; mis-shaped {shapes or 'none'}. "
            f"Nothing was loaded."
        )
    model.load_state_dict(state)


def _ensure_built_for(model, state) -> None:
    from rnnkit.keras.engine import Layer

    if any(isinstance(m, Layer) and not m.built for m in model.modules()) and not model.state_dict():
        raise ValueError(f"Model {model.name!r} is not built yet: call it on data (or build()) before load_weights().")


def save_model(model, path: str) -> None:
    """Write ``path/config.json`` and ``path/model.safetensors``."""
    config = model.get_config() if hasattr(model, "_graph_outputs") or hasattr(model, "stack") else {
        "class_name": type(model).__name__, "config": {"name": model.name}}
    os.makedirs(path, exist_ok=True)
    text = json.dumps({"format": FORMAT, "model": config}, indent=1)

    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)

    _atomic_write(os.path.join(path, "config.json"), write)
    save_weights(model, os.path.join(path, "model.safetensors"))


def load_model(path: str, custom_objects=None, compile=True):
    """Rebuild a model saved with ``model.save(path)`` and load its weights."""
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"No saved model at {path!r} (expected {config_path}).")
    try:
        with open(config_path) as fh:
            saved = json.load(fh)
    except json.JSONDecodeError as error:
        raise ValueError(f"The model config {config_path!r} is truncated or corrupt ({error}).") from error
    if saved.get("format") != FORMAT:
        raise ValueError(f"{config_path!r} is not an rnnkit.keras model config (format {saved.get('format')!r}).")
    model = model_from_config(saved["model"], custom_objects)
    load_weights(model, os.path.join(path, "model.safetensors"))
    return model
