"""Sequence tagger: shapes, zero logits on padding, equality with unpadded runs, training."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import SequenceTagger, TaggerConfig


def make(**kw):
    torch.manual_seed(0)
    base = dict(num_tags=4, vocab_size=12, padding_idx=0, hidden_size=8)
    base.update(kw)
    return SequenceTagger(TaggerConfig(**base)).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_shapes_and_zero_logits_on_padding(cell):
    model = make(cell=cell, num_layers=2)
    logits = model(torch.randint(1, 12, (3, 6)), lengths=torch.tensor([6, 2, 4]))
    assert logits.shape == (3, 6, 4)
    mask = SequenceTagger.step_mask([6, 2, 4], 3, 6)
    assert mask.tolist()[1] == [True, True, False, False, False, False]
    assert torch.all(logits[~mask] == 0)
    features = make(cell=cell, vocab_size=None, padding_idx=None, input_size=5, bidirectional=False)
    assert features(torch.randn(2, 9, 5)).shape == (2, 9, 4)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_valid_steps_equal_each_sample_run_alone(bidirectional):
    model = make(bidirectional=bidirectional, num_layers=2, cell="lstm")
    tokens = torch.randint(1, 12, (4, 7))
    lengths = torch.tensor([7, 3, 1, 5])
    batched = model(tokens, lengths)
    for i, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(batched[i, :n], model(tokens[i:i + 1, :n])[0], rtol=1e-5, atol=1e-6)


def test_bad_inputs_name_the_argument():
    model = make()
    with pytest.raises(ValueError, match=r"`inputs`.*token ids in \[0, 11\]"):
        model(torch.tensor([[3, 12]]))
    with pytest.raises(ValueError, match=r"`inputs`.*shape \(B, T\)"):
        model(torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="`lengths`"):
        model(torch.tensor([[3, 4]]), lengths=[0])


def test_bidirectional_training_learns_to_tag_with_future_context():
    """Tag 1 where the next token is larger than this one: needs the step to the right."""
    torch.manual_seed(0)
    model = SequenceTagger(TaggerConfig(num_tags=2, vocab_size=10, padding_idx=0, hidden_size=16,
                                        embedding_size=8, bidirectional=True))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(1)

    def batch(n):
        tokens = torch.randint(1, 10, (n, 8), generator=generator)
        lengths = torch.randint(2, 9, (n,), generator=generator)
        mask = torch.arange(8) < lengths[:, None]
        tokens = tokens * mask
        nxt = torch.cat([tokens[:, 1:], torch.zeros(n, 1, dtype=torch.long)], 1)
        tags = (nxt > tokens).long().masked_fill(~mask, -100)  # padded steps ignored by the loss
        return tokens, lengths, tags, mask

    losses = []
    for _ in range(80):
        tokens, lengths, tags, _ = batch(64)
        loss = F.cross_entropy(model(tokens, lengths).transpose(1, 2), tags, ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    tokens, lengths, tags, mask = batch(300)
    predicted = model.eval()(tokens, lengths).argmax(-1)
    accuracy = (predicted == tags)[mask].float().mean().item()
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:5]) / 5
    assert accuracy > 0.85, accuracy
