"""Gate saturation and the spectra of recurrent weight matrices.

Saturation: a sigmoid gate unit is saturated when its value lies outside [0.05, 0.95], a tanh
unit when |value| > 0.95; there the activation's derivative is below ~0.05 (sigmoid) or ~0.1
(tanh), so little gradient passes.

Spectra: for a linearized recurrence h_t = W h_{t-1}, dh_T/dh_t = W^(T-t), whose size grows or
shrinks like rho(W)^(T-t), rho the spectral radius (largest |eigenvalue|). Each gate's H x H
block of W_hh gets its radius; the whole W_hh (G*H x H, not square for LSTM/GRU) gets its
spectral norm (largest singular value), an upper bound of every block's radius. With an LSTM
projection the block acts on h through W_hr, so the radius is that of W_block @ W_hr.
"""

from __future__ import annotations

import torch

SIGMOID_LIKE = ("sigmoid", "hard_sigmoid")
TANH_LIKE = ("tanh",)
SIGMOID_BOUNDS = (0.05, 0.95)
TANH_BOUND = 0.95


def gate_kinds(cell) -> dict[str, str]:
    """Map recorded value name -> "sigmoid" or "tanh" for the values whose saturation is defined."""
    family = getattr(cell, "family", "")
    kinds = {}
    if family in ("lstm", "gru"):
        ract, act = getattr(cell, "recurrent_activation", "sigmoid"), getattr(cell, "activation", "tanh")
        tanh_gate = "g" if family == "lstm" else "n"
        for name in cell.gate_names:
            kind = act if name == tanh_gate else ract
            if kind in SIGMOID_LIKE:
                kinds[name] = "sigmoid"
            elif kind in TANH_LIKE:
                kinds[name] = "tanh"
    elif family == "rnn" and getattr(cell, "nonlinearity", "tanh") == "tanh":
        kinds["h"] = "tanh"  # the simple RNN's state is its only activation
    return kinds


def saturated_fraction(values: torch.Tensor, kind: str) -> float:
    """Fraction of entries of ``values`` in the saturated range of a ``kind`` activation."""
    if values.numel() == 0:
        return float("nan")
    if kind == "sigmoid":
        low, high = SIGMOID_BOUNDS
        hit = (values < low) | (values > high)
    else:
        hit = values.abs() > TANH_BOUND
    return float(hit.float().mean())


def saturation(cell, gates: dict[str, list], hidden: list) -> dict[str, float]:
    """Saturated fraction per gate over all recorded steps, samples and units."""
    out = {}
    for name, kind in gate_kinds(cell).items():
        values = hidden if name == "h" else gates.get(name, [])
        if values:
            out[name] = saturated_fraction(torch.stack(values), kind)
    return out


def _radius(matrix: torch.Tensor) -> float:
    return float(torch.linalg.eigvals(matrix.detach().double()).abs().max())


def _norm(matrix: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(matrix.detach().double(), ord=2))


def recurrent_spectra(cell) -> dict[str, dict[str, float]]:
    """``{"radius": {gate: rho(W_gate)}, "norm": {"whole": ||W_hh||_2, gate: ||W_gate||_2}}``."""
    w = cell.weights()
    hidden = cell.hidden_size
    names = cell.gate_names or ("h",)
    blocks = w.weight_hh.split(hidden, dim=0)  # each (H, H_out)
    radius, norm = {}, {"whole": _norm(w.weight_hh)}
    for name, block in zip(names, blocks):
        square = block if w.weight_hr is None else block @ w.weight_hr  # (H, H)
        radius[name] = _radius(square)
        norm[name] = _norm(block)
    if len(blocks) == 1:
        radius["whole"] = radius[names[0]]
    return {"radius": radius, "norm": norm}
