"""The GPU fused path (Triton gate kernels + cuBLAS, ``rnnkit/kernels/gpu.py``) equals the
reference backend on the GPU: outputs, final states and gradients of inputs, weights and initial
states, on random configurations; gradcheck of every hand-derived backward in float64; the
dispatcher's GPU choices. Without CUDA the GPU tests skip; the CPU-side checks still run."""

from __future__ import annotations

import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from kernels_helpers import run

import rnnkit
from rnnkit.cells import GRUCell, LSTMCell
from rnnkit.kernels.explain import explain
from rnnkit.kernels import gpu
from rnnkit.kernels.dispatch import BackendUnavailableError

CUDA = torch.cuda.is_available()
DEVICE = "cuda"  # the equality and gradcheck helpers take it from here (a CPU dry run can override it)
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device: the GPU fused path is tested on a GPU machine")

FAMILIES = {
    "lstm": (rnnkit.LSTM, {}),
    "lstm_act": (rnnkit.LSTM, {"activation": "softsign", "recurrent_activation": "hard_sigmoid"}),
    "lstm_rd": (rnnkit.LSTM, {"recurrent_dropout": 0.3}),
    "lstm_ln": (rnnkit.LSTM, {"layer_norm": True}),
    "lstm_ln_rd": (rnnkit.LSTM, {"layer_norm": True, "recurrent_dropout": 0.25}),
    "gru": (rnnkit.GRU, {}),
    "gru_orig": (rnnkit.GRU, {"reset_after": False}),
    "gru_rd": (rnnkit.GRU, {"recurrent_dropout": 0.3}),
    "gru_orig_rd": (rnnkit.GRU, {"reset_after": False, "recurrent_dropout": 0.2}),
    "gru_orig_act": (rnnkit.GRU, {"reset_after": False, "activation": "relu", "recurrent_activation": "hard_sigmoid"}),
    "rnn_tanh": (rnnkit.RNN, {}),
    "rnn_relu": (rnnkit.RNN, {"nonlinearity": "relu"}),
}


