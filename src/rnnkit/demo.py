"""``make demo`` for now: an LSTM learns the adding problem (T = 50).

Prints the test MSE beside the 1/6 of a model that always predicts the mean.
"""

from __future__ import annotations

import time

import torch
from torch import nn

import rnnkit
from rnnkit.data.synthetic import ADDING_BASELINE_MSE, adding_problem


class AddingModel(nn.Module):
    def __init__(self, hidden_size: int = 64):
        super().__init__()
        self.rnn = rnnkit.LSTM(2, hidden_size, batch_first=True, init="keras")
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return self.head(h[-1])  # (B, 1)


def main(steps: int = 50, iterations: int = 1500, batch_size: int = 64, seed: int = 0) -> float:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    x_test, y_test = adding_problem(2000, steps, generator=generator)
    model = AddingModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    start = time.perf_counter()
    for it in range(1, iterations + 1):
        x, y = adding_problem(batch_size, steps, generator=generator)
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if it % 250 == 0:
            print(f"iteration {it:5d}  train MSE {loss.item():.4f}  ({time.perf_counter() - start:.0f}s)", flush=True)
    with torch.no_grad():
        mse = nn.functional.mse_loss(model(x_test), y_test).item()
    print(f"adding problem, T={steps}: test MSE {mse:.4f}  (predict-the-mean baseline {ADDING_BASELINE_MSE:.4f})")
    return mse


if __name__ == "__main__":
    main()
