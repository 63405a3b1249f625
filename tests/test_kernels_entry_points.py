"""What the C++ entry points of a training step do besides the recurrence (csrc/fused.cpp):
the input projection and its backward (``project_forward``, ``project_backward``), the final
states returned by the forward kernels, an empty initial state read as zeros and an empty
final-state gradient read as zeros. Each is compared bit for bit with what the Python side
computed before (slices, explicit zeros, the ATen calls of ``projected.project``)."""

from __future__ import annotations

import pytest
import torch

from rnnkit.kernels import extension
from rnnkit.kernels.fused import GRUFunction, GRUOriginalFunction, LSTMFunction, RNNFunction
from rnnkit.kernels.fused_layer_norm import LayerNormLSTMFunction
from rnnkit.kernels.placeholders import empty
from rnnkit.kernels.projected import ProjectedScan, project

pytestmark = pytest.mark.skipif(extension.load_extension() is None,
                                reason=f"fused extension unavailable: "
                                       f"{extension.unavailable_reason()}")

FAMILIES = ["lstm", "lstm_ln", "gru", "gru_orig", "rnn"]
STEPS, BATCH, INPUTS, HIDDEN = 5, 3, 4, 6


def _same(a, b) -> bool:
    """Bit-identical tensors (or both None)."""
    if a is None or b is None:
        return a is None and b is None
    return a.dtype == b.dtype and a.shape == b.shape and a.numpy().tobytes() == b.numpy().tobytes()


