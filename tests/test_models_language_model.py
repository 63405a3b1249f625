"""Language model / generator: next-token logits, state carry-over, sampling, conditioning."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import LanguageModel, LanguageModelConfig, sample_next


def make(**kw):
    torch.manual_seed(0)
    base = dict(vocab_size=12, embedding_size=8, hidden_size=8, num_layers=2, bos_id=1)
    base.update(kw)
    return LanguageModel(LanguageModelConfig(**base)).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_logits_shape_and_state_carries_over(cell):
    model = make(cell=cell)
    tokens = torch.randint(0, 12, (3, 7))
    logits, state = model(tokens)
    assert logits.shape == (3, 7, 12) and len(state) == 2
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), logits)


def test_padded_batch_equals_unpadded_runs():
    model = make()
    tokens = torch.randint(0, 12, (3, 6))
    lengths = torch.tensor([6, 2, 4])
    logits, state = model(tokens, lengths=lengths)
    for i, n in enumerate(lengths.tolist()):
        alone, alone_state = model(tokens[i:i + 1, :n])
        torch.testing.assert_close(logits[i, :n], alone[0])
        torch.testing.assert_close(state[-1][0].h[i], alone_state[-1][0].h[0])


def test_tied_weights_share_one_matrix():
    model = make(tie_weights=True)
    assert model.head.weight is model.embedding.weight


def test_sampling_is_reproducible_with_a_seeded_generator():
    model = make()
    prompt = torch.tensor([[3, 4], [5, 6]])
    first = model.generate(prompt, max_new_tokens=10, generator=torch.Generator().manual_seed(7))
    again = model.generate(prompt, max_new_tokens=10, generator=torch.Generator().manual_seed(7))
    other = model.generate(prompt, max_new_tokens=10, generator=torch.Generator().manual_seed(8))
    assert first.shape == (2, 12) and torch.equal(first[:, :2], prompt)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_top_k_restricts_support_and_top_k_one_is_greedy():
    logits = torch.tensor([[0.0, 2.0, 1.9, -1.0, 1.8]]).repeat(2000, 1)
    generator = torch.Generator().manual_seed(0)
    drawn = sample_next(logits, top_k=2, generator=generator)
    assert set(drawn.tolist()) == {1, 2}
    assert set(sample_next(logits, generator=generator).tolist()) == {0, 1, 2, 3, 4}
    assert set(sample_next(logits, top_k=100, generator=generator).tolist()) == {0, 1, 2, 3, 4}
    model = make()
    prompt = torch.tensor([[3, 4]])
    greedy = model.generate(prompt, max_new_tokens=6, top_k=1, generator=torch.Generator().manual_seed(1))
    tokens = prompt
    for _ in range(6):
        tokens = torch.cat([tokens, model(tokens)[0][:, -1].argmax(-1, keepdim=True)], 1)
    assert torch.equal(greedy, tokens)


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([[1.0, 0.0, 0.5]]).repeat(4000, 1)
    generator = torch.Generator().manual_seed(0)
    cold = sample_next(logits, temperature=0.05, generator=generator)
    hot = sample_next(logits, temperature=10.0, generator=generator)
    assert (cold == 0).float().mean() > 0.99
    assert 0.28 < (hot == 1).float().mean() < 0.38  # near uniform 1/3


def test_generation_without_prompt_starts_from_bos_and_stops_at_eos():
    model = make(condition_size=3)
    out = model.generate(condition=torch.randn(4, 3), max_new_tokens=5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (4, 6) and torch.all(out[:, 0] == 1)
    out = model.generate(batch_size=3, max_new_tokens=30, eos_id=5, generator=torch.Generator().manual_seed(0))
    for row in out.tolist():
        if 5 in row:
            assert all(t == 5 for t in row[row.index(5):])


def test_bad_inputs_name_the_argument():
    model = make()
    prompt = torch.tensor([[3, 4]])
    with pytest.raises(ValueError, match="`temperature`.*> 0.*got 0"):
        model.generate(prompt, max_new_tokens=2, temperature=0)
    with pytest.raises(ValueError, match="`temperature`"):
        model.generate(prompt, max_new_tokens=2, temperature=-1.0)
    with pytest.raises(ValueError, match="`top_k`.*positive integer.*got 0"):
        model.generate(prompt, max_new_tokens=2, top_k=0)
    with pytest.raises(ValueError, match="`max_new_tokens`"):
        model.generate(prompt, max_new_tokens=0)
    with pytest.raises(TypeError, match="`generator`"):
        model.generate(prompt, max_new_tokens=2, generator=7)
    with pytest.raises(ValueError, match=r"`tokens`.*\[0, 11\].*got an id of 12"):
        model(torch.tensor([[3, 12]]))
    with pytest.raises(ValueError, match="`eos_id`"):
        model.generate(prompt, max_new_tokens=2, eos_id=12)
    with pytest.raises(ValueError, match="`condition`.*without conditioning"):
        model(prompt, condition=torch.randn(1, 3))
    conditioned = make(condition_size=3)
    with pytest.raises(ValueError, match=r"`condition`.*\(B, 3\)"):
        conditioned(prompt, condition=torch.randn(1, 4))
    with pytest.raises(ValueError, match="`condition`.*not both"):
        conditioned(prompt, conditioned.initial_state(torch.randn(1, 3)), condition=torch.randn(1, 3))
    with pytest.raises(ValueError, match=r"`prompt`.*\[0, 11\]"):
        model.generate(torch.tensor([[3, 15]]), max_new_tokens=2)
    with pytest.raises(ValueError, match=r"`prompt`.*\(B, P\)"):
        model.generate(torch.tensor([3, 4]), max_new_tokens=2)
    with pytest.raises(ValueError, match=r"`condition`.*2 rows"):
        make(condition_size=3).generate(torch.tensor([[3], [4]]), condition=torch.randn(3, 3), max_new_tokens=2)
    with pytest.raises(ValueError, match="`prompt`.*no bos_id"):
        make(bos_id=None).generate(max_new_tokens=2)
    with pytest.raises(ValueError, match="`lengths`"):
        model(torch.tensor([[3, 4]]), lengths=[3])


def test_training_next_token_prediction_on_counting_sequences():
    """Sequences count up modulo 10 from a random start: after one token everything is determined."""
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=10, embedding_size=8, hidden_size=16, cell="gru"))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(60):
        tokens = (torch.randint(0, 10, (32, 1), generator=generator) + torch.arange(9)) % 10
        logits, _ = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 10), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0 and sum(losses[-5:]) / 5 < 0.3, (losses[0], losses[-5:])
    continued = model.eval().generate(torch.tensor([[7]]), max_new_tokens=6, top_k=1)
    assert continued.tolist() == [[7, 8, 9, 0, 1, 2, 3]]


def test_training_a_conditioned_generator_and_the_vector_changes_the_output():
    """Captioning pattern: a one-hot 'image' vector sets h0/c0; each class has its own sentence."""
    torch.manual_seed(0)
    sentences = torch.tensor([[3, 4, 5, 2], [6, 6, 7, 2], [8, 5, 3, 2], [4, 8, 8, 2]])  # 2 = eos
    model = LanguageModel(LanguageModelConfig(vocab_size=9, embedding_size=8, hidden_size=16, condition_size=4, bos_id=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.03)
    vectors = torch.eye(4)
    inputs = torch.cat([torch.ones(4, 1, dtype=torch.long), sentences[:, :-1]], 1)
    losses = []
    for _ in range(60):
        logits, _ = model(inputs, condition=vectors)
        loss = F.cross_entropy(logits.reshape(-1, 9), sentences.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.1 * losses[0]
    generated = model.eval().generate(condition=vectors, max_new_tokens=6, top_k=1, eos_id=2)
    assert torch.equal(generated[:, 1:5], sentences)  # each vector gives its own sentence
    prompted = model.generate(torch.tensor([[1, 6], [1, 6]]), condition=vectors[1:3], max_new_tokens=3, top_k=1)
    assert prompted[0, 2:].tolist() == [6, 7, 2]  # a prompt and a vector together
