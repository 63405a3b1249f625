r"""Streaming inference for the architectures: ``stream = model.stream(batch_size)``.

A model stream runs the architecture one time step at a time on top of the layer stream of
``rnnkit.layers.stream`` (same ``step``/``reset``/``get_state``/``set_state``/``state_dict``),
adding the model's input layer before the recurrent cells and its head after them:

    SequenceTagger      step(x_t)  -> logits_t (B, num_tags)       = model(x)[:, t]
    LanguageModel       step(tok_t) -> logits_t (B, vocab)         = model(tokens)[0][:, t]
    SequenceClassifier  step(x_t)  -> logits (B, num_classes)      = model(x[:, :t+1])
    Forecaster          step(y_t, exog_t) -> forecast (B, S, T)    = model(y[:, :t+1], ...)

``x_t`` is one step's token ids (B,) for a model built with ``vocab_size`` or features (B, I).
The classifier's summary is updated online: ``last`` is the current top-layer h_t, ``mean``
keeps a running sum and count, ``max`` a running maximum (these accumulators are part of the
state). The forecaster emits at every step the forecast from the whole history seen so far
(``S = horizon`` for ``direct``; ``S = 1``, the one-step forecast, for ``recursive``, whose
later steps slide a fixed window and cannot be carried as a state); ``future_exog`` (B, S, F)
goes with the step that forecasts from it. A model with a fixed ``lookback`` was trained on
windows of that length: its stream equals ``forward`` at step ``lookback`` and goes on past it.

``valid`` (B,) bool marks rows whose step is padding: they keep their state (and pooling
accumulators), as padded steps do in the whole-sequence call with ``lengths``; a tagger or
language model returns zero logits for them, a classifier the logits of the state so far.

Only unidirectional encoders stream (a backward direction needs the future): opening a stream
on a bidirectional model raises a ValueError. Streams run in inference mode (no dropout) and,
by default, without an autograd graph, so memory per step is constant.

Generation through a language-model stream (greedy here; ``sample_next`` for sampling)::

    stream = lm.stream(batch_size=1)
    logits = stream.feed(prompt)                     # (1, P) prompt -> logits after its last token
    for _ in range(20):
        token = logits.argmax(-1)                    # (1,)
        logits = stream.step(token)
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import NamedTuple, Optional

import torch

from rnnkit.errors import describe
from rnnkit.layers.stream import Stream, StreamSpec, _check_mask
from rnnkit.models.encoder import check_token_ids


class PoolState(NamedTuple):
    """Running pooling accumulators of a classifier stream: total (B, D), count (B, 1), peak (B, D)."""

    total: torch.Tensor
    count: torch.Tensor
    peak: torch.Tensor


def _check_features(x_t, batch: int, size: int, argument: str, dtype, device) -> torch.Tensor:
    if not isinstance(x_t, torch.Tensor) or not x_t.is_floating_point():
        raise TypeError(f"Received an invalid value for argument `{argument}`: expected a floating-point tensor of "
                        f"shape ({batch}, {size}), got {describe(x_t) if isinstance(x_t, torch.Tensor) else type(x_t).__name__}.")
    if x_t.dim() != 2 or x_t.shape[0] != batch:
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected shape ({batch}, {size}) "
                         f"(batch_size rows, one step), got {describe(x_t)}.")
    if x_t.shape[1] != size:
        raise ValueError(f"Received an invalid value for argument `{argument}`: expected feature size {size}, got {describe(x_t)}.")
    if x_t.dtype != dtype or x_t.device != device:
        raise TypeError(f"Received an invalid value for argument `{argument}`: expected dtype {dtype} on {device} "
                        f"(the model's), got {describe(x_t)}.")
    return x_t


class ModelStream(Stream):
    """A layer ``Stream`` with the architecture's input layer before it and its head after it.

    ``embedding``: an ``nn.Embedding`` (inputs are token ids (B,)) or None (features (B, I)).
    ``head``: applied to the top layer's h_t. ``zero_invalid``: rows with ``valid=False`` give zeros.
    """

    def __init__(self, model, cells, batch_size: int, *, embedding=None, head=None, grad: bool = False,
                 zero_invalid: bool = True, initial=None):
        self.model = model
        self.embedding = embedding
        self.model_head = head
        self.zero_invalid = zero_invalid
        self._initial = initial  # callable(batch) -> per-layer states, or None for zeros
        super().__init__(StreamSpec(cells=cells), batch_size, grad=grad)

    def _zero(self) -> list:
        if self._initial is None:
            return super()._zero()
        return [type(s)(*(t.detach().clone() for t in s)) for s in self._initial]

    def _context(self):
        return nullcontext() if self.grad else torch.no_grad()

    def embed(self, x_t, argument: str = "x_t") -> torch.Tensor:
        """One step's model input -> the features (B, I) the first cell reads."""
        if self.embedding is None:
            return _check_features(x_t, self.batch_size, self.input_size, argument, self.dtype, self.device)
        if not isinstance(x_t, torch.Tensor):
            raise TypeError(f"Received an invalid value for argument `{argument}`: expected token ids of shape "
                            f"({self.batch_size},), got {type(x_t).__name__}.")
        if x_t.dim() != 1 or x_t.shape[0] != self.batch_size:
            raise ValueError(f"Received an invalid value for argument `{argument}`: expected token ids of shape "
                             f"({self.batch_size},) (one per stream row), got {describe(x_t)}.")
        ids = check_token_ids(x_t, self.embedding.num_embeddings, argument)
        with self._context():
            return self.embedding(ids.to(self.device))  # (B, E)

    def step_hidden(self, x_t, valid=None, argument: str = "x_t") -> torch.Tensor:
        """Advance one step and return the top layer's h_t (B, H), zero at invalid rows."""
        features = self.embed(x_t, argument)
        return super().step(features, valid=valid)

    def step(self, x_t, *, valid=None) -> torch.Tensor:
        """One step's input -> the head's output for that step (B, C)."""
        h = self.step_hidden(x_t, valid)
        with self._context():
            out = h if self.model_head is None else self.model_head(h)
            if valid is not None and self.zero_invalid:
                out = out * _check_mask(valid, self.batch_size, "valid", self.device).to(out.dtype)
        return out

    def run(self, x: torch.Tensor, *, batch_first: bool = True) -> torch.Tensor:
        """Step through a whole chunk, batch-first by default as the models are: (B, T, ...) -> (B, T, C)."""
        if not isinstance(x, torch.Tensor) or x.dim() < 2:
            raise ValueError(f"Received an invalid value for argument `x`: expected a (B, T, ...) chunk, got "
                             f"{describe(x) if isinstance(x, torch.Tensor) else type(x).__name__}.")
        steps = x.unbind(1 if batch_first else 0)
        out = torch.stack([self.step(x_t) for x_t in steps], dim=1 if batch_first else 0)
        return out

    def feed(self, x: torch.Tensor) -> torch.Tensor:
        """Step through a (B, T, ...) chunk and return only the last step's output."""
        out = None
        for x_t in x.unbind(1):
            out = self.step(x_t)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={type(self.model).__name__}, batch_size={self.batch_size}, steps={self.steps})"


