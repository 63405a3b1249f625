"""Sequence classifier: shapes, masking against unpadded runs, bad input, a real training run."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.models import ClassifierConfig, SequenceClassifier


def make(**kw):
    torch.manual_seed(0)
    base = dict(num_classes=3, input_size=4, hidden_size=8)
    base.update(kw)
    return SequenceClassifier(ClassifierConfig(**base)).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_shapes_for_features_and_tokens(cell, pooling):
    model = make(cell=cell, pooling=pooling, num_layers=2, bidirectional=True)
    assert model(torch.randn(5, 7, 4), lengths=[7, 1, 3, 7, 2]).shape == (5, 3)
    tokens = make(cell=cell, pooling=pooling, input_size=None, vocab_size=11, padding_idx=0)
    assert tokens(torch.randint(0, 11, (5, 7))).shape == (5, 3)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_batch_equals_each_sample_alone(pooling, bidirectional):
    model = make(pooling=pooling, bidirectional=bidirectional, num_layers=2, cell="gru")
    lengths = torch.tensor([6, 2, 4, 1])
    x = torch.randn(4, 6, 4)
    batched = model(x, lengths=lengths)
    for i, n in enumerate(lengths.tolist()):
        alone = model(x[i:i + 1, :n])
        torch.testing.assert_close(batched[i:i + 1], alone, rtol=1e-5, atol=1e-6)
    garbage = x.clone()
    garbage[1, 2:] = 100.0  # padded steps: their values must not matter
    torch.testing.assert_close(model(garbage, lengths=lengths), batched)


def test_full_lengths_equal_no_lengths():
    model = make(pooling="mean", bidirectional=True)
    x = torch.randn(3, 5, 4)
    torch.testing.assert_close(model(x, lengths=[5, 5, 5]), model(x))


def test_last_pooling_reads_each_samples_own_last_step():
    model = make(pooling="last")
    x = torch.randn(2, 5, 4)
    _, states = model.encoder(x[1:, :3])
    torch.testing.assert_close(model.summarize(x, [5, 3])[1:], states[-1][0].h)


def test_bad_inputs_name_the_argument():
    model = make()
    with pytest.raises(ValueError, match=r"`inputs`.*\(B, T, 4\)"):
        model(torch.randn(2, 5, 3))
    with pytest.raises(TypeError, match="`inputs`"):
        model(torch.zeros(2, 5, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`lengths`.*expected shape \(2,\)"):
        model(torch.randn(2, 5, 4), lengths=[5, 5, 5])
    with pytest.raises(ValueError, match=r"`lengths`.*<= the sequence length 5"):
        model(torch.randn(2, 5, 4), lengths=[6, 5])
    tokens = make(input_size=None, vocab_size=10)
    with pytest.raises(ValueError, match=r"`inputs`.*token ids in \[0, 9\].*got an id of 10"):
        tokens(torch.tensor([[1, 10]]))
    with pytest.raises(ValueError, match=r"`inputs`.*got an id of -1"):
        tokens(torch.tensor([[1, -1]]))
    with pytest.raises(TypeError, match="`inputs`.*integer token ids"):
        tokens(torch.randn(2, 3))


def test_training_learns_the_sign_of_a_variable_length_mean():
    torch.manual_seed(0)
    model = SequenceClassifier(ClassifierConfig(num_classes=2, input_size=2, hidden_size=16, pooling="mean"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(1)

    def batch(n):
        x = torch.randn(n, 8, 2, generator=generator)
        lengths = torch.randint(1, 9, (n,), generator=generator)
        valid = (torch.arange(8) < lengths[:, None]).float()
        label = ((x[..., 0] * valid).sum(1) > 0).long()
        return x, lengths, label

    losses = []
    for _ in range(60):
        x, lengths, label = batch(64)
        loss = F.cross_entropy(model(x, lengths), label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    x, lengths, label = batch(500)
    accuracy = (model.eval()(x, lengths).argmax(-1) == label).float().mean().item()
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:5]) / 5
    assert accuracy > 0.85, accuracy


@settings(max_examples=20, deadline=None)
@given(data=st.data(), cell=st.sampled_from(["lstm", "gru", "rnn"]), pooling=st.sampled_from(["last", "mean", "max"]),
       bidirectional=st.booleans(), layers=st.integers(1, 2))
def test_property_any_lengths_give_the_unpadded_logits(data, cell, pooling, bidirectional, layers):
    steps = data.draw(st.integers(1, 6))
    lengths = data.draw(st.lists(st.integers(1, steps), min_size=1, max_size=4))
    model = make(cell=cell, pooling=pooling, bidirectional=bidirectional, num_layers=layers)
    x = torch.randn(len(lengths), steps, 4)
    batched = model(x, lengths=lengths)
    alone = torch.cat([model(x[i:i + 1, :n]) for i, n in enumerate(lengths)])
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-6)