@pytest.fixture
def no_tf32():
    """Exact float32 products on both backends (TF32 would round inputs to 10 mantissa bits)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def compare(family: str, trial: int, dtype: torch.dtype, tol: float):
    rng = random.Random(f"{family}-{trial}-{dtype}")
    cls, kwargs = FAMILIES[family]
    layers_n, bidirectional = rng.choice([1, 2]), rng.random() < 0.5
    batch, steps, hidden, inputs = rng.choice([1, 3, 8]), rng.choice([1, 5, 12]), rng.choice([3, 17, 64]), rng.choice([2, 7])
    batch_first, bias, training = rng.random() < 0.5, rng.random() < 0.8, rng.random() < 0.7
    torch.manual_seed(rng.randrange(10**6))
    layers = {}
    for backend in ("reference", "fused"):
        layers[backend] = cls(inputs, hidden, num_layers=layers_n, bidirectional=bidirectional, batch_first=batch_first,
                              bias=bias, dropout=0.3 if layers_n > 1 else 0.0, backend=backend, device=DEVICE, dtype=dtype,
                              strict=backend == "fused", **kwargs)
        layers[backend].train(training)
    with torch.no_grad():  # layer-norm gains and shifts away from their 1 / 0 start
        for name, p in layers["reference"].named_parameters():
            if name.startswith("ln_"):
                p.add_(torch.randn_like(p) * 0.3)
    layers["fused"].load_state_dict(layers["reference"].state_dict())
    shape = (batch, steps, inputs) if batch_first else (steps, batch, inputs)
    x = torch.randn(shape, device=DEVICE, dtype=dtype)
    lengths = torch.randint(1, steps + 1, (batch,), device=DEVICE) if rng.random() < 0.6 else None
    state = None
    if rng.random() < 0.5:
        parts = 2 if cls is rnnkit.LSTM else 1
        state = tuple(torch.randn(layers_n * (2 if bidirectional else 1), batch, hidden, device=DEVICE, dtype=dtype)
                      for _ in range(parts))
    seed = rng.randrange(10**6)
    ref_values, ref_grads = run(layers["reference"], x, state, lengths, seed)
    values, grads = run(layers["fused"], x, state, lengths, seed)
    assert all(c.backend == "fused" for row in layers["fused"].last_backend for c in row), layers["fused"].last_backend
    for a, b in zip(values, ref_values):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    # Layer norm divides by the spread of a row, which magnifies float32 rounding in the gradients
    # (about 1e-5 of their scale on both backends alike, measured against float64); the float64
    # comparison is its exactness check. Other cells: 1e-5 as for the values.
    layer_norm = "layer_norm" in kwargs and dtype == torch.float32
    for a, b in zip(grads, ref_grads):
        scale = max(1.0, b.abs().max().item()) if layer_norm else 1.0
        torch.testing.assert_close(a, b, rtol=10 * tol if layer_norm else tol, atol=tol * scale)


@needs_cuda
@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("trial", range(3))
def test_gpu_fused_equals_reference_float32(family, trial, no_tf32):
    compare(family, trial, torch.float32, 1e-5)


@needs_cuda
@pytest.mark.parametrize("family", list(FAMILIES))
def test_gpu_fused_equals_reference_float64(family):
    compare(family, 7, torch.float64, 1e-10)


def _function_inputs(kind: str, steps=4, batch=3, hidden=5):
    dev, dt = DEVICE, torch.float64
    g = 4 if kind.startswith("lstm") else 3 if kind.startswith("gru") else 1
    x = torch.randn(steps, batch, g * hidden, device=dev, dtype=dt, requires_grad=True)
    h0 = torch.randn(batch, hidden, device=dev, dtype=dt, requires_grad=True)
    w = (torch.randn(g * hidden, hidden, device=dev, dtype=dt) / hidden**0.5).requires_grad_()
    lengths = torch.tensor([steps, 1, steps - 1][:batch], device=dev)
    mask = (torch.arange(steps, device=dev)[:, None] < lengths[None]).to(dt)  # (T, B)
    dmask = torch.bernoulli(torch.full((batch, hidden), 0.7, device=dev, dtype=dt)) / 0.7
    return x, h0, w, mask, dmask


@needs_cuda
@pytest.mark.parametrize("kind", ["lstm", "lstm_ln", "gru", "gru_nobias", "gru_orig", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("masks", [False, True])
def test_gpu_gradcheck_float64(kind, masks):
    torch.manual_seed(3)
    codes = gpu.kernels().ACT_CODES
    x, h0, w, mask, dmask = _function_inputs(kind)
    mask, dmask = (mask, dmask) if masks else (None, None)
    tanh, sigmoid = codes["tanh"], codes["sigmoid"]
    if kind == "lstm":
        c0 = torch.randn_like(h0).requires_grad_()
        fn = lambda x, h0, c0, w: gpu.LSTMFunction.apply(x, h0, c0, w, mask, dmask, tanh, sigmoid)  # noqa: E731
        args = (x, h0, c0, w)
    elif kind == "lstm_ln":
        from rnnkit.kernels.gpu_layer_norm import LayerNormLSTMFunction  # noqa: PLC0415

        c0 = torch.randn_like(h0).requires_grad_()
        norms = [(torch.randn(n, device=DEVICE, dtype=torch.float64) * 0.3 + 1).requires_grad_() for n in (w.shape[0], 5, 5)]
        fn = lambda x, h0, c0, w, gh, gc, bc: LayerNormLSTMFunction.apply(  # noqa: E731
            x, h0, c0, w, gh, gc, bc, mask, dmask, tanh, sigmoid)
        args = (x, h0, c0, w, *norms)
    elif kind in ("gru", "gru_nobias"):
        b = None if kind == "gru_nobias" else torch.randn(w.shape[0], device=DEVICE, dtype=torch.float64, requires_grad=True)
        fn = lambda x, h0, w, b=b: gpu.GRUFunction.apply(x, h0, w, b, mask, dmask, tanh, sigmoid)  # noqa: E731
        args = (x, h0, w) if b is None else (x, h0, w, b)
    elif kind == "gru_orig":
        fn = lambda x, h0, w: gpu.GRUOriginalFunction.apply(x, h0, w, mask, dmask, tanh, sigmoid)  # noqa: E731
        args = (x, h0, w)
    else:
        act = codes["relu" if kind == "rnn_relu" else "tanh"]
        fn = lambda x, h0, w: gpu.RNNFunction.apply(x, h0, w, mask, dmask, act)  # noqa: E731
        args = (x, h0, w)
    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-7, rtol=1e-5)


@needs_cuda
def test_gpu_auto_picks_cudnn_for_stock_cells_and_fused_for_the_rest():
    x = torch.randn(6, 2, 4, device="cuda")
    lstm = rnnkit.LSTM(4, 8, device="cuda")
    lstm(x)
    assert lstm.last_backend[0][0].backend == "vendor"
    gru = rnnkit.GRU(4, 8, reset_after=False, device="cuda", bidirectional=True)
    gru(x)
    assert [c.backend for c in gru.last_backend[0]] == ["fused", "fused"]
    report = explain(gru)
    assert "cuDNN does not compute this cell" in report and "GPU fused kernels (Triton): available" in report


@needs_cuda
def test_gpu_fallbacks_name_the_reason_and_strict_raises():
    x = torch.randn(5, 2, 4, device="cuda")
    gelu = rnnkit.LSTM(4, 8, activation="gelu", device="cuda")
    gelu(x)  # auto: the reference serves it, silently
    choice = gelu.last_backend[0][0]
    assert choice.backend == "reference" and "activation 'gelu' has no GPU fused kernel" in choice.reason
    with pytest.raises(BackendUnavailableError, match="activation 'gelu' has no GPU fused kernel"):
        rnnkit.LSTM(4, 8, activation="gelu", device="cuda", backend="fused", strict=True)(x)
    half = rnnkit.GRU(4, 8, reset_after=False, device="cuda", dtype=torch.float16, backend="fused", strict=True)
    with pytest.raises(BackendUnavailableError, match="float32 and float64, got torch.float16"):
        half(x.half())
    with pytest.warns(RuntimeWarning, match="falls back to 'reference'"):
        rnnkit.GRU(4, 8, reset_after=False, device="cuda", dtype=torch.float16, backend="fused")(x.half())


# ---- CPU-side checks: run everywhere ------------------------------------------------------
def test_gpu_module_imports_without_triton_and_says_why_it_cannot_run():
    reason = gpu.unavailable_reason()
    if not CUDA:
        assert reason == "CUDA is not available"
    cell = LSTMCell(3, 4, activation="gelu")
    assert "activation 'gelu' has no GPU fused kernel" in gpu.unsupported_reason(cell, torch.zeros(1, 1, 16))
    assert gpu.unsupported_reason(GRUCell(3, 4, reset_after=False), torch.zeros(1, 1, 12)) is None


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed")
def test_triton_kernels_in_interpreter_mode_equal_reference_on_cpu():
    """Triton's interpreter (TRITON_INTERPRET=1) runs the same kernels on CPU tensors in float64."""
    script = Path(__file__).with_name("kernels_gpu_interpreter.py")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(Path(__file__).parents[1] / "src"))
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "max error" in result.stdout


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed")
def test_triton_kernels_compile_for_hopper_without_a_gpu():
    """Every kernel compiles to sm_90 machine code in float32 and float64 (Triton's bundled ptxas)."""
    from triton import compile as triton_compile  # noqa: PLC0415
    from triton.backends.compiler import GPUTarget  # noqa: PLC0415
    from triton.compiler import ASTSource  # noqa: PLC0415

    from rnnkit.kernels import triton_cells  # noqa: PLC0415

    from rnnkit.kernels import triton_layer_norm  # noqa: PLC0415

    kernels = [f for module in (triton_cells, triton_layer_norm) for n, f in vars(module).items()
               if n.endswith(("_step", "_gates", "_state", "_reset")) and hasattr(f, "arg_names")]
    assert len(kernels) == 12, kernels
    for dtype in ("fp32", "fp64"):
        for fn in kernels:
            name = fn.__name__
            constants = {"ACT": 0, "RACT": 1, "BLOCK": triton_cells.BLOCK, "BLOCK_H": 64}
            signature = {a: "constexpr" if a in constants else "i32" if a in ("t", "B", "H", "HAS_MASK", "HAS_DROP")
                         else "*" + dtype for a in fn.arg_names}
            source = ASTSource(fn=fn, signature=signature,
                               constexprs={(fn.arg_names.index(a),): v for a, v in constants.items() if a in fn.arg_names})
            compiled = triton_compile(source, target=GPUTarget("cuda", 90, 32))
            assert ".target sm_90" in compiled.asm["ptx"], name
