"""Run by tests/test_train_checkpoint.py in a subprocess that the test kills with SIGKILL:
train a small model deterministically with a checkpoint after every epoch, slowly enough
(a short sleep per batch, which changes no number) to be killed in the middle."""

import sys
import time

import torch

from rnnkit.train import Callback, Trainer
from train_helpers import resume_setup


class Slow(Callback):
    def __init__(self, seconds):
        self.seconds = seconds

    def on_batch_end(self, trainer, step, logs):
        time.sleep(self.seconds)


if __name__ == "__main__":
    checkpoint_dir, epochs, sleep = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(1)
    model, loader, kwargs = resume_setup()
    kwargs["callbacks"] = kwargs["callbacks"] + [Slow(sleep)]
    trainer = Trainer(model, **kwargs)
    trainer.fit(loader, epochs=epochs, checkpoint_dir=checkpoint_dir)
    print("finished", flush=True)
