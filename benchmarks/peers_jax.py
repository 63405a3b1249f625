"""JAX peer for benchmarks/speed.py: the same cells as ``lax.scan`` over time, jit-compiled.

The input projection is one matrix multiply outside the scan, as in rnnkit. A training step is
``jax.value_and_grad`` of the summed outputs with respect to every weight and the inputs.
"""

from __future__ import annotations

import os

# These flags alone did not keep XLA's CPU client on one core (its process CPU time was 1.8x its
# wall time at LSTM B64 H256 T50 inference), so speed.py also pins the whole process to its
# --threads CPUs before this module is imported.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

EPS = 1e-5


def _ln(v, gain, shift=0.0):
    mu = v.mean(-1, keepdims=True)
    var = ((v - mu) ** 2).mean(-1, keepdims=True)
    return gain * (v - mu) / jnp.sqrt(var + EPS) + shift


def _forward(cell: str, params, x, key):
    """x (T, B, I) -> outputs (T, B, H)."""
    w_ih, w_hh, b = params["w_ih"], params["w_hh"], params["b"]
    hidden = w_hh.shape[1]
    batch = x.shape[1]
    xp = x @ w_ih.T  # (T, B, G*H), one matrix multiply for all steps
    if cell == "lstm_ln":
        xp = _ln(xp, params["g_ih"])
    xp = xp + b
    h0 = jnp.zeros((batch, hidden), x.dtype)
    mask = None
    if cell == "lstm_rd":
        mask = jax.random.bernoulli(key, 0.75, (batch, hidden)).astype(x.dtype) / 0.75

    if cell in ("lstm", "lstm_ln", "lstm_rd"):
        def step(carry, xt):
            h, c = carry
            hin = h * mask if mask is not None else h
            rec = hin @ w_hh.T
            if cell == "lstm_ln":
                rec = _ln(rec, params["g_hh"])
            i, f, g, o = jnp.split(xt + rec, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            cc = _ln(c, params["g_c"], params["b_c"]) if cell == "lstm_ln" else c
            h = jax.nn.sigmoid(o) * jnp.tanh(cc)
            return (h, c), h
        _, out = lax.scan(step, (h0, h0), xp)
        return out
    if cell == "gru":
        b_hh = params["b_hh"]

        def step(h, xt):
            xr, xz, xn = jnp.split(xt, 3, axis=-1)
            hr, hz, hn = jnp.split(h @ w_hh.T + b_hh, 3, axis=-1)
            r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
            h = (1 - z) * jnp.tanh(xn + r * hn) + z * h
            return h, h
        _, out = lax.scan(step, h0, xp)
        return out
    if cell == "gru_orig":
        def step(h, xt):
            xr, xz, xn = jnp.split(xt, 3, axis=-1)
            hr, hz = jnp.split(h @ w_hh[: 2 * hidden].T, 2, axis=-1)
            r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
            h = (1 - z) * jnp.tanh(xn + (r * h) @ w_hh[2 * hidden:].T) + z * h
            return h, h
        _, out = lax.scan(step, h0, xp)
        return out

    def step(h, xt):  # rnn
        h = jnp.tanh(xt + h @ w_hh.T)
        return h, h
    _, out = lax.scan(step, h0, xp)
    return out


def make(cell: str, batch: int, hidden: int, steps: int, inputs: int, train: bool):
    """A zero-argument callable that runs one (jit-compiled, warmed-up) step and blocks."""
    blocks = {"lstm": 4, "lstm_ln": 4, "lstm_rd": 4, "gru": 3, "gru_orig": 3, "rnn": 1}[cell]
    rng = np.random.default_rng(0)
    scale = 1 / np.sqrt(hidden)
    f32 = lambda *s: jnp.asarray(rng.uniform(-scale, scale, s).astype(np.float32))  # noqa: E731
    params = {"w_ih": f32(blocks * hidden, inputs), "w_hh": f32(blocks * hidden, hidden), "b": f32(blocks * hidden)}
    if cell == "gru":
        params["b_hh"] = f32(3 * hidden)
    if cell == "lstm_ln":
        params.update(g_ih=jnp.ones(4 * hidden), g_hh=jnp.ones(4 * hidden), g_c=jnp.ones(hidden), b_c=jnp.zeros(hidden))
    x = f32(steps, batch, inputs)
    key = jax.random.PRNGKey(0)
    if train:
        loss = lambda p, xx: _forward(cell, p, xx, key).sum()  # noqa: E731
        fn = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    else:
        fn = jax.jit(lambda p, xx: _forward(cell, p, xx, key))

    def run():
        jax.block_until_ready(fn(params, x))
    run()  # compile
    return run


def version() -> str:
    return jax.__version__
