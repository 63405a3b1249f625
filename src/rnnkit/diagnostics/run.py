"""Diagnose a model on a batch and write the plots and numbers: what ``rnnkit diagnose DIR``
calls.

Expected inputs of ``diagnose_run(run_dir, model=..., batch=...)``: ``run_dir`` is a training
run's directory (model weights as safetensors plus a JSON config, written by the trainer).
The command that loads the model from those files and builds a batch from the run's data
passes both in; this function does not read weights itself. If the run was trained with
``GradientFlowCallback(out_dir=run_dir)``, its ``gradient_flow_history.json`` is found and the
heatmap over training is redrawn from it. Outputs go to ``run_dir / "diagnostics"`` unless
``out_dir`` is given:

- ``gradient_flow.png``: ||dLoss/dh_t|| against steps back in time per layer and direction;
- ``gradient_flow.json``: ``FlowReport.to_dict()`` (norms per step, saturation, spectra,
  warnings);
- ``gradient_flow_heatmap.png``: only when a training history is present.
"""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.diagnostics.flow import FlowReport, gradient_flow
from rnnkit.diagnostics.plots import plot_flow, plot_heatmap

HISTORY_FILE = "gradient_flow_history.json"


def diagnose(model, batch, out_dir, *, loss_fn=None, title: str = "") -> FlowReport:
    """Run ``gradient_flow`` and write ``gradient_flow.png`` and ``gradient_flow.json``."""
    report = gradient_flow(model, batch, loss_fn)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_flow(report, out / "gradient_flow.png", title=title)
    (out / "gradient_flow.json").write_text(json.dumps(report.to_dict(), indent=1))
    return report


def diagnose_run(run_dir, *, model, batch, loss_fn=None, out_dir=None) -> dict:
    """Diagnose the model of a run directory; returns {"report": FlowReport, "files": [paths]}."""
    run = Path(run_dir)
    if not run.is_dir():
        raise ValueError(f"Received an invalid value for argument `run_dir`: expected an existing directory, got {str(run_dir)!r}.")
    out = Path(out_dir) if out_dir is not None else run / "diagnostics"
    report = diagnose(model, batch, out, loss_fn=loss_fn, title=f"gradient flow: {run.name}")
    files = [out / "gradient_flow.png", out / "gradient_flow.json"]
    history_file = next((p for p in (run / HISTORY_FILE, out / HISTORY_FILE) if p.is_file()), None)
    if history_file is not None:
        records = json.loads(history_file.read_text())["records"]
        history = [(r["step"], FlowReport.from_dict(r)) for r in records]
        files.append(plot_heatmap(history, out / "gradient_flow_heatmap.png", title=f"gradient flow over training: {run.name}"))
    return {"report": report, "files": files}