def _call(family, dtype, *, zero_state, lengths, dropout, seed=0):
    """ProjectedScan over ``family`` with leaves that require grad; ``zero_state``: None for the
    initial state ("absent") or explicit zeros. Returns (outputs, leaves by name)."""
    g = torch.Generator().manual_seed(seed)
    blocks = {"lstm": 4, "lstm_ln": 4, "gru": 3, "gru_orig": 3, "rnn": 1}[family]

    def leaf(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=dtype) * scale).requires_grad_()

    p = dict(x=leaf(STEPS, BATCH, INPUTS), w_ih=leaf(blocks * HIDDEN, INPUTS, scale=0.5),
             b_ih=leaf(blocks * HIDDEN), b_hh=leaf(blocks * HIDDEN),
             w_hh=leaf(blocks * HIDDEN, HIDDEN, scale=0.5))
    zeros, czeros = (None if zero_state == "absent" else
                     torch.zeros(BATCH, HIDDEN, dtype=dtype, requires_grad=True) for _ in range(2))
    lasts = torch.tensor([STEPS, 1, 3])
    mask = (torch.arange(STEPS)[:, None] < lasts[None]).contiguous() if lengths else None
    keep = torch.rand(BATCH, HIDDEN, generator=g, dtype=dtype) > 0.3
    dmask = keep.to(dtype) / 0.7 if dropout else None
    x, w_ih, b_ih, b_hh, w_hh = (p[k] for k in ("x", "w_ih", "b_ih", "b_hh", "w_hh"))
    run = ProjectedScan.apply
    if family == "lstm":
        out = run(LSTMFunction, x, w_ih, b_ih, b_hh, zeros, czeros, w_hh, mask, dmask)
    elif family == "lstm_ln":
        gains = [(torch.rand(n, generator=g, dtype=dtype) + 0.5).requires_grad_()
                 for n in (24, 24, HIDDEN)]
        p.update(ln_ih=gains[0], ln_hh=gains[1], lnc_g=gains[2], lnc_b=leaf(HIDDEN))
        out = run(LayerNormLSTMFunction, x, w_ih, None, None, zeros, czeros, w_hh, p["ln_ih"], b_ih,
                  b_hh, p["ln_hh"], p["lnc_g"], p["lnc_b"], mask, dmask)
    elif family == "gru":
        out = run(GRUFunction, x, w_ih, b_ih, None, zeros, w_hh, b_hh, mask, dmask)
    elif family == "gru_orig":
        out = run(GRUOriginalFunction, x, w_ih, b_ih, b_hh, zeros, w_hh, mask, dmask)
    else:
        out = run(RNNFunction, x, w_ih, b_ih, b_hh, zeros, w_hh, mask, dmask, False)
    if zeros is not None:
        p["h0"] = zeros
        if family.startswith("lstm"):
            p["c0"] = czeros
    return out, p


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lengths, dropout", [(False, False), (True, True)])
def test_absent_initial_state_is_zeros_bit_for_bit(family, dtype, lengths, dropout):
    """h0 (and c0) None: the kernel zeroes the first state itself; outputs, final states and
    every gradient equal those of explicit zero states, and the absent state gets none."""
    absent, p_absent = _call(family, dtype, zero_state="absent", lengths=lengths, dropout=dropout)
    given, p_given = _call(family, dtype, zero_state="zeros", lengths=lengths, dropout=dropout)
    for a, b in zip(absent, given):
        assert _same(a.detach(), b.detach())
    w = torch.linspace(-1, 1, STEPS * BATCH * HIDDEN, dtype=dtype).view(STEPS, BATCH, HIDDEN)
    (absent[0] * w).sum().backward()
    (given[0] * w).sum().backward()
    for name, leaf in p_absent.items():
        assert _same(leaf.grad, p_given[name].grad), name
    assert p_given["h0"].grad is not None and p_given["h0"].grad.abs().sum() > 0


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("loss", ["outputs", "final"])
def test_unused_outputs_get_no_materialized_gradient_and_the_same_bits(family, loss):
    """ProjectedScan does not materialize zero gradients: an unused final state reaches the
    kernels as the empty placeholder (read as zeros), an unused output as Python zeros. The
    gradients equal those of a loss that uses the other outputs times zero."""
    used, p_used = _call(family, torch.float64, zero_state="zeros", lengths=True, dropout=False)
    zeroed, p_zeroed = _call(family, torch.float64, zero_state="zeros", lengths=True, dropout=False)
    if loss == "outputs":
        used[0].sum().backward()
        (zeroed[0].sum() + sum(t.sum() * 0.0 for t in zeroed[1:])).backward()
    else:
        sum(t.pow(2).sum() for t in used[1:]).backward()
        (zeroed[0].sum() * 0.0 + sum(t.pow(2).sum() for t in zeroed[1:])).backward()
    for name, leaf in p_used.items():
        assert _same(leaf.grad, p_zeroed[name].grad), name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_final_states_from_the_kernels_are_the_last_states_and_fresh_tensors(dtype):
    ext = extension.load_extension()
    g = torch.Generator().manual_seed(1)
    x4, x3 = (torch.randn(STEPS, BATCH, n * HIDDEN, generator=g, dtype=dtype) for n in (4, 3))
    x1 = torch.randn(STEPS, BATCH, HIDDEN, generator=g, dtype=dtype)
    h0, c0 = (torch.randn(BATCH, HIDDEN, generator=g, dtype=dtype) for _ in range(2))
    w4, w3, w1 = (torch.randn(n * HIDDEN, HIDDEN, generator=g, dtype=dtype) * 0.3
                  for n in (4, 3, 1))
    mask = (torch.arange(STEPS)[:, None] < torch.tensor([STEPS, 2, 4])[None]).contiguous()
    none = empty(dtype)
    gains = [torch.rand(n, generator=g, dtype=dtype) + 0.5 for n in (24, 24, HIDDEN)]
    runs = {
        "lstm": (ext.lstm_forward(x4, h0, c0, w4, mask, none), 1, 2, 4),
        "lstm_ln": (ext.lstm_ln_forward(x4, h0, c0, w4, gains[0], none, none, gains[1], gains[2],
                                        torch.zeros(HIDDEN, dtype=dtype), mask, none, 1e-5),
                    1, 2, 9),
        "gru": (ext.gru_forward(x3, h0, w3, none, mask, none), 1, None, 3),
        "gru_orig": (ext.gru_nr_forward(x3, h0, w3, mask, none), 1, None, 4),
        "rnn": (ext.rnn_forward(x1, h0, w1, mask, none, False), 1, None, 2),
    }
    for family, (result, hs_at, cs_at, finals_at) in runs.items():
        finals = result[finals_at:]
        stacks = [result[hs_at]] + ([result[cs_at]] if cs_at is not None else [])
        assert len(finals) == len(stacks), family
        for final, stack in zip(finals, stacks):
            assert _same(final, stack[-1]), family
            assert final.untyped_storage().data_ptr() != stack.untyped_storage().data_ptr(), family


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("biases", ["both", "ih", "fold", "none"])
def test_projection_entry_points_match_the_python_calls(dtype, biases):
    ext = extension.load_extension()
    g = torch.Generator().manual_seed(2)
    inputs = torch.randn(BATCH, STEPS, INPUTS, generator=g, dtype=dtype).transpose(0, 1)  # (T, B, I)
    w_ih = torch.randn(4 * HIDDEN, INPUTS, generator=g, dtype=dtype)
    b_ih = torch.randn(4 * HIDDEN, generator=g, dtype=dtype) if biases in ("both", "ih") else None
    b_fold = (torch.randn(4 * HIDDEN, generator=g, dtype=dtype)
              if biases in ("both", "fold") else None)
    bias = b_ih if b_fold is None else (b_fold if b_ih is None else b_ih + b_fold)
    x2, projected = project(inputs, w_ih, bias)
    cx2, cprojected = ext.project_forward(inputs, w_ih, empty(dtype) if b_ih is None else b_ih,
                                          empty(dtype) if b_fold is None else b_fold)
    assert _same(cx2, x2) and _same(cprojected, projected)
    d_proj = torch.randn(STEPS, BATCH, 4 * HIDDEN, generator=g, dtype=dtype)
    da = d_proj.reshape(STEPS * BATCH, 4 * HIDDEN)
    dx, dw, db_ih, db_fold = ext.project_backward(d_proj, x2, w_ih, True, True, True, True)
    assert _same(dx, da.mm(w_ih).view(inputs.shape)) and _same(dw, da.t().mm(x2))
    assert _same(db_ih, da.sum(0)) and _same(db_fold, da.sum(0))
    assert db_ih.data_ptr() != db_fold.data_ptr()  # never one tensor for two parameters
    assert ext.project_backward(d_proj, x2, w_ih, False, False, False, False) == [None] * 4
    only_fold = ext.project_backward(d_proj, x2, w_ih, False, True, False, True)
    assert only_fold[0] is None and only_fold[2] is None and _same(only_fold[3], da.sum(0))


