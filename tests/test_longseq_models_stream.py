"""Architecture streams: stepping one step at a time equals the whole-sequence call."""

import gc
import warnings

import pytest
import torch

from rnnkit.models import (ClassifierConfig, Forecaster, ForecasterConfig, LanguageModel, LanguageModelConfig,
                           SequenceClassifier, SequenceTagger, TaggerConfig)

TOL = {torch.float64: 1e-6, torch.float32: 1e-5}
CELLS = ["lstm", "gru", "rnn"]


def _model(cls, config, dtype):
    torch.manual_seed(0)
    return cls(config).to(dtype).eval()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell", CELLS)
def test_tagger_features_per_step_logits(cell, dtype):
    model = _model(SequenceTagger, TaggerConfig(num_tags=4, input_size=3, cell=cell, hidden_size=6, num_layers=2,
                                                bidirectional=False), dtype)
    x = torch.randn(3, 11, 3, dtype=dtype)
    expected = model(x)  # (B, T, C)
    stream = model.stream(3)
    got = torch.stack([stream.step(x[:, t]) for t in range(11)], dim=1)
    torch.testing.assert_close(got, expected, atol=TOL[dtype], rtol=0)
    torch.testing.assert_close(model.stream(3).run(x), expected, atol=TOL[dtype], rtol=0)


def test_tagger_tokens_with_lengths():
    model = _model(SequenceTagger, TaggerConfig(num_tags=3, vocab_size=20, embedding_size=5, hidden_size=7,
                                                bidirectional=False), torch.float64)
    ids = torch.randint(0, 20, (3, 8))
    lengths = torch.tensor([8, 5, 2])
    expected = model(ids, lengths)
    stream = model.stream(3)
    got = torch.stack([stream.step(ids[:, t], valid=t < lengths) for t in range(8)], dim=1)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cell", CELLS)
def test_language_model_next_token_logits(cell, dtype):
    model = _model(LanguageModel, LanguageModelConfig(vocab_size=15, embedding_size=6, hidden_size=8, cell=cell,
                                                      num_layers=2), dtype)
    tokens = torch.randint(0, 15, (2, 10))
    expected, final = model(tokens)
    stream = model.stream(2)
    got = torch.stack([stream.step(tokens[:, t]) for t in range(10)], dim=1)
    torch.testing.assert_close(got, expected, atol=TOL[dtype], rtol=0)
    for state, want in zip(stream.get_state(), final):
        for a, b in zip(state, want[0]):
            torch.testing.assert_close(a, b, atol=TOL[dtype], rtol=0)


def test_language_model_greedy_generation_through_the_stream():
    model = _model(LanguageModel, LanguageModelConfig(vocab_size=12, embedding_size=5, hidden_size=9), torch.float64)
    prompt = torch.randint(0, 12, (2, 4))
    expected = model.generate(prompt, max_new_tokens=7, top_k=1)
    stream = model.stream(2)
    logits, tokens = stream.feed(prompt), [prompt]
    for _ in range(7):
        token = logits.argmax(-1)
        tokens.append(token.unsqueeze(1))
        logits = stream.step(token)
    assert torch.equal(torch.cat(tokens, dim=1), expected)


