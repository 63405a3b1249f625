"""The runner against a plain loop over cell.step, padding semantics, and trace()."""

import pytest
import torch

import rnnkit
from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.layers import Recurrent, RecurrentStack

CELLS = {
    "rnn": lambda: RNNCell(3, 5),
    "lstm": lambda: LSTMCell(3, 5),
    "lstm_proj": lambda: LSTMCell(3, 5, proj_size=2),
    "gru": lambda: GRUCell(3, 5),
    "gru_original": lambda: GRUCell(3, 5, reset_after=False),
}


@pytest.mark.parametrize("name", CELLS)
def test_runner_equals_plain_loop_over_step(name):
    torch.manual_seed(0)
    cell = CELLS[name]()
    x = torch.randn(7, 4, 3)
    state = cell.init_state(4)
    outs = []
    for t in range(7):
        h, state = cell.step(x[t], state)
        outs.append(h)
    out, final = Recurrent(cell)(x)
    torch.testing.assert_close(out, torch.stack(outs))
    for a, b in zip(final, state):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("reverse", [False, True])
def test_padded_batch_equals_each_sample_alone(name, reverse):
    torch.manual_seed(1)
    cell = CELLS[name]()
    runner = Recurrent(cell, batch_first=True, reverse=reverse)
    lengths = torch.tensor([6, 1, 4, 3])
    x = torch.randn(4, 6, 3)
    x_noisy = x.clone()
    for b, n in enumerate(lengths):
        x_noisy[b, n:] = 1e3  # padding content must not matter
    out, final = runner(x_noisy, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_final = runner(x[b:b + 1, :n])
        torch.testing.assert_close(out[b, :n], alone[0])
        assert torch.count_nonzero(out[b, n:]) == 0
        for a, s in zip(final, alone_final):
            torch.testing.assert_close(a[b], s[0])


def test_reverse_reverses_within_each_length():
    cell = RNNCell(1, 1, bias=False)
    with torch.no_grad():
        cell.weight_ih.fill_(1.0)
        cell.weight_hh.fill_(0.0)
    runner = Recurrent(cell, batch_first=True, reverse=True)
    x = torch.tensor([[[0.1], [0.2], [0.3]], [[0.4], [0.5], [9.0]]])
    out, final = runner(x, lengths=torch.tensor([3, 2]))
    # with W_hh = 0 each output is tanh(x_t) at its own position; the final state of the
    # reverse pass is the one at the sample's first step
    torch.testing.assert_close(final.h[:, 0], torch.tanh(torch.tensor([0.1, 0.4])))
    torch.testing.assert_close(out[1, :, 0], torch.tensor([torch.tanh(torch.tensor(0.4)), torch.tanh(torch.tensor(0.5)), 0.0]))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_trace_agrees_with_forward(kind, batch_first):
    torch.manual_seed(2)
    layer = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "rnn": rnnkit.RNN}[kind](3, 4, 2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(3, 6, 3) if batch_first else torch.randn(6, 3, 3)
    lengths = torch.tensor([6, 2, 5])
    out, state = layer(x, lengths=lengths)
    trace = layer.trace(x, lengths=lengths)
    torch.testing.assert_close(trace.output, out)
    assert len(trace.layers) == 2 and all(len(row) == 2 for row in trace.layers)
    top = torch.cat([trace.layers[1][0].hidden, trace.layers[1][1].hidden], dim=-1)
    torch.testing.assert_close(top, out)
    expected_gates = {"lstm": {"i", "f", "g", "o"}, "gru": {"r", "z", "n"}, "rnn": set()}[kind]
    item = trace.layers[0][1]
    assert set(item.gates) == expected_gates
    for value in item.gates.values():
        assert value.shape == item.hidden.shape
    if kind == "lstm":
        # c_T at each sample's last valid step equals the final cell state (forward direction)
        c_n = state[1]
        cell_seq = trace.layers[1][0].cell
        idx = lengths - 1
        last = cell_seq[torch.arange(3), idx] if batch_first else cell_seq[idx, torch.arange(3)]
        torch.testing.assert_close(last, c_n[2])
        # gates recompute the cell state: c_t = f*c_{t-1} + i*g (layer 0, forward, sample 0)
        t0 = trace.layers[0][0]
        g = {k: (v[0] if batch_first else v[:, 0]) for k, v in t0.gates.items()}
        c = t0.cell[0] if batch_first else t0.cell[:, 0]
        torch.testing.assert_close(c[1], g["f"][1] * c[0] + g["i"][1] * g["g"][1])
    else:
        assert item.cell is None


@pytest.mark.parametrize("mode", ["concat", "sum", "mul", "ave"])
def test_recurrent_stack_merge_modes_and_layer_sizes(mode):
    torch.manual_seed(3)
    stack = RecurrentStack("lstm", 3, [6, 4], bidirectional=True, merge_mode=mode, batch_first=True)
    stack.eval()
    x = torch.randn(2, 5, 3)
    out, states = stack(x)
    width = 8 if mode == "concat" else 4
    assert out.shape == (2, 5, width) and stack.output_size == width
    assert len(states) == 2 and len(states[0]) == 2 and states[0][0].h.shape == (2, 6)
    trace = stack.trace(x)
    fwd, bwd = trace.layers[1][0].hidden, trace.layers[1][1].hidden
    expected = {"concat": torch.cat([fwd, bwd], -1), "sum": fwd + bwd, "mul": fwd * bwd, "ave": (fwd + bwd) / 2}[mode]
    torch.testing.assert_close(out, expected)
    # the initial state round-trips as the same structure
    out2, _ = stack(x, states)
    assert out2.shape == out.shape


@pytest.mark.parametrize("scheme", ["torch", "xavier_uniform", "glorot_uniform", "he_uniform", "he_normal", "orthogonal", "forget_bias", "keras"])
def test_init_schemes(scheme):
    torch.manual_seed(4)
    layer = rnnkit.LSTM(10, 16, init=scheme)
    w_hh, b_ih, b_hh = layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0
    if scheme in ("orthogonal", "keras"):
        # W_hh (4H, H) has orthonormal columns
        torch.testing.assert_close(w_hh.T @ w_hh, torch.eye(16), atol=1e-5, rtol=0)
    if scheme in ("forget_bias", "keras"):
        torch.testing.assert_close((b_ih + b_hh)[16:32], torch.ones(16))
    if scheme == "torch":
        assert w_hh.abs().max() <= 0.25 and w_hh.std() > 0.1
    if scheme in ("xavier_uniform", "glorot_uniform", "he_uniform", "he_normal", "orthogonal"):
        assert torch.count_nonzero(b_ih) == 0
    if scheme in ("xavier_uniform", "glorot_uniform"):
        bound = (6 / (10 + 64)) ** 0.5
        assert layer.weight_ih_l0.abs().max() <= bound


def test_layer_copies_conversions_and_functional_calls_keep_cells_bound():
    import copy

    torch.manual_seed(5)
    layer = rnnkit.LSTM(3, 4, 2, bidirectional=True)
    x = torch.randn(5, 2, 3)
    twin = copy.deepcopy(layer)
    with torch.no_grad():
        twin.weight_ih_l0.add_(1.0)
    assert not torch.allclose(layer(x)[0], twin(x)[0])  # the copy's cells read the copy's weights
    assert layer.double()(x.double())[0].dtype == torch.float64
    layer.float()
    fresh = torch.nn.LSTM(3, 4, 2, bidirectional=True)
    layer.load_state_dict(fresh.state_dict(), assign=True)
    torch.testing.assert_close(layer(x)[0], fresh(x)[0], atol=1e-5, rtol=1e-5)
    params = {k: torch.zeros_like(v) for k, v in layer.named_parameters()}
    out = torch.func.functional_call(layer, params, (x,))[0]
    assert torch.count_nonzero(out) == 0  # all-zero weights give zero outputs
