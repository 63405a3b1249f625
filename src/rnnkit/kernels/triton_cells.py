"""Triton kernels for the GPU ``fused`` path: the gate math of one time step, forward and backward.

Imported only by ``rnnkit.kernels.gpu`` when a CUDA tensor reaches the fused backend (CPU
machines have no Triton). Every kernel is elementwise over the (B, H) state of one step; the
recurrent matrix multiplies between them run on cuBLAS (``gpu.py``). Shapes, row-major:

    G   (T, B, k*H)  per-step gate values: pre-activations in, activations out (LSTM: i,f,g,o)
    Hs  (T+1, B, H)  hidden states, Hs[0] = h_0;  C (T+1, B, H) LSTM cell states
    M   (T, B)       1.0 at valid steps, 0.0 at padded ones (read when HAS_MASK != 0)
    DM  (B, H)       recurrent-dropout mask, entries 0 or 1/(1-p) (read when HAS_DROP != 0)

HAS_MASK and HAS_DROP are run-time flags, not compile-time constants: the branches cost
nothing next to the loads, and each kernel then compiles once per dtype and activation pair
instead of four times (compilation dominates short runs); B and H are not specialized either.

Padding contract: at a padded step the state is carried and the output is zero; backward
writes zero gate gradients there and carries dh (and dc) to the step before, ignoring dout.
Activations are chosen by compile-time codes (``ACT_CODES``); their derivatives are written
in terms of the activation's output y, which is what the forward pass saves.
"""

from __future__ import annotations

import triton
import triton.language as tl

# name -> code; f'(x) as a function of y = f(x) must exist for every entry.
ACT_CODES = {"tanh": 0, "sigmoid": 1, "relu": 2, "hard_sigmoid": 3, "linear": 4, "softsign": 5}
BLOCK = 256


@triton.jit
def _act(x, CODE: tl.constexpr):
    if CODE == 0:  # tanh(x) = sign(x) (1 - e^{-2|x|}) / (1 + e^{-2|x|}), no overflow
        e = tl.exp(-2.0 * tl.abs(x))
        t = (1.0 - e) / (1.0 + e)
        y = tl.where(x < 0, -t, t)
    elif CODE == 1:  # sigmoid
        y = 1.0 / (1.0 + tl.exp(-x))
    elif CODE == 2:  # relu
        y = tl.where(x > 0, x, 0.0)
    elif CODE == 3:  # hard_sigmoid = relu6(x + 3) / 6 (torch.nn.functional.hardsigmoid)
        y = tl.minimum(tl.maximum(x + 3.0, 0.0), 6.0) / 6.0
    elif CODE == 4:  # linear
        y = x
    else:  # softsign x / (1 + |x|)
        y = x / (1.0 + tl.abs(x))
    return y


@triton.jit
def _dact(y, CODE: tl.constexpr):
    """f'(x) written through y = f(x)."""
    if CODE == 0:
        d = 1.0 - y * y
    elif CODE == 1:
        d = y * (1.0 - y)
    elif CODE == 2:
        d = tl.where(y > 0, 1.0, 0.0)
    elif CODE == 3:
        d = tl.where((y > 0) & (y < 1), 1.0 / 6.0, 0.0)
    elif CODE == 4:
        d = y * 0.0 + 1.0
    else:
        a = 1.0 - tl.abs(y)
        d = a * a
    return d


