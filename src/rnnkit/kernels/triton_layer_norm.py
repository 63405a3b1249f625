"""Triton kernels of the layer-normalized LSTM step (Ba, Kiros and Hinton 2016), forward and backward.

One program per batch row: a row's 4H recurrent pre-activations and its H cell values are
normalized over the row, so the reduction stays inside the program. Equations (see
``rnnkit.cells.layer_norm``): with R = W_hh h_in (the step's GEMM, done on cuBLAS),

    rhat = (R - mean(R)) * rstd,  rstd = 1 / sqrt(var(R) + eps)          (over 4H)
    a    = x + gamma_hh * rhat        (x holds LN(W_ih x) + b_ih + b_hh)
    c    = f c_{t-1} + i g;  chat = (c - mean(c)) * cstd  (over H);  h = o act(gamma_c chat + beta_c)

Backward of y = gamma * xhat, xhat normalized with rstd over n features:
``dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))`` with dxhat = dy * gamma.
The gain and shift gradients are sums over steps and rows of saved products, done after the
loop by the caller. Layouts as in ``triton_cells``: G (T, B, 4H), Hs/C (T+1, B, H), M (T, B).
"""

from __future__ import annotations

import triton
import triton.language as tl

from rnnkit.kernels.triton_cells import _act, _dact


@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def ln_lstm_forward_step(G, R, GH, GC, BC, C, Hs, Out, Hin, M, DM, RHAT, RSTD, CHAT, CSTD, t, B, H, EPS,
                         HAS_MASK, HAS_DROP, ACT: tl.constexpr, RACT: tl.constexpr, BLOCK_H: tl.constexpr):
    """G[t] holds x; R (B, 4H) = W_hh h_in. Writes activations into G[t], RHAT[t], RSTD[t], CHAT[t],
    CSTD[t], C[t+1], Hs[t+1], Out[t] and Hin (h * m for the next GEMM)."""
    b = tl.program_id(0)
    j = tl.arange(0, BLOCK_H)
    inside = j < H
    eps = tl.load(EPS)  # a one-element tensor of the data's dtype: a float argument would be float32
    r_at = R + b * 4 * H + j
    r0 = tl.load(r_at, mask=inside, other=0.0)
    r1 = tl.load(r_at + H, mask=inside, other=0.0)
    r2 = tl.load(r_at + 2 * H, mask=inside, other=0.0)
    r3 = tl.load(r_at + 3 * H, mask=inside, other=0.0)
    mean = (tl.sum(r0, 0) + tl.sum(r1, 0) + tl.sum(r2, 0) + tl.sum(r3, 0)) / (4 * H)
    d0 = tl.where(inside, r0 - mean, 0.0)
    d1 = tl.where(inside, r1 - mean, 0.0)
    d2 = tl.where(inside, r2 - mean, 0.0)
    d3 = tl.where(inside, r3 - mean, 0.0)
    var = (tl.sum(d0 * d0, 0) + tl.sum(d1 * d1, 0) + tl.sum(d2 * d2, 0) + tl.sum(d3 * d3, 0)) / (4 * H)
    rstd = 1.0 / tl.sqrt(var + eps)
    g_at = G + t * B * 4 * H + b * 4 * H + j
    i = _act(tl.load(g_at, mask=inside) + tl.load(GH + j, mask=inside) * d0 * rstd, RACT)
    f = _act(tl.load(g_at + H, mask=inside) + tl.load(GH + H + j, mask=inside) * d1 * rstd, RACT)
    g = _act(tl.load(g_at + 2 * H, mask=inside) + tl.load(GH + 2 * H + j, mask=inside) * d2 * rstd, ACT)
    o = _act(tl.load(g_at + 3 * H, mask=inside) + tl.load(GH + 3 * H + j, mask=inside) * d3 * rstd, RACT)
    s_at = t * B * H + b * H + j
    c_prev = tl.load(C + s_at, mask=inside, other=0.0)
    c = tl.where(inside, f * c_prev + i * g, 0.0)
    c_mean = tl.sum(c, 0) / H
    dc = tl.where(inside, c - c_mean, 0.0)
    cstd = 1.0 / tl.sqrt(tl.sum(dc * dc, 0) / H + eps)
    chat = dc * cstd
    h = o * _act(tl.load(GC + j, mask=inside) * chat + tl.load(BC + j, mask=inside), ACT)
    out = h
    if HAS_MASK != 0:
        keep = tl.load(M + t * B + b) != 0
        c = tl.where(keep, c, c_prev)
        h = tl.where(keep, h, tl.load(Hs + s_at, mask=inside))
        out = tl.where(keep, out, 0.0)
    tl.store(g_at, i, mask=inside)
    tl.store(g_at + H, f, mask=inside)
    tl.store(g_at + 2 * H, g, mask=inside)
    tl.store(g_at + 3 * H, o, mask=inside)
    rh_at = RHAT + t * B * 4 * H + b * 4 * H + j
    tl.store(rh_at, d0 * rstd, mask=inside)
    tl.store(rh_at + H, d1 * rstd, mask=inside)
    tl.store(rh_at + 2 * H, d2 * rstd, mask=inside)
    tl.store(rh_at + 3 * H, d3 * rstd, mask=inside)
    tl.store(RSTD + t * B + b, rstd)
    tl.store(CHAT + s_at, chat, mask=inside)
    tl.store(CSTD + t * B + b, cstd)
    tl.store(C + s_at + B * H, c, mask=inside)
    tl.store(Hs + s_at + B * H, h, mask=inside)
    tl.store(Out + s_at, out, mask=inside)
    if HAS_DROP != 0:
        tl.store(Hin + b * H + j, h * tl.load(DM + b * H + j, mask=inside), mask=inside)


