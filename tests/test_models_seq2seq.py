"""Encoder-decoder: attention masks, teacher forcing, greedy and beam search, training."""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import Seq2Seq, Seq2SeqConfig, beam_search, greedy_search, length_penalty
from rnnkit.models.attention import BahdanauAttention, LuongAttention

ATTENTIONS = ["bahdanau", "luong-dot", "luong-general"]


def make(attention="bahdanau", cell="lstm", **kw):
    torch.manual_seed(0)
    base = dict(hidden_size=8, embedding_size=6, num_layers=2, bidirectional=attention != "luong-dot")
    base.update(kw)
    return Seq2Seq(Seq2SeqConfig(9, 11, attention=attention, cell=cell, **base)).eval()


SOURCE = torch.tensor([[3, 4, 5, 6, 7], [8, 3, 0, 0, 0], [4, 4, 4, 5, 0]])
LENGTHS = torch.tensor([5, 2, 4])
TARGET_IN = torch.tensor([[1, 5, 6, 7], [1, 3, 2, 0], [1, 9, 10, 4]])


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_shapes_and_attention_sums_to_one_and_is_zero_on_padding(attention, cell):
    out = make(attention, cell).run(SOURCE, TARGET_IN, LENGTHS)
    assert out.logits.shape == (3, 4, 11) and out.attention.shape == (3, 4, 5)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(3, 4))
    assert torch.all(out.attention[1, :, 2:] == 0) and torch.all(out.attention[2, :, 4:] == 0)
    assert torch.all(out.attention[1, :, :2] > 0)


@pytest.mark.parametrize("mechanism, query_size", [
    (BahdanauAttention(4, 6, 5), 4), (LuongAttention(4, 6, "general"), 4), (LuongAttention(6, 6, "dot"), 6)])
