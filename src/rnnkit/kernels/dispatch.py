"""Choose the backend that runs a cell over a sequence, and record the choice.

Backends (``backend=``):

``reference``  autograd over ``cell.step``: the specification, runs any cell.
``fused``      our C++ forward and hand-derived backward through time (``kernels/fused.py``).
``vendor``     torch's own kernels (``torch._VF.lstm/gru/rnn_*``: oneDNN on CPU, cuDNN on GPU),
               for whole torch-compatible layers where the math is identical (``kernels/vendor.py``).
``auto``       the rule in ``auto_rule`` below, backed by ``benchmarks/speed.md``.

Every run records a ``Choice(backend, reason)``. A backend that cannot serve a configuration
falls back to ``reference`` (with a warning when ``fused`` was asked for or the extension could
not be built); in strict mode (``strict=True`` on a layer, or ``RNNKIT_STRICT=1`` in the
environment) it raises ``BackendUnavailableError`` instead.
"""

from __future__ import annotations

import os
import warnings
from typing import NamedTuple, Optional

import torch

from rnnkit.cells.recurrent_dropout import draw_mask
from rnnkit.kernels import extension
from rnnkit.kernels.fused import scan_fused, unsupported_reason
from rnnkit.kernels.reference import scan_reference

BACKENDS = ("auto", "reference", "fused", "vendor")


class Choice(NamedTuple):
    backend: str
    reason: str


class BackendUnavailableError(RuntimeError):
    """Strict mode: the requested or automatic backend cannot serve this configuration."""


def check_backend(name) -> str:
    if name not in BACKENDS:
        raise ValueError(f"Received an invalid value for argument `backend`: expected one of {list(BACKENDS)}, got {name!r}.")
    return name


def strict_mode(strict: bool = False) -> bool:
    """True when ``strict`` is set or the environment variable RNNKIT_STRICT is 1/true."""
    return bool(strict) or os.environ.get("RNNKIT_STRICT", "").strip().lower() in ("1", "true", "yes", "on")


_warned: set = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def fallback(backend: str, what: str, reason: str, strict: bool, *, warn: bool) -> Choice:
    """Fall back to reference, or raise in strict mode."""
    if strict_mode(strict):
        raise BackendUnavailableError(
            f"backend={backend!r} cannot run {what} without falling back to the reference backend: {reason}. "
            "Strict mode (strict=True or RNNKIT_STRICT=1) forbids the fallback; pass backend='reference' to accept it."
        )
    if warn:
        _warn_once(f"rnnkit: backend={backend!r} falls back to 'reference' for {what}: {reason}.")
    return Choice("reference", f"fallback from {backend!r}: {reason}")


# ---- the per-object cache of choices ------------------------------------------------------
# A batch-1 layer call runs a C++ kernel of ~15 us; the checks behind a choice (configuration,
# extension, auto rule) cost several microseconds more each call, and their answer changes only
# when something in its key changes. So each cell or layer keeps its answers in a small dict,
# keyed on everything the choice reads that can change between calls: backend, the extension's
# state, dtype, device and, for the layer rule, training flag and the input's shape. The
# configuration of a cell (family, activations, layer norm) is fixed at construction. Only
# choices that neither warn nor fall back are stored, so warnings and strict-mode errors behave
# exactly as without it. Strict mode (argument and RNNKIT_STRICT) only decides between a
# fallback and an error, and neither is stored, so it is not part of the key: it is read on
# every call that misses the cache, which every fallback does.
_CACHE_LIMIT = 16  # distinct keys per object before the dict starts afresh


def _remember(owner, key, value):
    cache = owner.__dict__.get("_dispatch_cache")
    if cache is None or len(cache) >= _CACHE_LIMIT:
        cache = owner.__dict__["_dispatch_cache"] = {}
    cache[key] = value
    return value


def _recall(owner, key):
    cache = owner.__dict__.get("_dispatch_cache")
    return _MISSING if cache is None else cache.get(key, _MISSING)


