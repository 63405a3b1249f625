"""The fused forward-only kernels (kernels/fused_inference.py, csrc/inference.h) equal the
reference backend: every cell they serve, input-projection block sizes that do and do not
divide the sequence length, lengths, recurrent-dropout masks, reverse and bidirectional
stacks, float32 and float64; and they run exactly where no gradient can flow."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.kernels import extension, fused
from rnnkit.kernels.apply import _NoGradContext
from rnnkit.kernels.fused import LSTMFunction
from rnnkit.kernels.fused_inference import gradient_can_flow, scan_inference
from rnnkit.kernels.reference import scan_reference

pytestmark = pytest.mark.skipif(extension.load_extension() is None,
                                reason=f"fused extension unavailable: {extension.unavailable_reason()}")

FAMILIES = {
    "lstm": (rnnkit.LSTM, {}),
    "lstm_ln": (rnnkit.LSTM, {"layer_norm": True}),
    "gru": (rnnkit.GRU, {}),
    "gru_orig": (rnnkit.GRU, {"reset_after": False}),
}


def _cell(family, inputs, hidden, *, bias=True, dtype=torch.float32, seed=0):
    cls, kwargs = FAMILIES[family]
    torch.manual_seed(seed)
    layer = cls(inputs, hidden, bias=bias, dtype=dtype, **kwargs)
    with torch.no_grad():  # non-trivial layer-norm gains and shifts, so their use is tested too
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):
                p.add_(torch.rand_like(p) * 0.5)
    return layer.cell_grid()[0][0]


def _state(cell, batch, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return cell.state_type(*(torch.randn(batch, cell.output_size, generator=g, dtype=dtype) for _ in cell.init_state(1)))


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("block_steps", [0, 1, 3, 7, 50])
def test_inference_equals_reference(family, block_steps):
    """T=7: blocks of 3 leave a last block of 1; 7 and 50 put every step in one block."""
    cell = _cell(family, 5, 6, seed=block_steps)
    x = torch.randn(7, 4, 5)
    state = _state(cell, 4, torch.float32, 1)
    lengths = torch.tensor([7, 3, 1, 6])
    mask = (torch.arange(7)[:, None] < lengths[None]).unsqueeze(-1)  # (T, B, 1)
    with torch.no_grad():
        out_r, final_r = scan_reference(cell, cell.project_input(x), state, mask)
        out_i, final_i = scan_inference(cell, x, state, mask.squeeze(-1).contiguous(), None, block_steps=block_steps)
    torch.testing.assert_close(out_i, out_r, atol=1e-5, rtol=1e-5)
    assert not out_i[3:, 1].any() and not out_i[1:, 2].any()  # zero past each sample's length
    for a, b in zip(final_r, final_i):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_inference_without_bias_and_with_dropout_mask(family):
    """bias=False and a recurrent-dropout mask (a layer in training mode under no_grad draws one)."""
    cell = _cell(family, 3, 5, bias=False)
    x, state = torch.randn(9, 2, 3), _state(cell, 2, torch.float32, 2)
    dmask = (torch.rand(2, 5) > 0.3).float() / 0.7
    with torch.no_grad():
        out_r, final_r = scan_reference(cell, cell.project_input(x), state, None, None, dmask)
        out_i, final_i = scan_inference(cell, x, state, None, dmask, block_steps=4)
    torch.testing.assert_close(out_i, out_r, atol=1e-5, rtol=1e-5)
    for a, b in zip(final_r, final_i):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_float64_bidirectional_stack_equals_reference(family):
    """Whole layers under no_grad: two layers, both directions (the reverse one flips each
    sample inside its length), lengths, batch_first, float64 to 1e-12."""
    cls, kwargs = FAMILIES[family]
    torch.manual_seed(3)
    ref = cls(4, 6, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64, backend="reference", **kwargs)
    fast = cls(4, 6, num_layers=2, bidirectional=True, batch_first=True, dtype=torch.float64, backend="fused", **kwargs)
    fast.load_state_dict(ref.state_dict())
    x, lengths = torch.randn(3, 11, 4, dtype=torch.float64), torch.tensor([11, 4, 8])
    with torch.no_grad():
        (out_r, final_r), (out_f, final_f) = ref(x, lengths=lengths), fast(x, lengths=lengths)
    assert {ch.backend for row in fast.last_backend for ch in row} == {"fused"}
    torch.testing.assert_close(out_f, out_r, atol=1e-12, rtol=1e-10)
    finals = zip(final_r, final_f) if isinstance(final_r, tuple) else [(final_r, final_f)]
    for a, b in finals:
        torch.testing.assert_close(b, a, atol=1e-12, rtol=1e-10)


def test_inference_equals_training_forward_at_a_long_wide_point():
    """Many blocks over a longer sequence: the forward-only kernel and the training kernel
    (which saves everything) give the same numbers."""
    cell = _cell("lstm", 16, 32)
    x, state = torch.randn(40, 8, 16), _state(cell, 8, torch.float32, 4)
    w = cell.weights()
    with torch.no_grad():
        out_t, h_t, c_t = LSTMFunction.forward(_NoGradContext(), cell.project_input(x) + w.bias_hh, state.h, state.c,
                                               w.weight_hh, None, None)
        out_i, final_i = scan_inference(cell, x, state, None, None, block_steps=6)
    torch.testing.assert_close(out_i, out_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(final_i.h, h_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(final_i.c, c_t, atol=1e-5, rtol=1e-5)


def test_inference_runs_only_where_no_gradient_can_flow(monkeypatch):
    calls = []
    original = fused.scan_inference
    monkeypatch.setattr(fused, "scan_inference", lambda *a, **k: calls.append(1) or original(*a, **k))
    lstm = rnnkit.LSTM(3, 4, layer_norm=True)
    x = torch.randn(5, 2, 3)
    out, _ = lstm(x)  # parameters require grad: the training kernel, with a graph
    assert out.grad_fn is not None and not calls
    with torch.no_grad():
        out, _ = lstm(x)
    assert out.grad_fn is None and len(calls) == 1
    for p in lstm.parameters():
        p.requires_grad_(False)
    out, _ = lstm(x)  # grad mode on, but nothing requires a gradient
    assert out.grad_fn is None and len(calls) == 2
    cell = lstm.cell_grid()[0][0]
    assert gradient_can_flow(cell, x.requires_grad_(), cell.init_state(2))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "4"])
def test_bad_block_steps(bad):
    cell = _cell("gru", 3, 4)
    with pytest.raises(ValueError, match=r"`block_steps`: expected an integer >= 0 .* got"):
        scan_inference(cell, torch.randn(2, 1, 3), cell.init_state(1), None, None, block_steps=bad)