class ClassifierStream(ModelStream):
    """``step(x_t) -> logits (B, num_classes)`` of the sequence seen so far (see the module docstring)."""

    def __init__(self, model, cells, batch_size: int, *, grad: bool = False):
        self.pooling = model.config.pooling
        self.summary_size = model.encoder.output_size
        super().__init__(model, cells, batch_size, embedding=model.inputs.embedding, head=model.head, grad=grad,
                         zero_invalid=False)

    def _pool_zero(self) -> PoolState:
        b, d = self.batch_size, self.summary_size
        kw = dict(device=self.device, dtype=self.dtype)
        return PoolState(torch.zeros(b, d, **kw), torch.zeros(b, 1, **kw), torch.full((b, d), float("-inf"), **kw))

    def reset(self, mask=None) -> None:
        super().reset(mask)
        zero = self._pool_zero()
        if mask is None or not hasattr(self, "_pool"):
            self._pool = zero
            return
        chosen = _check_mask(mask, self.batch_size, "mask", self.device)
        self._pool = PoolState(*(torch.where(chosen, z, p) for p, z in zip(self._pool, zero)))

    def summary(self) -> torch.Tensor:
        """The summary z (B, D) the head classifies, from the state so far."""
        if self.pooling == "last":
            return self._state[-1].h
        if self.pooling == "mean":
            return self._pool.total / self._pool.count.clamp(min=1)
        return self._pool.peak

    def step(self, x_t, *, valid=None) -> torch.Tensor:
        h = self.step_hidden(x_t, valid)  # (B, D), zero at invalid rows
        with self._context():
            if self.pooling != "last":
                keep = torch.ones(self.batch_size, 1, dtype=torch.bool, device=self.device) if valid is None \
                    else _check_mask(valid, self.batch_size, "valid", self.device)
                total, count, peak = self._pool
                self._pool = PoolState(total + h * keep, count + keep.to(count.dtype),
                                       torch.where(keep, torch.maximum(peak, h), peak))
            return self.model_head(self.summary())

    # the pooling accumulators are state too: they travel with get_state()/state_dict()
    def get_state(self) -> list:
        states = super().get_state()
        return states if self.pooling == "last" else states + [PoolState(*(t.clone() for t in self._pool))]

    def set_state(self, state) -> None:
        if self.pooling == "last":
            return super().set_state(state)
        if not isinstance(state, (list, tuple)) or len(state) != len(self.cells) + 1:
            got = len(state) if isinstance(state, (list, tuple)) else type(state).__name__
            raise ValueError(f"Received an invalid value for argument `state`: expected a list with one state per layer "
                             f"({len(self.cells)}) and the pooling state, got {got}.")
        super().set_state(list(state[:-1]))
        from rnnkit.layers.checks import check_state

        pool = check_state(PoolState(*state[-1]), self._pool_zero(), argument=f"state[{len(self.cells)}]")
        self._pool = PoolState(*(t.detach().clone() for t in pool))

    state = property(get_state, set_state)

    def state_dict(self) -> dict:
        out = super().state_dict()
        if self.pooling != "last":
            out.update({f"pool.{n}": t.detach().cpu().clone() for n, t in zip(PoolState._fields, self._pool)})
        return out

    def load_state_dict(self, tensors: dict) -> None:
        if self.pooling == "last" or not isinstance(tensors, dict):
            return super().load_state_dict(tensors)
        tensors = dict(tensors)
        pool = [tensors.pop(f"pool.{n}", None) for n in PoolState._fields]
        if any(t is None for t in pool):
            raise ValueError(f"Received an invalid value for argument `tensors`: expected the pooling keys "
                             f"{[f'pool.{n}' for n in PoolState._fields]} too, got {sorted(tensors)}.")
        zero = self._zero()
        expected = {f"layer{l}.{n}" for l, s in enumerate(zero) for n in s._fields}
        if set(tensors) != expected:
            raise ValueError(f"Received an invalid value for argument `tensors`: expected keys {sorted(expected)} and "
                             f"the pooling keys, got {sorted(tensors)}.")
        layers = [type(s)(*(tensors[f"layer{l}.{n}"].to(self.device) for n in s._fields)) for l, s in enumerate(zero)]
        self.set_state(layers + [PoolState(*(t.to(self.device) for t in pool))])