_MISSING = object()


def choose(cell, x_proj: torch.Tensor, *, backend: str = "auto", record: bool = False, strict: bool = False) -> Choice:
    """Which backend runs ``cell`` over ``x_proj`` (its raw or projected inputs: only their
    device and dtype matter), and why. CPU answers that neither warn nor fall back are cached
    on the cell (see ``_remember``)."""
    if record:
        return Choice("reference", "trace() records gates, which only the reference backend exposes")
    if backend == "reference":
        return Choice("reference", "requested")
    if x_proj.is_cuda:  # GPU fused path (Triton, imported lazily): rnnkit/kernels/gpu.py
        from rnnkit.kernels.gpu import choose_gpu  # noqa: PLC0415

        return choose_gpu(cell, x_proj, backend=backend, strict=strict)
    key = ("cell", backend, extension.unavailable_reason(), x_proj.dtype, x_proj.device,
           getattr(cell, "recurrent_dropout", 0.0))
    choice = _recall(cell, key)
    if choice is _MISSING:
        choice = _choose_cpu(cell, x_proj, backend, strict)
        if choice.backend != "reference":
            _remember(cell, key, choice)
    return choice


def _choose_cpu(cell, x_proj: torch.Tensor, backend: str, strict: bool) -> Choice:
    what = type(cell).__name__
    reason = unsupported_reason(cell, x_proj)
    if reason is not None:
        return fallback(backend, what, reason, strict, warn=backend == "fused")
    missing = extension.unavailable_reason()
    if missing is not None:
        return fallback(backend, what, f"the fused C++ extension is unavailable: {missing}", strict, warn=True)
    if backend == "fused":
        return Choice("fused", "requested")
    if backend == "vendor":
        return Choice("fused", "vendor kernels run whole rnnkit.LSTM/GRU/RNN layers only; the fused kernel serves a single cell")
    return Choice("fused", auto_fused_reason(cell))


def run_cell(cell, inputs: torch.Tensor, state, mask: Optional[torch.Tensor], *, backend: str = "auto",
             record: Optional[dict] = None, training: bool = False, strict: bool = False):
    """Run one cell over raw time-major inputs (T, B, I). Returns (outputs, final_state, Choice).

    The input projection of all steps is one GEMM, done by the chosen backend: the CPU fused
    kernel of the layer-normalized LSTM normalizes it in C++, every other path gets
    ``cell.project_input(inputs)``. A cell with ``recurrent_dropout = p > 0`` gets one dropout
    mask per sequence in training mode. ``state`` None is the cell's zero state: the CPU fused
    kernels start from zeros themselves, every other path gets ``cell.init_state``.
    """
    choice = choose(cell, inputs, backend=backend, record=record is not None, strict=strict)
    p = getattr(cell, "recurrent_dropout", 0.0)
    drop = p > 0 and training
    batch = inputs.shape[1]
    if choice.backend == "fused" and not inputs.is_cuda:
        # draw_mask's three tensor ops as one C++ call (the same calls, the same numbers).
        ext = extension.load_extension()
        dropout_mask = ext.dropout_mask(p, batch, cell.output_size, inputs) if drop else None
        out, final = scan_fused(cell, inputs, state, mask, dropout_mask)
        return out, final, choice
    dropout_mask = draw_mask(p, batch, cell.output_size, like=inputs) if drop else None
    if state is None:
        state = cell.init_state(inputs.shape[1], device=inputs.device, dtype=inputs.dtype)
    x_proj = cell.project_input(inputs)  # (T, B, G*H), one matrix multiply for all steps
    if choice.backend == "fused":
        from rnnkit.kernels.gpu import scan_fused_gpu  # noqa: PLC0415

        out, final = scan_fused_gpu(cell, x_proj, state, mask, dropout_mask)
    else:
        out, final = scan_reference(cell, x_proj, state, mask, record, dropout_mask)
    return out, final, choice


