"""``Trainer``: the training loop shared by the Keras-style front end and the CLI.

It knows nothing about any model: it calls ``model(*inputs)`` (or ``model(inputs)``), applies
the loss to ``(outputs, targets)``, backpropagates, checks and clips the gradients, steps the
optimizer, runs validation each epoch, calls the callbacks, and (with ``checkpoint_dir``)
writes a checkpoint after every epoch that ``resume=True`` continues from.

Example::

    loader = ArrayLoader(x, y, batch_size=32, shuffle=True, seed=0)
    trainer = Trainer(model, loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"], seed=0)
    history = trainer.fit(loader, epochs=10, validation_data=ArrayLoader(xv, yv, shuffle=False))
    history.history["val_loss"]
"""

from __future__ import annotations

import numbers

import torch

from rnnkit.errors import check_positive_int, describe
from rnnkit.train.batches import WeightedMeans, batch_size_of, call_model, detach, split_batch, to_device
from rnnkit.train.callbacks.base import CallbackList, History
from rnnkit.train.determinism import deterministic_mode, seed_everything
from rnnkit.train.gradients import NonFiniteError, clip_gradients, global_norm, grads_of
from rnnkit.train.inference import evaluate, predict
from rnnkit.train.losses import get_loss
from rnnkit.train.metrics import get_metrics
from rnnkit.train.optimizers import _check_clip, get_optimizer
from rnnkit.train.progress import ProgressBar
from rnnkit.train.schedules import Scheduler