class ForecasterStream(ModelStream):
    """``step(y_t (B, T), exog_t (B, E) = None, *, future_exog (B, S, F) = None) -> (B, S, T)``."""

    def __init__(self, model, cells, batch_size: int, *, grad: bool = False):
        c = model.config
        self.horizon_steps = c.horizon if c.strategy == "direct" else 1
        super().__init__(model, cells, batch_size, head=model.head, grad=grad, zero_invalid=False)

    def step(self, y_t, exog_t=None, *, future_exog=None, valid=None) -> torch.Tensor:
        c, b, s = self.model.config, self.batch_size, self.horizon_steps
        y_t = _check_features(y_t, b, c.target_size, "y_t", self.dtype, self.device)
        if c.exog_size == 0:
            if exog_t is not None:
                raise ValueError(f"Received an invalid value for argument `exog_t`: the model was configured without "
                                 f"window exogenous features (exog_size=0), got {describe(exog_t)}.")
            row = y_t
        else:
            row = torch.cat([y_t, _check_features(exog_t, b, c.exog_size, "exog_t", self.dtype, self.device)], dim=-1)
        if c.future_exog_size == 0 and future_exog is not None:
            raise ValueError(f"Received an invalid value for argument `future_exog`: the model was configured without "
                             f"future exogenous features (future_exog_size=0), got {describe(future_exog)}.")
        if c.future_exog_size and (not isinstance(future_exog, torch.Tensor) or not future_exog.is_floating_point()
                                   or tuple(future_exog.shape) != (b, s, c.future_exog_size)):
            raise ValueError(f"Received an invalid value for argument `future_exog`: expected a float tensor of shape "
                             f"({b}, {s}, {c.future_exog_size}) (the features of the steps this forecast covers), got "
                             f"{describe(future_exog) if isinstance(future_exog, torch.Tensor) else type(future_exog).__name__}.")
        super().step_hidden(row, valid, "y_t")
        with self._context():
            features = self._state[-1].h  # (B, H), the top layer's state so far
            if future_exog is not None:
                features = torch.cat([features, future_exog.to(self.dtype).flatten(1)], dim=-1)
            return self.model_head(features).view(b, s, c.target_size)  # (B, S, T)

    def run(self, y: torch.Tensor, exog=None, *, batch_first: bool = True) -> torch.Tensor:
        """Forecasts after every step of a (B, L, T) chunk: (B, L, S, T) (no future exogenous features)."""
        if not batch_first:
            y, exog = y.transpose(0, 1), None if exog is None else exog.transpose(0, 1)
        outs = [self.step(y[:, t], None if exog is None else exog[:, t]) for t in range(y.shape[1])]
        return torch.stack(outs, dim=1)


