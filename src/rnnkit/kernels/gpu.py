"""The GPU ``fused`` path: Triton gate kernels, cuBLAS recurrent products, hand-derived BPTT.

The runner has already done the input projection of all steps in one GEMM (``x_proj``,
(T, B, G*H)). Per step the forward pass runs one cuBLAS GEMM for the recurrence (two for the
original-form GRU) and one Triton kernel that fuses the gate activations, the state update,
the length mask and the recurrent-dropout product (``triton_cells.py``). Every activation is
saved, so backward recomputes only ``act(c_t)``; per step it runs one Triton kernel for the
gate gradients (two for the original GRU) and one GEMM ``dh_{t-1} = da_t W_hh``. After the
loop the weight gradient is one GEMM over all steps, ``dW_hh = dA^T H_in``.

Backward equations (LSTM; pre-activations a, dc/dh carried from step t+1)::

    dh_t  = dout_t [valid] + carry + m * (da_{t+1} W_hh)
    dc_t += dh_t o act'(c_t)          da_o = dh_t act(c_t) o'
    da_i  = dc_t g i'                 da_f = dc_t c_{t-1} f'        da_g = dc_t i g'
    dc_{t-1} = dc_t f                 carry = 0 at a valid step, dh_t at a padded one

GRU, reset after (hh = W_hh h_in + b_hh):  da_n = dh (1-z) n',  da_z = dh (h_{t-1}-n) z',
da_r = da_n hh_n r', dhh = (da_r, da_z, da_n r), carry = dh z.  Original GRU: the same da_n,
da_z; d(r h_in) = da_n W_n, da_r = d(r h_in) h_in r', dL/dh_in = d(r h_in) r + da_rz W_rz.
RNN: da = dh act'(h_t).  m is the recurrent-dropout mask (1 without dropout). The
layer-normalized LSTM has its own Function and kernels (``gpu_layer_norm.py``).

Triton is imported on first use, never on CPU-only machines: ``unavailable_reason()`` says why
the path cannot run (no CUDA, no Triton) and the dispatcher falls back with that reason.
Offsets are int32 in the kernels, so one tensor must stay under 2**31 elements.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch.autograd.function import once_differentiable

ACTIVATIONS = ("tanh", "sigmoid", "relu", "hard_sigmoid", "linear", "softsign")
_state: dict = {"module": None, "reason": None, "tried": False}


def kernels():
    """The Triton kernel module, imported on first use (None when Triton is missing)."""
    if not _state["tried"]:
        _state["tried"] = True
        try:
            from rnnkit.kernels import triton_cells  # noqa: PLC0415

            _state["module"] = triton_cells
        except Exception as error:  # ImportError, or a Triton that fails to initialise
            _state["reason"] = f"Triton could not be imported ({type(error).__name__}: {error})"
    return _state["module"]


def unavailable_reason() -> Optional[str]:
    """Why the Triton kernels cannot run here, or None."""
    if not torch.cuda.is_available():
        return "CUDA is not available"
    return None if kernels() is not None else _state["reason"]


def unsupported_reason(cell, x_proj: torch.Tensor) -> Optional[str]:
    """Why the GPU fused path cannot run ``cell`` on ``x_proj``, or None when it can."""
    if x_proj.dtype not in (torch.float32, torch.float64):
        return f"the GPU fused kernel supports float32 and float64, got {x_proj.dtype}"
    family = getattr(cell, "family", None)
    if family not in ("lstm", "gru", "rnn"):
        return f"the GPU fused kernel has no code for cell {type(cell).__name__}"
    if family == "rnn":
        return None
    if getattr(cell, "proj_size", 0):
        return "LSTM with proj_size > 0 is not fused on GPU (the vendor kernel of rnnkit.LSTM serves it)"
    for name in (cell.activation, cell.recurrent_activation):
        if name not in ACTIVATIONS:
            return f"activation {name!r} has no GPU fused kernel (supported: {', '.join(ACTIVATIONS)})"
    return None


def _flags(mask, dmask, like):
    """Kernel arguments for the optional mask (T, B) and dropout mask (B, H)."""
    m = like if mask is None else mask
    dm = like if dmask is None else dmask.contiguous()
    return m, dm, dict(HAS_MASK=int(mask is not None), HAS_DROP=int(dmask is not None))


def _grad(grad, like):
    return torch.zeros_like(like) if grad is None else grad.contiguous()


def _h_in(hs_prev, dmask):
    """The recurrent GEMM inputs of all steps, h_{t-1} * m: (T, B, H)."""
    return hs_prev if dmask is None else hs_prev * dmask


class LSTMFunction(torch.autograd.Function):
    """x (T,B,4H) with both biases, h0, c0 (B,H), w_hh (4H,H) -> out (T,B,H), h_T, c_T."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_hh, mask, dmask, act, ract):
        k = kernels()
        steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[1]
        gates = x.clone(memory_format=torch.contiguous_format)  # (T, B, 4H): pre-activations, overwritten with activations
        hs = x.new_empty(steps + 1, batch, hidden)
        cs = x.new_empty(steps + 1, batch, hidden)
        out = x.new_empty(steps, batch, hidden)
        hs[0], cs[0] = h0, c0
        m, dm, flags = _flags(mask, dmask, x)
        h_in = hs[0] * dmask if dmask is not None else None
        w_t = w_hh.t()
        grid = k.grid(batch, hidden)
        for t in range(steps):
            gates[t].addmm_(hs[t] if h_in is None else h_in, w_t)  # (B, 4H) += h_in W_hh^T
            k.lstm_forward_step[grid](gates, cs, hs, out, h_in if h_in is not None else x, m, dm, t, batch, hidden,
                                      ACT=act, RACT=ract, BLOCK=k.BLOCK, **flags)
        ctx.codes = (act, ract)
        ctx.save_for_backward(gates, hs, cs, w_hh, mask, dmask)
        return out, hs[-1].clone(), cs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h, grad_c):
        k = kernels()
        gates, hs, cs, w_hh, mask, dmask = ctx.saved_tensors
        act, ract = ctx.codes
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dout = _grad(grad_out, hs[1:])
        skip = _grad(grad_h, hs[0]).clone()
        dc = _grad(grad_c, cs[0]).clone()
        gw = torch.zeros_like(skip)
        da = torch.empty_like(gates)  # (T, B, 4H)
        m, dm, flags = _flags(mask, dmask, gates)
        grid = k.grid(batch, hidden)
        for t in range(steps - 1, -1, -1):
            k.lstm_backward_step[grid](gates, cs, dout, skip, gw, dc, dm, m, da, t, batch, hidden,
                                       ACT=act, RACT=ract, BLOCK=k.BLOCK, **flags)
            torch.mm(da[t], w_hh, out=gw)  # (B, H) = da_t W_hh
        dh0 = skip + (gw if dmask is None else gw * dmask)
        dw = da.view(-1, 4 * hidden).t().mm(_h_in(hs[:-1], dmask).reshape(-1, hidden))  # (4H, H)
        return da, dh0, dc, dw, None, None, None, None


