"""The shared stand-ins for absent kernel arguments (rnnkit/kernels/placeholders.py)."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.kernels import extension
from rnnkit.kernels.placeholders import empty, optional, optional_mask, output_grad, state_grad

needs_fused = pytest.mark.skipif(extension.load_extension() is None,
                                 reason="fused extension unavailable")


def test_one_empty_tensor_per_dtype_made_outside_inference_mode():
    with torch.inference_mode():
        made_inside = empty(torch.float16)  # a dtype no kernel call has asked for yet
    assert not made_inside.is_inference()
    assert empty(torch.float16) is made_inside
    assert empty(torch.float32) is not empty(torch.float64)
    assert optional_mask(None) is empty(torch.bool) and optional_mask(None).dtype == torch.bool
    assert optional(None, torch.zeros(2, dtype=torch.float64)) is empty(torch.float64)
    present = torch.randn(3, 4).t()
    passed = optional(present, present)
    assert passed.is_contiguous() and torch.equal(passed, present)


def test_absent_gradients_are_zeros_or_the_placeholder_and_present_ones_pass_through():
    states = torch.randn(6, 2, 3, dtype=torch.float64)  # (T+1, B, H)
    out = output_grad(None, states)
    assert out.shape == (5, 2, 3) and out.dtype == torch.float64 and not out.any()
    assert state_grad(None, states) is empty(torch.float64)  # the kernels read it as zeros
    final = torch.randn(3, 2, dtype=torch.float64).t()  # strided (B, H)
    passed_final = state_grad(final, states)
    assert passed_final.is_contiguous() and torch.equal(passed_final, final)
    given = torch.randn(5, 2, 3).transpose(0, 1).contiguous().transpose(0, 1)  # strided
    passed = output_grad(given, states)
    assert passed.is_contiguous() and torch.equal(passed, given)


@needs_fused
@pytest.mark.parametrize("make", [
    lambda: rnnkit.LSTM(5, 7, backend="fused"),
    lambda: rnnkit.LSTM(5, 7, layer_norm=True, bias=False, backend="fused"),
    lambda: rnnkit.GRU(5, 7, reset_after=False, recurrent_dropout=0.3, backend="fused"),
    lambda: rnnkit.RNN(5, 7, backend="fused"),
])
def test_kernels_do_not_resize_the_shared_placeholders(make):
    """A kernel that resized an argument it was handed would corrupt every later call."""
    layer = make()
    x = torch.randn(4, 2, 5)
    out, _ = layer(x)
    out.sum().backward()
    layer.eval()
    with torch.no_grad():
        layer(x)
    assert layer.last_backend[0][0].backend == "fused"
    for dtype in (torch.float32, torch.bool):
        assert empty(dtype).numel() == 0 and empty(dtype).shape == (0,)
