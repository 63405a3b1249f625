"""The fully convolutional branch of LSTM-FCN, and the masked pieces it needs for padded batches.

LSTM-FCN (Karim, Majumdar, Darabi, Chen 2017; 2019 for the multivariate version) puts the
FCN of Wang, Yan, Oates (2017) beside a recurrent encoder and concatenates the two summaries
before the softmax head. The FCN reads the series (B, T, C) as C channels over T steps:

    u^0 = x * m                                    padded steps set to zero (m: the step mask)
    u^k = ReLU(BN_k(W_k (*) u^{k-1})) * m          k = 1..K, 'same' padding; filters 128, 256, 128,
                                                   kernels 8, 5, 3 in the paper
    z   = (1 / L_b) sum_{t <= L_b} u^K_t           global average pooling over the valid steps

Zeroing the padded steps before every convolution makes them read exactly like the zero
padding a convolution adds past the end of a sample, so a padded batch gives the same z as
each sample alone at its own length. Batch norm takes its training statistics over the valid
steps only (``MaskedBatchNorm1d``), so padding does not shift the learned mean and variance.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.errors import describe


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` on (B, C, T) whose batch statistics count only the steps where mask (B, T)
    is True. Without padding (mask all True) it equals ``nn.BatchNorm1d``; in eval mode it uses
    the running statistics, as ``nn.BatchNorm1d`` does."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (B, C, T), (B, T)
        if not self.training:
            return super().forward(x)
        weight = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        count = weight.sum().clamp(min=1)
        mean = (x * weight).sum(dim=(0, 2)) / count  # (C,)
        centered = (x - mean[None, :, None]) * weight  # (B, C, T)
        var = centered.pow(2).sum(dim=(0, 2)) / count  # (C,) biased, as batch norm normalizes with
        with torch.no_grad():  # running statistics as torch keeps them: momentum, unbiased variance
            self.num_batches_tracked += 1
            unbiased = var * count / (count - 1).clamp(min=1)
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased.detach(), self.momentum)
        normalized = (x - mean[None, :, None]) * torch.rsqrt(var[None, :, None] + self.eps)
        return normalized * self.weight[None, :, None] + self.bias[None, :, None]


class ConvBranch(nn.Module):
    """``forward(x (B, T, I), mask (B, T)) -> z (B, filters[-1])``: the FCN blocks and masked
    global average pooling described in the module docstring."""

    def __init__(self, input_size: int, filters=(128, 256, 128), kernels=(8, 5, 3)):
        super().__init__()
        if len(filters) != len(kernels) or not filters:
            raise ValueError(f"Received an invalid value for arguments `conv_filters` and `conv_kernels`: expected two "
                             f"non-empty lists of the same length, got {list(filters)} and {list(kernels)}.")
        sizes = [input_size, *filters]
        # no conv bias: the batch norm right after it subtracts the mean, which would cancel it
        self.convs = nn.ModuleList(nn.Conv1d(sizes[k], sizes[k + 1], kernels[k], bias=False) for k in range(len(filters)))
        # 'same' padding as torch and Keras place it: (k - 1) // 2 zeros before, k // 2 after
        self.pads = [((k - 1) // 2, k // 2) for k in kernels]
        self.norms = nn.ModuleList(MaskedBatchNorm1d(n) for n in filters)
        self.output_size = int(filters[-1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if mask.shape != x.shape[:2]:
            raise ValueError(f"Received an invalid value for argument `mask`: expected shape {tuple(x.shape[:2])} "
                             f"(batch, steps of x), got {describe(mask)}.")
        m = mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        u = x.transpose(1, 2) * m  # (B, I, T)
        for conv, norm, pad in zip(self.convs, self.norms, self.pads):
            u = torch.relu(norm(conv(nn.functional.pad(u, pad)), mask)) * m  # (B, F_k, T)
        return u.sum(dim=2) / m.sum(dim=2).clamp(min=1)  # (B, F_K)


def patch_steps(x: torch.Tensor, lengths, patch: int):
    """(B, T, I) -> (B, ceil(T / patch), patch * I): ``patch`` consecutive steps side by side,
    zero-filled past each sample's end; lengths (B,) or None become ceil(L / patch). Long
    univariate series become short sequences of vectors, which a recurrent model learns in
    far fewer steps (as PatchTST does)."""
    if patch == 1:
        return x, lengths
    batch, steps, size = x.shape
    if lengths is not None:  # padded steps may hold anything: zero them, so that a sample's last
        # patch ends in zeros exactly as it does when the sample runs alone
        x = x * (torch.arange(steps, device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1).to(x.dtype)
    extra = (-steps) % patch
    if extra:
        x = torch.cat([x, x.new_zeros(batch, extra, size)], dim=1)  # (B, T', I)
    x = x.reshape(batch, (steps + extra) // patch, patch * size)
    return x, None if lengths is None else (lengths + patch - 1) // patch
