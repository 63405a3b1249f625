"""Tasks: one module per task = data + model + loss + metrics, used by ``rnnkit train``.

    classify   many-to-one: time series or texts -> a class          (accuracy)
    tag        many-to-many, equal length: a tag per token             (accuracy)
    translate  encoder-decoder with attention: text -> text            (exact_match)
    lm         character language model and generator                  (bits_per_char)
    forecast   sliding windows -> the next H steps of a series         (mape, mase, rmse)

``get_task(name)`` returns the task object; ``train_run`` (``rnnkit.tasks.run``) trains one
into a run directory and ``LoadedRun`` reads it back.
"""

from __future__ import annotations

import importlib

from rnnkit.errors import check_choice
from rnnkit.tasks.config import TASK_NAMES, RunConfig

_MODULES = {"classify": "classify", "tag": "tag", "translate": "translate", "lm": "lm", "forecast": "forecast"}


def get_task(name: str):
    check_choice(name, TASK_NAMES, "task")
    return importlib.import_module(f"rnnkit.tasks.{_MODULES[name]}").TASK


__all__ = ["get_task", "RunConfig", "TASK_NAMES"]
