"""Shared by the fused-kernel tests on CPU and on GPU."""

import torch

import rnnkit

# Every cell family the fused kernels serve, with the layer options that select it.
FAMILIES = {
    "lstm": (rnnkit.LSTM, {}),
    "lstm_ln": (rnnkit.LSTM, {"layer_norm": True}),
    "lstm_rd": (rnnkit.LSTM, {"recurrent_dropout": 0.25}),
    "lstm_ln_rd": (rnnkit.LSTM, {"layer_norm": True, "recurrent_dropout": 0.25}),
    "gru": (rnnkit.GRU, {}),
    "gru_orig": (rnnkit.GRU, {"reset_after": False}),
    "gru_orig_rd": (rnnkit.GRU, {"reset_after": False, "recurrent_dropout": 0.2}),
    "rnn_tanh": (rnnkit.RNN, {}),
    "rnn_relu": (rnnkit.RNN, {"nonlinearity": "relu"}),
}


def run(layer, x, state, lengths, seed):
    """Forward + backward of a fixed random loss; returns every value and gradient."""
    for p in layer.parameters():
        p.grad = None
    x = x.detach().requires_grad_()
    state = None if state is None else tuple(s.detach().requires_grad_() for s in state)
    torch.manual_seed(seed)  # the same recurrent-dropout and inter-layer dropout masks on both backends
    hx = None if state is None else (state if len(state) == 2 else state[0])
    out, final = layer(x, hx, lengths=lengths)
    finals = final if isinstance(final, tuple) else (final,)
    g = torch.Generator(device=x.device).manual_seed(1)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype, device=x.device)).sum()
    loss = loss + sum((f * torch.randn(f.shape, generator=g, dtype=f.dtype, device=x.device)).sum() for f in finals)
    loss.backward()
    grads = [x.grad] + ([] if state is None else [s.grad for s in state]) + [p.grad for p in layer.parameters()]
    return [out, *finals], grads

