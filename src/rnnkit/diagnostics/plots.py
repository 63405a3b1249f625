"""PNG plots of gradient flow (matplotlib with the file-only Agg backend).

``plot_flow``: ||dLoss/dh_t|| against steps back in time (0 = the last step), one line per
layer and direction, log scale. ``plot_heatmap``: for each layer and direction, rows are
training steps, columns steps back in time, colour log10 ||dLoss/dh_t|| normalized by the
last step's, so a growing dark region on the right is gradient vanishing as training goes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("rnnkit.diagnostics plots need matplotlib: pip install matplotlib") from error
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path) -> Path:
    """Lay out ``fig``, write it to ``path`` (making its folder) and close it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _log10(values: Sequence[float], floor: float = 1e-30) -> list[float]:
    return [math.log10(max(v, floor)) if v is not None and math.isfinite(v) else float("nan") for v in values]


def plot_flow(report, path, *, title: str = "") -> Path:
    """Gradient norm against steps back in time, per layer/direction. Returns the path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for d in report.directions:
        back = list(range(len(d.grad_norm)))
        values = [max(g, 1e-300) for g in reversed(d.grad_norm)]  # index = steps back in time
        label = d.name if d.family in d.name else f"{d.name} ({d.family})"
        ax.semilogy(back, values, label=label)
    ax.set_xlabel("steps back in time (0 = last step)")
    ax.set_ylabel("||dLoss / dh_t||")
    ax.set_title(title or f"gradient flow through time (loss {report.loss:.4g})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def plot_heatmap(history: Sequence, path, *, title: str = "") -> Path:
    """``history``: (training_step, FlowReport) pairs. One panel per layer/direction."""
    plt = _pyplot()
    if not history:
        raise ValueError("Received an invalid value for argument `history`: expected at least one (step, report) pair, got none.")
    names = [d.name for d in history[-1][1].directions]
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 2.2 + 1.8 * len(names)), squeeze=False)
    steps = [s for s, _ in history]
    for ax, name in zip(axes[:, 0], names):
        rows = []
        for _, report in history:
            norms = next((d.grad_norm for d in report.directions if d.name == name), None)
            if norms is None:
                continue
            last = norms[-1] if norms[-1] > 0 else max(max(norms), 1e-30)
            rows.append(_log10([g / last for g in reversed(norms)]))
        width = max(len(r) for r in rows)
        rows = [r + [float("nan")] * (width - len(r)) for r in rows]
        image = ax.imshow(rows, aspect="auto", origin="lower", cmap="magma", vmin=-12, vmax=2,
                          extent=(-0.5, width - 0.5, -0.5, len(rows) - 0.5), interpolation="nearest")
        ticks = sorted({0, len(rows) // 2, len(rows) - 1})
        ax.set_yticks(ticks, [str(steps[i]) for i in ticks])
        ax.set_ylabel("training step")
        ax.set_title(name, fontsize=9)
        fig.colorbar(image, ax=ax, label="log10 ||dL/dh_t|| / ||dL/dh_last||")
    axes[-1, 0].set_xlabel("steps back in time (0 = last step)")
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)
