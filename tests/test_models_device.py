"""Every architecture runs on an accelerator and agrees with the CPU (skipped without CUDA)."""

import copy

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import (ClassifierConfig, Forecaster, ForecasterConfig, LanguageModel, LanguageModelConfig,
                           Seq2Seq, Seq2SeqConfig, SequenceClassifier, SequenceTagger, TaggerConfig)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


def twins(model):
    model = model.eval()
    return model, copy.deepcopy(model).to(CUDA)


def close(cpu, gpu):
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)


def test_classifier_and_tagger_match_the_cpu():
    torch.manual_seed(0)
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 2, 5, 1])
    for pooling in ("last", "mean", "max"):
        cpu, gpu = twins(SequenceClassifier(ClassifierConfig(2, input_size=3, hidden_size=8, pooling=pooling, bidirectional=True)))
        close(cpu(x, lengths), gpu(x.to(CUDA), lengths.to(CUDA)))
    tokens = torch.randint(1, 9, (4, 6))
    cpu, gpu = twins(SequenceTagger(TaggerConfig(3, vocab_size=9, hidden_size=8)))
    close(cpu(tokens, lengths), gpu(tokens.to(CUDA), lengths.to(CUDA)))


@pytest.mark.parametrize("attention", ["bahdanau", "luong-general"])
def test_seq2seq_decoding_matches_the_cpu(attention):
    torch.manual_seed(0)
    cpu, gpu = twins(Seq2Seq(Seq2SeqConfig(9, 11, hidden_size=8, attention=attention, num_layers=2)))
    source, lengths = torch.randint(3, 9, (3, 5)), torch.tensor([5, 2, 4])
    target_in = torch.randint(1, 11, (3, 4))
    close(cpu(source, target_in, lengths), gpu(source.to(CUDA), target_in.to(CUDA), lengths.to(CUDA)))
    for method in ("greedy_decode", "beam_search"):
        a = getattr(cpu, method)(source, lengths, max_length=6)
        b = getattr(gpu, method)(source.to(CUDA), lengths.to(CUDA), max_length=6)
        assert torch.equal(a.tokens, b.tokens.cpu())
        close(a.scores, b.scores)
        close(a.attention, b.attention)


def test_language_model_generation_and_forecaster_run_on_the_device():
    torch.manual_seed(0)
    cpu, gpu = twins(LanguageModel(LanguageModelConfig(12, hidden_size=8, condition_size=3, bos_id=1)))
    condition = torch.randn(2, 3)
    close(cpu(torch.tensor([[1, 4, 5]] * 2), condition=condition)[0],
          gpu(torch.tensor([[1, 4, 5]] * 2, device=CUDA), condition=condition.to(CUDA))[0])
    greedy_cpu = cpu.generate(condition=condition, max_new_tokens=5, top_k=1)
    greedy_gpu = gpu.generate(condition=condition.to(CUDA), max_new_tokens=5, top_k=1)
    assert torch.equal(greedy_cpu, greedy_gpu.cpu())
    sampled = gpu.generate(condition=condition.to(CUDA), max_new_tokens=5, generator=torch.Generator(CUDA).manual_seed(0))
    assert sampled.device.type == "cuda" and sampled.shape == (2, 6)
    for strategy in ("direct", "recursive"):
        cpu, gpu = twins(Forecaster(ForecasterConfig(horizon=3, hidden_size=8, strategy=strategy, future_exog_size=1)))
        history, future = torch.randn(4, 10, 1), torch.randn(4, 3, 1)
        close(cpu(history, future_exog=future), gpu(history.to(CUDA), future_exog=future.to(CUDA)))
        gpu.train()
        loss = F.mse_loss(gpu(history.to(CUDA), future_exog=future.to(CUDA)), torch.zeros(4, 3, 1, device=CUDA))
        loss.backward()
        assert all(p.grad is not None and p.grad.device.type == "cuda" for p in gpu.parameters())
