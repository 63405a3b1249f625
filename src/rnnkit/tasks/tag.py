"""Sequence tagging (many-to-many, equal length): one tag per token.

Data: ``--data`` a CoNLL file (a token and its tag per line, blank lines between sentences),
part of which (``test_fraction``) is held out unless ``test_data`` names a test file. Word
vocabulary of the training tokens (``lower`` to lowercase them). Model:
``rnnkit.models.SequenceTagger``, bidirectional by default. Loss: cross-entropy over the valid
steps (padding is ignored). Metrics: accuracy over all test tokens, and per tag
(``accuracy_<tag>``: the share of the tokens whose true tag is <tag> that got it).

Long sentences (a whole source file tagged character by character) are cut, for training
only, into pieces of at most ``train_chunk`` tokens: each update then sees many pieces rather
than a few padded files. Validation and test sentences are always read whole, so a bidirectional
tagger sees every token's full left and right context at prediction time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.tasks.base import Prepared, Split, Task, cross_entropy_accuracy, step_cross_entropy
from rnnkit.tasks.config import RunConfig
from rnnkit.tasks.splits import MIN_VALIDATION, file_train_test, split_validation

IGNORE = -100


@dataclass(frozen=True)
class TagOptions:
    embedding_size: int = 64
    lower: bool = False
    min_freq: int = 1
    test_fraction: float = 0.1
    test_data: str = ""
    train_chunk: int = 0  # cut training sentences into pieces of at most this many tokens (0: never)

    def __post_init__(self):
        if isinstance(self.train_chunk, bool) or not isinstance(self.train_chunk, int) or self.train_chunk < 0:
            raise ValueError(f"Received an invalid value for option `train_chunk`: expected a non-negative integer "
                             f"(0: never cut), got {self.train_chunk!r}.")


class TagTask(Task):
    name = "tag"
    Options = TagOptions
    metric_names = ("accuracy",)

    def defaults(self, dataset):
        return {"epochs": 10, "hidden": 64, "batch_size": 32, "lr": 3e-3, "lr_schedule": "cosine", "bidirectional": True,
                "keep": "val_accuracy"}

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
        # sentences cut for training are long: a few whole ones make a validation part
        train_split, validation = split_validation(encoded.inputs, encoded.targets, config, stratify=False,
                                                   min_samples=1 if options.train_chunk else MIN_VALIDATION)
        if options.train_chunk:
            train_split = cut_split(train_split, options.train_chunk)
        pieces = f" (cut into {len(train_split)} training pieces of <= {options.train_chunk})" if options.train_chunk else ""
        summary = (f"{config.dataset or config.data}: {len(train)} training and {len(test)} test sentences{pieces}, "
                   f"{len(tags)} tags, vocabulary of {len(vocab)} tokens")
        return Prepared(train_split, validation, test_split, model_config, new_state, summary)

    def _sentences(self, config, options, evaluating):
        if config.dataset is not None:
            from rnnkit.tasks.datasets import load

            data = load(config.dataset, self.name)
            return as_sentences(data.train), as_sentences(data.test)
        return file_train_test(read_sentences, config, options, evaluating=evaluating)

    def _model_config(self, config, options, vocab_size, num_tags):
        from rnnkit.models import TaggerConfig

        return TaggerConfig(num_tags=num_tags, vocab_size=vocab_size, embedding_size=options.embedding_size,
                            padding_idx=0, cell=config.cell, hidden_size=config.hidden, num_layers=config.layers,
                            bidirectional=config.bidirectional, dropout=config.dropout).to_dict()

    def build_model(self, model_config) -> nn.Module:
        from rnnkit.models import SequenceTagger, TaggerConfig

        return SequenceTagger(TaggerConfig.from_dict(model_config))

    def loss(self, outputs, targets):
        return step_cross_entropy(outputs, targets, IGNORE)

    def train_metrics(self):
        return {"accuracy": lambda outputs, targets: cross_entropy_accuracy(outputs, targets, ignore_index=IGNORE)}

    def evaluate(self, model, prepared, config):
        from rnnkit.tasks.classify import predict_batches

        logits = predict_batches(model, prepared.test.inputs)
        targets = prepared.test.targets
        return tag_accuracies(logits.argmax(-1), targets, prepared.state["tags"]), {}

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


def read_sentences(path):
    """(tokens, tags) pairs of a CoNLL file."""
    from rnnkit.data.readers_text import read_conll

    data = read_conll(path)
    return list(zip(data.tokens, data.tags))


def as_sentences(part):
    """(tokens, tags) pairs from TaggedSentences or from a SequenceSet of ids (copy memory)."""
    if hasattr(part, "tokens"):
        return list(zip(part.tokens, part.tags))
    return [([str(int(v)) for v in x[:n]], [str(int(v)) for v in y[:n]])
            for x, y, n in zip(part.x, part.y, part.lengths.tolist())]


def tag_accuracies(predicted, targets, tags) -> dict:
    """``accuracy`` over all valid tokens and ``accuracy_<tag>`` over the tokens whose true tag
    is <tag> (a tag absent from ``targets`` is left out)."""
    valid = targets != IGNORE
    right = predicted.eq(targets) & valid
    out = {"accuracy": right.sum().item() / max(1, valid.sum().item())}
    for i, tag in enumerate(tags):
        has = targets == i
        if bool(has.any()):
            out[f"accuracy_{tag}"] = (right & has).sum().item() / has.sum().item()
    return out


def cut_split(split: Split, chunk: int) -> Split:
    """Training pieces of at most ``chunk`` steps from (ids (N, T), lengths (N,)) and targets (N, T)."""
    from rnnkit.data.batching import pad_sequences

    (ids, lengths), targets = split.inputs, split.targets
    xs, ys = [], []
    for row, n in enumerate(lengths.tolist()):
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            xs.append(ids[row, start:stop])
            ys.append(targets[row, start:stop])
    ids, lengths = pad_sequences(xs)
    targets, _ = pad_sequences(ys, padding_value=IGNORE)
    return Split((ids, lengths), targets)


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
