"""Architectures on any cell, stacked and optionally bidirectional.

Each model takes one frozen config dataclass and returns logits (or predictions); none of them
knows about losses or optimizers. ``build_model(kind, config_dict)`` rebuilds a model from the
JSON a run saved (``{"kind": ..., "config": model.config.to_dict()}``).

The recurrent part of every model is reachable as an attribute: ``model.encoder`` is a
``SequenceEncoder`` whose ``.rnn`` is the ``rnnkit.RecurrentStack`` (classifier, tagger,
language model, forecaster, and the seq2seq encoder); the seq2seq decoder is ``model.decoder``,
a unidirectional ``RecurrentStack``.
"""

from rnnkit.models.attention import Attention, BahdanauAttention, LuongAttention, masked_softmax
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier, masked_pool
from rnnkit.models.classifier_ensemble import ClassifierEnsemble
from rnnkit.models.config import ModelConfig
from rnnkit.models.decoding import Decoded, beam_search, greedy_search, length_penalty
from rnnkit.models.encoder import EncoderConfig, SequenceEncoder, check_token_ids
from rnnkit.models.ensemble import ForecasterEnsemble
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.models.language_model import LanguageModel, LanguageModelConfig, sample_next
from rnnkit.models.seq2seq import Memory, Seq2Seq, Seq2SeqConfig, Seq2SeqOutput
from rnnkit.models.tagger import SequenceTagger, TaggerConfig

MODELS = {
    "encoder": (EncoderConfig, SequenceEncoder),
    "classifier": (ClassifierConfig, SequenceClassifier),
    "tagger": (TaggerConfig, SequenceTagger),
    "seq2seq": (Seq2SeqConfig, Seq2Seq),
    "language_model": (LanguageModelConfig, LanguageModel),
    "forecaster": (ForecasterConfig, Forecaster),
}


def build_model(kind: str, config):
    """A model of ``kind`` (a key of ``MODELS``) from its config object or ``to_dict()`` output."""
    from rnnkit.errors import check_choice

    config_class, model_class = MODELS[check_choice(kind, MODELS, "kind")]
    if not isinstance(config, config_class):
        config = config_class.from_dict(config)
    return model_class(config)


__all__ = [
    "ModelConfig", "MODELS", "build_model",
    "EncoderConfig", "SequenceEncoder", "check_token_ids",
    "ClassifierConfig", "SequenceClassifier", "ClassifierEnsemble", "masked_pool",
    "TaggerConfig", "SequenceTagger",
    "Attention", "BahdanauAttention", "LuongAttention", "masked_softmax",
    "Decoded", "greedy_search", "beam_search", "length_penalty",
    "Seq2SeqConfig", "Seq2Seq", "Seq2SeqOutput", "Memory",
    "LanguageModelConfig", "LanguageModel", "sample_next",
    "ForecasterConfig", "Forecaster", "ForecasterEnsemble",
]
