"""The alternating traversal of the batch-1 recurrent weights (csrc/matvec.h: successive
products read the column panels in opposite directions) changes no bit of any result: outputs,
final states and gradients with it equal those with RNNKIT_NO_ALTERNATE set (forward order every
step), for every cell family, float32 and float64, training and inference, lengths, reverse
(bidirectional) and stacked layers.

Hidden 70 makes the order matter: 2 to 9 panels of 64 float32 columns (32 float64) with a
zero-padded tail, in the forward (N = G*H) and the backward (N = H) products. 9 steps and a
length of 6: the products are made in both directions, in the forward pass and the backward.
The small-batch panels (csrc/smallm.h) keep one order: alternating their blocks measured no
gain (benchmarks/results/kernels_alternate.md)."""

from __future__ import annotations

import pytest
import torch
from kernels_helpers import FAMILIES, run

from rnnkit.kernels import extension

pytestmark = pytest.mark.skipif(
    extension.load_extension() is None,
    reason=f"fused extension unavailable: {extension.unavailable_reason()}")

STEPS = 9


def _layer(family, hidden, dtype):
    cls, kwargs = FAMILIES[family]
    torch.manual_seed(3)
    layer = cls(4, hidden, num_layers=2, bidirectional=True, dtype=dtype, backend="fused",
                **kwargs)
    with torch.no_grad():  # non-trivial layer-norm gains, so their gradients count too
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):
                p.add_(torch.rand_like(p) * 0.5)
    return layer


def _both_orders(family, monkeypatch, *, batch, hidden, dtype, training):
    """Values and gradients of one layer with the alternating traversal, then without."""
    layer = _layer(family, hidden, dtype).train(training)
    torch.manual_seed(5)
    x = torch.randn(STEPS, batch, 4, dtype=dtype)
    lengths = torch.tensor([6] * batch)
    results = []
    for off in (False, True):
        if off:
            monkeypatch.setenv("RNNKIT_NO_ALTERNATE", "1")
        else:
            monkeypatch.delenv("RNNKIT_NO_ALTERNATE", raising=False)
        if training:
            values, grads = run(layer, x, None, lengths, 0)
        else:
            with torch.no_grad():
                out, final = layer(x, lengths=lengths)
            values, grads = [out, *(final if isinstance(final, tuple) else (final,))], []
        assert {ch.backend for row in layer.last_backend for ch in row} == {"fused"}
        results.append((values, grads))
    monkeypatch.delenv("RNNKIT_NO_ALTERNATE", raising=False)
    return results


def _assert_bit_identical(results):
    (v_on, g_on), (v_off, g_off) = results
    assert len(v_on) == len(v_off) and len(g_on) == len(g_off)
    for i, (a, b) in enumerate(zip(v_on + g_on, v_off + g_off)):
        assert a is not None and b is not None, i
        assert torch.equal(a, b), (i, float((a - b).abs().max()))


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("training", [True, False])
def test_alternate_batch1_bit_identical(family, dtype, training, monkeypatch):
    _assert_bit_identical(_both_orders(family, monkeypatch, batch=1, hidden=70, dtype=dtype,
                                       training=training))


def test_alternate_product_path():
    """Hidden 70 at batch 1 takes the panel matvec the traversal lives in (one product per call
    of recurrent_product, so the direction itself is only seen through the layers above)."""
    ext = extension.load_extension()
    a, w = torch.randn(1, 70), torch.randn(280, 70)
    assert ext.recurrent_product(a, w, True, torch.zeros(1, 280), 0.0, STEPS)[1] == "matvec"
    assert ext.recurrent_product(a, w, True, torch.zeros(1, 280), 0.0, 1)[1] != "matvec"
