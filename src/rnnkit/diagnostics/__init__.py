"""Gradient flow through time, gate saturation and recurrent spectra, with plots.

``gradient_flow(model, batch)`` measures; ``diagnose``/``diagnose_run`` write PNG + JSON;
``GradientFlowCallback`` records during ``Trainer.fit`` (imported lazily: it subclasses the
trainer's ``Callback``).
"""

from rnnkit.diagnostics.flow import DirectionFlow, FlowReport, GradientFlowWarning, compute_loss, gradient_flow
from rnnkit.diagnostics.monitor import ExplodingMonitor
from rnnkit.diagnostics.run import diagnose, diagnose_run
from rnnkit.diagnostics.stats import recurrent_spectra, saturated_fraction

__all__ = ["gradient_flow", "FlowReport", "DirectionFlow", "GradientFlowWarning", "compute_loss", "ExplodingMonitor",
           "diagnose", "diagnose_run", "recurrent_spectra", "saturated_fraction", "GradientFlowCallback"]


def __getattr__(name):
    if name == "GradientFlowCallback":
        from rnnkit.diagnostics.callback import GradientFlowCallback

        return GradientFlowCallback
    raise AttributeError(f"module 'rnnkit.diagnostics' has no attribute {name!r}")
