"""``model.summary()``: the Keras 3 table of layers, output shapes and parameter counts.

Parameter counts are Keras' counts: each layer reports the sizes of its Keras weights (one
bias where Keras has one), so the totals equal what Keras prints for the same model.
"""

from __future__ import annotations

from rnnkit.keras.engine import InputLayer, format_shape


def _shape_text(layer) -> str:
    shape = layer.output_shape_seen
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return format_shape(shape)


def _params(layer):
    return layer.count_params() if layer.built else None


def _connected(model, layer) -> str:
    names = []
    for node in layer._inbound_nodes:
        if node not in getattr(model, "_nodes", []):
            continue
        for t in node.input_tensors():
            names.append(f"{t.node.layer.name}[0][{t.index}]")
    return ", ".join(names) if names else "-"


def layer_rows(model) -> list[tuple[str, str, str, object]]:
    """(name, class, output shape, parameter count or None if unbuilt) per layer."""
    return [(layer.name, type(layer).__name__, _shape_text(layer), _params(layer)) for layer in model.layers]


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _row(cells, widths, aligns, bar="│"):
    parts = []
    for text, width, align in zip(cells, widths, aligns):
        parts.append(" " + (text.rjust(width) if align == "r" else text.ljust(width)) + " ")
    return bar + bar.join(parts) + bar


def _rule(widths, left, mid, right, fill):
    return left + mid.join(fill * (w + 2) for w in widths) + right


def summary_text(model) -> str:
    functional = hasattr(model, "_nodes")
    rows = []
    for layer in model.layers:
        params = _params(layer)
        count = f"{params:,}" if params is not None else "0 (unbuilt)"
        cells = [f"{layer.name} ({type(layer).__name__})", _shape_text(layer), count]
        if functional:
            cells.append("-" if isinstance(layer, InputLayer) else _connected(model, layer))
        rows.append(cells)
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    aligns = ["l", "l", "r"] + (["l"] if functional else [])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    widths = [max(w, m) for w, m in zip(widths, [31, 22, 13, 20])]
    lines = [f'Model: "{model.name}"', _rule(widths, "┏", "┳", "┓", "━"), _row(header, widths, aligns, "┃"),
             _rule(widths, "┡", "╇", "┩", "━")]
    for i, cells in enumerate(rows):
        lines.append(_row(cells, widths, aligns))
        lines.append(_rule(widths, "├", "┼", "┤", "─") if i < len(rows) - 1 else _rule(widths, "└", "┴", "┘", "─"))
    if not rows:
        lines.append(_rule(widths, "└", "┴", "┘", "─"))
    total = sum(p for p in (_params(l) for l in model.layers) if p is not None)
    trainable = sum(p for p in (_params(l) for l in model.layers if l.trainable) if p is not None) \
        if model.trainable else 0
    lines.append(f" Total params: {total:,} ({_human_bytes(4 * total)})")
    lines.append(f" Trainable params: {trainable:,} ({_human_bytes(4 * trainable)})")
    lines.append(f" Non-trainable params: {total - trainable:,} ({_human_bytes(4 * (total - trainable))})")
    return "\n".join(lines)
