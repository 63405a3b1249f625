"""The small-batch path of the fused kernels (csrc/smallm.h: the recurrent product at batch
2..64 over weights packed into 16-column panels) equals the reference backend and the GEMM
path it replaces: training (forward + backward) and inference, every cell, lengths, reverse and
bidirectional, stacked, layer norm, recurrent dropout.

The path is taken at batch 2-4, and at batch 5-64 where the weight has >= 64K elements
(smallm_pays in csrc/smallm.h): the layer tests use hidden 130 for the LSTM (4H x H = 67600)
and 260 for the GRU and RNN (their smallest product, H x H, 67600), so batches 5 and 16 run on
the panels too. Batches are chosen against the row groups (4 rows, then 3, 2 or 1): 2 (two
panels per tile), 3, 5 (4 + 1: four panels per tile), 6 (4 + 2), 7 (4 + 3) and 16 (four groups
of 4). Hidden sizes against the panel width (16 columns): 130 and 260 leave tail panels of 2 to
12 columns in the forward (N = G*H) and the backward (N = H) products, 5 a tail panel alone,
64 exact panels."""

from __future__ import annotations

import pytest
import torch
from kernels_helpers import FAMILIES, run

import rnnkit
from rnnkit.kernels import extension

pytestmark = pytest.mark.skipif(
    extension.load_extension() is None,
    reason=f"fused extension unavailable: {extension.unavailable_reason()}")


# The build uses -march=native, so a CPU with AVX2 gets the small-batch kernel compiled in.
HAS_AVX2 = torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")


def _pair(family, inputs, hidden, *, layers, bidirectional):
    cls, kwargs = FAMILIES[family]
    torch.manual_seed(3)
    made = {b: cls(inputs, hidden, num_layers=layers, bidirectional=bidirectional, backend=b,
                   **kwargs) for b in ("reference", "fused")}
    with torch.no_grad():  # non-trivial layer-norm gains, so their gradients are compared too
        for name, p in made["reference"].named_parameters():
            if name.startswith("ln_"):
                p.add_(torch.rand_like(p) * 0.5)
    made["fused"].load_state_dict(made["reference"].state_dict())
    return made["reference"], made["fused"]


def _close_to_scale(got, want, tol):
    """|got - want| <= tol * max|want| elementwise (see test_kernels_batch1: float32 gradients
    of the layer-normalized cells sum many terms of both signs)."""
    err = float((got.double() - want.double()).abs().max())
    assert err <= tol * max(float(want.abs().max()), 1e-6), (err, float(want.abs().max()))


def _states(final):
    return final if isinstance(final, tuple) else (final,)


def _lengths(batch, steps):
    """Every row a different length, the longest the full sequence, in no sorted order."""
    return torch.tensor([steps - (3 * b) % steps for b in range(batch)])


def _compare(family, *, batch, hidden, layers, bidirectional, lengths, training, steps=9):
    ref, fused = _pair(family, 4, hidden, layers=layers, bidirectional=bidirectional)
    x = torch.randn(steps, batch, 4)
    lens = _lengths(batch, steps) if lengths else None
    # Layer norm divides by a small std: two float32 runs of the two-layer layer-normalized LSTM
    # differ by up to 2.25e-5 in one output of thousands (H 130, with dropout, batch 2), while
    # each is within 6.1e-6 (panels), 6.0e-6 (GEMM path) and 3.3e-6 (reference) of float64.
    tol = dict(atol=4e-5 if "ln" in family else 1e-5, rtol=1e-5)
    if training:
        ref.train(), fused.train()
        (v_r, g_r), (v_f, g_f) = run(ref, x, None, lens, 0), run(fused, x, None, lens, 0)
        assert len(g_r) == len(g_f)
        for a, b in zip(v_r, v_f):
            torch.testing.assert_close(b, a, **tol)
        for a, b in zip(g_r, g_f):
            _close_to_scale(b, a, 1e-4)
        out = v_f[0]
    else:
        ref.eval(), fused.eval()
        with torch.no_grad():
            (o_r, f_r), (o_f, f_f) = ref(x, lengths=lens), fused(x, lengths=lens)
        torch.testing.assert_close(o_f, o_r, **tol)
        for a, b in zip(_states(f_r), _states(f_f)):
            torch.testing.assert_close(b, a, **tol)
        out = o_f
    assert {ch.backend for row in fused.last_backend for ch in row} == {"fused"}
    if lengths:
        for b, n in enumerate(lens.tolist()):
            assert not out[n:, b].any()  # zero past each sample's length


def _hidden(family):
    """A hidden size whose every recurrent product takes the panels at any batch up to 64."""
    return 130 if family.startswith("lstm") else 260


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("batch", [2, 5, 16])
def test_smallm_bidirectional_stack_with_lengths(family, training, batch):
    _compare(family, batch=batch, hidden=_hidden(family), layers=2, bidirectional=True,
             lengths=True, training=training)


@pytest.mark.parametrize("family", ["lstm_ln", "gru", "gru_orig", "rnn_relu"])
@pytest.mark.parametrize("batch", [3, 6])
@pytest.mark.parametrize("hidden", [5, 64, 130])
def test_smallm_panel_and_row_edges(family, batch, hidden):
    """A tail panel alone (5), exact panels (64), a 2-column tail (130); row groups 3 and 4 + 2."""
    one = dict(batch=batch, hidden=hidden, layers=1)
    _compare(family, **one, bidirectional=True, lengths=False, training=True)
    _compare(family, **one, bidirectional=False, lengths=True, training=False)


