"""Translation (encoder-decoder with attention): character sequences -> character sequences.

Data: the built-in generated date-format pairs with their fixed held-out set, or ``--data`` a
TSV file of ``source<TAB>target`` pairs, part of which (``test_fraction``) is held out unless
``test_data`` names a test file. Character vocabularies of the training pairs (ids 0..3 are
pad, unk, bos, eos). Model: ``rnnkit.models.Seq2Seq`` trained with teacher forcing:

    inputs  source ids, [bos] + target ids, source lengths
    targets target ids + [eos], padded with pad (ignored by the loss)

Metric: exact_match, the share of test sources whose decoded output equals the target string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from rnnkit.errors import check_choice
from rnnkit.tasks.base import Prepared, Split, Task, cross_entropy_accuracy, step_cross_entropy
from rnnkit.tasks.config import RunConfig
from rnnkit.tasks.splits import file_train_test, split_validation

PAD, UNK, BOS, EOS = 0, 1, 2, 3


@dataclass(frozen=True)
class TranslateOptions:
    attention: str = "luong-general"  # bahdanau, luong-dot, luong-general
    embedding_size: int = 32
    test_fraction: float = 0.1
    test_data: str = ""
    eval_beam: int = 1  # beam width for the test metric (1: greedy)
    max_length: int = 0  # decoding limit; 0: 2 x the longest training target + 5
    num_train: int = 0  # training pairs of a generated built-in set (dates); 0: its default

    def __post_init__(self):
        check_choice(self.attention, ("bahdanau", "luong-dot", "luong-general"), "attention")


class TranslateTask(Task):
    name = "translate"
    Options = TranslateOptions
    metric_names = ("exact_match",)

    def defaults(self, dataset):
        return {"epochs": 10, "hidden": 128, "batch_size": 64, "lr": 3e-3, "bidirectional": True}

    def prepare(self, config: RunConfig, state: Optional[dict] = None, *, test_only: bool = False) -> Prepared:
        from rnnkit.data.vocab import Vocab

        options = self.options(config)
        train_pairs, test_pairs = self._pairs(config, options, evaluating=test_only)
        if state:
            source_vocab, target_vocab = Vocab.from_dict(state["source_vocab"]), Vocab.from_dict(state["target_vocab"])
            max_length = state["max_length"]
        else:
            source_vocab = Vocab.build(list(s) for s, _ in train_pairs)
            target_vocab = Vocab.build(list(t) for _, t in train_pairs)
            max_length = options.max_length or 2 * max(len(t) for _, t in train_pairs) + 5
        new_state = {"source_vocab": source_vocab.to_dict(), "target_vocab": target_vocab.to_dict(),
                     "max_length": max_length, "eval_beam": options.eval_beam}
        model_config = self._model_config(config, options, len(source_vocab), len(target_vocab))
        test = encode_pairs(test_pairs, source_vocab, target_vocab)
        test = Split(test.inputs, test.targets, texts=test_pairs)
        if state:
            return Prepared(test, None, test, model_config, new_state)
        encoded = encode_pairs(train_pairs, source_vocab, target_vocab)
        train, validation = split_validation(encoded.inputs, encoded.targets, config, stratify=False)
        source = config.dataset or config.data
        summary = (f"{source}: {len(train_pairs)} training and {len(test_pairs)} test pairs; vocabularies of "
                   f"{len(source_vocab)} source and {len(target_vocab)} target characters")
        return Prepared(train, validation, test, model_config, new_state, summary)

    def _pairs(self, config, options, evaluating):
        if config.dataset is not None:
            from rnnkit.tasks.datasets import load

            data = load(config.dataset, self.name, **({"num_train": options.num_train} if options.num_train else {}))
            return list(zip(data.train.sources, data.train.targets)), list(zip(data.test.sources, data.test.targets))
        return file_train_test(read_pairs, config, options, evaluating=evaluating)

    def _model_config(self, config, options, source_size, target_size):
        from rnnkit.models import Seq2SeqConfig

        return Seq2SeqConfig(source_vocab_size=source_size, target_vocab_size=target_size,
                             embedding_size=options.embedding_size, hidden_size=config.hidden, cell=config.cell,
                             num_layers=config.layers, bidirectional=config.bidirectional, dropout=config.dropout,
                             attention=options.attention, pad_id=PAD, bos_id=BOS, eos_id=EOS).to_dict()

    def build_model(self, model_config) -> nn.Module:
        from rnnkit.models import Seq2Seq, Seq2SeqConfig

        return Seq2Seq(Seq2SeqConfig.from_dict(model_config))

    def loss(self, outputs, targets):
        return step_cross_entropy(outputs, targets, PAD)

    def train_metrics(self):
        return {"token_accuracy": lambda outputs, targets: cross_entropy_accuracy(outputs, targets, ignore_index=PAD)}

    def evaluate(self, model, prepared, config):
        from rnnkit.data.vocab import Vocab

        state = prepared.state
        target_vocab = Vocab.from_dict(state["target_vocab"])
        source_ids, _, source_lengths = prepared.test.inputs
        decoded = decode(model, source_ids, source_lengths, beam=state["eval_beam"], max_length=state["max_length"],
                         vocab=target_vocab)
        truth = [t for _, t in prepared.test.texts]
        matches = sum(d == t for d, t in zip(decoded, truth))
        examples = [{"source": s, "target": t, "output": d} for (s, t), d in zip(prepared.test.texts[:20], decoded[:20])]
        return {"exact_match": matches / max(1, len(truth))}, {"examples": examples}

    def plot(self, plot_data, out_dir):
        from rnnkit.tasks.run import write_json

        write_json(out_dir / "examples.json", plot_data["examples"])  # no plot: a sample of test outputs
        return []

    def translate(self, model, state, texts, *, beam: int, max_length=None):
        from rnnkit.data.batching import pad_sequences
        from rnnkit.data.vocab import Vocab

        source_vocab, target_vocab = Vocab.from_dict(state["source_vocab"]), Vocab.from_dict(state["target_vocab"])
        ids, lengths = pad_sequences([torch.tensor(source_vocab.encode(list(t)) or [UNK]) for t in texts])
        return decode(model, ids, lengths, beam=beam, max_length=max_length or state["max_length"], vocab=target_vocab)


def read_pairs(path):
    """(source, target) pairs of a TSV file."""
    from rnnkit.data.readers_text import read_sentence_pairs

    data = read_sentence_pairs(path)
    return list(zip(data.sources, data.targets))


def encode_pairs(pairs, source_vocab, target_vocab) -> Split:
    from rnnkit.data.batching import pad_sequences

    if not pairs:
        raise ValueError("Received an empty set of sentence pairs: expected at least one pair.")
    source, lengths = pad_sequences([torch.tensor(source_vocab.encode(list(s)) or [UNK]) for s, _ in pairs])
    target_in, _ = pad_sequences([torch.tensor([BOS] + target_vocab.encode(list(t))) for _, t in pairs], padding_value=PAD)
    target_out, _ = pad_sequences([torch.tensor(target_vocab.encode(list(t)) + [EOS]) for _, t in pairs], padding_value=PAD)
    return Split((source, target_in, lengths), target_out)


def decode(model, source_ids, source_lengths, *, beam: int, max_length: int, vocab, batch_size: int = 256):
    out = []
    with torch.no_grad():
        for i in range(0, source_ids.shape[0], batch_size):
            ids, lengths = source_ids[i:i + batch_size], source_lengths[i:i + batch_size]
            steps = int(lengths.max())
            result = model.decode(ids[:, :steps], lengths, beam_size=beam, max_length=max_length)
            out += [vocab.decode_text(row.tolist()) for row in result.tokens]
    return out


TASK = TranslateTask()