class GRUFunction(torch.autograd.Function):
    """Reset-after GRU: x (T,B,3H) with b_ih, h0 (B,H), w_hh (3H,H), b_hh (3H) or None."""

    @staticmethod
    def forward(ctx, x, h0, w_hh, b_hh, mask, dmask, act, ract):
        k = kernels()
        steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[1]
        x = x.contiguous()
        saved = x.new_empty(steps, batch, 4 * hidden)  # r, z, n, hh_n per step
        hs = x.new_empty(steps + 1, batch, hidden)
        out = x.new_empty(steps, batch, hidden)
        hh = x.new_empty(batch, 3 * hidden)
        hs[0] = h0
        m, dm, flags = _flags(mask, dmask, x)
        h_in = hs[0] * dmask if dmask is not None else None
        w_t = w_hh.t()
        grid = k.grid(batch, hidden)
        for t in range(steps):
            src = hs[t] if h_in is None else h_in
            if b_hh is None:
                torch.mm(src, w_t, out=hh)
            else:
                torch.addmm(b_hh, src, w_t, out=hh)  # (B, 3H)
            k.gru_forward_step[grid](x, hh, saved, hs, out, h_in if h_in is not None else x, m, dm, t, batch, hidden,
                                     ACT=act, RACT=ract, BLOCK=k.BLOCK, **flags)
        ctx.codes = (act, ract)
        ctx.has_bias = b_hh is not None
        ctx.save_for_backward(saved, hs, w_hh, mask, dmask)
        return out, hs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h):
        k = kernels()
        saved, hs, w_hh, mask, dmask = ctx.saved_tensors
        act, ract = ctx.codes
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dout = _grad(grad_out, hs[1:])
        skip = _grad(grad_h, hs[0]).clone()
        gw = torch.zeros_like(skip)
        dx = saved.new_empty(steps, batch, 3 * hidden)
        dhh = saved.new_empty(steps, batch, 3 * hidden)
        m, dm, flags = _flags(mask, dmask, saved)
        grid = k.grid(batch, hidden)
        for t in range(steps - 1, -1, -1):
            k.gru_backward_step[grid](saved, hs, dout, skip, gw, dm, m, dx, dhh, t, batch, hidden,
                                      ACT=act, RACT=ract, BLOCK=k.BLOCK, **flags)
            torch.mm(dhh[t], w_hh, out=gw)  # (B, H)
        dh0 = skip + (gw if dmask is None else gw * dmask)
        flat = dhh.view(-1, 3 * hidden)
        dw = flat.t().mm(_h_in(hs[:-1], dmask).reshape(-1, hidden))  # (3H, H)
        db = flat.sum(0) if ctx.has_bias else None
        return dx, dh0, dw, db, None, None, None, None


