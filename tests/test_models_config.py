"""Configs: JSON round trip, rebuilding a model from saved JSON, and checked values."""

import json

import pytest
import torch

from rnnkit.models import (MODELS, ClassifierConfig, EncoderConfig, ForecasterConfig, LanguageModelConfig,
                           Seq2SeqConfig, TaggerConfig, build_model)

EXAMPLES = {
    "encoder": EncoderConfig(input_size=3, hidden_size=8, cell="gru", num_layers=2, bidirectional=True, dropout=0.1),
    "classifier": ClassifierConfig(num_classes=4, vocab_size=20, padding_idx=0, pooling="max", cell="rnn"),
    "tagger": TaggerConfig(num_tags=3, input_size=5, hidden_size=8),
    "seq2seq": Seq2SeqConfig(10, 12, hidden_size=8, attention="luong-general", num_layers=2),
    "language_model": LanguageModelConfig(30, hidden_size=16, embedding_size=16, tie_weights=True, condition_size=4, bos_id=1),
    "forecaster": ForecasterConfig(horizon=3, exog_size=2, future_exog_size=2, strategy="recursive", lookback=12),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_json_round_trip_rebuilds_the_same_model(kind):
    config = EXAMPLES[kind]
    restored = type(config).from_dict(json.loads(json.dumps(config.to_dict())))
    assert restored == config
    torch.manual_seed(0)
    first = build_model(kind, config)
    second = build_model(kind, restored.to_dict())
    second.load_state_dict(first.state_dict())  # same structure, same parameter names and shapes
    assert type(second) is MODELS[kind][1]


def test_configs_are_frozen_and_replace_rechecks():
    config = EXAMPLES["classifier"]
    with pytest.raises(AttributeError):
        config.hidden_size = 3
    assert config.replace(hidden_size=3).hidden_size == 3
    with pytest.raises(ValueError, match="`hidden_size`"):
        config.replace(hidden_size=0)


def test_from_dict_rejects_unknown_and_missing_fields():
    with pytest.raises(ValueError, match=r"unknown ClassifierConfig field\(s\) \['hiden_size'\]"):
        ClassifierConfig.from_dict({"num_classes": 2, "input_size": 3, "hiden_size": 8})
    with pytest.raises(ValueError, match=r"needs field\(s\) \['num_classes'\]"):
        ClassifierConfig.from_dict({"input_size": 3})
    with pytest.raises(TypeError, match="`values`"):
        ClassifierConfig.from_dict([1, 2])
    with pytest.raises(ValueError, match="`kind`"):
        build_model("transformer", {})


@pytest.mark.parametrize("make, match", [
    (lambda: ClassifierConfig(num_classes=2), "exactly one of them"),
    (lambda: ClassifierConfig(num_classes=2, input_size=3, vocab_size=5), "exactly one of them"),
    (lambda: ClassifierConfig(num_classes=0, input_size=3), "`num_classes`"),
    (lambda: ClassifierConfig(num_classes=2, input_size=3, pooling="sum"), "`pooling`"),
    (lambda: ClassifierConfig(num_classes=2, input_size=3, cell="transformer"), "`cell`"),
    (lambda: ClassifierConfig(num_classes=2, input_size=3, dropout=1.0), "`dropout`"),
    (lambda: ClassifierConfig(num_classes=2, vocab_size=5, padding_idx=5), "`padding_idx`"),
    (lambda: TaggerConfig(num_tags=2, input_size=3, bidirectional="yes"), "`bidirectional`"),
    (lambda: Seq2SeqConfig(10, 12, attention="concat"), "`attention`"),
    (lambda: Seq2SeqConfig(10, 12, eos_id=12), "`eos_id`"),
    (lambda: Seq2SeqConfig(10, 12, bos_id=0), "three different ids"),
    (lambda: LanguageModelConfig(10, tie_weights=True, embedding_size=8, hidden_size=16), "`tie_weights`"),
    (lambda: LanguageModelConfig(10, bos_id=10), "`bos_id`"),
    (lambda: ForecasterConfig(horizon=0), "`horizon`"),
    (lambda: ForecasterConfig(horizon=2, strategy="mimo"), "`strategy`"),
    (lambda: ForecasterConfig(horizon=2, strategy="recursive", exog_size=2, future_exog_size=1), "`exog_size`"),
])
def test_bad_config_values_name_the_field(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
