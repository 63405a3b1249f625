"""``GradientFlowCallback``: gradient flow recorded during ``Trainer.fit``, plotted at the end.

Hooks follow the Trainer's Callback contract (``rnnkit.train``). This module is imported only
when ``rnnkit.diagnostics.GradientFlowCallback`` is first used, so the diagnostics package
itself does not depend on the trainer.

Every ``every`` training steps (and before the first and after the last) it runs
``gradient_flow`` on a fixed ``batch``; after every step it checks the global gradient norm
for a 100x jump (``logs["grad_norm"]`` when the trainer reports the norm before clipping,
else the norm of the parameters' ``.grad``, which is the norm after clipping when the trainer
clips). The loss is ``loss_fn`` or, when None, the trainer's own ``compute_loss``. At the end it writes into ``out_dir``:
``gradient_flow.png`` (the last record), ``gradient_flow_heatmap.png`` (all records) and
``gradient_flow_history.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from rnnkit.diagnostics.flow import FlowReport, gradient_flow
from rnnkit.diagnostics.monitor import ExplodingMonitor, parameter_grad_norm
from rnnkit.diagnostics.probe import find_cells
from rnnkit.errors import check_positive_int

try:  # the trainer is a higher layer: use its base class when it is installed
    from rnnkit.train import Callback as _Base
except ImportError:  # pragma: no cover - before the trainer exists
    class _Base:
        def on_train_begin(self, trainer): ...
        def on_epoch_begin(self, trainer, epoch): ...
        def on_batch_end(self, trainer, step, logs): ...
        def on_epoch_end(self, trainer, epoch, logs): ...
        def on_train_end(self, trainer): ...


class GradientFlowCallback(_Base):
    """Record gradient flow over training. ``history`` holds (global_step, FlowReport) pairs."""

    def __init__(self, batch, *, every: int = 100, out_dir=None, loss_fn=None, jump: float = 100.0, warn: bool = True):
        self.batch = batch
        self.every = check_positive_int(every, "every")
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.loss_fn = loss_fn
        self.warn = warn
        self.monitor = ExplodingMonitor(jump, warn=warn)
        self.history: list = []
        self._step = 0

    def _loss_fn(self, trainer):
        """The given ``loss_fn``, else the trainer's own loss (``trainer.compute_loss``)."""
        if self.loss_fn is not None or not callable(getattr(trainer, "compute_loss", None)):
            return self.loss_fn
        return lambda outputs, targets=None: trainer.compute_loss(outputs, targets)

    def _record(self, trainer, step: int) -> None:
        if self.history and self.history[-1][0] == step:
            return
        self.history.append((step, gradient_flow(trainer.model, self.batch, self._loss_fn(trainer), warn=self.warn)))

    def on_train_begin(self, trainer):
        if not find_cells(trainer.model):
            raise ValueError("GradientFlowCallback: the trainer's model has no rnnkit recurrent layer to diagnose.")
        self._step = int(getattr(trainer, "global_step", 0) or 0)
        self._record(trainer, self._step)

    def on_batch_end(self, trainer, step, logs):
        self._step = int(getattr(trainer, "global_step", self._step + 1))
        norm = (logs or {}).get("grad_norm")
        if norm is None:
            norm = parameter_grad_norm(trainer.model)
        if norm is not None:
            self.monitor.update(self._step, norm)
        if self._step % self.every == 0:
            self._record(trainer, self._step)

    def on_train_end(self, trainer):
        self._record(trainer, self._step)
        if self.out_dir is not None:
            self.write(self.out_dir)

    def state_dict(self) -> dict:
        """JSON-serializable records and monitor state, so a resumed run keeps its history."""
        return {"records": [{"step": s, **r.to_dict()} for s, r in self.history], "previous": self.monitor.previous,
                "exploding": list(self.monitor.messages), "grad_norms": [list(n) for n in self.monitor.norms]}

    def load_state_dict(self, state: dict) -> None:
        self.history = [(r["step"], FlowReport.from_dict(r)) for r in state.get("records", [])]
        self.monitor.previous = state.get("previous")
        self.monitor.messages = list(state.get("exploding", []))
        self.monitor.norms = [tuple(n) for n in state.get("grad_norms", [])]

    def write(self, out_dir) -> dict:
        """Write the PNGs and the JSON history into ``out_dir``; return {name: path}."""
        from rnnkit.diagnostics.plots import plot_flow, plot_heatmap

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "flow": plot_flow(self.history[-1][1], out / "gradient_flow.png",
                              title=f"gradient flow at training step {self.history[-1][0]}"),
            "heatmap": plot_heatmap(self.history, out / "gradient_flow_heatmap.png", title="gradient flow over training"),
        }
        data = {"records": [{"step": s, **r.to_dict()} for s, r in self.history],
                "exploding": self.monitor.messages, "grad_norms": self.monitor.norms}
        paths["json"] = out / "gradient_flow_history.json"
        paths["json"].write_text(json.dumps(data, indent=1))
        return paths