def open_model_stream(model, batch_size: int, *, grad: bool = False, condition: Optional[torch.Tensor] = None):
    """The stream of an architecture (what ``model.stream(batch_size)`` returns)."""
    from rnnkit.models.classifier import SequenceClassifier
    from rnnkit.models.forecaster import Forecaster
    from rnnkit.models.language_model import LanguageModel
    from rnnkit.models.tagger import SequenceTagger

    if not isinstance(model, (SequenceClassifier, Forecaster, SequenceTagger, LanguageModel)):
        raise TypeError(f"Received an invalid value for argument `model`: expected a SequenceTagger, LanguageModel, "
                        f"SequenceClassifier or Forecaster, got {type(model).__name__}.")
    cells = model.encoder.rnn.stream_spec().cells  # ValueError for a bidirectional encoder
    if condition is not None and not isinstance(model, LanguageModel):
        raise ValueError(f"Received an invalid value for argument `condition`: only a LanguageModel stream takes a "
                         f"conditioning vector, got one for {type(model).__name__}.")
    if isinstance(model, SequenceClassifier):
        if model.config.conv or model.config.patch > 1:
            raise ValueError(f"Received an invalid value for argument `model`: a classifier with conv=True (its "
                             f"convolutions read steps ahead) or patch > 1 (got patch={model.config.patch}) cannot "
                             f"run one step at a time; call the model on the whole sequence instead.")
        return ClassifierStream(model, cells, batch_size, grad=grad)
    if isinstance(model, Forecaster):
        if model.config.highway:
            raise ValueError(f"Received an invalid value for argument `model`: a forecaster with highway="
                             f"{model.config.highway} reads its last {model.config.highway} values besides the recurrent "
                             f"state, which a stream does not keep; call the model on windows instead.")
        return ForecasterStream(model, cells, batch_size, grad=grad)
    if isinstance(model, SequenceTagger):
        return ModelStream(model, cells, batch_size, embedding=model.inputs.embedding, head=model.head, grad=grad)
    initial = None  # a LanguageModel
    if condition is not None:
        if isinstance(condition, torch.Tensor) and condition.dim() == 2 and condition.shape[0] != batch_size:
            raise ValueError(f"Received an invalid value for argument `condition`: expected {batch_size} rows "
                             f"(batch_size), got {describe(condition)}.")
        with torch.no_grad():
            initial = [row[0] for row in model.initial_state(condition)]
    return ModelStream(model, cells, batch_size, embedding=model.embedding, head=model.head, grad=grad, initial=initial)