def test_any_requires_grad_walks_the_module_tree_like_parameters():
    from rnnkit.kernels.dispatch import _any_requires_grad, backward_expected

    import rnnkit

    inner = torch.nn.Linear(2, 2)
    tree = torch.nn.Sequential(torch.nn.Sequential(torch.nn.ReLU(), inner),
                               torch.nn.Linear(2, 2, bias=False))
    tree.register_parameter("absent", None)
    for frozen in ([], ["0.1.weight"], [n for n, _ in tree.named_parameters()]):
        for name, p in tree.named_parameters():
            p.requires_grad_(name not in frozen)
        assert _any_requires_grad(tree) == any(p.requires_grad for p in tree.parameters())
    inner.weight.requires_grad_(True)  # the only trainable one, two levels down
    assert _any_requires_grad(tree)
    layer = rnnkit.LSTM(3, 4)
    x = torch.randn(2, 1, 3)
    assert backward_expected(layer, x)
    layer.requires_grad_(False)
    assert not backward_expected(layer, x) and backward_expected(layer, x.requires_grad_())
    with torch.no_grad():
        assert not backward_expected(layer, x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("p", [0.05, 0.25, 1 / 3, 0.5, 0.9])
def test_dropout_mask_entry_point_draws_what_draw_mask_draws(dtype, p):
    """The same numbers from the same generator state, which it leaves where draw_mask does."""
    from rnnkit.cells.recurrent_dropout import draw_mask

    like = torch.zeros(2, dtype=dtype)
    torch.manual_seed(3)
    expected, after_python = draw_mask(p, 5, 70, like=like), torch.rand(1)
    torch.manual_seed(3)
    drawn, after_cpp = extension.load_extension().dropout_mask(p, 5, 70, like), torch.rand(1)
    assert _same(drawn, expected) and _same(after_cpp, after_python)
    assert set(drawn.unique().tolist()) <= {0.0, float(torch.tensor(1.0, dtype=dtype) / (1 - p))}
    assert not drawn.requires_grad
