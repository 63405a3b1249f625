"""gradient_flow against hand computations with torch.autograd.grad on tiny loops, and known cases."""

import math

import pytest
import torch

import rnnkit
from rnnkit.diagnostics import GradientFlowWarning, gradient_flow


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread avoids spinning threads on a shared, loaded machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _hand_rnn(layer, x, weights):
    """Plain loop of the tanh RNN equations; returns (loss, [h_t])."""
    w_ih, w_hh, b_ih, b_hh = layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0
    h = torch.zeros(x.shape[1], w_hh.shape[0], dtype=x.dtype)
    hs = []
    for x_t in x:
        h = torch.tanh(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh)
        hs.append(h)  # the very tensor that feeds the output and every later step
    out = torch.stack(hs)
    return (out * weights).sum() + hs[-1].pow(2).sum(), hs


def _hand_lstm(layer, x, weights):
    w_ih, w_hh, b = layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0 + layer.bias_hh_l0
    hidden = w_hh.shape[1]
    h = torch.zeros(x.shape[1], hidden, dtype=x.dtype)
    c = torch.zeros_like(h)
    hs, cs = [], []
    for x_t in x:
        i, f, g, o = (x_t @ w_ih.T + h @ w_hh.T + b).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
        cs.append(c)
    return (torch.stack(hs) * weights).sum() + hs[-1].pow(2).sum(), hs, cs


def test_rnn_matches_hand_autograd():
    torch.manual_seed(0)
    layer = rnnkit.RNN(2, 3, dtype=torch.float64)
    x = torch.randn(7, 2, 2, dtype=torch.float64)
    weights = torch.randn(7, 2, 3, dtype=torch.float64)
    loss, hs = _hand_rnn(layer, x, weights)
    want = [float(g.norm()) for g in torch.autograd.grad(loss, hs)]

    def loss_fn(outputs):
        out, h_n = outputs
        return (out * weights).sum() + h_n[0].pow(2).sum()

    report = gradient_flow(layer, x, loss_fn)
    assert [d.name for d in report.directions] == ["model.l0.forward"]
    assert report.directions[0].grad_norm == pytest.approx(want, rel=1e-10)
    assert report.loss == pytest.approx(float(loss.detach()), rel=1e-12)


def test_lstm_h_and_c_match_hand_autograd():
    torch.manual_seed(1)
    layer = rnnkit.LSTM(2, 3, dtype=torch.float64)
    x = torch.randn(6, 2, 2, dtype=torch.float64)
    weights = torch.randn(6, 2, 3, dtype=torch.float64)
    loss, hs, cs = _hand_lstm(layer, x, weights)
    grads = torch.autograd.grad(loss, hs + cs)
    report = gradient_flow(layer, x, lambda out: (out[0] * weights).sum() + out[1][0][0].pow(2).sum())
    d = report.directions[0]
    assert d.grad_norm == pytest.approx([float(g.norm()) for g in grads[:6]], rel=1e-10)
    assert d.cell_grad_norm == pytest.approx([float(g.norm()) for g in grads[6:]], rel=1e-10)


