"""Training: ``Trainer`` (fit/evaluate/predict), ``ArrayLoader``, losses, optimizers,
metrics, callbacks, safetensors checkpoints and truncated BPTT. Models know nothing of it."""

from rnnkit.train.callbacks.base import Callback, CallbackList, History
from rnnkit.train.gradients import NonFiniteError
from rnnkit.train.loader import ArrayLoader
from rnnkit.train.trainer import Trainer

__all__ = ["Trainer", "ArrayLoader", "Callback", "CallbackList", "History", "NonFiniteError"]
