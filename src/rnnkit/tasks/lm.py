"""Character language model and generator.

Data: ``--data`` a UTF-8 text file, whose last ``test_fraction`` is held out, or a directory
of text files (``pattern``, e.g. ``*.py``), of which whole files are held out (every
``1 / test_fraction``-th file in sorted order), so test text was never seen in any form.
Training text is read as ``batch_size`` contiguous streams (the "batchify" layout of
Zaremba et al. 2014: row b is the b-th of ``batch_size`` equal pieces of the text), ``seq_len``
characters of every stream per batch, inputs x_t and targets x_{t+1}. The recurrent state is
carried from one batch to the next (truncated BPTT, ``Trainer(tbptt=(seq_len, seq_len))``), so
the model learns from context longer than ``seq_len`` while gradients stop at the batch edge.
The last ``validation`` part of the training text is validated on the same way. Model:
``rnnkit.models.LanguageModel``. Loss: cross-entropy (nats per char).

    bits_per_char = (1 / N) sum_t -log2 p(x_t | x_<t)

over the held-out text, read as ``streams`` contiguous pieces (1 by default: the whole text in
order) whose state is carried across chunks, so each character is predicted from all earlier
characters of its piece.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from rnnkit.tasks.base import Prepared, Split, Task, cross_entropy_accuracy
from rnnkit.tasks.config import RunConfig

UNK = 1


@dataclass(frozen=True)
class LMOptions:
    seq_len: int = 100
    embedding_size: int = 32
    test_fraction: float = 0.1
    pattern: str = "*.txt"  # files read from a --data directory
    streams: int = 1  # parallel pieces of the test text when evaluating (more: faster, each starts cold)
    dynamic_lr: float = 0.0  # > 0: dynamic evaluation (see bits_per_char); 0: the trained model as it is
    dynamic_chunk: int = 50  # characters scored between two steps of dynamic evaluation

    def __post_init__(self):
        if self.seq_len < 2:
            raise ValueError(f"Received an invalid value for option `seq_len`: expected at least 2, got {self.seq_len}.")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"Received an invalid value for option `test_fraction`: expected a number in (0, 1), got {self.test_fraction}.")
        if not self.dynamic_lr >= 0:
            raise ValueError(f"Received an invalid value for option `dynamic_lr`: expected a number >= 0 (0: off), got {self.dynamic_lr!r}.")
        if isinstance(self.dynamic_chunk, bool) or not isinstance(self.dynamic_chunk, int) or self.dynamic_chunk < 1:
            raise ValueError(f"Received an invalid value for option `dynamic_chunk`: expected a positive integer, got {self.dynamic_chunk!r}.")
        if isinstance(self.streams, bool) or not isinstance(self.streams, int) or self.streams < 1:
            raise ValueError(f"Received an invalid value for option `streams`: expected a positive integer, got {self.streams!r}.")


class LanguageModelTask(Task):
    name = "lm"
    Options = LMOptions
    metric_names = ("bits_per_char",)

    def defaults(self, dataset):
        return {"epochs": 10, "hidden": 256, "batch_size": 32, "lr": 2e-3, "lr_schedule": "cosine"}

    def texts(self, config, options, evaluating=False):
        """(training text, test text) of the configured source."""
        from rnnkit.data.files import DataError
        from rnnkit.data.readers_text import read_text

        if config.dataset is not None:
            from rnnkit.tasks.datasets import load

            data = load(config.dataset, self.name)
            return data.train, data.test
        path = Path(config.data)
        if path.is_dir():
            files = sorted(p for p in path.rglob(options.pattern) if p.is_file())
            if len(files) < 2:
                raise DataError(f"{config.data}: found {len(files)} file(s) matching {options.pattern!r}; a directory "
                                "needs at least 2 so that whole files can be held out.")
            every = max(2, round(1 / options.test_fraction))
            test_files = files[every - 1::every]
            train_files = [f for f in files if f not in set(test_files)]
            join = lambda fs: "\n".join(read_text(f) for f in fs)  # noqa: E731
            return ("" if evaluating else join(train_files)), join(test_files)
        text = read_text(path)
        if evaluating:
            return "", text
        cut = int(len(text) * (1 - options.test_fraction))
        if cut < options.seq_len + 1 or len(text) - cut < 2:
            raise DataError(f"{config.data}: {len(text)} characters is too short for seq_len {options.seq_len} "
                            f"with {options.test_fraction:.0%} held out; use a longer text or a smaller seq_len.")
        return text[:cut], text[cut:]

    def prepare(self, config: RunConfig, state: Optional[dict] = None, *, test_only: bool = False) -> Prepared:
        from rnnkit.data.files import DataError
        from rnnkit.data.vocab import Vocab

        options = self.options(config)
        train_text, test_text = self.texts(config, options, evaluating=test_only)
        vocab = Vocab.from_dict(state["vocab"]) if state else Vocab.build([list(train_text)])
        new_state = {"vocab": vocab.to_dict(), "seq_len": options.seq_len, "streams": options.streams,
                     "dynamic_lr": options.dynamic_lr, "dynamic_chunk": options.dynamic_chunk}
        model_config = self._model_config(config, options, len(vocab))
        test_ids = torch.tensor(vocab.encode(list(test_text)), dtype=torch.int64)
        test = Split((test_ids,), None)
        if state:
            return Prepared(test, None, test, model_config, new_state)
        ids = torch.tensor(vocab.encode(list(train_text)), dtype=torch.int64)
        n_val = int(round(config.validation * (len(ids) - 1)))  # the end of the training text
        if n_val < 10 * options.seq_len:  # too short to say anything: validate on nothing
            n_val = 0
        cut = len(ids) - n_val
        if cut - 1 < config.batch_size:
            raise DataError(f"{config.dataset or config.data}: {len(train_text):,} training characters are too few "
                            f"for batch_size {config.batch_size} streams; use a longer text or a smaller batch size.")
        train = Split((ids[: cut - 1],), ids[1:cut])  # (N,): one long stream, cut into rows by the loader
        validation = Split((ids[cut - 1: -1],), ids[cut:]) if n_val else None
        source = config.dataset or config.data
        summary = (f"{source}: {len(train_text):,} training ({n_val:,} of them validation) and {len(test_text):,} "
                   f"test characters, vocabulary of {len(vocab)}; {config.batch_size} streams in chunks of "
                   f"{options.seq_len}")
        return Prepared(train, validation, test, model_config, new_state, summary)

    def training_data(self, prepared, config):
        """The training text as ``batch_size`` contiguous streams with the state carried across
        chunks of ``seq_len``; validation the same way (on fewer rows when it is short)."""
        from rnnkit.tasks.base import TrainingData
        from rnnkit.train import StreamLoader

        length = prepared.state["seq_len"]
        train = StreamLoader(prepared.train.inputs[0], prepared.train.targets, config.batch_size, length)
        validation = None
        if prepared.validation is not None:
            v = prepared.validation
            rows = max(1, min(config.batch_size, len(v) // (10 * length)))
            validation = StreamLoader(v.inputs[0], v.targets, rows, length)
        return TrainingData(train, validation, tbptt=(length, length))

    def _model_config(self, config, options, vocab_size):
        from rnnkit.models import LanguageModelConfig

        return LanguageModelConfig(vocab_size=vocab_size, embedding_size=options.embedding_size,
                                   hidden_size=config.hidden, cell=config.cell, num_layers=config.layers,
                                   dropout=config.dropout).to_dict()

    def build_model(self, model_config) -> nn.Module:
        from rnnkit.models import LanguageModel, LanguageModelConfig

        return LanguageModel(LanguageModelConfig.from_dict(model_config))

    def loss(self, outputs, targets):
        # outputs: logits (B, T, V), the valid steps of a stream batch (N, V), or the model's (logits, state)
        if isinstance(outputs, (tuple, list)):
            outputs = outputs[0]
        return nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))

    def train_metrics(self):
        return {"accuracy": cross_entropy_accuracy}

    def evaluate(self, model, prepared, config):
        ids, state = prepared.test.inputs[0], prepared.state
        bits = bits_per_char(model, ids, streams=state["streams"], chunk=max(1000, state["seq_len"]))
        if not state.get("dynamic_lr"):
            return {"bits_per_char": bits}, {}
        dynamic = bits_per_char(model, ids, streams=state["streams"], chunk=state["dynamic_chunk"],
                                dynamic_lr=state["dynamic_lr"])
        return {"bits_per_char": dynamic, "bits_per_char_static": bits}, {}

    def diagnosis_batch(self, loaded, batch_size: int):
        ids = self.prepare(loaded.config, state=loaded.state).test.inputs[0]
        length = loaded.state["seq_len"]
        n = min(batch_size, (ids.numel() - 1) // length)
        if n < 1:
            raise ValueError(f"{loaded.dir}: the test text is shorter than one sequence of {length} characters.")
        x = ids[: n * length].view(n, length)  # (B, L)
        y = ids[1: n * length + 1].view(n, length)
        return (x,), y

    def generate(self, model, state, prompt: str, *, length: int, temperature: float, top_k=None, seed: int = 0):
        from rnnkit.data.vocab import Vocab

        if length < 1:
            raise ValueError(f"Received an invalid value for option `--length`: expected a positive integer, got {length}.")
        vocab = Vocab.from_dict(state["vocab"])
        start = prompt or ("\n" if "\n" in vocab else vocab.tokens[4])
        ids = torch.tensor([vocab.encode(list(start))], dtype=torch.int64)  # (1, P)
        generator = torch.Generator().manual_seed(seed)
        out = model.generate(ids, max_new_tokens=length, temperature=temperature, top_k=top_k, generator=generator)
        new = out[0, ids.shape[1]:].tolist()
        return "".join(vocab.tokens[i] if i > 3 else "" for i in new)


def bits_per_char(model, ids: torch.Tensor, *, streams: int, chunk: int, dynamic_lr: float = 0.0) -> float:
    """Mean -log2 p over ``ids`` (N,), predicting ids[1:] from what precedes them in each piece.

    ``dynamic_lr > 0`` is dynamic evaluation (Krause et al. 2018, "Dynamic Evaluation of Neural
    Sequence Models"): a copy of the model takes one SGD step (lr ``dynamic_lr``, gradient norm
    clipped to 1) on each chunk right after scoring it, so later text is predicted by a model
    adapted to the text before it, as an adaptive compressor (xz) adapts to what it compresses.
    Each character is scored before any step has seen it; ``model`` itself is not changed.
    """
    if ids.numel() < 2:
        raise ValueError("The test text is too short: expected at least 2 characters.")
    streams = max(1, min(streams, (ids.numel() - 1) // 2))
    length = (ids.numel() - 1) // streams
    x = ids[: streams * length].view(streams, length)  # (S, L)
    y = ids[1: streams * length + 1].view(streams, length)
    total, count, state = 0.0, 0, None
    optimizer = None
    if dynamic_lr > 0:
        model = copy.deepcopy(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=dynamic_lr)
    with torch.set_grad_enabled(optimizer is not None):
        for start in range(0, length, chunk):
            logits, state = model(x[:, start:start + chunk], state)  # (S, c, V)
            target = y[:, start:start + chunk].flatten()
            loss = nn.functional.cross_entropy(logits.flatten(0, 1), target, reduction="sum")
            total += loss.item()
            count += target.numel()
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                (loss / target.numel()).backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                state = [[type(s)(*(t.detach() for t in s)) for s in row] for row in state]
    return total / count / math.log(2)


TASK = LanguageModelTask()
