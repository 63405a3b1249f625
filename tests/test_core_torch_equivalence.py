"""rnnkit.LSTM/GRU/RNN against torch.nn.LSTM/GRU/RNN with the same weights (float32, 1e-5).

Sixty seeded random configurations cover num_layers 1-3, bidirectional, batch_first both ways,
proj_size, bias, tanh/relu, initial states and variable lengths (torch side: packed input).
"""

import random

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

TOL = dict(atol=1e-5, rtol=1e-5)


def make_config(seed):
    rng = random.Random(seed)
    kind = ["lstm", "gru", "rnn_tanh", "rnn_relu"][seed % 4]
    return dict(
        kind=kind,
        input_size=rng.randint(1, 7),
        hidden_size=rng.randint(2, 9),
        num_layers=rng.randint(1, 3),
        bidirectional=rng.random() < 0.5,
        batch_first=rng.random() < 0.5,
        bias=rng.random() < 0.85,
        proj=(kind == "lstm" and rng.random() < 0.4),
        batch=rng.randint(1, 5),
        steps=rng.randint(1, 8),
        lengths=rng.random() < 0.5,
        hx=rng.random() < 0.5,
        seed=seed,
    )


CONFIGS = [make_config(seed) for seed in range(60)]


def build(cfg):
    kw = dict(num_layers=cfg["num_layers"], bias=cfg["bias"], batch_first=cfg["batch_first"],
              bidirectional=cfg["bidirectional"])
    kind = cfg["kind"]
    if kind == "lstm":
        proj = max(1, cfg["hidden_size"] - 1) if cfg["proj"] else 0
        return torch.nn.LSTM(cfg["input_size"], cfg["hidden_size"], proj_size=proj, **kw), \
            rnnkit.LSTM(cfg["input_size"], cfg["hidden_size"], proj_size=proj, **kw)
    if kind == "gru":
        return torch.nn.GRU(cfg["input_size"], cfg["hidden_size"], **kw), rnnkit.GRU(cfg["input_size"], cfg["hidden_size"], **kw)
    nl = kind.split("_")[1]
    return torch.nn.RNN(cfg["input_size"], cfg["hidden_size"], nonlinearity=nl, **kw), \
        rnnkit.RNN(cfg["input_size"], cfg["hidden_size"], nonlinearity=nl, **kw)


def test_enough_configurations_cover_the_space():
    assert len(CONFIGS) >= 50
    assert {c["num_layers"] for c in CONFIGS} == {1, 2, 3}
    assert {c["bidirectional"] for c in CONFIGS} == {True, False}
    assert {c["batch_first"] for c in CONFIGS} == {True, False}
    assert any(c["proj"] for c in CONFIGS) and any(c["lengths"] for c in CONFIGS)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c['kind']}-L{c['num_layers']}-bi{int(c['bidirectional'])}-bf{int(c['batch_first'])}-p{int(c['proj'])}-len{int(c['lengths'])}-s{c['seed']}")
