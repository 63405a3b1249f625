"""``gradient_flow(model, batch)``: how much gradient reaches each step of each recurrent layer.

For every rnnkit cell in the model (per layer and direction) it returns ||dLoss/dh_t|| for
every step t in the order the direction processes them (a reverse direction's step 0 is each
sample's last valid time step), the fraction of saturated gate units and the spectra of the
recurrent weights; plus the loss and the global norm of the parameter gradients. The norm
is the Frobenius norm over the batch and the units of the (B, H) gradient at that step.

Vanishing gradients show as ``grad_norm[0] / grad_norm[-1]`` far below 1: the loss barely
depends on what the layer held at its first step. The model's parameters' ``.grad`` are not
touched (``torch.autograd.grad``), the model runs in eval mode (no dropout) and the global
random state is restored afterwards, so calling this during training changes nothing.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.diagnostics.probe import find_cells, probing
from rnnkit.diagnostics.stats import recurrent_spectra, saturation

VANISHING_RATIO = 1e-6
EXPLODING_JUMP = 100.0


class GradientFlowWarning(UserWarning):
    """Vanishing or exploding gradients detected by rnnkit.diagnostics."""


@dataclass
class DirectionFlow:
    """One layer and direction: ``grad_norm[k]`` = ||dLoss/dh_k|| at processing step k."""

    name: str
    family: str
    grad_norm: list[float]
    cell_grad_norm: Optional[list[float]]
    saturation: dict[str, float]
    spectra: dict[str, dict[str, float]]

    @property
    def ratio(self) -> float:
        """||dLoss/dh_first|| / ||dLoss/dh_last|| (nan when the last step gets no gradient)."""
        last = self.grad_norm[-1]
        return self.grad_norm[0] / last if last > 0 else float("nan")

    def vanishing_step(self, threshold: float = VANISHING_RATIO) -> Optional[int]:
        """The latest step whose gradient is below ``threshold`` times the last step's, if any."""
        last = self.grad_norm[-1]
        below = [k for k, g in enumerate(self.grad_norm) if last > 0 and g < threshold * last]
        return below[-1] if below else None


@dataclass
class FlowReport:
    loss: float
    global_grad_norm: float
    directions: list[DirectionFlow]
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> DirectionFlow:
        for item in self.directions:
            if item.name == name:
                return item
        raise KeyError(f"no layer/direction named {name!r}; have {[d.name for d in self.directions]}")

    @classmethod
    def from_dict(cls, data: dict) -> "FlowReport":
        """Rebuild a report from ``to_dict()`` output (JSON nulls become nan)."""
        def num(x):
            return float("nan") if x is None else float(x)

        directions = [
            DirectionFlow(d["name"], d["family"], [num(g) for g in d["grad_norm"]],
                          None if d.get("cell_grad_norm") is None else [num(g) for g in d["cell_grad_norm"]],
                          {k: num(v) for k, v in d.get("saturation", {}).items()}, d.get("spectra", {}))
            for d in data["directions"]
        ]
        return cls(num(data["loss"]), num(data["global_grad_norm"]), directions, list(data.get("warnings", [])))

    def to_dict(self) -> dict:
        def clean(x):
            return None if isinstance(x, float) and not math.isfinite(x) else x

        return {
            "loss": clean(self.loss),
            "global_grad_norm": clean(self.global_grad_norm),
            "warnings": list(self.warnings),
            "directions": [
                {"name": d.name, "family": d.family, "grad_norm": [clean(g) for g in d.grad_norm],
                 "cell_grad_norm": None if d.cell_grad_norm is None else [clean(g) for g in d.cell_grad_norm],
                 "ratio_first_to_last": clean(d.ratio), "saturation": {k: clean(v) for k, v in d.saturation.items()},
                 "spectra": d.spectra}
                for d in self.directions
            ],
        }


LossFn = Union[None, str, Callable]


def _split_batch(batch):
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(
        "Received an invalid value for argument `batch`: expected an inputs tensor or a pair "
        f"(inputs, targets) (inputs may be a tuple of tensors), got {type(batch).__name__}"
        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "") + "."
    )


def compute_loss(outputs, targets, loss_fn: LossFn) -> torch.Tensor:
    """Apply ``loss_fn``: a callable gets the model's outputs as returned (and the targets when
    there are some); "mse", "cross_entropy" or None (inferred from the targets: float -> MSE,
    integer -> cross-entropy over the last axis; no targets -> 0.5 mean(out^2)) use the first
    element of a tuple output, as torch-style layers return (output, state)."""
    if callable(loss_fn):
        return loss_fn(outputs, targets) if targets is not None else loss_fn(outputs)
    if isinstance(outputs, (tuple, list)):
        outputs = outputs[0]
    if loss_fn is None:
        if targets is None:
            return 0.5 * outputs.pow(2).mean()
        loss_fn = "mse" if targets.is_floating_point() else "cross_entropy"
    if loss_fn == "mse":
        return F.mse_loss(outputs, targets)
    if loss_fn == "cross_entropy":
        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))
    raise ValueError(f"Received an invalid value for argument `loss_fn`: expected 'mse', 'cross_entropy', a callable or None, got {loss_fn!r}.")


