"""Sequence tagging (many-to-many, equal length): one tag per token.

Data: ``--data`` a CoNLL file (a token and its tag per line, blank lines between sentences),
part of which (``test_fraction``) is held out unless ``test_data`` names a test file. Word
vocabulary of the training tokens (``lower`` to lowercase them). Model:
``rnnkit.models.SequenceTagger``, bidirectional by default. Loss: cross-entropy over the valid
steps (padding is ignored). Metric: accuracy over all test tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.tasks.base import Prepared, Split, Task, cross_entropy_accuracy
from rnnkit.tasks.config import RunConfig
from rnnkit.tasks.splits import random_test_split, split_validation

IGNORE = -100


@dataclass(frozen=True)
class TagOptions:
    embedding_size: int = 64
    lower: bool = False
    min_freq: int = 1
    test_fraction: float = 0.1
    test_data: str = ""


class TagTask(Task):
    name = "tag"
    Options = TagOptions
    metric_names = ("accuracy",)

    def defaults(self, dataset):
        return {"epochs": 10, "hidden": 64, "batch_size": 32, "lr": 3e-3, "bidirectional": True}

    def prepare(self, config: RunConfig, state: Optional[dict] = None, *, test_only: bool = False) -> Prepared:
        from rnnkit.data.vocab import Vocab

        options = self.options(config)
        train, test = self._sentences(config, options, evaluating=test_only)
        norm = (lambda t: t.lower()) if options.lower else (lambda t: t)
        if state:
            vocab, tags = Vocab.from_dict(state["vocab"]), state["tags"]
        else:
            vocab = Vocab.build(([norm(t) for t in tokens] for tokens, _ in train), min_freq=options.min_freq)
            tags = sorted({tag for _, sentence_tags in train for tag in sentence_tags})
            if len(tags) < 2:
                raise ValueError(f"{config.data}: every token has the tag {tags[0]!r}; a tagger needs at least 2 tags.")
        new_state = {"vocab": vocab.to_dict(), "tags": tags, "lower": options.lower}
        model_config = self._model_config(config, options, len(vocab), len(tags))
        test_split = encode(test, vocab, tags, norm, "test")
        if state:
            return Prepared(test_split, None, test_split, model_config, new_state)
        encoded = encode(train, vocab, tags, norm, "training")
        train_split, validation = split_validation(encoded.inputs, encoded.targets, config, stratify=False)
        summary = (f"{config.dataset or config.data}: {len(train)} training and {len(test)} test sentences, {len(tags)} tags, "
                   f"vocabulary of {len(vocab)} tokens")
        return Prepared(train_split, validation, test_split, model_config, new_state, summary)

    def _sentences(self, config, options, evaluating):
        if config.dataset is not None:
            from rnnkit.tasks.datasets import load

            data = load(config.dataset, self.name)
            return as_sentences(data.train), as_sentences(data.test)
        from rnnkit.data.readers_text import read_conll

        data = read_conll(config.data)
        sentences = list(zip(data.tokens, data.tags))
        if evaluating:
            return [], sentences
        if options.test_data:
            test = read_conll(options.test_data)
            return sentences, list(zip(test.tokens, test.tags))
        train_idx, test_idx = random_test_split(len(sentences), options.test_fraction, config.seed, config.data)
        return [sentences[i] for i in train_idx], [sentences[i] for i in test_idx]

    def _model_config(self, config, options, vocab_size, num_tags):
        from rnnkit.models import TaggerConfig

        return TaggerConfig(num_tags=num_tags, vocab_size=vocab_size, embedding_size=options.embedding_size,
                            padding_idx=0, cell=config.cell, hidden_size=config.hidden, num_layers=config.layers,
                            bidirectional=config.bidirectional, dropout=config.dropout).to_dict()

    def build_model(self, model_config) -> nn.Module:
        from rnnkit.models import SequenceTagger, TaggerConfig

        return SequenceTagger(TaggerConfig.from_dict(model_config))

    def loss(self, outputs, targets):
        return nn.functional.cross_entropy(outputs.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)

    def train_metrics(self):
        return {"accuracy": lambda outputs, targets: cross_entropy_accuracy(outputs, targets, ignore_index=IGNORE)}

    def evaluate(self, model, prepared, config):
        from rnnkit.tasks.classify import predict_batches

        logits = predict_batches(model, prepared.test.inputs)
        targets = prepared.test.targets
        valid = targets != IGNORE
        accuracy = (logits.argmax(-1).eq(targets) & valid).sum().item() / max(1, valid.sum().item())
        return {"accuracy": accuracy}, {}

    def predict_rows(self, model, state, path):
        """INPUT: one sentence per line, tokens separated by spaces -> ``token<TAB>tag`` rows."""
        from rnnkit.data.vocab import Vocab
        from rnnkit.tasks.classify import predict_batches
        from rnnkit.tasks.inputs import read_text_inputs

        vocab, tags = Vocab.from_dict(state["vocab"]), state["tags"]
        norm = (lambda t: t.lower()) if state["lower"] else (lambda t: t)
        sentences = [line.split() for line in read_text_inputs(path)]
        split = encode([(s, [tags[0]] * len(s)) for s in sentences], vocab, tags, norm, "input")
        predicted = predict_batches(model, split.inputs).argmax(-1)
        rows = []
        for i, tokens in enumerate(sentences):
            rows += [(token, tags[int(predicted[i, j])]) for j, token in enumerate(tokens)]
            rows.append(("",))  # a blank line between sentences, as in CoNLL
        return rows[:-1]


def as_sentences(part):
    """(tokens, tags) pairs from TaggedSentences or from a SequenceSet of ids (copy memory)."""
    if hasattr(part, "tokens"):
        return list(zip(part.tokens, part.tags))
    return [([str(int(v)) for v in x[:n]], [str(int(v)) for v in y[:n]])
            for x, y, n in zip(part.x, part.y, part.lengths.tolist())]


def encode(sentences, vocab, tags, norm, part) -> Split:
    from rnnkit.data.batching import pad_sequences

    if not sentences:
        raise ValueError(f"The {part} data is empty: expected at least one sentence.")
    index = {t: i for i, t in enumerate(tags)}
    unknown = sorted({t for _, ts in sentences for t in ts} - set(index))
    if unknown:
        raise ValueError(f"The {part} data has tag(s) {unknown[:5]} that the training data does not have (known: {tags[:20]}).")
    ids, lengths = pad_sequences([torch.tensor(vocab.encode([norm(t) for t in tokens])) for tokens, _ in sentences])
    targets, _ = pad_sequences([torch.tensor([index[t] for t in ts]) for _, ts in sentences], padding_value=IGNORE)
    return Split((ids, lengths), targets)


TASK = TagTask()