@triton.jit
def _ln_backward(dxhat, xhat, n):
    """Row-wise backward of xhat = (x - mean) * rstd, without rstd: dxhat - mean(dxhat) - xhat mean(dxhat xhat)."""
    return dxhat - tl.sum(dxhat, 0) / n - xhat * (tl.sum(dxhat * xhat, 0) / n)


@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def ln_lstm_backward_step(G, GH, GC, BC, C, RHAT, RSTD, CHAT, CSTD, DOut, Skip, GW, DC, DM, M, DA, DR, DY, t, B, H,
                          HAS_MASK, HAS_DROP, ACT: tl.constexpr, RACT: tl.constexpr, BLOCK_H: tl.constexpr):
    """Writes DA[t] (gradient of the gate pre-activations, = of x), DR[t] (of R = W_hh h_in),
    DY[t] (of gamma_c chat + beta_c), and updates DC, Skip in place."""
    b = tl.program_id(0)
    j = tl.arange(0, BLOCK_H)
    inside = j < H
    row = b * H + j
    gw = tl.load(GW + row, mask=inside, other=0.0)
    if HAS_DROP != 0:
        gw = gw * tl.load(DM + row, mask=inside, other=0.0)
    dout = tl.load(DOut + t * B * H + row, mask=inside, other=0.0)
    keep = b >= 0  # a scalar tensor, True without a mask
    if HAS_MASK != 0:
        keep = tl.load(M + t * B + b) != 0
        dout = tl.where(keep, dout, 0.0)
    dh = tl.load(Skip + row, mask=inside, other=0.0) + gw + dout
    g_at = G + t * B * 4 * H + b * 4 * H + j
    i = tl.load(g_at, mask=inside, other=0.0)
    f = tl.load(g_at + H, mask=inside, other=0.0)
    g = tl.load(g_at + 2 * H, mask=inside, other=0.0)
    o = tl.load(g_at + 3 * H, mask=inside, other=0.0)
    s_at = t * B * H + row
    chat = tl.load(CHAT + s_at, mask=inside, other=0.0)
    gamma_c = tl.load(GC + j, mask=inside, other=0.0)
    tc = _act(gamma_c * chat + tl.load(BC + j, mask=inside, other=0.0), ACT)
    dy = tl.where(inside, dh * o * _dact(tc, ACT), 0.0)
    dc_in = tl.load(DC + row, mask=inside, other=0.0)
    dc = dc_in + tl.load(CSTD + t * B + b) * _ln_backward(dy * gamma_c, chat, H)
    da_i = dc * g * _dact(i, RACT)
    da_f = dc * tl.load(C + s_at, mask=inside, other=0.0) * _dact(f, RACT)
    da_g = dc * i * _dact(g, ACT)
    da_o = dh * tc * _dact(o, RACT)
    da_i = tl.where(keep, da_i, 0.0)  # lanes past H are 0 already (their loads and gains are 0)
    da_f = tl.where(keep, da_f, 0.0)  # lanes past H are 0 already (their loads and gains are 0)
    da_g = tl.where(keep, da_g, 0.0)  # lanes past H are 0 already (their loads and gains are 0)
    da_o = tl.where(keep, da_o, 0.0)  # lanes past H are 0 already (their loads and gains are 0)
    rh_at = RHAT + t * B * 4 * H + b * 4 * H + j
    x0 = tl.load(rh_at, mask=inside, other=0.0)
    x1 = tl.load(rh_at + H, mask=inside, other=0.0)
    x2 = tl.load(rh_at + 2 * H, mask=inside, other=0.0)
    x3 = tl.load(rh_at + 3 * H, mask=inside, other=0.0)
    e0 = da_i * tl.load(GH + j, mask=inside, other=0.0)
    e1 = da_f * tl.load(GH + H + j, mask=inside, other=0.0)
    e2 = da_g * tl.load(GH + 2 * H + j, mask=inside, other=0.0)
    e3 = da_o * tl.load(GH + 3 * H + j, mask=inside, other=0.0)
    n = 4 * H
    mean_e = (tl.sum(e0, 0) + tl.sum(e1, 0) + tl.sum(e2, 0) + tl.sum(e3, 0)) / n
    mean_ex = (tl.sum(e0 * x0, 0) + tl.sum(e1 * x1, 0) + tl.sum(e2 * x2, 0) + tl.sum(e3 * x3, 0)) / n
    rstd = tl.load(RSTD + t * B + b)
    a_at = DA + t * B * 4 * H + b * 4 * H + j
    r_at = DR + t * B * 4 * H + b * 4 * H + j
    tl.store(a_at, da_i, mask=inside)
    tl.store(a_at + H, da_f, mask=inside)
    tl.store(a_at + 2 * H, da_g, mask=inside)
    tl.store(a_at + 3 * H, da_o, mask=inside)
    tl.store(r_at, rstd * (e0 - mean_e - x0 * mean_ex), mask=inside)
    tl.store(r_at + H, rstd * (e1 - mean_e - x1 * mean_ex), mask=inside)
    tl.store(r_at + 2 * H, rstd * (e2 - mean_e - x2 * mean_ex), mask=inside)
    tl.store(r_at + 3 * H, rstd * (e3 - mean_e - x3 * mean_ex), mask=inside)
    tl.store(DY + s_at, tl.where(keep, dy, 0.0), mask=inside)
    tl.store(DC + row, tl.where(keep, dc * f, dc_in), mask=inside)
    tl.store(Skip + row, tl.where(keep, 0.0 * dh, dh), mask=inside)


def block(hidden: int) -> int:
    return triton.next_power_of_2(hidden)