def test_reverse_direction_in_processing_order_and_lengths():
    torch.manual_seed(2)
    layer = rnnkit.RNN(2, 3, bidirectional=True, dtype=torch.float64)
    x = torch.randn(5, 2, 2, dtype=torch.float64)
    report = gradient_flow(layer, x, lambda out: out[0][..., 3:].sum())  # only the reverse half
    forward, backward = report.directions
    assert backward.name == "model.l0.reverse" and all(g == 0 for g in forward.grad_norm)
    # hand: the reverse direction is a forward RNN over the flipped sequence
    w = [layer.weight_ih_l0_reverse, layer.weight_hh_l0_reverse, layer.bias_ih_l0_reverse, layer.bias_hh_l0_reverse]
    h, hs = torch.zeros(2, 3, dtype=torch.float64), []
    for x_t in x.flip(0):
        h = torch.tanh(x_t @ w[0].T + w[2] + h @ w[1].T + w[3])
        hs.append(h)
    want = [float(g.norm()) for g in torch.autograd.grad(torch.stack(hs).sum(), hs)]
    assert backward.grad_norm == pytest.approx(want, rel=1e-10)
    # padded steps receive no gradient
    lengths = torch.tensor([5, 2])
    model = rnnkit.RNN(2, 3, dtype=torch.float64)

    class WithLengths(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = model

        def forward(self, x):
            return self.rnn(x, lengths=lengths)[0]

    only_second = gradient_flow(WithLengths(), x, lambda out: out[:, 1].sum()).directions[0]
    assert only_second.grad_norm[2:] == [0.0, 0.0, 0.0] and only_second.grad_norm[1] > 0


@pytest.mark.parametrize("a", [0.5, 0.9])
def test_linear_rnn_ratio_is_a_to_the_T_minus_1(a):
    # relu with positive inputs and weights stays linear: h_t = a h_{t-1} + W_ih x_t
    steps = 30
    layer = rnnkit.RNN(2, 4, nonlinearity="relu", dtype=torch.float64)
    with torch.no_grad():
        layer.weight_hh_l0.copy_(a * torch.eye(4, dtype=torch.float64))
        layer.weight_ih_l0.uniform_(0.1, 1.0)
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    x = torch.rand(steps, 3, 2, dtype=torch.float64)
    d = gradient_flow(layer, x, lambda out: out[1][0].sum(), warn=False).directions[0]  # loss = sum of h_T
    assert d.ratio == pytest.approx(a ** (steps - 1), rel=1e-9)
    assert d.grad_norm[10] / d.grad_norm[-1] == pytest.approx(a ** (steps - 1 - 10), rel=1e-9)
    assert d.spectra["radius"]["whole"] == pytest.approx(a, rel=1e-9)


def test_lstm_high_forget_bias_keeps_gradient():
    torch.manual_seed(3)
    x = torch.randn(60, 4, 2)
    ratios = {}
    for bias in (5.0, -5.0):
        layer = rnnkit.LSTM(2, 8)
        with torch.no_grad():
            layer.bias_ih_l0[8:16].fill_(bias)
            layer.bias_hh_l0[8:16].zero_()
        with pytest.warns(GradientFlowWarning) if bias < 0 else _nothing():
            d = gradient_flow(layer, x, lambda out: out[1][0].pow(2).sum()).directions[0]
        ratios[bias] = d.ratio
        assert d.saturation["f"] > (0.9 if bias > 0 else 0.9)  # sigmoid(+-5) is outside [0.05, 0.95]
    assert ratios[5.0] > 1e-2
    assert ratios[-5.0] < 1e-6


class _nothing:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", GradientFlowWarning)

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def test_vanishing_warning_names_the_step():
    layer = rnnkit.RNN(1, 1, nonlinearity="relu", bias=False, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_hh_l0.fill_(0.1)
        layer.weight_ih_l0.fill_(1.0)
    x = torch.ones(10, 1, 1, dtype=torch.float64)
    with pytest.warns(GradientFlowWarning, match=r"model.l0.forward.*below 1e-06 of the last step's from step 2 back \(7 steps back"):
        report = gradient_flow(layer, x, lambda out: out[1].sum())
    assert report.directions[0].vanishing_step() == 2  # 0.1^7 < 1e-6 <= 0.1^6
    assert math.isclose(report.directions[0].ratio, 1e-9, rel_tol=1e-9)


def test_saturation_known_values():
    layer = rnnkit.LSTM(2, 3)
    with torch.no_grad():
        for p in layer.parameters():
            p.zero_()
    x = torch.randn(4, 2, 2)
    assert gradient_flow(layer, x).directions[0].saturation == {"i": 0.0, "f": 0.0, "g": 0.0, "o": 0.0}
    with torch.no_grad():
        layer.bias_ih_l0.fill_(10.0)
    assert gradient_flow(layer, x).directions[0].saturation == {"i": 1.0, "f": 1.0, "g": 1.0, "o": 1.0}
    gru = rnnkit.GRU(2, 3, recurrent_activation="hard_sigmoid")
    assert set(gradient_flow(gru, x).directions[0].saturation) == {"r", "z", "n"}


def test_spectra_per_gate_block():
    layer = rnnkit.GRU(2, 3, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_hh_l0.copy_(torch.cat([0.5 * torch.eye(3), 2.0 * torch.eye(3), torch.diag(torch.tensor([-3.0, 1.0, 0.0]))]))
    d = gradient_flow(layer, torch.randn(3, 1, 2, dtype=torch.float64)).directions[0]
    assert d.spectra["radius"] == pytest.approx({"r": 0.5, "z": 2.0, "n": 3.0})
    assert d.spectra["norm"]["whole"] == pytest.approx(math.sqrt(0.25 + 4 + 9))
    proj = rnnkit.LSTM(2, 4, proj_size=2)
    assert set(gradient_flow(proj, torch.randn(3, 1, 2)).directions[0].spectra["radius"]) == {"i", "f", "g", "o"}


def test_model_state_untouched():
    torch.manual_seed(4)
    model = torch.nn.Sequential()
    model.rnn = rnnkit.RecurrentStack("gru", 2, [4, 3], dropout=0.5)
    model.train()
    x = torch.randn(5, 2, 2)
    before = torch.random.get_rng_state()
    report = gradient_flow(model, x, lambda out: out[0].sum())
    assert torch.equal(before, torch.random.get_rng_state())
    assert model.training and all(p.grad is None for p in model.parameters())
    assert [d.name for d in report.directions] == ["rnn.l0.forward", "rnn.l1.forward"]
    assert report.global_grad_norm > 0


def test_standalone_recurrent_and_cell_in_user_loop():
    torch.manual_seed(5)
    cell = rnnkit.GRUCell(2, 3)

    class Loop(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cell, self.wrapped = cell, rnnkit.Recurrent(rnnkit.LSTMCell(3, 2), reverse=True)

        def forward(self, x):
            h, outs = None, []
            for x_t in x:
                out, h = self.cell(x_t, h)
                outs.append(out)
            return self.wrapped(torch.stack(outs))[0]

    report = gradient_flow(Loop(), torch.randn(6, 2, 2))
    names = [d.name for d in report.directions]
    assert names == ["cell.l0.forward", "wrapped.cell.l0.reverse"]
    assert all(len(d.grad_norm) == 6 for d in report.directions)


def test_errors():
    with pytest.raises(ValueError, match="`model`: expected a module containing rnnkit recurrent layers.*Linear with none"):
        gradient_flow(torch.nn.Linear(2, 2), torch.randn(3, 2))
    with pytest.raises(TypeError, match="`model`: expected a torch.nn.Module"):
        gradient_flow(lambda x: x, torch.randn(3, 2))
    with pytest.raises(TypeError, match=r"`batch`: expected an inputs tensor or a pair.*length 3"):
        gradient_flow(rnnkit.RNN(2, 2), (torch.randn(3, 1, 2),) * 3)
    with pytest.raises(ValueError, match="`loss_fn`: expected 'mse', 'cross_entropy'"):
        gradient_flow(rnnkit.RNN(2, 2), (torch.randn(3, 1, 2), torch.randn(3, 1, 2)), "hinge")
    with pytest.raises(ValueError, match="`loss_fn`: expected it to return a scalar"):
        gradient_flow(rnnkit.RNN(2, 2), torch.randn(3, 1, 2), lambda out: out[0])


def test_backend_forced_to_reference_and_restored():
    layer = rnnkit.GRU(2, 3)
    other = torch.nn.Linear(2, 2)
    other.backend = "something-else"  # not a recurrent layer: left alone
    model = torch.nn.ModuleDict({"rnn": layer, "other": other})
    layer.backend = "auto"

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.parts = model

        def forward(self, x):
            assert self.parts["rnn"].backend == "reference" and self.parts["other"].backend == "something-else"
            return self.parts["rnn"](x)[0]

    gradient_flow(Wrapper(), torch.randn(4, 1, 2))
    assert layer.backend == "auto" and "step_projected" not in layer.cell_grid()[0][0].__dict__


def test_two_layer_gru_matches_hand_autograd():
    torch.manual_seed(6)
    layer = rnnkit.GRU(2, 3, num_layers=2, dtype=torch.float64)
    x = torch.randn(5, 2, 2, dtype=torch.float64)

    def gru_step(x_t, h, l):
        w_ih, w_hh = getattr(layer, f"weight_ih_l{l}"), getattr(layer, f"weight_hh_l{l}")
        b_ih, b_hh = getattr(layer, f"bias_ih_l{l}"), getattr(layer, f"bias_hh_l{l}")
        x_r, x_z, x_n = (x_t @ w_ih.T + b_ih).chunk(3, dim=1)
        h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        return (1 - z) * torch.tanh(x_n + r * h_n) + z * h

    h0 = h1 = torch.zeros(2, 3, dtype=torch.float64)
    hs0, hs1 = [], []
    for x_t in x:
        h0 = gru_step(x_t, h0, 0)
        h1 = gru_step(h0, h1, 1)
        hs0.append(h0)
        hs1.append(h1)
    loss = torch.stack(hs1).pow(2).sum()
    grads = torch.autograd.grad(loss, hs0 + hs1)
    report = gradient_flow(layer, x, lambda out: out[0].pow(2).sum())
    assert report["model.l0.forward"].grad_norm == pytest.approx([float(g.norm()) for g in grads[:5]], rel=1e-10)
    assert report["model.l1.forward"].grad_norm == pytest.approx([float(g.norm()) for g in grads[5:]], rel=1e-10)


def test_lstm_projection_cell_gradient_matches_hand_autograd():
    torch.manual_seed(7)
    layer = rnnkit.LSTM(2, 4, proj_size=2, dtype=torch.float64)
    x = torch.randn(5, 3, 2, dtype=torch.float64)
    w_ih, w_hh, w_hr = layer.weight_ih_l0, layer.weight_hh_l0, layer.weight_hr_l0
    b = layer.bias_ih_l0 + layer.bias_hh_l0
    h, c = torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.float64)
    hs, cs = [], []
    for x_t in x:
        i, f, g, o = (x_t @ w_ih.T + h @ w_hh.T + b).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = (torch.sigmoid(o) * torch.tanh(c)) @ w_hr.T
        hs.append(h)
        cs.append(c)
    grads = torch.autograd.grad(torch.stack(hs).sum() + cs[-1].sum(), hs + cs)
    d = gradient_flow(layer, x, lambda out: out[0].sum() + out[1][1].sum()).directions[0]
    assert d.grad_norm == pytest.approx([float(g.norm()) for g in grads[:5]], rel=1e-10)
    assert d.cell_grad_norm == pytest.approx([float(g.norm()) for g in grads[5:]], rel=1e-10)
