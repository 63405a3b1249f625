"""``load_keras_weights(model, path)``: read Keras 3 ``.weights.h5`` and ``.keras`` files.

A Keras 3 weights file stores each layer under ``layers/<key>/``, where ``<key>`` is the
snake-cased class name made unique in model order (``lstm``, ``lstm_1``, ...), and each
layer's arrays under ``vars/0, 1, ...`` (``cell/vars`` for a recurrent layer,
``forward_layer/cell/vars`` and ``backward_layer/cell/vars`` in a Bidirectional,
``layer/vars`` in a TimeDistributed). A ``.keras`` file is a zip holding
``model.weights.h5``. The arrays are in Keras' layout; each layer's ``set_weights`` maps them
to rnnkit's (GRU gates z, r, h -> r, z, n; one bias or two).

Only ``h5py`` is needed (an optional dependency); Keras itself is not.
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

from rnnkit.keras.engine import InputLayer, snake_case
from rnnkit.keras.layers.recurrent import RNNLayer
from rnnkit.keras.layers.wrappers import Bidirectional, TimeDistributed


def _open_h5(path: str):
    try:
        import h5py
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("load_keras_weights needs h5py: pip install h5py (or rnnkit[keras]).") from error
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No Keras weights file at {path!r}.")
    if path.endswith(".keras") or zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "model.weights.h5" not in names:
                raise ValueError(f"{path!r} is a zip file without model.weights.h5, so not a Keras 3 .keras file "
                                 f"(it holds {names}).")
            return h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path!r} is not a readable HDF5 file (truncated or corrupt?): {error}") from error


def _vars(group, path: str) -> list[np.ndarray]:
    if group is None or "vars" not in group:
        return []
    holder = group["vars"]
    return [np.asarray(holder[str(i)]) for i in range(len(holder))]


def _child(group, name):
    return group[name] if group is not None and name in group else None


def _layer_arrays(layer, group, path):
    """The arrays Keras stored for ``layer`` (in its get_weights order)."""
    if isinstance(layer, Bidirectional):
        return (_layer_arrays(layer.forward_layer, _child(group, "forward_layer"), f"{path}/forward_layer")
                + _layer_arrays(layer.backward_layer, _child(group, "backward_layer"), f"{path}/backward_layer"))
    if isinstance(layer, TimeDistributed):
        return _layer_arrays(layer.layer, _child(group, "layer"), f"{path}/layer")
    if isinstance(layer, RNNLayer):
        return _vars(_child(group, "cell"), f"{path}/cell")
    return _vars(group, path)


def keras_keys(model) -> list[tuple[str, object]]:
    """(``layers/<key>``, layer) for each layer, keyed as Keras 3 keys them in a weights file."""
    used: dict[str, int] = {}
    out = []
    for layer in model.layers:
        name = "input_layer" if isinstance(layer, InputLayer) else snake_case(type(layer).__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out.append((f"layers/{name}", layer))
    return out


def load_keras_weights(model, path: str) -> None:
    """Load a Keras 3 weights file into a built rnnkit.keras model of the same architecture."""
    unbuilt = [layer.name for layer in model.layers if not layer.built]
    if unbuilt:
        raise ValueError(f"Model {model.name!r} has unbuilt layers {unbuilt}: build it (Input(...) or build(shape)) "
                         f"before loading Keras weights.")
    with _open_h5(path) as handle:
        plan = []
        for key, layer in keras_keys(model):
            expected = layer.weight_shapes()
            if not expected:
                continue
            group = handle.get(key)
            arrays = _layer_arrays(layer, group, key)
            if len(arrays) != len(expected):
                stored = sorted(handle["layers"].keys()) if "layers" in handle else []
                raise ValueError(
                    f"Keras file {path!r} is missing weights for layer {layer.name!r} ({type(layer).__name__}): "
                    f"expected {len(expected)} arrays {[n for n, _ in expected]} under {key!r}, found {len(arrays)}. "
                    f"Layers in the file: {stored}."
                )
            for array, (name, shape) in zip(arrays, expected):
                if tuple(array.shape) != tuple(shape):
                    raise ValueError(
                        f"Keras file {path!r}: weight {name!r} of layer {layer.name!r} ({type(layer).__name__}) "
                        f"has shape {tuple(array.shape)} in the file, but the model expects {tuple(shape)}."
                    )
            plan.append((layer, arrays))
    for layer, arrays in plan:  # only after every layer checked out: nothing is half-loaded
        layer.set_weights(arrays)