# ---- whole layers: the vendor kernel --------------------------------------------------------
LSTM_VENDOR_MIN_HIDDEN = 256  # from here up, oneDNN's LSTM is level or faster; below it the fused kernel wins
SHORT_SEQUENCE_STEPS = 4  # up to this many steps oneDNN's per-call set-up dominates


def auto_prefers_vendor(layer, x: torch.Tensor, training: bool) -> bool:
    """The ``auto`` rule between torch's kernel and ours for a configuration both can run (CPU):

    - GRU and RNN run on ``fused``, training and inference, at every size;
    - an LSTM of hidden size < 256 runs on ``fused``, training and inference;
    - an LSTM of hidden size >= 256 runs on ``fused`` when a backward pass can follow (grad mode
      on, and the input or a weight requires grad) and on oneDNN for inference, except at batch 1
      (where the fused kernels' panel matrix-vector product of csrc/matvec.h is faster) and for
      sequences of <= 4 steps (oneDNN's per-call set-up dominates). That is with one thread
      (torch.get_num_threads()); with more, torch's GEMMs split the product between threads and
      the fused kernels' panel products do not, so only batch-1 training stays on ``fused``.

    Evidence (fused / torch.nn, CPU, one thread, minimum over rounds; runs of 2026-11-23: speed.md
    run A with 7 rounds, and k10's re-measurements with 5 rounds (training) and 7 (inference) on
    B1/B16/B64 x H64/H256(/H512) x T50/T200, tabulated in benchmarks/auto_rule.md):
    - LSTM training, H64: 0.62-0.91 (run A, B1-B64) and 0.59-0.95 (k10, B16/B64; B1 T50 1.23
      where the old rule also chose fused); at B64 H64 T200, where the previous rule sent the
      layer to oneDNN because batch x hidden >= 4096, fused / nn was 0.62 (run A), 0.61 and 0.59;
    - LSTM inference, H64: 0.75-0.82 in both k10 runs at B16/B64 (the forward-only kernels of
      kernels/fused_inference.py, newer than the previous rule);
    - LSTM, H256/H512: 0.80-1.23 training and 0.85-1.27 inference (oneDNN ahead at B1 and B16,
      the fused kernel at B64): no simple boundary is consistent across runs, so oneDNN keeps
      them, as before, except at batch 1: with the panel matvec (csrc/matvec.h, after k10's runs)
      fused / nn at B1 x H256/H512 x T50/T200 was 0.77-0.84 (m10, interleaved, shared machine;
      results/kernels_batch1_vs_onednn.txt) and 0.57-0.93 (lead, quiet machine, same script);
    - LSTM training, H256/H512, B16/B64, T50/T200, after the small-batch panels of
      csrc/smallm.h (which serve batches 2-64 of these sizes): fused / nn 0.79-0.94 at all 8
      points (lead, quiet machine, speed.py run of 2026-11-23, 3 rounds), where oneDNN's
      auto/nn was 0.91-1.03; inference at the same points stayed mixed (fused / nn 0.86-1.34,
      1.30-1.34 at H512 T50), so inference keeps oneDNN;
    - with 2 threads (lead, in-process interleaved A/B, 7 rounds, quiet machine), LSTM fused / nn:
      training B1 H256 T50 0.70, B1 H512 T200 0.99; inference B1 1.30-1.31; training B16/B64
      H256/H512 0.87-1.37 on the GEMM path (which csrc/smallm.h keeps above batch 4 then);
    - GRU and RNN, inference, B16/B64 x H64/H256: 0.31-0.83 in both k10 runs; training was
      already fused (0.21-0.97, torch's CPU GRU/RNN backward is not fused) except GRU B64 H256
      T200 (1.05, level).
    Configurations torch cannot compute exactly (layer norm, recurrent dropout in training, the
    original GRU, other activations) always run on ``fused``.
    """
    if x.device.type != "cpu" or extension.load_extension() is None:
        return True
    family = layer.cell_grid()[0][0].family
    if family in ("gru", "rnn") or layer.hidden_size < LSTM_VENDOR_MIN_HIDDEN:
        return False
    batch_one, backward = x.shape[1] == 1, backward_expected(layer, x)  # x: (T, B, ...)
    if torch.get_num_threads() == 1:
        fused = backward or batch_one
    else:  # the fused kernels' panel products run on one thread, torch's GEMMs on all
        fused = backward and batch_one
    return not fused and x.shape[0] > SHORT_SEQUENCE_STEPS


