"""Backend choice: vendor where torch's math is identical, strict mode, fallback warnings when
the compiler is missing, explain(), and the variants' options and bad input."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.kernels import dispatch, extension
from rnnkit.kernels.dispatch import BackendUnavailableError
from rnnkit.kernels.explain import explain

needs_fused = pytest.mark.skipif(extension.load_extension() is None, reason="fused extension unavailable")


def backends(layer):
    return {choice.backend for row in layer.last_backend for choice in row}


@pytest.fixture
def no_compiler(monkeypatch):
    """Simulate a machine without a C++ compiler: the next load attempt fails for that reason."""
    monkeypatch.setenv("CXX", "rnnkit-no-such-compiler")
    extension.reset()
    dispatch._warned.clear()
    yield
    monkeypatch.undo()
    extension.reset()
    dispatch._warned.clear()


@pytest.mark.parametrize("cls,kwargs", [(rnnkit.LSTM, {}), (rnnkit.LSTM, {"proj_size": 3}), (rnnkit.GRU, {}),
                                        (rnnkit.RNN, {"nonlinearity": "relu"})])
@pytest.mark.parametrize("lengths", [None, [5, 2, 4]])
def test_vendor_equals_reference(cls, kwargs, lengths):
    torch.manual_seed(0)
    ref = cls(4, 6, num_layers=2, bidirectional=True, backend="reference", **kwargs)
    ven = cls(4, 6, num_layers=2, bidirectional=True, backend="vendor", **kwargs)
    ven.load_state_dict(ref.state_dict())
    x = torch.randn(5, 3, 4)
    lengths = None if lengths is None else torch.tensor(lengths)
    results = []
    for layer in (ref, ven):
        xi = x.clone().requires_grad_()
        out, state = layer(xi, lengths=lengths)
        states = state if isinstance(state, tuple) else (state,)
        (out.sum() + sum((s * s).sum() for s in states)).backward()
        results.append([out, *states, xi.grad] + [p.grad for p in layer.parameters()])
    assert backends(ven) == {"vendor"}
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


def test_auto_uses_vendor_only_where_math_is_identical():
    x = torch.randn(10, 2, 3)  # an LSTM of hidden 256 on 10 steps: the auto rule prefers oneDNN
    with torch.no_grad():
        stock = rnnkit.LSTM(3, 256)
        stock(x)
        assert backends(stock) == {"vendor"}
        for layer in (rnnkit.LSTM(3, 256, layer_norm=True), rnnkit.GRU(3, 256, reset_after=False),
                      rnnkit.LSTM(3, 256, recurrent_dropout=0.2)):
            layer(x)  # training mode: recurrent dropout active
            assert "vendor" not in backends(layer), layer
        eval_dropout = rnnkit.LSTM(3, 256, recurrent_dropout=0.2).eval()
        eval_dropout(x)  # in eval mode recurrent dropout is the identity, so torch's kernel is exact
        assert backends(eval_dropout) == {"vendor"}


@needs_fused
def test_auto_rule_prefers_fused_for_gru_rnn_and_narrow_lstms():
    """benchmarks/auto_rule.md: fused / torch.nn 0.31-0.83 for GRU and RNN inference, 0.59-0.95
    for LSTM H64 training at B16/B64 (0.61 at B64 H64 T200, which the old rule gave oneDNN)."""
    small = rnnkit.LSTM(3, 5)
    small(torch.randn(4, 2, 3))
    assert backends(small) == {"fused"}
    for layer in (rnnkit.GRU(3, 64), rnnkit.RNN(3, 64), rnnkit.LSTM(3, 64)):
        layer(torch.randn(200, 64, 3))  # a training step, batch x hidden = 4096
        assert backends(layer) == {"fused"}, layer
        with torch.no_grad():
            layer(torch.randn(10, 64, 3))
        assert backends(layer) == {"fused"}, layer


@needs_fused
def test_auto_rule_gives_wide_lstm_inference_to_onednn_except_at_batch_one():
    wide, narrow = rnnkit.LSTM(3, 256), rnnkit.LSTM(3, 128)
    with torch.no_grad():
        wide(torch.randn(10, 2, 3))
        narrow(torch.randn(10, 2, 3))
        assert backends(wide) == {"vendor"} and backends(narrow) == {"fused"}
        wide(torch.randn(10, 1, 3))  # batch 1: the fused panel matrix-vector product beats oneDNN
        assert backends(wide) == {"fused"}
        wide(torch.randn(3, 2, 3))  # very short sequences: oneDNN's per-call set-up dominates
        assert backends(wide) == {"fused"}
        wide_batch_first = rnnkit.LSTM(3, 256, batch_first=True)
        wide_batch_first(torch.randn(1, 10, 3))  # batch 1 read from the batch-first layout too
        assert backends(wide_batch_first) == {"fused"}
        wide_batch_first(torch.randn(2, 10, 3))
        assert backends(wide_batch_first) == {"vendor"}
    wide.eval()(torch.randn(10, 2, 3))  # eval mode with grad on: weights still require grad
    assert backends(wide) == {"fused"}


@needs_fused
def test_auto_rule_gives_wide_lstm_training_to_fused():
    """speed.md (after csrc/smallm.h): fused / nn 0.79-0.94 for LSTM H256/H512 training at B16/B64."""
    wide = rnnkit.LSTM(3, 256)
    out, _ = wide(torch.randn(10, 16, 3))
    out.sum().backward()
    assert backends(wide) == {"fused"}
    with torch.no_grad():  # the same layer and shape, no backward possible: oneDNN
        wide(torch.randn(10, 16, 3))
    assert backends(wide) == {"vendor"}
    for p in wide.parameters():
        p.requires_grad_(False)
    wide(torch.randn(10, 16, 3))  # frozen weights, input without grad: inference
    assert backends(wide) == {"vendor"}
    wide(torch.randn(10, 16, 3, requires_grad=True))  # gradients of the input: backward follows
    assert backends(wide) == {"fused"}


@needs_fused
def test_auto_rule_with_more_threads_keeps_wide_lstms_on_onednn_but_batch_one_training():
    wide = rnnkit.LSTM(3, 256)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        out, _ = wide(torch.randn(10, 16, 3))  # training at batch 16: oneDNN with 2 threads
        assert backends(wide) == {"vendor"}
        out, _ = wide(torch.randn(10, 1, 3))  # training at batch 1: fused
        assert backends(wide) == {"fused"}
        with torch.no_grad():
            wide(torch.randn(10, 1, 3))  # inference at batch 1: oneDNN with 2 threads
        assert backends(wide) == {"vendor"}
    finally:
        torch.set_num_threads(threads)
    out, _ = wide(torch.randn(10, 16, 3))  # one thread again: the choice is not cached across
    assert backends(wide) == {"fused"}


def test_trace_runs_reference():
    lstm = rnnkit.LSTM(3, 5, backend="fused", strict=True)
    lstm.trace(torch.randn(4, 2, 3))
    assert backends(lstm) == {"reference"}


@needs_fused
def test_strict_raises_where_fused_cannot_serve(monkeypatch):
    x = torch.randn(4, 2, 3)
    with pytest.raises(BackendUnavailableError, match="activation='relu'.*Strict mode"):
        rnnkit.LSTM(3, 5, activation="relu", strict=True)(x)
    with pytest.raises(BackendUnavailableError, match="proj_size"):
        rnnkit.LSTM(3, 5, proj_size=2, backend="fused", strict=True)(x)
    monkeypatch.setenv("RNNKIT_STRICT", "1")
    with pytest.raises(BackendUnavailableError, match="RNNKIT_STRICT"):
        rnnkit.GRU(3, 5, activation="relu")(x)
    rnnkit.GRU(3, 5, reset_after=False)(x)  # fused serves it: no error in strict mode
    rnnkit.GRU(3, 5, activation="relu", backend="reference")(x)  # asked for reference: no error


@needs_fused
def test_fused_request_that_cannot_be_served_warns():
    dispatch._warned.clear()
    with pytest.warns(RuntimeWarning, match="falls back to 'reference'.*activation"):
        lstm = rnnkit.LSTM(3, 5, activation="softsign", backend="fused")
        lstm(torch.randn(4, 2, 3))
    assert backends(lstm) == {"reference"}


def test_missing_compiler_falls_back_with_warning(no_compiler):
    assert "no C++ compiler" in extension.unavailable_reason()
    gru = rnnkit.GRU(3, 5, reset_after=False, backend="fused")
    with pytest.warns(RuntimeWarning, match="no C\\+\\+ compiler.*rnnkit-no-such-compiler"):
        out, _ = gru(torch.randn(4, 2, 3))
    assert out.shape == (4, 2, 5)
    assert backends(gru) == {"reference"}
    assert "unavailable" in explain(gru)
    with pytest.raises(BackendUnavailableError, match="no C\\+\\+ compiler"):
        rnnkit.GRU(3, 5, reset_after=False, strict=True)(torch.randn(4, 2, 3))


def test_explain_names_backend_and_reason():
    lstm = rnnkit.LSTM(3, 256, num_layers=2)
    assert "not run yet" in explain(lstm)
    with torch.no_grad():
        lstm(torch.randn(10, 2, 3))
    text = explain(lstm)
    assert "layer 1 forward: vendor (auto:" in text
    with pytest.raises(TypeError, match="`layer`"):
        explain(torch.nn.Linear(2, 2))


def test_bad_options():
    with pytest.raises(ValueError, match="`recurrent_dropout`.*\\[0, 1\\).*1.0"):
        rnnkit.LSTM(3, 5, recurrent_dropout=1.0)
    with pytest.raises(ValueError, match="`recurrent_dropout`"):
        rnnkit.GRU(3, 5, recurrent_dropout=-0.1)
    with pytest.raises(TypeError, match="`layer_norm`.*'yes'"):
        rnnkit.LSTM(3, 5, layer_norm="yes")
    with pytest.raises(TypeError, match="`strict`.*1"):
        rnnkit.LSTM(3, 5, strict=1)
    with pytest.raises(ValueError, match="`backend`.*'cuda'"):
        rnnkit.GRU(3, 5, backend="cuda")
    with pytest.raises(ValueError, match="`proj_size`.*layer_norm"):
        rnnkit.LSTM(3, 5, proj_size=2, layer_norm=True)


@pytest.mark.parametrize("backend", ["reference", pytest.param("fused", marks=needs_fused)])
def test_recurrent_dropout_semantics(backend):
    torch.manual_seed(0)
    lstm = rnnkit.LSTM(3, 5, recurrent_dropout=0.5, backend=backend)
    plain = rnnkit.LSTM(3, 5, backend=backend)
    plain.load_state_dict(lstm.state_dict())
    x = torch.randn(6, 4, 3)
    torch.manual_seed(1)
    a, _ = lstm(x)
    torch.manual_seed(1)
    b, _ = lstm(x)
    torch.testing.assert_close(a, b)  # seeded runs repeat
    assert not torch.allclose(a, plain(x)[0])  # training: a mask is applied
    lstm.eval()
    torch.testing.assert_close(lstm(x)[0], plain(x)[0])  # eval: no dropout


def test_layer_norm_state_dict_and_init():
    lstm = rnnkit.LSTM(3, 5, layer_norm=True, bidirectional=True)
    keys = set(lstm.state_dict())
    assert {"ln_ih_weight_l0", "ln_hh_weight_l0", "ln_c_weight_l0", "ln_c_bias_l0_reverse"} <= keys
    assert torch.equal(lstm.ln_c_weight_l0, torch.ones(5)) and torch.equal(lstm.ln_c_bias_l0, torch.zeros(5))
    assert "layer_norm=True" in repr(lstm)


def test_a_stale_build_lock_is_removed_and_a_fresh_one_kept(tmp_path):
    import os
    import time

    from rnnkit.kernels.extension import STALE_LOCK_SECONDS, _remove_stale_lock

    lock = tmp_path / "lock"
    lock.write_text("")
    _remove_stale_lock(tmp_path)
    assert lock.exists()  # a build in progress keeps its lock
    old = time.time() - STALE_LOCK_SECONDS - 60
    os.utime(lock, (old, old))
    _remove_stale_lock(tmp_path)
    assert not lock.exists()
    _remove_stale_lock(tmp_path)  # nothing to remove is fine


def test_the_build_folder_is_keyed_on_the_source(tmp_path, monkeypatch):
    # Two source trees on one environment must not share a build folder (each would rebuild,
    # or load, the other's binary): an edited fused.cpp or header gets a folder of its own.
    from rnnkit.kernels import extension

    csrc = tmp_path / "csrc"
    csrc.mkdir()
    (csrc / "fused.cpp").write_text("// one\n")
    (csrc / "inference.h").write_text("// header\n")
    monkeypatch.setenv("RNNKIT_EXTENSIONS_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(extension, "SOURCE", csrc / "fused.cpp")
    first = extension.cache_dir()
    assert first.parent == tmp_path / "cache" and first == extension.cache_dir()
    (csrc / "fused.cpp").write_text("// two\n")
    second = extension.cache_dir()
    (csrc / "inference.h").write_text("// header, edited\n")
    third = extension.cache_dir()
    assert len({first, second, third}) == 3
    assert f"-src{extension.source_digest()}" in third.name
