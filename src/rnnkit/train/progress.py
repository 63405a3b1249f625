"""A Keras-like progress bar with no dependency::

    Epoch 3/10
    25/32 [=======================>......] - 1.2s - loss: 0.4213 - accuracy: 0.8125

``mode``: 0 (silent), 1 (a bar redrawn in place, throttled to ~10 updates per second), or 2
(one line per epoch), as Keras' ``verbose``; 1 becomes 2 when the stream is not a terminal.
"""

from __future__ import annotations

import sys
import time


def format_logs(logs: dict) -> str:
    return " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())


class ProgressBar:
    def __init__(self, mode: int = 1, stream=None, width: int = 30, interval: float = 0.1):
        self.mode, self.width, self.interval = int(mode), width, interval
        self.stream = stream if stream is not None else sys.stdout
        if self.mode == 1 and not getattr(self.stream, "isatty", lambda: False)():
            self.mode = 2  # a log file or pipe: no carriage-return redraws, one line per epoch
        self._last_draw = 0.0
        self._start = 0.0
        self.total = None

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def epoch_begin(self, epoch: int, epochs: int, total):
        self.total, self._start, self._last_draw = total, time.perf_counter(), 0.0
        if self.mode:
            self._write(f"Epoch {epoch + 1}/{epochs}\n")

    def _bar(self, done: int) -> str:
        if not self.total:
            return f"{done}/?"
        digits = len(str(self.total))
        filled = int(self.width * done / self.total)
        arrow = ">" if done < self.total and filled < self.width else ""
        bar = "=" * max(filled - len(arrow), 0) + arrow + "." * (self.width - filled)
        return f"{done:>{digits}}/{self.total} [{bar}]"

    def update(self, done: int, logs: dict):
        if self.mode != 1:
            return
        now = time.perf_counter()
        if now - self._last_draw < self.interval or done == self.total:
            return  # the epoch's last line is drawn by epoch_end, with the validation logs
        self._last_draw = now
        self._write(f"\r{self._bar(done)} - {now - self._start:.1f}s - {format_logs(logs)}")

    def epoch_end(self, done: int, logs: dict):
        if not self.mode:
            return
        elapsed = time.perf_counter() - self._start
        prefix = "\r" if self.mode == 1 else ""
        total = self.total if self.total else done
        self.total = total
        self._write(f"{prefix}{self._bar(done)} - {elapsed:.1f}s - {format_logs(logs)}\n")