def _norms(probes: list, grads: dict) -> list[float]:
    return [float(grads[id(p)].norm()) if grads.get(id(p)) is not None else 0.0 for p in probes]


def _cell_norms(cell, call, grads: dict) -> list[float]:
    """||dLoss/dc_t|| in total: the probe's (later steps) plus dLoss/dh_t * dh_t/dc_t."""
    w_hr = cell.weights().weight_hr
    out = []
    for p_h, p_c, (c, o) in zip(call.h_probes, call.c_probes, call.cell_values):
        g_h, g_c = grads.get(id(p_h)), grads.get(id(p_c))
        g_h = torch.zeros_like(p_h) if g_h is None else g_h
        total = torch.zeros_like(c) if g_c is None else g_c
        c = c.clone().requires_grad_(True)
        with torch.enable_grad():
            h = o * cell._act(c)  # (B, H)
            if w_hr is not None:
                h = F.linear(h, w_hr.detach())  # (B, P)
            (direct,) = torch.autograd.grad(h, c, g_h)
        out.append(float((total + direct).norm()))
    return out


def gradient_flow(model: nn.Module, batch, loss_fn: LossFn = None, *, warn: bool = True) -> FlowReport:
    """Gradient norms per step, gate saturation and recurrent spectra of ``model`` on ``batch``.

    Args:
        model: any ``nn.Module`` containing rnnkit recurrent layers or cells.
        batch: an inputs tensor, or ``(inputs, targets)``; tuple inputs are passed as
            ``model(*inputs)``.
        loss_fn: ``callable(outputs, targets) -> scalar``, ``"mse"``, ``"cross_entropy"`` or None
            (see ``compute_loss``). A tuple output uses its first element.
        warn: emit ``GradientFlowWarning`` for vanishing gradients (also listed in the report).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"Received an invalid value for argument `model`: expected a torch.nn.Module, got {type(model).__name__}.")
    sites = find_cells(model)
    if not sites:
        raise ValueError(
            f"Received an invalid value for argument `model`: expected a module containing rnnkit recurrent "
            f"layers (rnnkit.LSTM/GRU/RNN, RecurrentStack, Recurrent or a cell), got {type(model).__name__} with none."
        )
    inputs, targets = _split_batch(batch)
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad(), probing(model, sites):
            outputs = model(*inputs) if isinstance(inputs, (tuple, list)) else model(inputs)
            loss = compute_loss(outputs, targets, loss_fn)
    finally:
        model.train(was_training)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise ValueError(f"Received an invalid value for argument `loss_fn`: expected it to return a scalar tensor, got {loss!r}.")
    probes = [p for s in sites for c in s.calls for p in c.h_probes + c.c_probes]
    if not probes:
        raise ValueError("The model's recurrent layers did not run on this batch: nothing to measure (is the layer used in forward?).")
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, probes + params, allow_unused=True)
    by_id = {id(t): g for t, g in zip(probes + params, grads)}
    global_norm = math.sqrt(sum(float(g.pow(2).sum()) for g in grads[len(probes):] if g is not None))
    directions = []
    for site in sites:
        spectra = recurrent_spectra(site.cell)
        for index, call in enumerate(site.calls):
            name = site.name if len(site.calls) == 1 else f"{site.name}#{index}"
            directions.append(DirectionFlow(
                name, getattr(site.cell, "family", type(site.cell).__name__), _norms(call.h_probes, by_id),
                _cell_norms(site.cell, call, by_id) if call.c_probes else None,
                saturation(site.cell, call.gates, call.hidden), spectra,
            ))
    report = FlowReport(float(loss.detach()), global_norm, directions)
    report.warnings.extend(vanishing_messages(report))
    if warn:
        for message in report.warnings:
            warnings.warn(message, GradientFlowWarning, stacklevel=2)
    return report


def vanishing_messages(report: FlowReport, threshold: float = VANISHING_RATIO) -> list[str]:
    """One message per layer/direction whose first-to-last gradient ratio is below ``threshold``."""
    out = []
    for d in report.directions:
        ratio = d.ratio
        if math.isfinite(ratio) and ratio < threshold:
            k = d.vanishing_step(threshold)
            steps = len(d.grad_norm)
            out.append(
                f"vanishing gradient in {d.name}: ||dL/dh|| at step 0 is {ratio:.3g} times that at the last step "
                f"{steps - 1}; it is below {threshold:g} of the last step's from step {k} back "
                f"({steps - 1 - k} steps back in time) to step 0."
            )
    return out
