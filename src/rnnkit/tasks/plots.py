"""PNG plots of a run, drawn with matplotlib's non-interactive Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> list:
    """Lay out ``fig``, write it to ``path`` and close it; returns [its file name]."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [Path(path).name]


def plot_history(history: Dict[str, List[float]], path: Path) -> list:
    """Training and validation loss per epoch."""
    if not history.get("loss"):
        return []
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(history["loss"]) + 1)
    ax.plot(epochs, history["loss"], label="training loss")
    if history.get("val_loss"):
        ax.plot(range(1, len(history["val_loss"]) + 1), history["val_loss"], label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss curves")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def plot_confusion(matrix, labels: Sequence[str], path: Path, title: str = "Confusion matrix (test)") -> list:
    """Rows: true class, columns: predicted class, counts written in the cells when few."""
    plt = _pyplot()
    n = len(labels)
    size = min(12, 3 + 0.5 * n)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ticks = range(n)
    shown = [str(label)[:12] for label in labels]
    ax.set_xticks(ticks, shown, rotation=90 if n > 6 else 0)
    ax.set_yticks(ticks, shown)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 20:
        top = max(1, int(max(max(row) for row in matrix)))
        for i in range(n):
            for j in range(n):
                value = int(matrix[i][j])
                ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                        color="white" if value > top / 2 else "black")
    return _save(plt, fig, path)


def plot_forecast(history, truth, forecast, path: Path, title: str = "Forecast against truth (test)") -> list:
    """The series before the test part, the held-out truth and the model's forecast."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    n = len(history)
    ax.plot(range(n), history, color="gray", label="training part")
    ax.plot(range(n, n + len(truth)), truth, color="black", label="truth")
    ax.plot(range(n, n + len(forecast)), forecast, color="tab:red", linestyle="--", label="forecast")
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)
