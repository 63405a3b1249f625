"""Training: ``Trainer`` (fit/evaluate/predict), ``ArrayLoader``, losses, optimizers,
metrics, callbacks, safetensors checkpoints and truncated BPTT. Models know nothing of it."""

from rnnkit.train.callbacks import (CSVLogger, Callback, CallbackList, EarlyStopping, History, ModelCheckpoint,
                                    ReduceLROnPlateau, TensorBoard)
from rnnkit.train.checkpoint import CheckpointError, load_checkpoint, load_weights, save_checkpoint, save_weights
from rnnkit.train.gradients import NonFiniteError
from rnnkit.train.loader import ArrayLoader
from rnnkit.train.losses import (BinaryCrossentropy, Loss, CategoricalCrossentropy, MeanAbsoluteError, MeanSquaredError,
                                 SparseCategoricalCrossentropy, get_loss)
from rnnkit.train.metrics import Accuracy, get_metrics
from rnnkit.train.optimizers import SGD, Adam, AdamW, RMSprop, get_optimizer
from rnnkit.train.streams import StreamBatch, StreamLoader
from rnnkit.train.tbptt import TBPTT
from rnnkit.train.trainer import Trainer

__all__ = [
    "Trainer", "ArrayLoader", "Callback", "CallbackList", "History", "NonFiniteError",
    "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "CSVLogger", "TensorBoard",
    "CheckpointError", "save_checkpoint", "load_checkpoint", "save_weights", "load_weights",
    "Loss", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "MeanSquaredError",
    "MeanAbsoluteError", "get_loss", "Accuracy", "get_metrics", "Adam", "RMSprop", "SGD", "AdamW", "get_optimizer",
    "TBPTT", "StreamLoader", "StreamBatch",
]
