"""Bad input to architecture streams gets a clear error naming the argument."""

import pytest
import torch

from rnnkit.models import (ClassifierConfig, Forecaster, ForecasterConfig, LanguageModel, LanguageModelConfig,
                           SequenceClassifier, SequenceTagger, TaggerConfig)
from rnnkit.models.streaming import open_model_stream


@pytest.fixture
def tagger():
    return SequenceTagger(TaggerConfig(num_tags=3, input_size=4, hidden_size=5, bidirectional=False))


@pytest.fixture
def lm():
    return LanguageModel(LanguageModelConfig(vocab_size=10, embedding_size=4, hidden_size=5))


def test_bidirectional_models_cannot_stream():
    for model in (SequenceTagger(TaggerConfig(num_tags=3, input_size=4, hidden_size=5)),  # bidirectional default
                  SequenceClassifier(ClassifierConfig(num_classes=2, input_size=4, hidden_size=5, bidirectional=True)),
                  Forecaster(ForecasterConfig(horizon=2, hidden_size=4, bidirectional=True))):
        with pytest.raises(ValueError, match=r"bidirectional layer: streaming needs a unidirectional model"):
            model.stream(2)


def test_wrong_batch_or_feature_size(tagger):
    stream = tagger.stream(2)
    with pytest.raises(ValueError, match=r"argument `x_t`: expected shape \(2, 4\) \(batch_size rows, one step\)"):
        stream.step(torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"argument `x_t`: expected feature size 4"):
        stream.step(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"argument `x_t`: expected shape \(2, 4\)"):
        stream.step(torch.randn(2, 1, 4))
    with pytest.raises(TypeError, match=r"argument `x_t`: expected a floating-point tensor of shape \(2, 4\)"):
        stream.step(torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(TypeError, match=r"argument `x_t`: expected dtype torch.float32"):
        stream.step(torch.randn(2, 4, dtype=torch.float64))
    assert stream.steps == 0  # nothing advanced


def test_wrong_token_ids(lm):
    stream = lm.stream(3)
    with pytest.raises(ValueError, match=r"argument `x_t`: expected token ids of shape \(3,\) \(one per stream row\)"):
        stream.step(torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"argument `x_t`: expected token ids of shape \(3,\)"):
        stream.step(torch.zeros(3, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected token ids in \[0, 9\] \(vocab_size=10\), got an id of 10"):
        stream.step(torch.tensor([0, 1, 10]))
    with pytest.raises(TypeError, match=r"expected integer token ids, got dtype torch.float32"):
        stream.step(torch.zeros(3))


def test_reset_and_valid_masks_of_the_wrong_shape(tagger, lm):
    for stream, x_t in ((tagger.stream(2), torch.randn(2, 4)), (lm.stream(2), torch.tensor([1, 2]))):
        with pytest.raises(ValueError, match=r"argument `mask`: expected shape \(2,\) \(one entry per stream row\), got shape \(3,\)"):
            stream.reset(torch.tensor([True, False, True]))
        with pytest.raises(ValueError, match=r"argument `mask`: expected shape \(2,\).*got shape \(2, 1\)"):
            stream.reset(torch.ones(2, 1, dtype=torch.bool))
        with pytest.raises(TypeError, match=r"argument `mask`: expected a bool tensor of shape \(2,\), got dtype torch.int64"):
            stream.reset(torch.tensor([1, 0]))
        with pytest.raises(ValueError, match=r"argument `valid`: expected shape \(2,\)"):
            stream.step(x_t, valid=torch.ones(3, dtype=torch.bool))
    classifier = SequenceClassifier(ClassifierConfig(num_classes=2, input_size=3, hidden_size=4, pooling="max"))
    with pytest.raises(ValueError, match=r"argument `mask`: expected shape \(2,\)"):
        classifier.stream(2).reset(torch.ones(5, dtype=torch.bool))


def test_classifier_state_of_the_wrong_structure():
    model = SequenceClassifier(ClassifierConfig(num_classes=2, input_size=3, hidden_size=4, pooling="mean"))
    stream = model.stream(2)
    with pytest.raises(ValueError, match=r"argument `state`: expected a list with one state per layer \(1\) and the pooling state, got 1"):
        stream.set_state(stream.get_state()[:1])
    state = stream.state_dict()
    del state["pool.total"]
    with pytest.raises(ValueError, match=r"argument `tensors`: expected the pooling keys"):
        model.stream(2).load_state_dict(state)


def test_forecaster_inputs():
    model = Forecaster(ForecasterConfig(horizon=2, target_size=1, exog_size=2, future_exog_size=2, hidden_size=4))
    stream = model.stream(2)
    y_t, e_t, future = torch.randn(2, 1), torch.randn(2, 2), torch.randn(2, 2, 2)
    with pytest.raises(ValueError, match=r"argument `y_t`: expected shape \(2, 1\)"):
        stream.step(torch.randn(3, 1), e_t, future_exog=future)
    with pytest.raises(ValueError, match=r"argument `exog_t`: expected feature size 2"):
        stream.step(y_t, torch.randn(2, 3), future_exog=future)
    with pytest.raises(ValueError, match=r"argument `future_exog`: expected a float tensor of shape \(2, 2, 2\)"):
        stream.step(y_t, e_t, future_exog=torch.randn(2, 1, 2))
    with pytest.raises(ValueError, match=r"argument `future_exog`: expected a float tensor"):
        stream.step(y_t, e_t)
    plain = Forecaster(ForecasterConfig(horizon=2, hidden_size=4)).stream(2)
    with pytest.raises(ValueError, match=r"argument `exog_t`: the model was configured without window exogenous"):
        plain.step(y_t, e_t)


def test_condition_and_model_type(lm, tagger):
    with pytest.raises(ValueError, match=r"argument `condition`: only a LanguageModel stream takes"):
        open_model_stream(tagger, 2, condition=torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"built without conditioning"):
        lm.stream(2, condition=torch.randn(2, 3))
    conditioned = LanguageModel(LanguageModelConfig(vocab_size=10, embedding_size=4, hidden_size=5, condition_size=3))
    with pytest.raises(ValueError, match=r"argument `condition`: expected 2 rows \(batch_size\)"):
        conditioned.stream(2, condition=torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"argument `batch_size`"):
        lm.stream(0)
    with pytest.raises(TypeError, match=r"argument `model`: expected a SequenceTagger, LanguageModel"):
        open_model_stream(torch.nn.Linear(2, 2), 2)
