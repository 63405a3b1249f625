"""Run the GPU path's Triton kernels in Triton's interpreter (TRITON_INTERPRET=1) on CPU tensors
in float64 and compare with the reference backend: values and all gradients, every cell family,
with and without lengths and recurrent dropout. Used by tests/test_kernels_gpu.py in a
subprocess (the variable must be set before Triton is imported); prints the largest error."""

from __future__ import annotations

import os
import sys

import torch

if os.environ.get("TRITON_INTERPRET") != "1":
    sys.exit("set TRITON_INTERPRET=1")

from rnnkit.cells import GRUCell, LSTMCell, RNNCell  # noqa: E402
from rnnkit.cells.layer_norm import LayerNormLSTMCell  # noqa: E402
from rnnkit.cells.recurrent_dropout import draw_mask  # noqa: E402
from rnnkit.kernels.gpu import scan_fused_gpu  # noqa: E402
from rnnkit.kernels.reference import scan_reference  # noqa: E402

CELLS = {
    "lstm": lambda: LSTMCell(4, 6),
    "lstm_act": lambda: LSTMCell(4, 6, activation="softsign", recurrent_activation="hard_sigmoid"),
    "lstm_ln": lambda: _random_norms(LayerNormLSTMCell(4, 6)),
    "lstm_ln_act": lambda: _random_norms(LayerNormLSTMCell(4, 5, activation="softsign", recurrent_activation="hard_sigmoid")),
    "gru": lambda: GRUCell(4, 6),
    "gru_nobias": lambda: GRUCell(4, 6, bias=False),
    "gru_orig": lambda: GRUCell(4, 6, reset_after=False),
    "gru_orig_relu": lambda: GRUCell(4, 6, reset_after=False, activation="relu", recurrent_activation="sigmoid"),
    "rnn_tanh": lambda: RNNCell(4, 6),
    "rnn_relu": lambda: RNNCell(4, 6, nonlinearity="relu"),
}


def _random_norms(cell):
    """Gains and shifts away from their 1 / 0 start, so their gradients are tested in general."""
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if name.startswith("ln_"):
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("weight") else 0.0))
    return cell


def values_and_grads(cell, scan, x, state, mask, dmask):
    for p in cell.parameters():
        p.grad = None
    x = x.clone().requires_grad_()
    state = type(state)(*(s.clone().requires_grad_() for s in state))
    out, final = scan(cell, cell.project_input(x), state, mask, dmask)
    g = torch.Generator().manual_seed(1)
    loss = (out * torch.randn(out.shape, generator=g)).sum() + sum((f * torch.randn(f.shape, generator=g)).sum() for f in final)
    loss.backward()
    return [out, *final, x.grad, *(s.grad for s in state), *(p.grad for p in cell.parameters())]


def main() -> None:
    torch.set_default_dtype(torch.float64)
    worst = 0.0
    for seed, (name, make) in enumerate(CELLS.items()):
        for lengths in (False, True):
            for dropout in (False, True):
                torch.manual_seed(seed)
                cell, steps, batch = make(), 5, 3
                x = torch.randn(steps, batch, cell.input_size)
                state = cell.init_state(batch)
                state = type(state)(*(torch.randn_like(s) for s in state))
                mask = None
                if lengths:
                    length = torch.tensor([steps, 1, 3])
                    mask = (torch.arange(steps)[:, None] < length[None]).unsqueeze(-1)  # (T, B, 1)
                dmask = draw_mask(0.3, batch, cell.hidden_size, like=x) if dropout else None
                ref = values_and_grads(cell, lambda c, xp, s, m, d: scan_reference(c, xp, s, m, None, d), x, state, mask, dmask)
                fused = values_and_grads(cell, scan_fused_gpu, x, state, mask, dmask)
                error = max((a - b).abs().max().item() for a, b in zip(fused, ref))
                print(f"{name:14s} lengths={lengths!s:5s} dropout={dropout!s:5s} error {error:.1e}")
                worst = max(worst, error)
    print(f"max error {worst:.1e}")
    if worst > 1e-11:
        sys.exit(f"interpreter kernels differ from the reference by {worst:.1e}")


if __name__ == "__main__":
    main()