@triton.jit
def _index(B, H, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < B * H
    b = offs // H
    return offs, inside, b, offs - b * H


# ---- LSTM -------------------------------------------------------------------------------
@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def lstm_forward_step(G, C, Hs, Out, Hin, M, DM, t, B, H,
                      HAS_MASK, HAS_DROP, ACT: tl.constexpr, RACT: tl.constexpr,
                      BLOCK: tl.constexpr):
    """G[t] holds a = x_t + b_hh + W_hh h_in; writes i,f,g,o into G[t], C[t+1], Hs[t+1], Out[t], Hin."""
    offs, inside, b, j = _index(B, H, BLOCK)
    g_at = G + t * B * 4 * H + b * 4 * H + j
    s_at = t * B * H + offs
    i = _act(tl.load(g_at, mask=inside), RACT)
    f = _act(tl.load(g_at + H, mask=inside), RACT)
    g = _act(tl.load(g_at + 2 * H, mask=inside), ACT)
    o = _act(tl.load(g_at + 3 * H, mask=inside), RACT)
    c_prev = tl.load(C + s_at, mask=inside)
    c = f * c_prev + i * g
    h = o * _act(c, ACT)
    out = h
    if HAS_MASK != 0:
        keep = tl.load(M + t * B + b, mask=inside) != 0
        h_prev = tl.load(Hs + s_at, mask=inside)
        c = tl.where(keep, c, c_prev)
        h = tl.where(keep, h, h_prev)
        out = tl.where(keep, out, 0.0)
    tl.store(g_at, i, mask=inside)
    tl.store(g_at + H, f, mask=inside)
    tl.store(g_at + 2 * H, g, mask=inside)
    tl.store(g_at + 3 * H, o, mask=inside)
    tl.store(C + s_at + B * H, c, mask=inside)
    tl.store(Hs + s_at + B * H, h, mask=inside)
    tl.store(Out + s_at, out, mask=inside)
    if HAS_DROP != 0:
        tl.store(Hin + offs, h * tl.load(DM + offs, mask=inside), mask=inside)


@triton.jit
def _incoming(DOut, Skip, GW, DM, M, t, B, H, offs, b, inside, HAS_MASK, HAS_DROP):
    """dL/dHs[t+1]: carried skip + dm * (da_{t+1} W) + dout_t where the step is valid.

    Returns (dh, keep) with keep = the step is valid (all True without a mask)."""
    gw = tl.load(GW + offs, mask=inside)
    if HAS_DROP != 0:
        gw = gw * tl.load(DM + offs, mask=inside)
    dout = tl.load(DOut + t * B * H + offs, mask=inside)
    keep = inside
    if HAS_MASK != 0:
        keep = tl.load(M + t * B + b, mask=inside) != 0
        dout = tl.where(keep, dout, 0.0)
    return tl.load(Skip + offs, mask=inside) + gw + dout, keep


@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def lstm_backward_step(G, C, DOut, Skip, GW, DC, DM, M, DA, t, B, H,
                       HAS_MASK, HAS_DROP, ACT: tl.constexpr, RACT: tl.constexpr,
                       BLOCK: tl.constexpr):
    """dc_t += dh o act'(c);  da_o = dh act(c) o';  da_i = dc g i';  da_f = dc c_{t-1} f';
    da_g = dc i g';  dc_{t-1} = dc f.  Writes DA[t], DC (in place), Skip (in place)."""
    offs, inside, b, j = _index(B, H, BLOCK)
    dh, keep = _incoming(DOut, Skip, GW, DM, M, t, B, H, offs, b, inside, HAS_MASK, HAS_DROP)
    g_at = G + t * B * 4 * H + b * 4 * H + j
    i = tl.load(g_at, mask=inside)
    f = tl.load(g_at + H, mask=inside)
    g = tl.load(g_at + 2 * H, mask=inside)
    o = tl.load(g_at + 3 * H, mask=inside)
    s_at = t * B * H + offs
    c_prev = tl.load(C + s_at, mask=inside)
    tc = _act(tl.load(C + s_at + B * H, mask=inside), ACT)
    dc_in = tl.load(DC + offs, mask=inside)
    dc = dc_in + dh * o * _dact(tc, ACT)
    da_i = dc * g * _dact(i, RACT)
    da_f = dc * c_prev * _dact(f, RACT)
    da_g = dc * i * _dact(g, ACT)
    da_o = dh * tc * _dact(o, RACT)
    dc = dc * f
    skip = dh * 0.0
    if HAS_MASK != 0:
        da_i = tl.where(keep, da_i, 0.0)
        da_f = tl.where(keep, da_f, 0.0)
        da_g = tl.where(keep, da_g, 0.0)
        da_o = tl.where(keep, da_o, 0.0)
        dc = tl.where(keep, dc, dc_in)
        skip = tl.where(keep, skip, dh)
    a_at = DA + t * B * 4 * H + b * 4 * H + j
    tl.store(a_at, da_i, mask=inside)
    tl.store(a_at + H, da_f, mask=inside)
    tl.store(a_at + 2 * H, da_g, mask=inside)
    tl.store(a_at + 3 * H, da_o, mask=inside)
    tl.store(DC + offs, dc, mask=inside)
    tl.store(Skip + offs, skip, mask=inside)


# ---- GRU, reset after the product (torch / cuDNN form) ----------------------------------
@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def gru_forward_step(X, HH, S, Hs, Out, Hin, M, DM, t, B, H,
                     HAS_MASK, HAS_DROP, ACT: tl.constexpr, RACT: tl.constexpr,
                     BLOCK: tl.constexpr):
    """HH = W_hh h_in + b_hh (B, 3H). r, z = act_r(x + hh); n = act(x_n + r hh_n);
    h = (1 - z) n + z h_{t-1}. Saves S[t] = (r, z, n, hh_n)."""
    offs, inside, b, j = _index(B, H, BLOCK)
    x_at = X + t * B * 3 * H + b * 3 * H + j
    hh_at = HH + b * 3 * H + j
    r = _act(tl.load(x_at, mask=inside) + tl.load(hh_at, mask=inside), RACT)
    z = _act(tl.load(x_at + H, mask=inside) + tl.load(hh_at + H, mask=inside), RACT)
    hn = tl.load(hh_at + 2 * H, mask=inside)
    n = _act(tl.load(x_at + 2 * H, mask=inside) + r * hn, ACT)
    s_at = t * B * H + offs
    h_prev = tl.load(Hs + s_at, mask=inside)
    h = (1.0 - z) * n + z * h_prev
    out = h
    if HAS_MASK != 0:
        keep = tl.load(M + t * B + b, mask=inside) != 0
        h = tl.where(keep, h, h_prev)
        out = tl.where(keep, out, 0.0)
    sv = S + t * B * 4 * H + b * 4 * H + j
    tl.store(sv, r, mask=inside)
    tl.store(sv + H, z, mask=inside)
    tl.store(sv + 2 * H, n, mask=inside)
    tl.store(sv + 3 * H, hn, mask=inside)
    tl.store(Hs + s_at + B * H, h, mask=inside)
    tl.store(Out + s_at, out, mask=inside)
    if HAS_DROP != 0:
        tl.store(Hin + offs, h * tl.load(DM + offs, mask=inside), mask=inside)


@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def gru_backward_step(S, Hs, DOut, Skip, GW, DM, M, DX, DHH, t, B, H,
                      HAS_MASK, HAS_DROP, ACT: tl.constexpr, RACT: tl.constexpr,
                      BLOCK: tl.constexpr):
    """da_n = dh (1-z) n';  da_z = dh (h_{t-1} - n) z';  da_r = da_n hh_n r';  carry dh z.
    DX[t] = (da_r, da_z, da_n) and DHH[t] = (da_r, da_z, da_n r), the gradient of HH."""
    offs, inside, b, j = _index(B, H, BLOCK)
    dh, keep = _incoming(DOut, Skip, GW, DM, M, t, B, H, offs, b, inside, HAS_MASK, HAS_DROP)
    sv = S + t * B * 4 * H + b * 4 * H + j
    r = tl.load(sv, mask=inside)
    z = tl.load(sv + H, mask=inside)
    n = tl.load(sv + 2 * H, mask=inside)
    hn = tl.load(sv + 3 * H, mask=inside)
    h_prev = tl.load(Hs + t * B * H + offs, mask=inside)
    da_n = dh * (1.0 - z) * _dact(n, ACT)
    da_z = dh * (h_prev - n) * _dact(z, RACT)
    da_r = da_n * hn * _dact(r, RACT)
    skip = dh * z
    if HAS_MASK != 0:
        da_n = tl.where(keep, da_n, 0.0)
        da_z = tl.where(keep, da_z, 0.0)
        da_r = tl.where(keep, da_r, 0.0)
        skip = tl.where(keep, skip, dh)
    x_at = DX + t * B * 3 * H + b * 3 * H + j
    tl.store(x_at, da_r, mask=inside)
    tl.store(x_at + H, da_z, mask=inside)
    tl.store(x_at + 2 * H, da_n, mask=inside)
    hh_at = DHH + t * B * 3 * H + b * 3 * H + j
    tl.store(hh_at, da_r, mask=inside)
    tl.store(hh_at + H, da_z, mask=inside)
    tl.store(hh_at + 2 * H, da_n * r, mask=inside)
    tl.store(Skip + offs, skip, mask=inside)


# ---- GRU, original form (reset before the product) --------------------------------------
@triton.jit(do_not_specialize=["t", "B", "H", "HAS_DROP"])
def gru_orig_forward_gates(X, RZ, S, Hs, RH, DM, t, B, H,
                           HAS_DROP, RACT: tl.constexpr, BLOCK: tl.constexpr):
    """RZ = W_rz h_in (B, 2H); X holds both biases. r, z = act_r(x + RZ); RH[t] = r * h_in."""
    offs, inside, b, j = _index(B, H, BLOCK)
    x_at = X + t * B * 3 * H + b * 3 * H + j
    rz_at = RZ + b * 2 * H + j
    r = _act(tl.load(x_at, mask=inside) + tl.load(rz_at, mask=inside), RACT)
    z = _act(tl.load(x_at + H, mask=inside) + tl.load(rz_at + H, mask=inside), RACT)
    h_in = tl.load(Hs + t * B * H + offs, mask=inside)
    if HAS_DROP != 0:
        h_in = h_in * tl.load(DM + offs, mask=inside)
    sv = S + t * B * 3 * H + b * 3 * H + j
    tl.store(sv, r, mask=inside)
    tl.store(sv + H, z, mask=inside)
    tl.store(RH + t * B * H + offs, r * h_in, mask=inside)


@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def gru_orig_forward_state(X, NH, S, Hs, Out, Hin, M, DM, t, B, H,
                           HAS_MASK, HAS_DROP, ACT: tl.constexpr, BLOCK: tl.constexpr):
    """NH = W_n (r * h_in) (B, H). n = act(x_n + NH); h = (1 - z) n + z h_{t-1}."""
    offs, inside, b, j = _index(B, H, BLOCK)
    n = _act(tl.load(X + t * B * 3 * H + b * 3 * H + 2 * H + j, mask=inside) + tl.load(NH + offs, mask=inside), ACT)
    sv = S + t * B * 3 * H + b * 3 * H + j
    z = tl.load(sv + H, mask=inside)
    s_at = t * B * H + offs
    h_prev = tl.load(Hs + s_at, mask=inside)
    h = (1.0 - z) * n + z * h_prev
    out = h
    if HAS_MASK != 0:
        keep = tl.load(M + t * B + b, mask=inside) != 0
        h = tl.where(keep, h, h_prev)
        out = tl.where(keep, out, 0.0)
    tl.store(sv + 2 * H, n, mask=inside)
    tl.store(Hs + s_at + B * H, h, mask=inside)
    tl.store(Out + s_at, out, mask=inside)
    if HAS_DROP != 0:
        tl.store(Hin + offs, h * tl.load(DM + offs, mask=inside), mask=inside)


@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def gru_orig_backward_state(S, Hs, DOut, Skip, GW, DM, M, DX, t, B, H,
                            HAS_MASK, HAS_DROP, ACT: tl.constexpr, RACT: tl.constexpr,
                            BLOCK: tl.constexpr):
    """da_n = dh (1-z) n';  da_z = dh (h_{t-1} - n) z';  carry dh z. Writes DX[t][z, n]."""
    offs, inside, b, j = _index(B, H, BLOCK)
    dh, keep = _incoming(DOut, Skip, GW, DM, M, t, B, H, offs, b, inside, HAS_MASK, HAS_DROP)
    sv = S + t * B * 3 * H + b * 3 * H + j
    z = tl.load(sv + H, mask=inside)
    n = tl.load(sv + 2 * H, mask=inside)
    h_prev = tl.load(Hs + t * B * H + offs, mask=inside)
    da_n = dh * (1.0 - z) * _dact(n, ACT)
    da_z = dh * (h_prev - n) * _dact(z, RACT)
    skip = dh * z
    if HAS_MASK != 0:
        da_n = tl.where(keep, da_n, 0.0)
        da_z = tl.where(keep, da_z, 0.0)
        skip = tl.where(keep, skip, dh)
    x_at = DX + t * B * 3 * H + b * 3 * H + j
    tl.store(x_at + H, da_z, mask=inside)
    tl.store(x_at + 2 * H, da_n, mask=inside)
    tl.store(Skip + offs, skip, mask=inside)


@triton.jit(do_not_specialize=["t", "B", "H", "HAS_DROP"])
def gru_orig_backward_reset(S, Hs, DRH, DM, DX, GW, t, B, H,
                            HAS_DROP, RACT: tl.constexpr, BLOCK: tl.constexpr):
    """DRH = da_n W_n, the gradient of r * h_in. da_r = DRH h_in r'; GW = DRH r, to which
    the caller adds da_rz W_rz (the rest of dL/dh_in)."""
    offs, inside, b, j = _index(B, H, BLOCK)
    sv = S + t * B * 3 * H + b * 3 * H + j
    r = tl.load(sv, mask=inside)
    h_in = tl.load(Hs + t * B * H + offs, mask=inside)
    if HAS_DROP != 0:
        h_in = h_in * tl.load(DM + offs, mask=inside)
    drh = tl.load(DRH + offs, mask=inside)
    tl.store(DX + t * B * 3 * H + b * 3 * H + j, drh * h_in * _dact(r, RACT), mask=inside)
    tl.store(GW + offs, drh * r, mask=inside)


# ---- Elman RNN ----------------------------------------------------------------------------
@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def rnn_forward_step(P, Hs, Out, Hin, M, DM, t, B, H,
                     HAS_MASK, HAS_DROP, ACT: tl.constexpr, BLOCK: tl.constexpr):
    """P = x_t + b_hh + W_hh h_in (B, H); h = act(P)."""
    offs, inside, b, j = _index(B, H, BLOCK)
    h = _act(tl.load(P + offs, mask=inside), ACT)
    out = h
    s_at = t * B * H + offs
    if HAS_MASK != 0:
        keep = tl.load(M + t * B + b, mask=inside) != 0
        h = tl.where(keep, h, tl.load(Hs + s_at, mask=inside))
        out = tl.where(keep, out, 0.0)
    tl.store(Hs + s_at + B * H, h, mask=inside)
    tl.store(Out + s_at, out, mask=inside)
    if HAS_DROP != 0:
        tl.store(Hin + offs, h * tl.load(DM + offs, mask=inside), mask=inside)


@triton.jit(do_not_specialize=["t", "B", "H", "HAS_MASK", "HAS_DROP"])
def rnn_backward_step(Hs, DOut, Skip, GW, DM, M, DA, t, B, H,
                      HAS_MASK, HAS_DROP, ACT: tl.constexpr, BLOCK: tl.constexpr):
    """da = dh act'(h_t), written to DA[t]."""
    offs, inside, b, j = _index(B, H, BLOCK)
    dh, keep = _incoming(DOut, Skip, GW, DM, M, t, B, H, offs, b, inside, HAS_MASK, HAS_DROP)
    da = dh * _dact(tl.load(Hs + (t + 1) * B * H + offs, mask=inside), ACT)
    skip = dh * 0.0
    if HAS_MASK != 0:
        da = tl.where(keep, da, 0.0)
        skip = tl.where(keep, skip, dh)
    tl.store(DA + t * B * H + offs, da, mask=inside)
    tl.store(Skip + offs, skip, mask=inside)


def grid(batch: int, hidden: int):
    return (triton.cdiv(batch * hidden, BLOCK),)
