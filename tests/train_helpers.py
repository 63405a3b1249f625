"""Small models and data shared by the tests/test_train_*.py files."""

import torch
from torch import nn

import rnnkit


class SequenceClassifier(nn.Module):
    """LSTM over (B, T, F) then Dense(1, sigmoid) on the last hidden state, as textbook program 1."""

    def __init__(self, features=3, hidden=16, dropout=0.0):
        super().__init__()
        self.lstm = rnnkit.LSTM(features, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return torch.sigmoid(self.head(self.drop(h[-1])))


class StatefulTagger(nn.Module):
    """Per-step outputs; follows the tbptt protocol: forward(x, lengths=None, state=None) -> (output, state)."""

    def __init__(self, features=3, hidden=8, outputs=2, cell="lstm"):
        super().__init__()
        layer = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU, "rnn": rnnkit.RNN}[cell]
        self.rnn = layer(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x, lengths=None, state=None):
        out, state = self.rnn(x, state, lengths=lengths)
        return self.head(out), state


class PlainTagger(StatefulTagger):
    """The same network returning only its output (for the non-tbptt path)."""

    def forward(self, x, lengths=None):
        out, _ = self.rnn(x, lengths=lengths)
        return self.head(out)


def sign_data(samples=256, steps=12, features=3, seed=0):
    """A learnable binary task: is the sum of the first feature over time positive?"""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(samples, steps, features, generator=g)
    y = (x[:, :, 0].sum(dim=1) > 0).float().unsqueeze(1)  # (N, 1)
    return x, y


def max_abs_diff(model_a, model_b):
    return max((a - b).abs().max().item() for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))


def resume_setup():
    """Model, loader and trainer arguments of the kill-and-resume test (dropout and shuffling on,
    so that the RNG states matter)."""
    from rnnkit.train import ArrayLoader

    torch.manual_seed(0)
    model = SequenceClassifier(features=3, hidden=6, dropout=0.3)
    x, y = sign_data(96, steps=6)
    loader = ArrayLoader(x, y, batch_size=16, shuffle=True)  # seed=None: drawn from Trainer(seed=...)
    from rnnkit.train import ReduceLROnPlateau

    kwargs = dict(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"], seed=11, deterministic=True,
                  progress=False, scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
                  callbacks=[ReduceLROnPlateau(monitor="accuracy", patience=1, factor=0.5)])
    return model, loader, kwargs