class Trainer:
    """Train ``model`` with ``loss`` and ``optimizer``.

    Arguments (all but ``model`` keyword-friendly):
        loss: a name ("mse", "binary_crossentropy", "categorical_crossentropy",
            "sparse_categorical_crossentropy", short Keras names) or a callable
            ``(outputs, targets) -> scalar``. Name-based cross-entropies take probabilities, as
            Keras; use ``losses.SparseCategoricalCrossentropy(from_logits=True)`` for logits.
            For a model with several outputs give one loss per output (list); they are summed.
        optimizer: "adam", "sgd", "rmsprop", "adamw", a spec from ``rnnkit.train.optimizers``,
            a ``torch.optim.Optimizer``, or a callable ``params -> optimizer``.
        metrics: names ("accuracy", "mae"), callables, or a dict name -> callable.
        clip_value, clip_norm: gradient clipping by value and by global norm.
        scheduler: a torch LR scheduler, or a callable ``optimizer -> scheduler``; stepped once
            per epoch (``scheduler_interval="step"``: per batch). ``ReduceLROnPlateau`` is
            stepped with ``val_loss`` (or ``loss``).
        callbacks: ``Callback`` instances.
        seed: seeds Python, numpy and torch once, here. deterministic: deterministic kernels.
        device: where the model and batches go. tbptt: ``(k1, k2)`` truncated BPTT (see
            ``rnnkit.train.tbptt``). progress: True/1 (bar), 2 (a line per epoch), False/0.
        check_finite: stop on a non-finite loss or gradient (``on_nonfinite="raise"`` raises
            ``NonFiniteError``; ``"stop"`` ends the fit quietly with a warning in
            ``trainer.stop_reason``). keep_checkpoints: how many epoch checkpoints to keep.
    """

    def __init__(self, model, loss="mse", optimizer="adam", metrics=None, clip_value=None, clip_norm=None,
                 scheduler=None, callbacks=(), seed=None, deterministic=False, device=None, tbptt=None,
                 progress=True, *, scheduler_interval="epoch", check_finite=True, on_nonfinite="raise",
                 keep_checkpoints=2, clip_norm_per_tensor=False, progress_stream=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"Received an invalid value for argument `model`: expected a torch.nn.Module, got {describe(model)}.")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
                raise ValueError(f"Received an invalid value for argument `seed`: expected a non-negative integer or None, got {seed!r}.")
            seed_everything(int(seed))
        self.seed, self.deterministic = seed, bool(deterministic)
        self.device = torch.device(device) if device is not None else None
        self.model = model.to(self.device) if self.device is not None else model
        if isinstance(loss, (list, tuple)):
            self.loss_fn = [get_loss(item, f"loss[{i}]") for i, item in enumerate(loss)]
        else:
            self.loss_fn = get_loss(loss)
        first_loss = self.loss_fn[0] if isinstance(self.loss_fn, list) else self.loss_fn
        self.metrics = get_metrics(metrics, first_loss)
        self.optimizer, spec_value, spec_norm = get_optimizer(optimizer, self.model.parameters())
        self.clip_value = _check_clip(clip_value, "clip_value") if clip_value is not None else spec_value
        if clip_norm is not None:
            self.clip_norm, self.clip_norm_per_tensor = _check_clip(clip_norm, "clip_norm"), bool(clip_norm_per_tensor)
        else:  # Keras' clipnorm on an optimizer spec clips each tensor on its own
            self.clip_norm, self.clip_norm_per_tensor = spec_norm, spec_norm is not None
        self.scheduler = Scheduler.wrap(scheduler, self.optimizer, scheduler_interval)
        self.callbacks = list(callbacks)
        self.tbptt = None
        if tbptt is not None:
            from rnnkit.train.tbptt import TBPTT

            self.tbptt = TBPTT.from_argument(tbptt, self.model)
        if progress not in (True, False, 0, 1, 2):
            raise ValueError(f"Received an invalid value for argument `progress`: expected True, False, 0, 1 or 2, got {progress!r}.")
        self.progress = int(progress)
        self.progress_stream = progress_stream
        self.check_finite = bool(check_finite)
        if on_nonfinite not in ("raise", "stop"):
            raise ValueError(f"Received an invalid value for argument `on_nonfinite`: expected 'raise' or 'stop', got {on_nonfinite!r}.")
        self.on_nonfinite = on_nonfinite
        self.keep_checkpoints = check_positive_int(keep_checkpoints, "keep_checkpoints")
        self.epoch = 0
        self.global_step = 0
        self.stop_training = False
        self.stop_reason = None
        self.history = History()
        self._callbacks = CallbackList([self.history] + self.callbacks)

    # ---- one batch ----------------------------------------------------------------------------
    def compute_loss(self, outputs, targets) -> torch.Tensor:
        """The loss of one batch; several outputs: sum of per-output losses."""
        if isinstance(outputs, (tuple, list)):
            if not isinstance(targets, (tuple, list)) or len(targets) != len(outputs):
                raise ValueError(f"The model returned {len(outputs)} outputs: expected as many targets, got "
                                 f"{len(targets) if isinstance(targets, (tuple, list)) else 'one tensor'}.")
            losses = self.loss_fn if isinstance(self.loss_fn, list) else [self.loss_fn] * len(outputs)
            if len(losses) != len(outputs):
                raise ValueError(f"Received {len(losses)} losses for a model with {len(outputs)} outputs: expected one per output.")
            return sum(fn(o, t) for fn, o, t in zip(losses, outputs, targets))
        if isinstance(self.loss_fn, list):
            if len(self.loss_fn) != 1:
                raise ValueError(f"Received {len(self.loss_fn)} losses for a model with one output.")
            return self.loss_fn[0](outputs, targets)
        return self.loss_fn(outputs, targets)

    def compute_metrics(self, outputs, targets) -> dict:
        """Metric values of one batch (several outputs: the mean over outputs)."""
        values = {}
        for name, fn in self.metrics.items():
            if isinstance(outputs, (tuple, list)):
                values[name] = sum(float(fn(o, t)) for o, t in zip(outputs, targets)) / len(outputs)
            else:
                values[name] = float(fn(outputs, targets))
        return values

    def batch_logs(self, loss, inputs, outputs, targets):
        """(logs, weight) of one batch: the loss and metrics, weighted by its number of samples;
        with tbptt and lengths, metrics see valid steps only and the weight is their count."""
        if self.tbptt is not None:
            outputs, targets, weight = self.tbptt.valid_view(inputs, outputs, targets)
        else:
            weight = batch_size_of(targets)
        return {"loss": loss, **self.compute_metrics(outputs, targets)}, weight

    def _nonfinite(self, what, epoch_step):
        kept = ""
        if self._checkpoint_dir is not None:
            from rnnkit.train.checkpoint import list_checkpoints

            found = list_checkpoints(self._checkpoint_dir)
            kept = f"; the last good checkpoint is kept in {found[-1]}" if found else "; no checkpoint was written yet"
        message = (f"Non-finite {what} at epoch {self.epoch + 1}, step {epoch_step} (global step {self.global_step + 1}); "
                   f"training stopped, weights not updated by this step{kept}.")
        return NonFiniteError(message, epoch=self.epoch + 1, step=epoch_step, global_step=self.global_step + 1, what=what)

    def backward_and_step(self, loss, epoch_step, step_optimizer=True):
        """Check the loss, backpropagate, check and clip gradients, then step the optimizer."""
        if self.check_finite and not torch.isfinite(loss.detach()).all():
            raise self._nonfinite(f"loss ({float(loss.detach().float().reshape(-1)[0])})", epoch_step)
        loss.backward()
        if not step_optimizer:
            return
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        grads = grads_of(params)
        norm = global_norm(grads)
        self.last_grad_norm = float(norm)  # before clipping: what the exploding-gradient monitor needs
        if self.check_finite:
            if not torch.isfinite(norm):
                self.optimizer.zero_grad(set_to_none=True)
                raise self._nonfinite(f"gradient (global norm {float(norm)})", epoch_step)
        clip_gradients(grads, self.clip_value, self.clip_norm, self.clip_norm_per_tensor)
        self.optimizer.step()

    def train_batch(self, inputs, targets, epoch_step, reset=None):
        """One update on one batch (several with tbptt); returns (loss value, detached outputs).
        ``reset``: the (B,) mask of a stream batch; with tbptt its state carries over from the
        previous batch, zeroed in the rows where a new sequence starts."""
        if self.tbptt is not None:
            state = self.tbptt.initial_state(self._stream_state, reset)
            loss, outputs, final = self.tbptt.train_batch(self, inputs, targets, epoch_step, state)
            self._stream_state = detach(final) if reset is not None else None
            return loss, outputs
        self.optimizer.zero_grad(set_to_none=True)
        outputs = call_model(self.model, inputs)
        loss = self.compute_loss(outputs, targets)
        self.backward_and_step(loss, epoch_step)
        return float(loss.detach()), detach(outputs)

    def forward_eval(self, inputs):
        if self.tbptt is not None:
            return self.tbptt.predict_batch(self, inputs)[0]
        return call_model(self.model, inputs)

    # ---- epochs -------------------------------------------------------------------------------
    def _train_epoch(self, data, epochs):
        self.model.train()
        means = WeightedMeans()
        bar = ProgressBar(self.progress, self.progress_stream)
        bar.epoch_begin(self.epoch, epochs, len(data) if hasattr(data, "__len__") else None)
        done, self._stream_state = 0, None
        for done, batch in enumerate(data, start=1):
            inputs, targets = split_batch(batch)
            inputs, targets = to_device(inputs, self.device), to_device(targets, self.device)
            loss, outputs = self.train_batch(inputs, targets, done, getattr(batch, "reset", None))
            self.global_step += 1
            logs, weight = self.batch_logs(loss, inputs, outputs, targets)
            means.add(logs, weight)
            self.scheduler.after_batch()
            self._callbacks.on_batch_end(self, self.global_step, {**logs, "grad_norm": self.last_grad_norm})
            bar.update(done, means.means())
            if self.stop_training:
                break
        if done == 0:
            raise ValueError("Received empty `train_data`: expected at least one batch.")
        self._bar = bar
        return means.means(), done

    def fit(self, train_data, epochs: int = 1, validation_data=None, checkpoint_dir=None, resume=False):
        """Train for ``epochs`` epochs (in total, counting those already done when resuming);
        returns ``History``. ``checkpoint_dir`` writes a checkpoint after every epoch;
        ``resume=True`` continues from the newest one there (and starts fresh when there is none)."""
        epochs = check_positive_int(epochs, "epochs")
        if resume and checkpoint_dir is None:
            raise ValueError("Received `resume=True` without `checkpoint_dir`: expected the folder to resume from.")
        self._checkpoint_dir = checkpoint_dir
        self.stop_training, self.stop_reason, self.last_grad_norm = False, None, float("nan")
        self.history = History()
        self._callbacks = CallbackList([self.history] + self.callbacks)
        self.resumed_from, self._pending_callback_states = None, None
        start = 0
        if checkpoint_dir is not None:
            from rnnkit.train.resume import prepare_checkpoint_dir, resume_from

            prepare_checkpoint_dir(checkpoint_dir, resume)
            if resume:
                start = resume_from(self, checkpoint_dir, epochs)
        if start >= epochs or self.stop_training:
            return self.history
        with deterministic_mode(self.deterministic):
            self._callbacks.on_train_begin(self)
            if self._pending_callback_states is not None:  # resumed: callbacks continue where they were
                self._callbacks.load_state_dicts(self._pending_callback_states)
                self._pending_callback_states = None
            for epoch in range(start, epochs):
                self.epoch = epoch
                if hasattr(train_data, "set_epoch"):
                    train_data.set_epoch(epoch)
                self._callbacks.on_epoch_begin(self, epoch)
                try:
                    logs, done = self._train_epoch(train_data, epochs)
                except NonFiniteError as error:
                    if self.on_nonfinite == "raise":
                        raise
                    self.stop_reason, self.stop_training = str(error), True
                    break
                if validation_data is not None:
                    logs.update({f"val_{k}": v for k, v in self.evaluate(validation_data).items()})
                    self.model.train()
                self.scheduler.after_epoch(logs)
                self._callbacks.on_epoch_end(self, epoch, logs)
                self._bar.epoch_end(done, logs)
                if checkpoint_dir is not None:
                    from rnnkit.train.resume import save_training_checkpoint

                    save_training_checkpoint(self, checkpoint_dir, epoch)
                if self.stop_training:
                    break
            self._callbacks.on_train_end(self)
        return self.history

    # ---- checkpoints by hand ------------------------------------------------------------------
    def save_checkpoint(self, path) -> str:
        """Write the whole training state (as ``fit(checkpoint_dir=...)`` does) to folder ``path``."""
        from rnnkit.train.resume import save_trainer_state

        return save_trainer_state(self, path, self.epoch)

    def load_checkpoint(self, path) -> dict:
        """Restore model, optimizer, scheduler, RNG states, history and step counters from a
        checkpoint folder; returns its state (``epoch``, ``config``, ...)."""
        from rnnkit.train.resume import restore_trainer_state

        state = restore_trainer_state(self, path)
        self._callbacks.load_state_dicts(self._pending_callback_states or [])
        self._pending_callback_states = None
        return state

    # ---- evaluation and prediction ------------------------------------------------------------
    def evaluate(self, data) -> dict:
        """Mean loss and metrics over ``data`` (batches of (inputs, targets)), weighted by batch size."""
        return evaluate(self, data)

    def predict(self, data_or_inputs, batch_size: int = 32):
        """Model outputs for a tensor, numpy array or tuple of them (batched by ``batch_size``), or
        for an iterable of batches (an ``ArrayLoader`` without targets yields inputs; a pair
        ``(inputs, targets)`` from other loaders is split and its targets ignored)."""
        return predict(self, data_or_inputs, batch_size)

    _checkpoint_dir = None
    _bar = None
    _pending_callback_states = None
    _stream_state = None
    resumed_from = None
