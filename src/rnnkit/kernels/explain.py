"""``rnnkit.explain(layer)``: which backend ran each layer and direction, and why."""

from __future__ import annotations

from rnnkit.kernels import extension
from rnnkit.kernels.dispatch import Choice, strict_mode


def _rows(last):
    if isinstance(last, Choice):
        return [[last]]
    return last


def explain(layer) -> str:
    """A short report of the backends behind ``layer``'s last forward call.

    Example::

        lstm = rnnkit.LSTM(8, 16, layer_norm=True)
        lstm(torch.randn(5, 2, 8))
        print(rnnkit.explain(lstm))
        # LSTM(8, 16, layer_norm=True): backend='auto', strict=False
        #   layer 0 forward: fused (auto: the fused kernel serves this cell ...)
    """
    if not hasattr(layer, "last_backend"):
        raise TypeError(
            f"Received an invalid value for argument `layer`: expected an rnnkit recurrent layer (with `last_backend`), "
            f"got {type(layer).__name__}."
        )
    strict = strict_mode(getattr(layer, "strict", False))
    lines = [f"{type(layer).__name__}({layer.extra_repr()}): backend={getattr(layer, 'backend', 'auto')!r}, strict={strict}"]
    last = layer.last_backend
    if last is None:
        lines.append("  not run yet: call the layer once, then explain() says what ran")
    else:
        for index, row in enumerate(_rows(last)):
            for direction, choice in enumerate(row):
                name = "forward" if direction == 0 else "reverse"
                lines.append(f"  layer {index} {name}: {choice.backend} ({choice.reason})")
    missing = extension.unavailable_reason()
    lines.append("  fused extension: " + ("loaded" if missing is None else f"unavailable, {missing}"))
    if any(p.is_cuda for p in layer.parameters()):  # GPU fused path: rnnkit/kernels/gpu.py
        from rnnkit.kernels.gpu import unavailable_reason as gpu_missing  # noqa: PLC0415

        lines.append("  GPU fused kernels (Triton): " + ("available" if gpu_missing() is None else f"unavailable, {gpu_missing()}"))
    return "\n".join(lines)
