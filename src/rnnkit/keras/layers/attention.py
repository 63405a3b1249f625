r"""Keras ``Attention`` (Luong, dot product) and ``AdditiveAttention`` (Bahdanau).

Inputs ``[query (B, Tq, D), value (B, Tv, D)]`` or ``[query, value, key]`` (key defaults to
value). With scores s:

.. math::
    \text{dot:}\quad s_{ij} = \text{scale} \cdot q_i \cdot k_j \qquad
    \text{additive:}\quad s_{ij} = \sum_d \text{scale}_d \tanh(q_{id} + k_{jd}) \\
    a_{ij} = \mathrm{softmax}_j(s_{ij}) \qquad out_i = \sum_j a_{ij} v_j

Masked value steps get no weight; masked query steps give zero outputs.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnkit.errors import check_choice, check_probability
from rnnkit.keras.engine import format_shape
from rnnkit.keras.initializers import GlorotUniform
from rnnkit.keras.layers.core import DirectWeightsLayer


class _BaseAttention(DirectWeightsLayer):
    def __init__(self, use_scale=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        self.dropout = check_probability(dropout, "dropout")

    def check_input_shape(self, input_shape):
        if not isinstance(input_shape, list) or len(input_shape) not in (2, 3):
            raise ValueError(
                f'Layer "{self.name}" ({type(self).__name__}) expects a list [query, value] or [query, value, key], '
                f"got input shape {input_shape if isinstance(input_shape, list) else format_shape(input_shape)}."
            )
        query, value = input_shape[0], input_shape[1]
        key = input_shape[2] if len(input_shape) == 3 else value
        if len(query) != 3 or len(value) != 3 or len(key) != 3:
            raise ValueError(f'Layer "{self.name}" ({type(self).__name__}) expects 3-D inputs, got shapes {format_shape(list(input_shape))}.')
        if query[-1] != key[-1] and None not in (query[-1], key[-1]):
            raise ValueError(
                f'Layer "{self.name}" ({type(self).__name__}): query and key must have the same last dimension, '
                f"got shapes {format_shape(list(input_shape))}."
            )

    def scores(self, query, key):
        raise NotImplementedError

    def call(self, inputs, mask=None, return_attention_scores=False, use_causal_mask=False, training=None, **kwargs):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        q_mask = v_mask = None
        if isinstance(mask, (list, tuple)):
            q_mask = mask[0]
            v_mask = mask[1] if len(mask) > 1 else None
        scores = self.scores(query, key)  # (B, Tq, Tv)
        keep = None
        if v_mask is not None:
            keep = v_mask.bool().unsqueeze(1)  # (B, 1, Tv)
        if use_causal_mask:
            tq, tv = scores.shape[1], scores.shape[2]
            causal = torch.ones(tq, tv, dtype=torch.bool, device=scores.device).tril().unsqueeze(0)
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = scores - 1.0e9 * (~keep).to(scores.dtype)
        weights = torch.softmax(scores, dim=-1)  # (B, Tq, Tv)
        if self.training and self.dropout > 0:
            weights = torch.nn.functional.dropout(weights, self.dropout, training=True)
        out = torch.matmul(weights, value)  # (B, Tq, D)
        if q_mask is not None:
            out = out * q_mask.unsqueeze(-1).to(out.dtype)
        return [out, weights] if return_attention_scores else out

    def compute_output_shape(self, input_shape, return_attention_scores=False, **kwargs):
        query, value = input_shape[0], input_shape[1]
        out = (*query[:-1], value[-1])
        if return_attention_scores:
            return [out, (query[0], query[1], value[1])]
        return out

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)) and mask and mask[0] is not None:
            return mask[0]
        return None

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "dropout": self.dropout}


class Attention(_BaseAttention):
    """Dot-product attention; ``use_scale`` learns a scalar; ``score_mode='concat'`` uses
    ``concat_score_weight * sum(tanh(q + k))``."""

    keras_params = ("scale", "concat_score_weight")

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)
        self.score_mode = check_choice(score_mode, ("dot", "concat"), "score_mode")
        self.scale = None
        self.concat_score_weight = None

    def build(self, input_shape):
        if self.use_scale:
            self.scale = nn.Parameter(torch.ones(()))
        if self.score_mode == "concat":
            self.concat_score_weight = nn.Parameter(torch.ones(()))
        self.built = True

    def scores(self, query, key):
        if self.score_mode == "dot":
            s = torch.matmul(query, key.transpose(1, 2))
            return s * self.scale if self.scale is not None else s
        q = query.unsqueeze(2)  # (B, Tq, 1, D)
        k = key.unsqueeze(1)  # (B, 1, Tv, D)
        if self.scale is not None:
            return self.concat_score_weight * torch.tanh(self.scale * (q + k)).sum(-1)
        return self.concat_score_weight * torch.tanh(q + k).sum(-1)

    def get_config(self):
        return {**super().get_config(), "score_mode": self.score_mode}


class AdditiveAttention(_BaseAttention):
    """Bahdanau-style additive attention; ``use_scale=True`` (default) learns one scale per feature."""

    keras_params = ("scale",)

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)
        self.scale = None

    def build(self, input_shape):
        dim = input_shape[2][-1] if len(input_shape) == 3 else input_shape[1][-1]
        if self.use_scale:
            self.scale = nn.Parameter(GlorotUniform()((dim,)))
        self.built = True

    def scores(self, query, key):
        q = query.unsqueeze(2)  # (B, Tq, 1, D)
        k = key.unsqueeze(1)  # (B, 1, Tv, D)
        t = torch.tanh(q + k)  # (B, Tq, Tv, D)
        return (t * self.scale).sum(-1) if self.scale is not None else t.sum(-1)

