"""Shared by the fused-kernel tests on CPU and on GPU."""

import torch


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

