"""``ProjectedScan``: the input projection and a fused recurrence as one autograd node
(``rnnkit/kernels/projected.py``). gradcheck in float64 for every input, including W_ih and
both biases, and a layer that follows every kind of in-place weight change (nothing is cached)."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.kernels import extension
from rnnkit.kernels.fused import GRUFunction, GRUOriginalFunction, LSTMFunction, RNNFunction
from rnnkit.kernels.fused_layer_norm import LayerNormLSTMFunction
from rnnkit.kernels.projected import ProjectedScan

pytestmark = pytest.mark.skipif(extension.load_extension() is None,
                                reason=f"fused extension unavailable: {extension.unavailable_reason()}")

D = dict(dtype=torch.float64)


def _leaf(*shape, scale=1.0, generator):
    return (torch.randn(*shape, generator=generator, **D) * scale).requires_grad_()


@pytest.mark.parametrize("family", ["lstm", "gru", "gru_orig", "rnn", "lstm_ln"])
@pytest.mark.parametrize("lengths", [False, True])
def test_gradcheck_projected_scan(family, lengths):
    g = torch.Generator().manual_seed(0)
    steps, batch, inputs, hidden = 4, 3, 2, 3
    blocks = {"lstm": 4, "lstm_ln": 4, "gru": 3, "gru_orig": 3, "rnn": 1}[family]
    x = _leaf(steps, batch, inputs, generator=g)
    w_ih = _leaf(blocks * hidden, inputs, scale=0.5, generator=g)
    b_ih, b_hh = _leaf(blocks * hidden, generator=g), _leaf(blocks * hidden, generator=g)
    h0, c0 = _leaf(batch, hidden, generator=g), _leaf(batch, hidden, generator=g)
    w_hh = _leaf(blocks * hidden, hidden, scale=0.5, generator=g)
    mask = (torch.arange(steps)[:, None] < torch.tensor([steps, 1, 3])[None]).contiguous() if lengths else None
    if family == "lstm":
        fn = lambda x, w_ih, b_ih, b_hh, h0, c0, w_hh: ProjectedScan.apply(  # noqa: E731
            LSTMFunction, x, w_ih, b_ih, b_hh, h0, c0, w_hh, mask, None)
        args = (x, w_ih, b_ih, b_hh, h0, c0, w_hh)
    elif family == "gru":
        fn = lambda x, w_ih, b_ih, b_hh, h0, w_hh: ProjectedScan.apply(  # noqa: E731
            GRUFunction, x, w_ih, b_ih, None, h0, w_hh, b_hh, mask, None)
        args = (x, w_ih, b_ih, b_hh, h0, w_hh)
    elif family == "gru_orig":
        fn = lambda x, w_ih, b_ih, b_hh, h0, w_hh: ProjectedScan.apply(  # noqa: E731
            GRUOriginalFunction, x, w_ih, b_ih, b_hh, h0, w_hh, mask, None)
        args = (x, w_ih, b_ih, b_hh, h0, w_hh)
    elif family == "rnn":
        fn = lambda x, w_ih, b_ih, b_hh, h0, w_hh: ProjectedScan.apply(  # noqa: E731
            RNNFunction, x, w_ih, b_ih, b_hh, h0, w_hh, mask, None, False)
        args = (x, w_ih, b_ih, b_hh, h0, w_hh)
    else:
        gains = [(torch.rand(n, generator=g, **D) + 0.5).requires_grad_() for n in (12, 12, 3)]
        lnc_b = _leaf(hidden, generator=g)
        fn = lambda x, w_ih, b_ih, b_hh, h0, c0, w_hh, ln_ih, ln_hh, lnc_g, lnc_b: ProjectedScan.apply(  # noqa: E731
            LayerNormLSTMFunction, x, w_ih, None, None, h0, c0, w_hh, ln_ih, b_ih, b_hh, ln_hh, lnc_g, lnc_b, mask, None)
        args = (x, w_ih, b_ih, b_hh, h0, c0, w_hh, *gains, lnc_b)
    assert torch.autograd.gradcheck(fn, args)


def test_bias_gradients_are_separate_tensors():
    lstm = rnnkit.LSTM(3, 4, backend="fused")
    lstm(torch.randn(5, 2, 3))[0].sum().backward()
    assert lstm.bias_ih_l0.grad is not lstm.bias_hh_l0.grad
    torch.testing.assert_close(lstm.bias_ih_l0.grad, lstm.bias_hh_l0.grad)


@pytest.mark.parametrize("cls, kwargs", [(rnnkit.LSTM, {}), (rnnkit.GRU, {"reset_after": False}), (rnnkit.RNN, {})])
def test_weights_changed_in_place_are_followed(cls, kwargs):
    """Nothing derived from the weights is kept between calls: an optimizer step,
    ``load_state_dict`` and an edit through ``.data`` all show in the next call."""
    torch.manual_seed(0)
    layer = cls(3, 4, backend="fused", **kwargs)
    twin = cls(3, 4, backend="reference", **kwargs)
    x = torch.randn(6, 2, 3)

    def same():
        twin.load_state_dict(layer.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(layer(x)[0], twin(x)[0], atol=1e-6, rtol=1e-5)

    before = layer(x)[0].detach()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    layer(x)[0].pow(2).sum().backward()
    optimizer.step()
    assert not torch.allclose(layer(x)[0], before)
    same()
    layer.load_state_dict(cls(3, 4, **kwargs).state_dict())
    same()
    layer.bias_hh_l0.data.add_(1.0)  # a separate version counter: a cache keyed by _version would miss it
    same()
