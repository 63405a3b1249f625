"""Checkpoints as safetensors plus JSON, written atomically; never a pickle.

A training checkpoint is a folder ``<checkpoint_dir>/epoch-000003/`` holding

- ``model.safetensors``: the model's ``state_dict`` (loadable on its own by any safetensors reader);
- ``state.safetensors``: every other tensor (optimizer moments, a callback's best weights);
- ``state.json``: epoch, global step, RNG states as lists, history, callback and scheduler
  state, trainer config, and the SHA-256 of both tensor files.

The folder is written as ``.tmp-*`` beside its final name, each file flushed to disk, then
renamed in one ``os.replace``: a reader sees a whole checkpoint or none. The hashes catch a file
truncated or altered later; loading then fails with an error that says so and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time

import torch

from rnnkit.train.serialize import decode, encode

FORMAT = "rnnkit-checkpoint-1"
_NAME = re.compile(r"^epoch-(\d{6,})$")


class CheckpointError(ValueError):
    """A checkpoint is missing, truncated, corrupt, or does not fit the model."""


def _require_safetensors():
    try:
        import safetensors.torch as st
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("Checkpoints need the `safetensors` package: pip install safetensors") from error
    return st


def _fsync_file(path):
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _plain_tensors(state_dict) -> dict:
    """Detached, contiguous CPU copies (safetensors refuses tensors that share memory)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items() if isinstance(v, torch.Tensor)}


# ---- weights only -----------------------------------------------------------------------------
def save_weights(model, path, metadata: dict | None = None) -> str:
    """Write ``model.state_dict()`` to one safetensors file, atomically (temp file + os.replace)."""
    st = _require_safetensors()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        st.save_file(_plain_tensors(model.state_dict()), tmp, metadata={k: str(v) for k, v in (metadata or {}).items()})
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(folder)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def read_tensors(path) -> dict:
    """Tensors of a safetensors file; a clear error for a missing, truncated or corrupt file."""
    st = _require_safetensors()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint file {path} does not exist.")
    try:
        return st.load_file(path, device="cpu")
    except Exception as error:  # safetensors raises its own error type for bad headers/lengths
        raise CheckpointError(f"Checkpoint file {path} is truncated or corrupt and cannot be read "
                              f"({type(error).__name__}: {error}).") from error


def check_architecture(model, tensors: dict, source: str) -> None:
    """Raise ``CheckpointError`` naming the keys that are missing, unexpected or mis-shaped."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = sorted(f"{k}: model {expected[k]}, checkpoint {got[k]}" for k in set(expected) & set(got) if expected[k] != got[k])
    if not (missing or unexpected or shapes):
        return

    def show(items):
        return ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")

    parts = []
    if missing:
        parts.append(f"missing from the checkpoint: {show(missing)}")
    if unexpected:
        parts.append(f"not in the model: {show(unexpected)}")
    if shapes:
        parts.append(f"different shapes: {show(shapes)}")
    raise CheckpointError(f"The checkpoint {source} does not match the model's architecture ({type(model).__name__}); "
                          + "; ".join(parts) + ".")


def load_weights(model, path) -> None:
    """Load a safetensors weights file into ``model`` after checking keys and shapes."""
    tensors = read_tensors(path)
    check_architecture(model, tensors, os.fspath(path))
    model.load_state_dict(tensors, strict=True)


# ---- full training checkpoints ------------------------------------------------------------------
def checkpoint_name(epoch: int) -> str:
    return f"epoch-{epoch:06d}"


def list_checkpoints(checkpoint_dir) -> list:
    """Complete checkpoint folders in ``checkpoint_dir``, oldest first."""
    if not os.path.isdir(checkpoint_dir):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(checkpoint_dir) if (m := _NAME.match(name))]
    return [os.path.join(checkpoint_dir, name) for _, name in sorted(found)]


def save_checkpoint(path, model, optimizer=None, state: dict | None = None) -> str:
    """Write a checkpoint folder at ``path`` atomically: model and optimizer tensors in
    safetensors, everything else (``state``, JSON-able plus tensors) in ``state.json``."""
    st = _require_safetensors()
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    extra = dict(state or {})
    if optimizer is not None:
        extra["optimizer"] = optimizer.state_dict()
    payload, tensors = encode(extra, prefix="state")
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        model_file, state_file = os.path.join(tmp, "model.safetensors"), os.path.join(tmp, "state.safetensors")
        st.save_file(_plain_tensors(model.state_dict()), model_file)
        st.save_file(tensors, state_file)
        for file in (model_file, state_file):
            _fsync_file(file)
        document = {"format": FORMAT, "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "sha256": {"model.safetensors": sha256(model_file), "state.safetensors": sha256(state_file)},
                    "state": payload}
        with open(os.path.join(tmp, "state.json"), "w") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(tmp)
        old = None
        if os.path.exists(path):  # replace an existing checkpoint of the same name: swap, then delete
            old = tempfile.mkdtemp(prefix=".old-", dir=parent)
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(parent)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def load_checkpoint(path, model, optimizer=None) -> dict:
    """Verify and load a checkpoint folder into ``model`` (and ``optimizer``); return the rest of
    its state. Nothing is modified unless every file is intact and the architecture matches."""
    path = os.fspath(path)
    json_file = os.path.join(path, "state.json")
    if not os.path.isdir(path) or not os.path.isfile(json_file):
        raise CheckpointError(f"{path} is not a checkpoint folder (expected state.json, model.safetensors and state.safetensors in it).")
    try:
        with open(json_file) as handle:
            document = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(f"Checkpoint file {json_file} is truncated or corrupt: {error}.") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"Checkpoint file {json_file} is not an rnnkit checkpoint (format {document.get('format') if isinstance(document, dict) else None!r}, expected {FORMAT!r}).")
    for name, digest in document["sha256"].items():
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            raise CheckpointError(f"Checkpoint file {file} is missing.")
        if sha256(file) != digest:
            raise CheckpointError(f"Checkpoint file {file} is truncated or corrupt: its SHA-256 differs from the one "
                                  f"recorded in state.json when it was written.")
    weights = read_tensors(os.path.join(path, "model.safetensors"))
    check_architecture(model, weights, path)
    state = decode(document["state"], read_tensors(os.path.join(path, "state.safetensors")))
    optimizer_state = state.pop("optimizer", None)
    if optimizer is not None and optimizer_state is not None:
        saved = [len(g["params"]) for g in optimizer_state["param_groups"]]
        current = [len(g["params"]) for g in optimizer.param_groups]
        if saved != current:
            raise CheckpointError(f"The checkpoint {path} holds optimizer state for parameter groups of sizes {saved}, "
                                  f"but the optimizer has groups of sizes {current}.")
    model.load_state_dict(weights, strict=True)
    if optimizer is not None and optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    return state