def test_attention_modules_mask_and_normalize(mechanism, query_size):
    query = torch.randn(2, 3, query_size)
    memory = torch.randn(2, 7, 6)
    mask = torch.arange(7) < torch.tensor([[7], [3]])
    context, weights = mechanism(query, memory, mask=mask)
    assert context.shape == (2, 3, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3))
    assert torch.all(weights[1, :, 3:] == 0)
    torch.testing.assert_close(context, weights @ memory)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_padded_source_gives_the_same_logits_as_unpadded(attention):
    model = make(attention)
    batched = model(SOURCE, TARGET_IN, LENGTHS)
    for i, n in enumerate(LENGTHS.tolist()):
        alone = model(SOURCE[i:i + 1, :n], TARGET_IN[i:i + 1])
        torch.testing.assert_close(batched[i:i + 1], alone, rtol=1e-5, atol=1e-6)
    noisy = SOURCE.clone()
    noisy[1, 2:] = 8  # different ids at padded positions change nothing
    torch.testing.assert_close(model(noisy, TARGET_IN, LENGTHS), batched)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_teacher_forced_pass_equals_step_by_step_decoding(attention):
    """Luong's one-scan forward and Bahdanau's loop both match decode_step fed the same tokens."""
    model = make(attention)
    out = model.run(SOURCE, TARGET_IN, LENGTHS)
    memory = model.encode(SOURCE, LENGTHS)
    state = memory.state
    for t in range(TARGET_IN.shape[1]):
        logits, state, weights = model.decode_step(TARGET_IN[:, t], state, memory)
        torch.testing.assert_close(logits, out.logits[:, t], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(weights, out.attention[:, t], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attention", ATTENTIONS)
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_of_one_equals_greedy(attention, cell):
    model = make(attention, cell)
    greedy = model.greedy_decode(SOURCE, LENGTHS, max_length=8)
    beam = model.beam_search(SOURCE, LENGTHS, beam_size=1, max_length=8, alpha=0.6)
    assert torch.equal(greedy.tokens, beam.tokens) and torch.equal(greedy.lengths, beam.lengths)
    torch.testing.assert_close(greedy.scores, beam.scores)
    torch.testing.assert_close(greedy.attention, beam.attention)
    assert torch.equal(model.decode(SOURCE, LENGTHS, max_length=8).tokens, greedy.tokens)


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_decoded_scores_are_the_models_log_probabilities(attention):
    model = make(attention, "gru")
    for decoded in (model.greedy_decode(SOURCE, LENGTHS, max_length=6),
                    model.beam_search(SOURCE, LENGTHS, beam_size=3, max_length=6, alpha=0.0)):
        torch.testing.assert_close(decoded.scores, model.score(SOURCE, decoded.tokens, LENGTHS), rtol=1e-5, atol=1e-5)
        for row, n in zip(decoded.tokens, decoded.lengths.tolist()):
            assert torch.all(row[n:] == 0) and not torch.any(row[:n] == 0) and not torch.any(row == 1)
            assert not torch.any(row[:n - 1] == 2)  # the end token only ever comes last


def test_float64_models_decode_in_float64():
    model = make("luong-general", "gru").double()
    for decoded in (model.greedy_decode(SOURCE, LENGTHS, max_length=5), model.beam_search(SOURCE, LENGTHS, beam_size=2, max_length=5)):
        assert decoded.scores.dtype == torch.float64 and decoded.attention.dtype == torch.float64
        torch.testing.assert_close(decoded.scores, model.score(SOURCE, decoded.tokens, LENGTHS))


def test_batched_beam_search_equals_one_sample_at_a_time():
    model = make("luong-general", "gru")
    batched = model.beam_search(SOURCE, LENGTHS, beam_size=3, max_length=6)
    for i, n in enumerate(LENGTHS.tolist()):
        alone = model.beam_search(SOURCE[i:i + 1, :n], beam_size=3, max_length=6)
        width = alone.tokens.shape[1]
        assert torch.equal(batched.tokens[i, :width], alone.tokens[0]) and torch.all(batched.tokens[i, width:] == 0)
        torch.testing.assert_close(batched.scores[i:i + 1], alone.scores)


def table_step(table):
    """A step function from a table of next-token probabilities indexed by the previous token."""
    log_table = torch.log(table)

    def step(previous, state):
        return log_table[previous], state, None
    return step


def test_beam_search_beats_greedy_on_a_constructed_case():
    # ids: 0 pad, 1 bos, 2 eos, 3 "a", 4 "b", 5 "c". From bos: a 0.6, b 0.4. After a: a flat
    # distribution (best 0.3 each); after b: eos 0.9. Greedy takes a (0.6 * 0.3 = 0.18 at best),
    # beam search keeps b and finds b, eos with 0.4 * 0.9 = 0.36.
    eps = 1e-9
    table = torch.full((6, 6), eps)
    table[1, 3], table[1, 4] = 0.6, 0.4
    table[3, 2], table[3, 3], table[3, 4], table[3, 5] = 0.3, 0.3, 0.2, 0.2
    table[4, 2], table[4, 5] = 0.9, 0.1
    table[5, 2] = 1.0
    table = table / table.sum(-1, keepdim=True)
    args = dict(batch=1, max_length=5, bos_id=1, eos_id=2, pad_id=0)
    greedy = greedy_search(table_step(table), None, **args)
    beam = beam_search(table_step(table), None, lambda s, i: s, beam_size=2, **args)
    assert greedy.tokens[0, 0].item() == 3
    assert beam.tokens[0].tolist()[:2] == [4, 2] and beam.lengths.item() == 2
    assert beam.scores.item() == pytest.approx(math.log(0.36), abs=1e-4)
    assert beam.scores.item() > greedy.scores.item() + 0.5


def test_beam_search_scores_higher_than_greedy_on_a_real_model():
    model = make("bahdanau", "gru", num_layers=1)  # untrained, fixed seed
    greedy = model.greedy_decode(SOURCE, LENGTHS, max_length=7)
    beam = model.beam_search(SOURCE, LENGTHS, beam_size=5, max_length=7, alpha=0.0)
    assert torch.all(beam.scores >= greedy.scores - 1e-5)
    assert torch.any(beam.scores > greedy.scores + 0.1)


def test_length_normalization_alpha_favours_longer_outputs():
    # From bos: eos 0.5 or "a" 0.5; after "a": "a" 0.95 then eos 1.0 after the second "a".
    table = torch.full((4, 4), 1e-9)
    table[1, 2], table[1, 3] = 0.5, 0.5
    table[3, 3], table[3, 2] = 0.95, 0.05
    table = table / table.sum(-1, keepdim=True)
    args = dict(batch=1, max_length=4, bos_id=1, eos_id=2, pad_id=0, beam_size=2)
    short = beam_search(table_step(table), None, lambda s, i: s, alpha=0.0, **args)
    long = beam_search(table_step(table), None, lambda s, i: s, alpha=2.0, **args)
    assert short.lengths.item() == 1 and long.lengths.item() > 1
    assert torch.allclose(length_penalty(torch.tensor([1]), 1.0), torch.tensor([1.0]))


def test_bad_decoding_arguments_name_the_argument():
    model = make()
    with pytest.raises(ValueError, match="`beam_size`.*positive integer.*got 0"):
        model.beam_search(SOURCE, LENGTHS, beam_size=0)
    with pytest.raises(ValueError, match="`max_length`"):
        model.greedy_decode(SOURCE, LENGTHS, max_length=0)
    with pytest.raises(ValueError, match="`alpha`"):
        model.beam_search(SOURCE, LENGTHS, beam_size=2, alpha=-1.0)
    with pytest.raises(ValueError, match=r"`source`.*\[0, 8\].*got an id of 9"):
        model.greedy_decode(torch.tensor([[3, 9]]))
    with pytest.raises(ValueError, match=r"`target_input`.*\[0, 10\]"):
        model(SOURCE, TARGET_IN + 5, LENGTHS)
    with pytest.raises(ValueError, match=r"`target_input`.*\(B=3, T\)"):
        model(SOURCE, TARGET_IN[:2], LENGTHS)
    with pytest.raises(ValueError, match=r"`lengths`.*expected shape \(3,\)"):
        model(SOURCE, TARGET_IN, torch.tensor([5, 2]))
    with pytest.raises(ValueError, match="`attention`.*dot"):
        Seq2Seq(Seq2SeqConfig(9, 11, attention="luong-dot", bidirectional=True))


@pytest.mark.parametrize("attention", ["bahdanau", "luong-general"])
def test_training_learns_to_reverse_digit_strings(attention):
    """Reverse 2-5 digits (ids 3..12); chance of an exact match is at most 1 in 100."""
    torch.manual_seed(0)
    model = Seq2Seq(Seq2SeqConfig(13, 13, embedding_size=16, hidden_size=32, cell="gru", attention=attention))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(1)

    def batch(n):
        lengths = torch.randint(2, 6, (n,), generator=generator)
        source = torch.randint(3, 13, (n, 5), generator=generator) * (torch.arange(5) < lengths[:, None])
        target = torch.zeros(n, 6, dtype=torch.long)
        for i, length in enumerate(lengths.tolist()):
            target[i, :length] = source[i, :length].flip(0)
            target[i, length] = 2  # eos
        return source, lengths, target

    losses = []
    for _ in range(120):
        source, lengths, target = batch(64)
        target_input = torch.cat([torch.ones(64, 1, dtype=torch.long), target[:, :-1]], 1)
        loss = F.cross_entropy(model(source, target_input, lengths).transpose(1, 2), target, ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    source, lengths, target = batch(300)
    exact = (model.greedy_decode(source, lengths, max_length=6).tokens == target).all(1).float().mean().item()
    beam_exact = (model.beam_search(source, lengths, beam_size=3, max_length=6).tokens == target).all(1).float().mean().item()
    assert sum(losses[-10:]) / 10 < 0.2 * losses[0]
    assert exact > 0.6, exact
    assert beam_exact > 0.6, beam_exact