class GRUOriginalFunction(torch.autograd.Function):
    """Original-form GRU (reset before the product): x (T,B,3H) with both biases folded in."""

    @staticmethod
    def forward(ctx, x, h0, w_hh, mask, dmask, act, ract):
        k = kernels()
        steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[1]
        x = x.contiguous()
        saved = x.new_empty(steps, batch, 3 * hidden)  # r, z, n
        rh = x.new_empty(steps, batch, hidden)  # r * h_in, the input of the candidate's product
        hs = x.new_empty(steps + 1, batch, hidden)
        out = x.new_empty(steps, batch, hidden)
        rz = x.new_empty(batch, 2 * hidden)
        nh = x.new_empty(batch, hidden)
        hs[0] = h0
        m, dm, flags = _flags(mask, dmask, x)
        h_in = hs[0] * dmask if dmask is not None else None
        w_rz_t, w_n_t = w_hh[: 2 * hidden].t(), w_hh[2 * hidden:].t()
        grid = k.grid(batch, hidden)
        for t in range(steps):
            torch.mm(hs[t] if h_in is None else h_in, w_rz_t, out=rz)  # (B, 2H)
            k.gru_orig_forward_gates[grid](x, rz, saved, hs, rh, dm, t, batch, hidden,
                                           HAS_DROP=flags["HAS_DROP"], RACT=ract, BLOCK=k.BLOCK)
            torch.mm(rh[t], w_n_t, out=nh)  # (B, H)
            k.gru_orig_forward_state[grid](x, nh, saved, hs, out, h_in if h_in is not None else x, m, dm, t, batch,
                                           hidden, ACT=act, BLOCK=k.BLOCK, **flags)
        ctx.codes = (act, ract)
        ctx.save_for_backward(saved, rh, hs, w_hh, mask, dmask)
        return out, hs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h):
        k = kernels()
        saved, rh, hs, w_hh, mask, dmask = ctx.saved_tensors
        act, ract = ctx.codes
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dout = _grad(grad_out, hs[1:])
        skip = _grad(grad_h, hs[0]).clone()
        gw = torch.zeros_like(skip)
        drh = torch.empty_like(skip)
        dx = saved.new_empty(steps, batch, 3 * hidden)
        m, dm, flags = _flags(mask, dmask, saved)
        w_rz, w_n = w_hh[: 2 * hidden], w_hh[2 * hidden:]
        grid = k.grid(batch, hidden)
        for t in range(steps - 1, -1, -1):
            k.gru_orig_backward_state[grid](saved, hs, dout, skip, gw, dm, m, dx, t, batch, hidden,
                                            ACT=act, RACT=ract, BLOCK=k.BLOCK, **flags)
            torch.mm(dx[t, :, 2 * hidden:], w_n, out=drh)  # (B, H): gradient of r * h_in
            k.gru_orig_backward_reset[grid](saved, hs, drh, dm, dx, gw, t, batch, hidden,
                                            HAS_DROP=flags["HAS_DROP"], RACT=ract, BLOCK=k.BLOCK)
            gw.addmm_(dx[t, :, : 2 * hidden], w_rz)  # dL/dh_in = drh r + da_rz W_rz
        dh0 = skip + (gw if dmask is None else gw * dmask)
        h_in = _h_in(hs[:-1], dmask).reshape(-1, hidden)
        flat = dx.view(-1, 3 * hidden)
        dw = torch.cat([flat[:, : 2 * hidden].t().mm(h_in), flat[:, 2 * hidden:].t().mm(rh.view(-1, hidden))])
        return dx, dh0, dw, None, None, None, None


