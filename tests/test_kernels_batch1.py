"""The batch-1 path of the fused kernels (csrc/matvec.h: the recurrent product as a panel
matrix-vector product) equals the reference backend and the GEMM path it replaces: training
(forward + backward) and inference, every cell it serves, lengths, reverse and bidirectional,
stacked, float32 and float64; gradcheck of each hand-derived backward at batch 1.

Hidden sizes are chosen against the panel width (64 float32 columns, 32 float64): 70 gives
full panels and a zero-padded tail panel in both the forward (N = G*H) and the backward
(N = H) products; 5 gives a tail panel alone."""

from __future__ import annotations

import pytest
import torch
from kernels_helpers import FAMILIES, run

import rnnkit
from rnnkit.kernels import extension
from rnnkit.kernels.fused import GRUFunction, GRUOriginalFunction, LSTMFunction
from rnnkit.kernels.fused_layer_norm import LayerNormLSTMFunction

pytestmark = pytest.mark.skipif(extension.load_extension() is None,
                                reason=f"fused extension unavailable: {extension.unavailable_reason()}")



def _pair(family, inputs, hidden, *, layers, bidirectional, dtype):
    cls, kwargs = FAMILIES[family]
    torch.manual_seed(3)
    made = {b: cls(inputs, hidden, num_layers=layers, bidirectional=bidirectional, dtype=dtype, backend=b, **kwargs)
            for b in ("reference", "fused")}
    with torch.no_grad():  # non-trivial layer-norm gains, so their gradients are compared too
        for name, p in made["reference"].named_parameters():
            if name.startswith("ln_"):
                p.add_(torch.rand_like(p) * 0.5)
    made["fused"].load_state_dict(made["reference"].state_dict())
    return made["reference"], made["fused"]


def _close_to_scale(got, want, tol):
    """|got - want| <= tol * max|want| elementwise: float32 gradients of the layer-normalized
    cells sum many terms of both signs, so an element far below its tensor's scale can differ
    by more than any per-element rtol between two summation orders (measured at hidden 70,
    against a float64 run: 2.7e-6 of the scale on the panel path, 2.1e-6 on the GEMM path)."""
    err = float((got.double() - want.double()).abs().max())
    assert err <= tol * max(float(want.abs().max()), 1e-6), (err, float(want.abs().max()))


def _compare(family, *, hidden, layers, bidirectional, dtype, lengths, training):
    ref, fused = _pair(family, 4, hidden, layers=layers, bidirectional=bidirectional, dtype=dtype)
    x = torch.randn(9, 1, 4, dtype=dtype)
    lens = torch.tensor([6]) if lengths else None
    tol = dict(atol=1e-5, rtol=1e-5) if dtype == torch.float32 else dict(atol=1e-11, rtol=1e-10)
    if training:
        ref.train(), fused.train()
        (v_r, g_r), (v_f, g_f) = run(ref, x, None, lens, 0), run(fused, x, None, lens, 0)
        assert len(g_r) == len(g_f)
        for a, b in zip(v_r, v_f):
            torch.testing.assert_close(b, a, **tol)
        for a, b in zip(g_r, g_f):
            if dtype == torch.float32:
                _close_to_scale(b, a, 1e-4)
            else:
                torch.testing.assert_close(b, a, **tol)
        out = v_f[0]
    else:
        ref.eval(), fused.eval()
        with torch.no_grad():
            (o_r, f_r), (o_f, f_f) = ref(x, lengths=lens), fused(x, lengths=lens)
        torch.testing.assert_close(o_f, o_r, **tol)
        for a, b in zip(f_r if isinstance(f_r, tuple) else (f_r,), f_f if isinstance(f_f, tuple) else (f_f,)):
            torch.testing.assert_close(b, a, **tol)
        out = o_f
    assert {ch.backend for row in fused.last_backend for ch in row} == {"fused"}
    if lengths:
        assert not out[6:].any()  # zero past the sample's length


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("training", [True, False])
def test_batch1_float32_bidirectional_stack_with_lengths(family, training):
    _compare(family, hidden=70, layers=2, bidirectional=True, dtype=torch.float32, lengths=True, training=training)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_batch1_float64_unidirectional_full_length(family):
    _compare(family, hidden=70, layers=1, bidirectional=False, dtype=torch.float64, lengths=False, training=True)


