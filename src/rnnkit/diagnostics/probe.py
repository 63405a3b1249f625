"""Probes that make dLoss/dh_t visible for every step of every rnnkit cell in a model.

The hidden state h_t feeds the output at step t *and* every later step, so its gradient is
the total derivative through all of them. A probe adds a zero tensor ``p_t`` that requires
grad to the h_t a cell returns, ``h'_t = h_t + p_t``, and hands ``h'_t`` on both as the output
and inside the carried state. Then

    dLoss/dp_t = dLoss/dh'_t = dLoss/dh_t (total, through the output and all later steps),

while the forward values are unchanged (adding zero). LSTM cell states get the same probe on
c_t; it sits after h_t = o_t * tanh(c_t) was computed, so it sees the paths through later steps
only, and ``gradient_flow`` adds the direct path dLoss/dh_t * dh_t/dc_t. Probing works by shadowing ``cell.step_projected`` on the cell instance for the duration
of one forward pass, so any runner that calls it (the reference backend, a user's own loop,
layers built on ``scan``) is seen; modules with a ``backend`` attribute are switched to the
reference backend meanwhile, because a fused kernel never calls the per-step function.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from rnnkit.cells.base import RecurrentCell


@dataclass
class ProbedCall:
    """One run of a cell over a sequence: probes and gate values per step (processing order)."""

    h_probes: list = field(default_factory=list)  # each (B, H_out), requires grad
    c_probes: list = field(default_factory=list)  # each (B, H) for LSTM, else empty
    gates: dict = field(default_factory=dict)  # name -> list of (B, H), detached
    hidden: list = field(default_factory=list)  # h_t detached (saturation of a tanh RNN)
    cell_values: list = field(default_factory=list)  # LSTM (c_t, o_t) detached, for dh_t/dc_t


@dataclass
class CellSite:
    """Where a cell sits in the model: ``module`` name, ``layer`` index and ``direction``."""

    cell: RecurrentCell
    module: str
    layer: int
    direction: str
    calls: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.module or 'model'}.l{self.layer}.{self.direction}"


def find_cells(model: nn.Module) -> list[CellSite]:
    """Every rnnkit cell in ``model``: cells of multi-layer layers (``cell_grid()``) named by
    layer and direction, then standalone cells (a ``Recurrent`` wrapper's or a user's)."""
    sites, seen = [], set()
    reversed_cells = set()
    for name, module in model.named_modules():
        grid = getattr(module, "cell_grid", None)
        if callable(grid) and not isinstance(module, RecurrentCell):
            for layer, row in enumerate(grid()):
                for direction, cell in enumerate(row):
                    if id(cell) not in seen:
                        seen.add(id(cell))
                        sites.append(CellSite(cell, name, layer, "reverse" if direction else "forward"))
        elif getattr(module, "reverse", False) is True and isinstance(getattr(module, "cell", None), RecurrentCell):
            reversed_cells.add(id(module.cell))
    for name, module in model.named_modules():
        if isinstance(module, RecurrentCell) and id(module) not in seen:
            seen.add(id(module))
            sites.append(CellSite(module, name, 0, "reverse" if id(module) in reversed_cells else "forward"))
    return sites


def _probe_step(site: CellSite, original):
    last = {"base": None, "h": None}

    def step_projected(x_proj, state, record: Optional[dict] = None):
        base = x_proj._base
        fresh = (base is not last["base"]) if base is not None else (state.h is not last["h"])
        if fresh or not site.calls:
            site.calls.append(ProbedCall())
        call = site.calls[-1]
        rec: dict = {}
        h, new = original(x_proj, state, rec)
        probe_h = torch.zeros_like(h, requires_grad=True)
        h = h + probe_h  # same value, and dLoss/dprobe_h = dLoss/dh_t
        parts = {"h": h}
        call.h_probes.append(probe_h)
        if "c" in getattr(new, "_fields", ()):
            probe_c = torch.zeros_like(new.c, requires_grad=True)
            parts["c"] = new.c + probe_c
            call.c_probes.append(probe_c)
            call.cell_values.append((new.c.detach(), rec["o"][-1].detach()))
        new = new._replace(**parts)
        call.hidden.append(h.detach())
        for name in site.cell.gate_names:
            if name in rec:
                call.gates.setdefault(name, []).append(rec[name][-1].detach())
        if record is not None:
            for key, values in rec.items():
                record.setdefault(key, []).extend(values)
        last["base"], last["h"] = base, h
        return h, new

    return step_projected


@contextmanager
def probing(model: nn.Module, sites: list[CellSite]):
    """Within the block, every site's cell records probes; backends are forced to reference."""
    switched = []
    for module in model.modules():
        recurrent = callable(getattr(module, "cell_grid", None)) or isinstance(getattr(module, "cell", None), RecurrentCell)
        if recurrent and isinstance(getattr(module, "backend", None), str) and module.backend != "reference":
            switched.append((module, module.backend))
            module.backend = "reference"
    for site in sites:
        site.calls.clear()
        site.cell.__dict__["step_projected"] = _probe_step(site, site.cell.step_projected)
    try:
        yield sites
    finally:
        for site in sites:
            site.cell.__dict__.pop("step_projected", None)
        for module, backend in switched:
            module.backend = backend