def backward_expected(layer, x: torch.Tensor) -> bool:
    """Whether a backward pass can follow this call: grad mode is on and the input or one of the
    layer's weights requires grad (a training step, or gradients of the input)."""
    if not torch.is_grad_enabled():
        return False
    return x.requires_grad or _any_requires_grad(layer)


def _any_requires_grad(module) -> bool:
    """``any(p.requires_grad for p in module.parameters())`` without ``parameters()``'s
    generators and memo set (about 5 us of a batch-1 call): the same walk over the module tree."""
    for p in module._parameters.values():
        if p is not None and p.requires_grad:
            return True
    return any(_any_requires_grad(m) for m in module._modules.values() if m is not None)


def choose_layer(layer, x: torch.Tensor, *, backend: str, training: bool, record: bool, strict: bool) -> Optional[Choice]:
    """Choice("vendor", why) when torch's kernel runs the whole layer, else None (per-cell path)."""
    if record or backend in ("reference", "fused"):
        return None
    key = ("layer", backend, bool(training), backward_expected(layer, x), torch.get_num_threads(), x.dtype,
           x.device, x.shape[0], x.shape[1], extension.unavailable_reason(),
           getattr(layer, "recurrent_dropout", 0.0))
    choice = _recall(layer, key)
    if choice is not _MISSING:
        return choice
    from rnnkit.kernels import vendor  # noqa: PLC0415  (imported on a cache miss only)

    reason = vendor.unsupported_reason(layer, x, training)
    if backend == "vendor":
        if reason is None:
            return _remember(layer, key, Choice("vendor", "requested"))
        _warn_once(f"rnnkit: backend='vendor' cannot run {type(layer).__name__} exactly ({reason}); using the fused kernel.")
        return None
    if reason is None and auto_prefers_vendor(layer, x, training):
        return _remember(layer, key, Choice("vendor", "auto: torch's own kernel computes exactly this configuration and is the fastest on it"))
    return _remember(layer, key, None)


def auto_fused_reason(cell) -> str:
    """Why ``auto`` chose the fused kernel for ``cell`` (recorded in ``last_backend``)."""
    family = cell.family
    stock = family == "rnn" or ((cell.activation, cell.recurrent_activation) == ("tanh", "sigmoid")
                                and not getattr(cell, "layer_norm", False)
                                and (family == "lstm" or cell.reset_after))
    if not stock:
        return "auto: torch's kernel cannot compute this cell; the fused kernel serves it"
    if getattr(cell, "recurrent_dropout", 0.0):
        return "auto: recurrent dropout has no torch kernel; the fused kernel serves it"
    return ("auto: torch's kernel could compute this cell, but the auto rule (auto_prefers_vendor, backed by "
            "benchmarks/speed.md) prefers the fused kernel here, or the cell runs outside an rnnkit.LSTM/GRU/RNN layer")


def run_layer(layer, x: torch.Tensor, states, lengths, *, backend: str, training: bool, record: bool, strict: bool):
    """(output, finals, choices grid) when the vendor kernel runs the layer, else None."""
    choice = choose_layer(layer, x, backend=backend, training=training, record=record, strict=strict)
    if choice is None:
        return None
    from rnnkit.kernels.vendor import run_vendor  # noqa: PLC0415

    output, finals = run_vendor(layer, x, states, lengths, training)
    return output, finals, [[choice for _ in row] for row in layer.cell_grid()]
