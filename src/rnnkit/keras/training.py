"""``compile``/``fit``/``evaluate``/``predict`` for Keras-style models, on ``rnnkit.train.Trainer``.

The model knows nothing about training: ``fit`` turns arrays into an ``ArrayLoader``, Keras
losses/metrics/optimizers into the callables and torch optimizer the Trainer takes, and the
Trainer's ``History`` into the Keras one (``history.history['loss']``, ``history.epoch``).
"""

from __future__ import annotations

import numpy as np
import torch

from rnnkit.keras import losses as losses_mod
from rnnkit.keras import metrics as metrics_mod
from rnnkit.keras import optimizers as optimizers_mod


def _trainer_api():
    try:
        from rnnkit.train import ArrayLoader, Trainer
    except ImportError as error:  # the trainer lives on its own branch until it is merged
        raise RuntimeError(
            "fit/evaluate need rnnkit.train.Trainer, which this installation does not have yet."
        ) from error
    return Trainer, ArrayLoader


def _as_arrays(value, argument):
    """A tensor, or a list of tensors for several inputs/outputs; float64 -> float32."""
    if value is None:
        raise ValueError(f"Received no value for argument `{argument}`.")
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (np.ndarray, torch.Tensor)):
        return [_as_arrays(v, argument) for v in value]
    tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.ascontiguousarray(value))
    return tensor.float() if tensor.dtype == torch.float64 else tensor


def _count(value) -> int:
    return int(value[0].shape[0]) if isinstance(value, list) else int(value.shape[0])


def _take(value, index):
    return [v[index] for v in value] if isinstance(value, list) else value[index]


def _group(value):
    return tuple(value) if isinstance(value, list) else value


