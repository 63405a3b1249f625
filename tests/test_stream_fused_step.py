"""The one-call C++ step that streams use for LSTM layers (rnnkit.kernels.fused_step) equals
the reference backend over the whole sequence, with and without layer norm and biases, and is
used exactly where it applies."""

import pytest
import torch

import rnnkit
from rnnkit.kernels import extension

pytestmark = pytest.mark.skipif(extension.load_extension() is None,
                                reason=f"fused extension unavailable: {extension.unavailable_reason()}")


def _random_norms(layer):
    """Gains and shifts away from their 1 / 0 start, so that they matter."""
    with torch.no_grad():
        for name, p in layer.named_parameters():
            if name.startswith("ln_"):
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if "weight" in name else 0.0))
    return layer


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fused_step_equals_reference_sequence(layer_norm, bias, dtype):
    torch.manual_seed(3)
    layer = _random_norms(rnnkit.LSTM(5, 7, num_layers=2, bias=bias, layer_norm=layer_norm, dtype=dtype,
                                      backend="reference")).eval()
    x = torch.randn(9, 3, 5, dtype=dtype)
    with torch.no_grad():
        expected, (h, c) = layer(x)
    stream = layer.stream(3)
    assert all(fast is not None for fast in stream._fast)
    got = torch.stack([stream.step(x_t) for x_t in x])
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(got, expected, atol=tol, rtol=tol)
    for layer_index, state in enumerate(stream.get_state()):
        torch.testing.assert_close(state.h, h[layer_index], atol=tol, rtol=tol)
        torch.testing.assert_close(state.c, c[layer_index], atol=tol, rtol=tol)


def test_fused_step_with_valid_mask_and_strided_input():
    torch.manual_seed(4)
    layer = _random_norms(rnnkit.LSTM(4, 6, layer_norm=True, batch_first=True, dtype=torch.float64)).eval()
    x = torch.randn(3, 8, 4, dtype=torch.float64)  # (B, T, I): x[:, t] is not contiguous
    lengths = torch.tensor([8, 3, 5])
    expected, _ = layer(x, lengths=lengths)
    stream = layer.stream(3)
    got = torch.stack([stream.step(x[:, t], valid=t < lengths) for t in range(8)], dim=1)
    torch.testing.assert_close(got, expected, atol=1e-12, rtol=1e-12)


def test_fused_step_serves_only_what_it_computes():
    assert rnnkit.LSTM(3, 4).stream(2)._fast[0] is not None
    assert rnnkit.LSTM(3, 4).stream(2, grad=True)._fast[0] is None  # no backward through the C++ step
    assert rnnkit.LSTM(3, 4, proj_size=2).stream(2)._fast[0] is None
    assert rnnkit.LSTM(3, 4, recurrent_activation="hard_sigmoid").stream(2)._fast[0] is None
    assert rnnkit.GRU(3, 4).stream(2)._fast[0] is None
    assert rnnkit.LSTM(3, 4, dtype=torch.float16).stream(2)._fast[0] is None