class RNNFunction(torch.autograd.Function):
    """Elman RNN: x (T,B,H) with both biases, h0 (B,H), w_hh (H,H); tanh or relu."""

    @staticmethod
    def forward(ctx, x, h0, w_hh, mask, dmask, act):
        k = kernels()
        steps, batch, hidden = x.shape[0], x.shape[1], h0.shape[1]
        hs = x.new_empty(steps + 1, batch, hidden)
        out = x.new_empty(steps, batch, hidden)
        pre = x.new_empty(batch, hidden)
        hs[0] = h0
        m, dm, flags = _flags(mask, dmask, x)
        h_in = hs[0] * dmask if dmask is not None else None
        w_t = w_hh.t()
        grid = k.grid(batch, hidden)
        for t in range(steps):
            torch.addmm(x[t], hs[t] if h_in is None else h_in, w_t, out=pre)  # (B, H)
            k.rnn_forward_step[grid](pre, hs, out, h_in if h_in is not None else x, m, dm, t, batch, hidden,
                                     ACT=act, BLOCK=k.BLOCK, **flags)
        ctx.act = act
        ctx.save_for_backward(hs, w_hh, mask, dmask)
        return out, hs[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h):
        k = kernels()
        hs, w_hh, mask, dmask = ctx.saved_tensors
        steps, batch, hidden = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        dout = _grad(grad_out, hs[1:])
        skip = _grad(grad_h, hs[0]).clone()
        gw = torch.zeros_like(skip)
        da = hs.new_empty(steps, batch, hidden)
        m, dm, flags = _flags(mask, dmask, hs)
        grid = k.grid(batch, hidden)
        for t in range(steps - 1, -1, -1):
            k.rnn_backward_step[grid](hs, dout, skip, gw, dm, m, da, t, batch, hidden,
                                      ACT=ctx.act, BLOCK=k.BLOCK, **flags)
            torch.mm(da[t], w_hh, out=gw)
        dh0 = skip + (gw if dmask is None else gw * dmask)
        dw = da.view(-1, hidden).t().mm(_h_in(hs[:-1], dmask).reshape(-1, hidden))
        return da, dh0, dw, None, None, None


def scan_fused_gpu(cell, x_proj: torch.Tensor, state, mask: Optional[torch.Tensor], dmask: Optional[torch.Tensor]):
    """Run ``cell`` over (T, B, G*H) projected inputs on the GPU fused kernels.

    mask: (T, B, 1) bool or None; dmask: (B, H) recurrent-dropout mask or None.
    Returns (outputs (T, B, H), final state) like ``scan_reference``.
    """
    codes = kernels().ACT_CODES
    w = cell.weights()
    step_mask = None if mask is None else mask.squeeze(-1).to(x_proj.dtype).contiguous()  # (T, B) of 0/1
    family = cell.family
    if family == "rnn":
        x = x_proj if w.bias_hh is None else x_proj + w.bias_hh
        out, h = RNNFunction.apply(x, state.h, w.weight_hh, step_mask, dmask, codes[cell.nonlinearity])
        return out, cell.state_type(h)
    act, ract = codes[cell.activation], codes[cell.recurrent_activation]
    if family == "gru" and cell.reset_after:
        out, h = GRUFunction.apply(x_proj, state.h, w.weight_hh, w.bias_hh, step_mask, dmask, act, ract)
        return out, cell.state_type(h)
    x = x_proj if w.bias_hh is None else x_proj + w.bias_hh  # (T, B, G*H): fold the recurrent bias in
    if family == "lstm" and getattr(cell, "layer_norm", False):
        from rnnkit.kernels.gpu_layer_norm import LayerNormLSTMFunction  # noqa: PLC0415

        out, h, c = LayerNormLSTMFunction.apply(x, state.h, state.c, w.weight_hh, *cell.layer_norm_weights(), step_mask,
                                                dmask, act, ract)
        return out, cell.state_type(h, c)
    if family == "lstm":
        out, h, c = LSTMFunction.apply(x, state.h, state.c, w.weight_hh, step_mask, dmask, act, ract)
        return out, cell.state_type(h, c)
    out, h = GRUOriginalFunction.apply(x, state.h, w.weight_hh, step_mask, dmask, act, ract)
    return out, cell.state_type(h)


def choose_gpu(cell, x_proj: torch.Tensor, *, backend: str, strict: bool):
    """The dispatcher's choice for a CUDA input (``dispatch.choose`` calls this)."""
    from rnnkit.kernels.dispatch import Choice, fallback  # noqa: PLC0415

    what = type(cell).__name__
    reason = unsupported_reason(cell, x_proj)
    if reason is not None:
        return fallback(backend, what, reason, strict, warn=backend == "fused")
    missing = unavailable_reason()
    if missing is not None:
        return fallback(backend, what, f"the GPU fused kernels are unavailable: {missing}", strict, warn=True)
    if backend == "fused":
        return Choice("fused", "requested (GPU: Triton gate kernels + cuBLAS)")
    if backend == "vendor":
        return Choice("fused", "vendor kernels run whole rnnkit.LSTM/GRU/RNN layers only; the GPU fused kernel serves a single cell")
    return Choice("fused", "auto: cuDNN does not compute this cell exactly; the GPU fused kernel (Triton) does")