class TrainingMixin:
    """Training methods shared by Sequential, functional and subclassed models."""

    def _init_training(self):
        self.__dict__.update(compiled=False, loss=None, _metric_fns={}, _keras_optimizer=None,
                             _torch_optimizer=None, history=None, stop_training=False)

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, run_eagerly=None, **kwargs):
        """Set the optimizer (name or object), the loss (name, object or callable; a list for several
        outputs) and metrics (names such as 'accuracy', 'mae' or callables)."""
        if loss is None:
            raise ValueError(f"Model {self.name!r}: compile() needs a loss, e.g. loss='mse'.")
        if loss_weights is not None:
            raise NotImplementedError("compile(loss_weights=...) is not supported yet; every output's loss has weight 1.")
        optimizer = optimizers_mod.get(optimizer)
        loss_fns = [losses_mod.get(l) for l in loss] if isinstance(loss, (list, tuple)) else losses_mod.get(loss)
        first = loss_fns[0] if isinstance(loss_fns, list) else loss_fns
        metric_fns = dict(metrics_mod.get(m, first) for m in (metrics or []))
        self.__dict__.update(compiled=True, loss=loss_fns, _metric_fns=metric_fns, _keras_optimizer=optimizer,
                             _torch_optimizer=None)

    @property
    def optimizer(self):
        return self._torch_optimizer if self._torch_optimizer is not None else self._keras_optimizer

    def _require_compiled(self, method):
        if not self.compiled:
            raise RuntimeError(f"You must call compile() on model {self.name!r} before {method}().")

    def _ensure_built(self, x):
        """Build lazily-built layers with one sample so that the optimizer sees every weight."""
        from rnnkit.keras.engine import Layer

        if all(m.built for m in self.modules() if isinstance(m, Layer) and m is not self):
            return
        was = self.training
        self.eval()
        with torch.no_grad():
            sample = _take(x, slice(0, 1))
            self(*sample) if isinstance(sample, list) else self(sample)
        self.train(was)

    def _build_optimizer(self):
        if self._torch_optimizer is None:
            opt = self._keras_optimizer
            torch_opt = opt.build(self.parameters()) if isinstance(opt, optimizers_mod.Optimizer) else opt
            self.__dict__["_torch_optimizer"] = torch_opt
        return self._torch_optimizer

    def _trainer(self, callbacks=(), verbose=1, params=None, tbptt=None):
        Trainer, _ = _trainer_api()
        from rnnkit.keras.callbacks import adapt

        progress = 1 if verbose == "auto" else int(verbose)
        model = self
        if tbptt is not None:  # the trainer carries the recurrent layers' states between windows
            from rnnkit.keras.tbptt import StateCarrier

            model = StateCarrier(self)
        return Trainer(model, loss=self.loss, optimizer=self._build_optimizer(), metrics=dict(self._metric_fns),
                       callbacks=adapt(callbacks, self, params or {}), progress=progress, tbptt=tbptt)

    def _check_xy(self, x, y):
        n_x, n_y = _count(x), _count(y)
        if n_x != n_y:
            raise ValueError(
                f"Data cardinality is ambiguous: `x` and `y` must hold the same number of samples, got "
                f"x sizes: {[int(v.shape[0]) for v in x] if isinstance(x, list) else n_x}, "
                f"y sizes: {[int(v.shape[0]) for v in y] if isinstance(y, list) else n_y}."
            )
        for name, value in (("x", x), ("y", y)):
            if isinstance(value, list) and len({int(v.shape[0]) for v in value}) > 1:
                raise ValueError(f"All arrays in `{name}` must hold the same number of samples, got "
                                 f"{[int(v.shape[0]) for v in value]}.")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None, tbptt=None, **kwargs):
        """Train on arrays ``x``, ``y``; returns a ``History`` (``history.history['loss']``).

        ``tbptt=(k1, k2)`` (rnnkit's extra): truncated BPTT, k1 steps per update and gradients
        through the last k2 of them, the recurrent states carried between windows (see
        ``rnnkit.keras.tbptt`` and ``rnnkit.train.tbptt``)."""
        self._require_compiled("fit")
        if kwargs:
            raise TypeError(f"Unrecognized keyword arguments passed to fit: {sorted(kwargs)}")
        if initial_epoch or steps_per_epoch is not None:
            raise NotImplementedError("fit(initial_epoch=..., steps_per_epoch=...) is not supported; use "
                                      "rnnkit.train.Trainer(...).fit(..., checkpoint_dir=..., resume=True) to continue a run.")
        _, ArrayLoader = _trainer_api()
        x, y = _as_arrays(x, "x"), _as_arrays(y, "y")
        self._check_xy(x, y)
        batch_size = 32 if batch_size is None else batch_size
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"Received an invalid value for argument `validation_split`: expected a number in [0, 1), "
                             f"got {validation_split!r}.")
        val = None
        if validation_data is not None:
            vx, vy = _as_arrays(validation_data[0], "validation_data"), _as_arrays(validation_data[1], "validation_data")
            self._check_xy(vx, vy)
            val = ArrayLoader(_group(vx), _group(vy), batch_size=batch_size, shuffle=False)
        elif validation_split > 0:
            n = _count(x)
            split = int(n * (1.0 - validation_split))  # Keras holds out the last samples, before shuffling
            if split == 0 or split == n:
                raise ValueError(f"validation_split={validation_split} leaves an empty training or validation set "
                                 f"for {n} samples.")
            x, vx = _take(x, slice(0, split)), _take(x, slice(split, None))
            y, vy = _take(y, slice(0, split)), _take(y, slice(split, None))
            val = ArrayLoader(_group(vx), _group(vy), batch_size=batch_size, shuffle=False)
        self._ensure_built(x)
        loader = ArrayLoader(_group(x), _group(y), batch_size=batch_size, shuffle=bool(shuffle))
        trainer = self._trainer(callbacks, verbose, {"epochs": epochs, "verbose": verbose, "steps": len(loader)}, tbptt)
        self.__dict__["_last_trainer"] = trainer
        history = trainer.fit(loader, epochs=epochs, validation_data=val)
        history.model = self
        self.__dict__["history"] = history
        return history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, **kwargs):
        """Mean loss (and metrics) over ``x``, ``y``: a float, a list [loss, *metrics] or a dict."""
        self._require_compiled("evaluate")
        _, ArrayLoader = _trainer_api()
        x, y = _as_arrays(x, "x"), _as_arrays(y, "y")
        self._check_xy(x, y)
        self._ensure_built(x)
        loader = ArrayLoader(_group(x), _group(y), batch_size=32 if batch_size is None else batch_size, shuffle=False)
        logs = self._trainer(verbose=0).evaluate(loader)
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[name] for name in self._metric_fns]
        return values[0] if len(values) == 1 else values

    @torch.no_grad()
    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """Outputs for ``x`` as numpy arrays (a list for several outputs), in inference mode."""
        x = _as_arrays(x, "x")
        batch_size = 32 if batch_size is None else batch_size
        was = self.training
        self.eval()
        chunks = []
        try:
            for start in range(0, _count(x), batch_size):
                part = _take(x, slice(start, start + batch_size))
                out = self(*part) if isinstance(part, list) else self(part)
                chunks.append(out)
        finally:
            self.train(was)
        if isinstance(chunks[0], (list, tuple)):
            return [torch.cat([c[i] for c in chunks]).numpy() for i in range(len(chunks[0]))]
        return torch.cat(chunks).numpy()

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=_count(_as_arrays(x, "x")))

    def summary(self, line_length=None, print_fn=None, **kwargs):
        from rnnkit.keras.summary import summary_text

        text = summary_text(self)
        (print_fn or print)(text)

    def save(self, filepath, **kwargs):
        from rnnkit.keras.saving import save_model

        save_model(self, filepath)

    def save_weights(self, filepath, **kwargs):
        from rnnkit.keras.saving import save_weights

        save_weights(self, filepath)

    def load_weights(self, filepath, **kwargs):
        from rnnkit.keras.saving import load_weights

        load_weights(self, filepath)
