"""Property-based tests over random shapes and lengths."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

LAYERS = {"lstm": (rnnkit.LSTM, torch.nn.LSTM), "gru": (rnnkit.GRU, torch.nn.GRU), "rnn": (rnnkit.RNN, torch.nn.RNN)}


@st.composite
def problems(draw):
    batch = draw(st.integers(1, 5))
    steps = draw(st.integers(1, 7))
    lengths = draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch))
    return dict(
        kind=draw(st.sampled_from(sorted(LAYERS))),
        input_size=draw(st.integers(1, 4)),
        hidden_size=draw(st.integers(1, 5)),
        num_layers=draw(st.integers(1, 2)),
        bidirectional=draw(st.booleans()),
        batch=batch,
        steps=steps,
        lengths=lengths,
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=40, deadline=None)
@given(problems())
def test_lengths_match_torch_packing_for_any_shape(p):
    torch.manual_seed(p["seed"])
    ours_cls, ref_cls = LAYERS[p["kind"]]
    ref = ref_cls(p["input_size"], p["hidden_size"], p["num_layers"], bidirectional=p["bidirectional"], batch_first=True)
    ours = ours_cls(p["input_size"], p["hidden_size"], p["num_layers"], bidirectional=p["bidirectional"], batch_first=True)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(p["batch"], p["steps"], p["input_size"])
    lengths = torch.tensor(p["lengths"])
    out, state = ours(x, lengths=lengths)
    packed_out, ref_state = ref(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    ref_out, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=p["steps"])
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(state, ref_state, atol=1e-5, rtol=1e-5)


@settings(max_examples=25, deadline=None)
@given(problems())
def test_padded_steps_are_zero_and_padding_content_is_ignored(p):
    torch.manual_seed(p["seed"])
    ours = LAYERS[p["kind"]][0](p["input_size"], p["hidden_size"], p["num_layers"], bidirectional=p["bidirectional"], batch_first=True)
    x = torch.randn(p["batch"], p["steps"], p["input_size"])
    lengths = torch.tensor(p["lengths"])
    mask = torch.arange(p["steps"]).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
    noisy = torch.where(mask.unsqueeze(-1), x, torch.full_like(x, 50.0))
    out_a, state_a = ours(x, lengths=lengths)
    out_b, state_b = ours(noisy, lengths=lengths)
    torch.testing.assert_close(out_a, out_b)
    torch.testing.assert_close(state_a, state_b)
    assert torch.count_nonzero(out_a[~mask]) == 0
