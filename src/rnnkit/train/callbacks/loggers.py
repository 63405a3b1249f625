"""Callbacks that record the run: ``CSVLogger`` (one row per epoch) and ``TensorBoard`` (real
event files through ``torch.utils.tensorboard``)."""

from __future__ import annotations

import csv
import os

from rnnkit.train.callbacks.base import Callback


class CSVLogger(Callback):
    """Append one row per epoch to ``filename``: ``epoch`` (0-based, as Keras) then the logs in
    sorted order. ``append=False`` starts a new file, except when the trainer resumes from a
    checkpoint, when the rows of the epochs already done are kept."""

    def __init__(self, filename, separator=",", append=False):
        if not isinstance(filename, (str, os.PathLike)) or not os.fspath(filename):
            raise ValueError(f"Received an invalid value for argument `filename`: expected a non-empty path, got {filename!r}.")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"Received an invalid value for argument `separator`: expected one character, got {separator!r}.")
        self.filename, self.sep, self.append = os.fspath(filename), separator, bool(append)
        self.keys = None
        self._file = None
        self._writer = None

    def on_train_begin(self, trainer):
        resuming = getattr(trainer, "resumed_from", None) is not None
        keep = (self.append or resuming) and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        folder = os.path.dirname(os.path.abspath(self.filename))
        os.makedirs(folder, exist_ok=True)
        if keep:
            with open(self.filename, newline="") as handle:
                rows = list(csv.reader(handle, delimiter=self.sep))
            self.keys = rows[0][1:] if rows else None
            if resuming:  # drop rows of epochs after the checkpoint: they are being run again
                kept = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= trainer.epoch]
                if len(kept) != len(rows):
                    tmp = self.filename + ".tmp"
                    with open(tmp, "w", newline="") as handle:
                        csv.writer(handle, delimiter=self.sep).writerows(kept)
                    os.replace(tmp, self.filename)
        else:
            self.keys = None
        self._file = open(self.filename, "a" if keep else "w", newline="")
        self._writer = csv.writer(self._file, delimiter=self.sep)

    def on_epoch_end(self, trainer, epoch, logs):
        if self._writer is None:
            self.on_train_begin(trainer)
        if self.keys is None:
            self.keys = sorted(logs)
            self._writer.writerow(["epoch"] + self.keys)
        self._writer.writerow([epoch] + [logs.get(key, "NA") for key in self.keys])
        self._file.flush()

    def on_train_end(self, trainer):
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None


def _summary_writer_class():
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError("The TensorBoard callback needs the `tensorboard` package, which is not installed: "
                          "pip install tensorboard") from error
    return SummaryWriter


class TensorBoard(Callback):
    """Write scalars for TensorBoard under ``log_dir/train`` and ``log_dir/validation`` (as
    Keras): ``epoch_<name>`` at each epoch, ``batch_<name>`` every ``update_freq`` batches when
    ``update_freq`` is an integer, and ``epoch_learning_rate``. ``histogram_freq`` > 0 also
    writes weight histograms every that many epochs."""

    def __init__(self, log_dir="logs", histogram_freq=0, update_freq="epoch"):
        self._writer_class = _summary_writer_class()
        if update_freq != "epoch" and update_freq != "batch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(f"Received an invalid value for argument `update_freq`: expected 'epoch', 'batch' or a "
                             f"positive integer, got {update_freq!r}.")
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._train = self._val = None

    def on_train_begin(self, trainer):
        self._train = self._writer_class(os.path.join(self.log_dir, "train"))
        self._val = self._writer_class(os.path.join(self.log_dir, "validation"))

    def on_batch_end(self, trainer, step, logs):
        if self.update_freq != "epoch" and step % self.update_freq == 0 and self._train is not None:
            for key, value in logs.items():
                self._train.add_scalar(f"batch_{key}", value, step)

    def on_epoch_end(self, trainer, epoch, logs):
        if self._train is None:
            self.on_train_begin(trainer)
        for key, value in logs.items():
            if key.startswith("val_"):
                self._val.add_scalar(f"epoch_{key[4:]}", value, epoch)
            else:
                self._train.add_scalar(f"epoch_{key}", value, epoch)
        self._train.add_scalar("epoch_learning_rate", float(trainer.optimizer.param_groups[0]["lr"]), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for name, param in trainer.model.named_parameters():
                self._train.add_histogram(name, param.detach().cpu(), epoch)
        self._train.flush()
        self._val.flush()

    def on_train_end(self, trainer):
        for writer in (self._train, self._val):
            if writer is not None:
                writer.close()
        self._train = self._val = None
