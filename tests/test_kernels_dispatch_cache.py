"""The per-layer and per-cell cache of backend choices (``kernels/dispatch.py``): after every
change that can alter a choice or a result (backend, train/eval, dtype, strict mode, the
extension's state, grad mode, batch size, weights changed in place) a layer that has run before
gives what a freshly built layer with the same weights gives, and says so in ``last_backend``."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.kernels import dispatch, extension
from rnnkit.kernels.dispatch import BackendUnavailableError
from rnnkit.kernels.explain import explain

needs_fused = pytest.mark.skipif(extension.load_extension() is None, reason="fused extension unavailable")

FACTORIES = {
    "lstm": lambda **kw: rnnkit.LSTM(6, 8, **kw),
    "lstm_ln": lambda **kw: rnnkit.LSTM(6, 8, layer_norm=True, **kw),
    "lstm_rd": lambda **kw: rnnkit.LSTM(6, 8, recurrent_dropout=0.25, **kw),
    "gru_orig": lambda **kw: rnnkit.GRU(6, 8, reset_after=False, **kw),
    "gru": lambda **kw: rnnkit.GRU(6, 8, **kw),
    "rnn": lambda **kw: rnnkit.RNN(6, 8, **kw),
    "lstm_rd_wide": lambda **kw: rnnkit.LSTM(6, 256, recurrent_dropout=0.25, **kw),
}
NARROW = sorted(set(FACTORIES) - {"lstm_rd_wide"})


def fresh_like(name, layer):
    """A newly built layer of the same kind with ``layer``'s weights (and their requires_grad),
    backend, mode and dtype."""
    other = FACTORIES[name](backend=layer.backend, strict=layer.strict)
    other = other.to(next(layer.parameters()).dtype)
    other.load_state_dict(layer.state_dict())
    for mine, theirs in zip(layer.parameters(), other.parameters()):
        theirs.requires_grad_(mine.requires_grad)
    return other.train(layer.training)


def run(layer, x, seed=0):
    torch.manual_seed(seed)  # recurrent dropout draws its mask from torch's RNG
    out, _ = layer(x)
    return out


def assert_same_as_fresh(name, layer, x):
    out = run(layer, x)
    other = fresh_like(name, layer)
    expected = run(other, x)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    assert layer.last_backend == other.last_backend
    return out


@pytest.mark.parametrize("name", NARROW)
def test_repeated_calls_equal_a_fresh_layer(name):
    torch.manual_seed(1)
    layer = FACTORIES[name]()
    x = torch.randn(5, 3, 6)
    first = assert_same_as_fresh(name, layer, x)
    second = assert_same_as_fresh(name, layer, x)
    torch.testing.assert_close(first, second, atol=0, rtol=0)


@pytest.mark.parametrize("name", NARROW)
def test_changing_backend_mode_and_dtype_invalidates(name):
    torch.manual_seed(2)
    layer = FACTORIES[name]()
    x = torch.randn(5, 3, 6)
    assert_same_as_fresh(name, layer, x)
    layer.backend = "reference"
    assert_same_as_fresh(name, layer, x)
    assert {c.backend for row in layer.last_backend for c in row} == {"reference"}
    layer.backend = "auto"
    layer.eval()
    assert_same_as_fresh(name, layer, x)
    layer.train()
    assert_same_as_fresh(name, layer, x)
    layer.double()
    out = assert_same_as_fresh(name, layer, x.double())
    assert out.dtype == torch.float64


@pytest.mark.parametrize("name", NARROW)
def test_weights_changed_in_place_are_used(name):
    torch.manual_seed(3)
    layer = FACTORIES[name]()
    x = torch.randn(5, 2, 6)
    before = assert_same_as_fresh(name, layer, x)
    with torch.no_grad():
        layer.weight_hh_l0.add_(0.5)
    after = assert_same_as_fresh(name, layer, x)
    assert not torch.allclose(before, after)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    run(layer, x).square().sum().backward()
    optimizer.step()
    assert not torch.allclose(after, assert_same_as_fresh(name, layer, x))


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_batch_size_grad_mode_and_frozen_weights_are_part_of_the_choice(name):
    """Batch size, grad mode and frozen weights: each combination must give the choice and
    the result a fresh layer gives."""
    torch.manual_seed(4)
    layer = FACTORIES[name]()
    for batch in (1, 600, 2):
        x = torch.randn(6, batch, 6)
        assert_same_as_fresh(name, layer, x)
        with torch.no_grad():
            out = layer(x)[0]
            expected = fresh_like(name, layer)(x)[0]
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    layer.requires_grad_(False)
    x = torch.randn(6, 600, 6)
    assert_same_as_fresh(name, layer, x)
    layer.requires_grad_(True)
    assert_same_as_fresh(name, layer, x)


@needs_fused
def test_strict_env_var_is_read_on_every_call(monkeypatch):
    """A cached fused choice stays valid in strict mode; a fallback is never cached, so setting
    RNNKIT_STRICT after a call that fell back makes the next call raise."""
    dispatch._warned.clear()
    x = torch.randn(4, 2, 6)
    ok = rnnkit.GRU(6, 8, reset_after=False)
    ok(x)
    slow = rnnkit.GRU(6, 8, activation="relu")
    slow(x)
    assert slow.last_backend[0][0].backend == "reference"
    monkeypatch.setenv("RNNKIT_STRICT", "1")
    ok(x)
    assert ok.last_backend[0][0].backend == "fused"
    with pytest.raises(BackendUnavailableError, match="RNNKIT_STRICT"):
        slow(x)
    monkeypatch.delenv("RNNKIT_STRICT")
    slow(x)
    assert "strict=False" in explain(slow)


@needs_fused
def test_extension_becoming_unavailable_invalidates(monkeypatch):
    torch.manual_seed(5)
    layer = rnnkit.GRU(6, 8, reset_after=False)
    x = torch.randn(4, 2, 6)
    layer(x)
    assert layer.last_backend[0][0].backend == "fused"
    monkeypatch.setenv("CXX", "rnnkit-no-such-compiler")
    extension.reset()
    dispatch._warned.clear()
    try:
        with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler"):
            out = run(layer, x)
        assert layer.last_backend[0][0].backend == "reference"
        assert "unavailable" in explain(layer)
    finally:
        monkeypatch.undo()
        extension.reset()
        dispatch._warned.clear()
    torch.testing.assert_close(run(layer, x), out, atol=1e-6, rtol=0)
    assert layer.last_backend[0][0].backend == "fused"


def test_cache_stays_small():
    layer = rnnkit.LSTM(6, 8)
    for steps in range(1, 40):
        layer(torch.randn(steps, 1, 6))
    assert len(layer.__dict__.get("_dispatch_cache", {})) <= dispatch._CACHE_LIMIT


def test_train_eval_switch_changes_the_whole_layer_choice():
    """Recurrent dropout has no torch kernel in training, but at inference torch's kernel can
    serve the layer: the cached training choice must not leak into eval mode (and back)."""
    torch.manual_seed(6)
    layer = FACTORIES["lstm_rd_wide"]()
    x = torch.randn(6, 2, 6)  # hidden 256, 6 steps: in eval mode the auto rule prefers torch's kernel
    for training in (True, False, True):
        layer.train(training)
        with torch.no_grad():
            out = run(layer, x)
            other = fresh_like("lstm_rd_wide", layer)
            expected = run(other, x)
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
        assert layer.last_backend == other.last_backend
