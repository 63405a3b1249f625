"""``pad_sequences`` and ``to_categorical`` with Keras' arguments and defaults."""

from __future__ import annotations

import numpy as np

from rnnkit.errors import check_choice


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or cut) each sequence to ``maxlen`` (default: the longest). As in Keras, padding and
    truncating happen at the start ('pre', the default) or the end ('post')."""
    check_choice(padding, ("pre", "post"), "padding")
    check_choice(truncating, ("pre", "post"), "truncating")
    try:
        sequences = [list(s) for s in sequences]
    except TypeError as error:
        raise ValueError("Received an invalid value for argument `sequences`: expected a list of sequences "
                         "(lists or arrays), got a non-iterable element.") from error
    if maxlen is None:
        maxlen = max((len(s) for s in sequences), default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"Received an invalid value for argument `maxlen`: expected a non-negative integer, got {maxlen!r}.")
    sample_shape = ()
    for s in sequences:
        if len(s):
            sample_shape = np.asarray(s).shape[1:]
            break
    out = np.full((len(sequences), maxlen, *sample_shape), value, dtype=dtype)
    for i, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if padding == "post":
            out[i, : len(trunc)] = trunc
        else:
            out[i, maxlen - len(trunc):] = trunc
    return out


def to_categorical(x, num_classes=None):
    """One-hot encode integer class ids: shape (...,) -> (..., num_classes), float32."""
    x = np.asarray(x)
    if x.size and not np.issubdtype(x.dtype, np.integer):
        if not np.all(np.equal(np.mod(x, 1), 0)):
            raise ValueError("Received an invalid value for argument `x`: expected integer class ids, got fractional values.")
        x = x.astype("int64")
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        bad = int(x.min()) if x.min() < 0 else int(x.max())
        raise ValueError(f"Received an invalid value for argument `x`: expected class ids in [0, {num_classes}), got {bad}.")
    out = np.zeros((*x.shape, num_classes), dtype="float32")
    np.put_along_axis(out, x[..., None].astype("int64"), 1.0, axis=-1)
    return out