def _both_paths(family, monkeypatch, *, batch, hidden, training):
    """Values and gradients of one layer with the small-batch path, then with RNNKIT_NO_SMALLM."""
    _, fused = _pair(family, 4, hidden, layers=1, bidirectional=True)
    x = torch.randn(12, batch, 4)
    fused.train(training)
    results = []
    for off in (False, True):
        if off:
            monkeypatch.setenv("RNNKIT_NO_SMALLM", "1")
        if training:
            results.append(run(fused, x, None, None, 0))
        else:
            with torch.no_grad():
                out, final = fused(x)
            results.append(([out, *_states(final)], []))
    monkeypatch.delenv("RNNKIT_NO_SMALLM", raising=False)
    return results


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("training", [True, False])
def test_smallm_equals_gemm_path(family, training, monkeypatch):
    """RNNKIT_NO_SMALLM selects the GEMM path: the two agree to float32 rounding."""
    (v_s, g_s), (v_g, g_g) = _both_paths(family, monkeypatch, batch=7, hidden=_hidden(family),
                                         training=training)
    for a, b in zip(v_g, v_s):  # two float32 orders of summation, each within 1e-5 of the reference
        torch.testing.assert_close(b, a, atol=2e-5, rtol=1e-4)
    for a, b in zip(g_g, g_s):
        _close_to_scale(b, a, 1e-4)


def _product(a, w, trans, c, beta, uses=9):
    return extension.load_extension().recurrent_product(a, w, trans, c, beta, uses)


@pytest.mark.parametrize("batch", [2, 3, 5, 6, 7, 16, 32, 64, 65])
@pytest.mark.parametrize("n,k", [(280, 70), (70, 280), (5, 5), (64, 64), (130, 17), (300, 256),
                                 (256, 260)])
@pytest.mark.parametrize("trans", [True, False])
def test_smallm_product_equals_float64(batch, n, k, trans, monkeypatch):
    """One product c = beta c + a op(w), through the extension, against float64 torch.mm; a is a
    strided view (row stride k + 3) as in the backward, and both paths are checked."""
    g = torch.Generator().manual_seed(batch * 1000 + n + k)
    a = torch.randn(batch, k + 3, generator=g)[:, 1:k + 1]
    w = torch.randn(n, k, generator=g) if trans else torch.randn(k, n, generator=g)
    c = torch.randn(batch, n, generator=g)
    op_w = (w.t() if trans else w).double()
    for off in (False, True):
        if off:
            monkeypatch.setenv("RNNKIT_NO_SMALLM", "1")
        for beta in (0.0, 1.0, 0.5):
            got, path = _product(a, w, trans, c, beta)
            want = beta * c.double() + a.double() @ op_w
            torch.testing.assert_close(got.double(), want, atol=1e-5 * k ** 0.5, rtol=1e-5)
            pays = batch <= 4 or (batch <= 64 and n * k >= 1 << 16)  # smallm_pays in smallm.h
            assert (path == "small_batch") == (HAS_AVX2 and not off and pays), path
    monkeypatch.delenv("RNNKIT_NO_SMALLM", raising=False)


def test_recurrent_product_names_bad_arguments():
    a, w, c = torch.randn(4, 8), torch.randn(24, 8), torch.zeros(4, 24)
    with pytest.raises(RuntimeError, match=r"`w` must be \(N, K\) with K = 8, got \[24, 7\]"):
        _product(a, w[:, :7].contiguous(), True, c, 0.0)
    with pytest.raises(RuntimeError, match=r"argument `c` must be \(4, 24\), got \[4, 23\]"):
        _product(a, w, True, c[:, :23], 0.0)
    with pytest.raises(RuntimeError, match="argument `w` and `c` must have a's dtype"):
        _product(a, w.double(), True, c, 0.0)


def test_smallm_product_not_for_float64_batch1_or_one_use():
    """float64 keeps the GEMM path, batch 1 the matvec, a single product is not worth packing."""
    a, w, c = torch.randn(4, 8), torch.randn(24, 8), torch.zeros(4, 24)
    assert _product(a.double(), w.double(), True, c.double(), 0.0)[1] == "gemm"
    assert _product(a[:1], w, True, c[:1], 0.0)[1] == "matvec"
    assert _product(a, w, True, c, 0.0, uses=1)[1] != "small_batch"


def test_smallm_product_with_more_threads_only_at_batch_2_to_4():
    """The panels run on one thread; with more, batches above 4 keep the threaded GEMM."""
    w = torch.randn(512, 256)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for batch, want in ((2, True), (4, True), (5, False), (16, False), (64, False)):
            a, c = torch.randn(batch, 256), torch.zeros(batch, 512)
            got, path = _product(a, w, True, c, 0.0)
            torch.testing.assert_close(got, a @ w.t(), atol=1e-4, rtol=1e-5)
            assert (path == "small_batch") == (HAS_AVX2 and want), (batch, path)
    finally:
        torch.set_num_threads(threads)
    path = _product(torch.randn(16, 256), w, True, torch.zeros(16, 512), 0.0)[1]
    assert (path == "small_batch") == HAS_AVX2, path  # one thread again: the panels