@pytest.mark.parametrize("family", ["lstm_ln", "gru_orig"])
@pytest.mark.parametrize("hidden", [5, 64])
def test_batch1_panel_edges(family, hidden):
    """A tail panel alone (5) and an exact number of panels with no tail (64)."""
    _compare(family, hidden=hidden, layers=1, bidirectional=True, dtype=torch.float32, lengths=False, training=True)
    _compare(family, hidden=hidden, layers=1, bidirectional=False, dtype=torch.float32, lengths=True, training=False)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_batch1_panels_equal_gemm_path(family, monkeypatch):
    """RNNKIT_NO_MATVEC selects the GEMM path at batch 1: the two agree to float32 rounding."""
    ref, fused = _pair(family, 4, 70, layers=1, bidirectional=True, dtype=torch.float32)
    x = torch.randn(12, 1, 4)
    fused.train()
    v_p, g_p = run(fused, x, None, None, 0)
    monkeypatch.setenv("RNNKIT_NO_MATVEC", "1")
    v_g, g_g = run(fused, x, None, None, 0)
    for a, b in zip(v_g, v_p):  # two float32 orders of summation, each within 1e-5 of the reference
        torch.testing.assert_close(b, a, atol=2e-5, rtol=1e-4)
    for a, b in zip(g_g, g_p):
        _close_to_scale(b, a, 1e-4)


def _inputs(steps, hidden, gates, *, lengths, dropout, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = dict(dtype=torch.float64)
    x = torch.randn(steps, 1, gates * hidden, generator=g, **d).requires_grad_()
    h0, c0 = (torch.randn(1, hidden, generator=g, **d).requires_grad_() for _ in range(2))
    w = (torch.randn(gates * hidden, hidden, generator=g, **d) * 0.5).requires_grad_()
    b = torch.randn(gates * hidden, generator=g, **d).requires_grad_()
    mask = (torch.arange(steps)[:, None] < torch.tensor([steps - 2])[None]).contiguous() if lengths else None
    dmask = (torch.rand(1, hidden, generator=g, **d) > 0.3).double() / 0.7 if dropout else None
    return x, h0, c0, w, b, mask, dmask


@pytest.mark.parametrize("lengths", [False, True])
@pytest.mark.parametrize("dropout", [False, True])
def test_batch1_gradcheck(lengths, dropout):
    """Hidden 3 at float64: one tail panel of 32 columns in every product."""
    x, h0, c0, w, _, mask, dmask = _inputs(5, 3, 4, lengths=lengths, dropout=dropout)
    assert torch.autograd.gradcheck(lambda *a: LSTMFunction.apply(*a, mask, dmask), (x, h0, c0, w))
    x, h0, _, w, b, mask, dmask = _inputs(5, 3, 3, lengths=lengths, dropout=dropout)
    assert torch.autograd.gradcheck(lambda *a: GRUFunction.apply(*a, mask, dmask), (x, h0, w, b))
    assert torch.autograd.gradcheck(lambda *a: GRUOriginalFunction.apply(*a, mask, dmask), (x, h0, w))


@pytest.mark.parametrize("dropout", [False, True])
def test_batch1_gradcheck_layer_norm_lstm(dropout):
    xw, h0, c0, w, b, mask, dmask = _inputs(5, 3, 4, lengths=True, dropout=dropout)
    g = torch.Generator().manual_seed(2)
    gain = lambda n: (torch.rand(n, generator=g, dtype=torch.float64) + 0.5).requires_grad_()  # noqa: E731
    ln_ih, ln_hh, lnc_g = gain(12), gain(12), gain(3)
    lnc_b = torch.randn(3, generator=g, dtype=torch.float64).requires_grad_()
    b_hh = (b.detach() * 0.5).requires_grad_()
    fn = lambda xw, h0, c0, w, ln_ih, ln_hh, lnc_g, lnc_b, b, b_hh: LayerNormLSTMFunction.apply(  # noqa: E731
        xw, h0, c0, w, ln_ih, b, b_hh, ln_hh, lnc_g, lnc_b, mask, dmask)
    assert torch.autograd.gradcheck(fn, (xw, h0, c0, w, ln_ih, ln_hh, lnc_g, lnc_b, b, b_hh))
