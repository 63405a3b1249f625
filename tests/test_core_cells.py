"""Cells against independent straight-line implementations and gradcheck in float64."""

import pytest
import torch

import rnnkit
from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.layers.recurrent import scan


def gru_original_reference(x, h0, w_ih, w_hh, b_ih, b_hh):
    """Cho et al. 2014 written out gate by gate, independent of rnnkit's code."""
    hidden = h0.shape[1]
    W_ir, W_iz, W_in = w_ih[:hidden], w_ih[hidden:2 * hidden], w_ih[2 * hidden:]
    W_hr, W_hz, W_hn = w_hh[:hidden], w_hh[hidden:2 * hidden], w_hh[2 * hidden:]
    b_ir, b_iz, b_in = b_ih[:hidden], b_ih[hidden:2 * hidden], b_ih[2 * hidden:]
    b_hr, b_hz, b_hn = b_hh[:hidden], b_hh[hidden:2 * hidden], b_hh[2 * hidden:]
    h = h0
    outs = []
    for x_t in x:
        r = torch.sigmoid(x_t @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
        z = torch.sigmoid(x_t @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
        n = torch.tanh(x_t @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs), h


def test_gru_reset_after_false_matches_straight_line_equations():
    torch.manual_seed(0)
    layer = rnnkit.GRU(5, 6, reset_after=False)
    x = torch.randn(9, 3, 5)
    h0 = torch.randn(1, 3, 6)
    out, h_n = layer(x, h0)
    ref_out, ref_h = gru_original_reference(x, h0[0], layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0)
    torch.testing.assert_close(out, ref_out, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(h_n[0], ref_h, atol=1e-6, rtol=1e-6)
    # and the two forms really differ for the same weights
    other = rnnkit.GRU(5, 6, reset_after=True)
    other.load_state_dict(layer.state_dict())
    assert (other(x, h0)[0] - out).abs().max() > 1e-3


@pytest.mark.parametrize("cls,torch_cls,kwargs", [
    (RNNCell, torch.nn.RNNCell, {"nonlinearity": "tanh"}),
    (RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    (LSTMCell, torch.nn.LSTMCell, {}),
    (GRUCell, torch.nn.GRUCell, {}),
])
def test_standalone_cells_match_torch_cells(cls, torch_cls, kwargs):
    torch.manual_seed(0)
    ref = torch_cls(4, 5, **kwargs)
    ours = cls(4, 5, **kwargs)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 4)
    if cls is LSTMCell:
        state = (torch.randn(3, 5), torch.randn(3, 5))
        h, (h2, c) = ours.step(x, ours.state_type(*state))
        ref_h, ref_c = ref(x, state)
        torch.testing.assert_close(c, ref_c)
    else:
        state = torch.randn(3, 5)
        h, _ = ours.step(x, ours.state_type(state))
        ref_h = ref(x, state)
    torch.testing.assert_close(h, ref_h)


def lstm_keras_activations_reference(x, h, c, layer):
    w = layer._cells[0][0].weights()
    gates = x @ w.weight_ih.T + w.bias_ih + h @ w.weight_hh.T + w.bias_hh
    i, f, g, o = gates.chunk(4, 1)
    hard = lambda v: torch.clamp(v / 6 + 0.5, 0, 1)  # noqa: E731
    c = hard(f) * c + hard(i) * torch.relu(g)
    return hard(o) * torch.relu(c), c


def test_lstm_activation_and_recurrent_activation_are_configurable():
    torch.manual_seed(0)
    layer = rnnkit.LSTM(3, 4, activation="relu", recurrent_activation="hard_sigmoid")
    x = torch.randn(1, 2, 3)
    out, (h, c) = layer(x)
    ref_h, ref_c = lstm_keras_activations_reference(x[0], torch.zeros(2, 4), torch.zeros(2, 4), layer)
    torch.testing.assert_close(h[0], ref_h)
    torch.testing.assert_close(c[0], ref_c)


CELL_CASES = [
    ("rnn_tanh", lambda: RNNCell(3, 4, nonlinearity="tanh", dtype=torch.float64)),
    ("rnn_relu", lambda: RNNCell(3, 4, nonlinearity="relu", dtype=torch.float64)),
    ("lstm", lambda: LSTMCell(3, 4, dtype=torch.float64)),
    ("lstm_proj", lambda: LSTMCell(3, 4, proj_size=2, dtype=torch.float64)),
    ("gru", lambda: GRUCell(3, 4, dtype=torch.float64)),
    ("gru_original", lambda: GRUCell(3, 4, reset_after=False, dtype=torch.float64)),
]


@pytest.mark.parametrize("name,make", CELL_CASES, ids=[c[0] for c in CELL_CASES])
def test_gradcheck_every_cell_step(name, make):
    torch.manual_seed(0)
    cell = make()
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    state0 = cell.init_state(2, dtype=torch.float64)
    state = [torch.randn_like(s).requires_grad_(True) for s in state0]
    params = [p for p in cell.parameters()]

    def f(x, *args):
        st = cell.state_type(*args[: len(state)])
        h, new = cell.step(x, st)
        return (h,) + tuple(new)

    assert torch.autograd.gradcheck(f, (x, *state), eps=1e-6, atol=1e-5)
    # weights too: gradcheck over parameters through a functional call
    names = [n for n, _ in cell.named_parameters()]

    def g(*weights):
        out = torch.func.functional_call(cell, dict(zip(names, weights)), (x.detach(), cell.state_type(*[s.detach() for s in state])))
        return out[0]

    assert torch.autograd.gradcheck(g, tuple(p.detach().clone().requires_grad_(True) for p in params), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name,make", CELL_CASES, ids=[c[0] for c in CELL_CASES])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradcheck_runner_with_lengths(name, make, reverse):
    torch.manual_seed(1)
    cell = make()
    x = torch.randn(5, 3, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([5, 2, 3])
    h0 = [torch.randn_like(s).requires_grad_(True) for s in cell.init_state(3, dtype=torch.float64)]

    def f(x, *state):
        out, final, _ = scan(cell, x, cell.state_type(*state), lengths=lengths, reverse=reverse)
        return (out,) + tuple(final)

    assert torch.autograd.gradcheck(f, (x, *h0), eps=1e-6, atol=1e-5)