def test_matches_torch(cfg):
    torch.manual_seed(cfg["seed"])
    ref, ours = build(cfg)
    assert list(ref.state_dict()) == list(ours.state_dict())
    for key, value in ref.state_dict().items():
        assert ours.state_dict()[key].shape == value.shape
    ours.load_state_dict(ref.state_dict())

    batch, steps = cfg["batch"], cfg["steps"]
    shape = (batch, steps, cfg["input_size"]) if cfg["batch_first"] else (steps, batch, cfg["input_size"])
    x = torch.randn(shape)
    lengths = torch.randint(1, steps + 1, (batch,)) if cfg["lengths"] else None
    if lengths is not None:
        lengths[torch.randint(0, batch, (1,))] = steps  # torch needs one full-length sample to pad back to T
    rows = cfg["num_layers"] * (2 if cfg["bidirectional"] else 1)
    out_size = (cfg["hidden_size"] - 1 if cfg["proj"] else cfg["hidden_size"])
    hx = None
    if cfg["hx"]:
        h0 = torch.randn(rows, batch, out_size)
        hx = (h0, torch.randn(rows, batch, cfg["hidden_size"])) if cfg["kind"] == "lstm" else h0

    def run(module, x_in, hx_in, use_lengths):
        if lengths is None:
            return module(x_in, hx_in)
        if use_lengths:
            return module(x_in, hx_in, lengths=lengths)
        packed = pack_padded_sequence(x_in, lengths, batch_first=cfg["batch_first"], enforce_sorted=False)
        out, state = module(packed, hx_in)
        out, _ = pad_packed_sequence(out, batch_first=cfg["batch_first"], total_length=steps)
        return out, state

    def flat(state):
        return list(state) if isinstance(state, tuple) else [state]

    results = []
    for module, use_lengths in ((ref, False), (ours, True)):
        x_in = x.clone().requires_grad_(True)
        hx_in = None if hx is None else tuple(t.clone().requires_grad_(True) for t in flat(hx))
        if hx_in is not None and cfg["kind"] != "lstm":
            hx_in = hx_in[0]
        out, state = run(module, x_in, hx_in, use_lengths)
        states = flat(state)
        loss = (out * torch.linspace(-1, 1, out.shape[-1])).sum() + sum((s * 0.5).sum() for s in states)
        module.zero_grad()
        loss.backward()
        grads = [x_in.grad] + ([] if hx_in is None else [t.grad for t in flat(hx_in)])
        grads += [p.grad.clone() for p in module.parameters()]
        results.append((out.detach(), [s.detach() for s in states], grads))

    (out_r, states_r, grads_r), (out_o, states_o, grads_o) = results
    torch.testing.assert_close(out_o, out_r, **TOL)
    for a, b in zip(states_o, states_r):
        torch.testing.assert_close(a, b, **TOL)
    assert len(grads_o) == len(grads_r)
    for a, b in zip(grads_o, grads_r):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_packed_sequence_in_packed_sequence_out(kind):
    torch.manual_seed(1)
    cls = {"lstm": (torch.nn.LSTM, rnnkit.LSTM), "gru": (torch.nn.GRU, rnnkit.GRU), "rnn": (torch.nn.RNN, rnnkit.RNN)}[kind]
    ref, ours = cls[0](3, 4, 2, bidirectional=True), cls[1](3, 4, 2, bidirectional=True)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(6, 5, 3)
    packed = pack_padded_sequence(x, torch.tensor([6, 2, 6, 4, 1]), enforce_sorted=False)
    out_r, state_r = ref(packed)
    out_o, state_o = ours(packed)
    assert isinstance(out_o, torch.nn.utils.rnn.PackedSequence)
    torch.testing.assert_close(out_o.data, out_r.data, **TOL)
    assert torch.equal(out_o.batch_sizes, out_r.batch_sizes)
    assert torch.equal(out_o.sorted_indices, out_r.sorted_indices)
    torch.testing.assert_close(state_o, state_r, **TOL)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_unbatched_input(kind):
    torch.manual_seed(2)
    cls = {"lstm": (torch.nn.LSTM, rnnkit.LSTM), "gru": (torch.nn.GRU, rnnkit.GRU), "rnn": (torch.nn.RNN, rnnkit.RNN)}[kind]
    ref, ours = cls[0](3, 4, 2), cls[1](3, 4, 2)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(7, 3)
    h0 = torch.randn(2, 4)
    hx = (h0, torch.randn(2, 4)) if kind == "lstm" else h0
    out_r, state_r = ref(x, hx)
    out_o, state_o = ours(x, hx)
    assert out_o.shape == out_r.shape == (7, 4)
    torch.testing.assert_close(out_o, out_r, **TOL)
    torch.testing.assert_close(state_o, state_r, **TOL)


def test_dropout_between_layers_is_active_only_in_training():
    torch.manual_seed(3)
    layer = rnnkit.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(5, 2, 3)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])
    torch.manual_seed(7)
    first = layer(x)[0]
    torch.manual_seed(7)
    assert torch.equal(first, layer(x)[0])


def test_same_constructor_defaults_and_attributes_as_torch():
    for ref, ours in ((torch.nn.LSTM(3, 4), rnnkit.LSTM(3, 4)), (torch.nn.GRU(3, 4), rnnkit.GRU(3, 4)),
                      (torch.nn.RNN(3, 4), rnnkit.RNN(3, 4))):
        for attr in ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional", "proj_size"):
            assert getattr(ours, attr) == getattr(ref, attr), attr
    assert rnnkit.RNN(3, 4, 1, "relu").nonlinearity == torch.nn.RNN(3, 4, 1, "relu").nonlinearity == "relu"
    # attribute access to parameters by torch's names works
    layer = rnnkit.LSTM(3, 4, bidirectional=True)
    assert layer.weight_hh_l0_reverse.shape == (16, 4)