def test_language_model_conditioned_stream_and_reset_to_condition():
    model = _model(LanguageModel, LanguageModelConfig(vocab_size=10, embedding_size=4, hidden_size=6, condition_size=3),
                   torch.float64)
    condition = torch.randn(2, 3, dtype=torch.float64)
    tokens = torch.randint(0, 10, (2, 6))
    expected, _ = model(tokens, condition=condition)
    stream = model.stream(2, condition=condition)
    torch.testing.assert_close(stream.run(tokens), expected, atol=1e-6, rtol=0)
    stream.reset(torch.tensor([True, False]))  # row 0 starts again from its conditioned state
    torch.testing.assert_close(stream.step(tokens[:, 0])[0], expected[0, 0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
@pytest.mark.parametrize("cell", CELLS)
def test_classifier_logits_of_the_prefix(cell, pooling, dtype):
    model = _model(SequenceClassifier, ClassifierConfig(num_classes=3, input_size=4, cell=cell, hidden_size=5,
                                                        num_layers=2, pooling=pooling), dtype)
    x = torch.randn(2, 7, 4, dtype=dtype)
    stream = model.stream(2)
    for t in range(7):
        torch.testing.assert_close(stream.step(x[:, t]), model(x[:, :t + 1]), atol=TOL[dtype], rtol=0)


@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_classifier_tokens_with_lengths_and_hand_off(pooling):
    model = _model(SequenceClassifier, ClassifierConfig(num_classes=2, vocab_size=9, embedding_size=4, hidden_size=5,
                                                        pooling=pooling), torch.float64)
    ids = torch.randint(0, 9, (3, 6))
    lengths = torch.tensor([6, 3, 1])
    first = model.stream(3)
    for t in range(3):
        first.step(ids[:, t], valid=t < lengths)
    second = model.stream(3)
    second.load_state_dict(first.state_dict())  # the pooling accumulators travel too
    third = model.stream(3)
    third.state = first.state
    for t in range(3, 6):
        out = second.step(ids[:, t], valid=t < lengths)
        assert torch.equal(third.step(ids[:, t], valid=t < lengths), out)
    torch.testing.assert_close(out, model(ids, lengths), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_forecaster_forecast_from_history_so_far(strategy, dtype):
    config = ForecasterConfig(horizon=3, target_size=2, exog_size=2, future_exog_size=2, strategy=strategy,
                              cell="gru", hidden_size=6, num_layers=2)
    model = _model(Forecaster, config, dtype)
    y, exog = torch.randn(2, 8, 2, dtype=dtype), torch.randn(2, 8, 2, dtype=dtype)
    steps = 3 if strategy == "direct" else 1
    future = torch.randn(2, steps, 2, dtype=dtype)
    stream = model.stream(2)
    for t in range(8):
        got = stream.step(y[:, t], exog[:, t], future_exog=future)
        want = model(y[:, :t + 1], exog[:, :t + 1], future, horizon=steps)
        torch.testing.assert_close(got, want, atol=TOL[dtype], rtol=0)


def test_forecaster_valid_mask_holds_the_forecast():
    model = _model(Forecaster, ForecasterConfig(horizon=2, hidden_size=5, num_layers=2), torch.float64)
    y = torch.randn(2, 6, 1, dtype=torch.float64)
    lengths = torch.tensor([6, 3])
    stream = model.stream(2)
    for t in range(6):
        out = stream.step(y[:, t], valid=t < lengths)
    torch.testing.assert_close(out[0], model(y[:1])[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1], model(y[1:2, :3])[0], atol=1e-6, rtol=0)  # row 1 stopped at its length


def test_forecaster_run_without_exog():
    model = _model(Forecaster, ForecasterConfig(horizon=4, hidden_size=5), torch.float64)
    y = torch.randn(3, 6, 1, dtype=torch.float64)
    out = model.stream(3).run(y)  # (B, L, H, T)
    assert out.shape == (3, 6, 4, 1)
    torch.testing.assert_close(out[:, -1], model(y), atol=1e-6, rtol=0)


def test_architecture_stream_memory_is_constant():
    model = LanguageModel(LanguageModelConfig(vocab_size=30, embedding_size=8, hidden_size=16, num_layers=2))
    stream = model.stream(4)  # parameters require grad; the stream builds no graph
    token = torch.randint(0, 30, (4,))

    def live_tensors():
        gc.collect()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))

    for _ in range(20):
        stream.step(token)
    before = live_tensors()
    for _ in range(500):
        logits = stream.step(token)
    assert live_tensors() - before <= 2  # logits itself, nothing per step
    assert logits.grad_fn is None and stream.steps == 520

    classifier = SequenceClassifier(ClassifierConfig(num_classes=2, input_size=3, hidden_size=8, pooling="mean"))
    cstream, x_t = classifier.stream(2), torch.randn(2, 3)
    for _ in range(20):
        cstream.step(x_t)
    before = live_tensors()
    for _ in range(300):
        out = cstream.step(x_t)
    assert live_tensors() - before <= 2 and out.grad_fn is None


def test_grad_stream_keeps_graph():
    model = SequenceTagger(TaggerConfig(num_tags=2, input_size=3, hidden_size=4, bidirectional=False))
    out = model.stream(1, grad=True).step(torch.randn(1, 3))
    assert out.requires_grad
