"""What the Trainer costs, and what truncated BPTT saves.

1. Time per epoch of ``Trainer.fit`` against the same training written as a plain loop (same
   model, data, optimizer, batch order), measured alternately in one process; the ratio is the
   trainer's overhead (metrics, finiteness checks, callbacks, progress off).
2. Peak memory of one update on a long sequence: full BPTT (plain, and with activation
   recomputation in pieces of 100 steps: the same gradients) against ``tbptt=(k, k)``, each in a
   fresh subprocess, as the growth of the peak resident set size (ru_maxrss) over the baseline
   after setup.

Writes ``benchmarks/results/train_overhead.json`` and ``benchmarks/train_overhead.md``.
Run: ``PYTHONPATH=src python benchmarks/train_overhead.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class Classifier(nn.Module):
    def __init__(self, features, hidden):
        super().__init__()
        import rnnkit

        self.lstm = rnnkit.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return torch.sigmoid(self.head(h[-1]))


def overhead(samples, steps, hidden, repeats):
    from rnnkit.train import ArrayLoader, Trainer

    g = torch.Generator().manual_seed(0)
    x = torch.randn(samples, steps, 8, generator=g)
    y = (x[:, :, 0].sum(1) > 0).float().unsqueeze(1)
    loader = ArrayLoader(x, y, batch_size=64, seed=0)
    torch.manual_seed(0)
    model_a, model_b = Classifier(8, hidden), Classifier(8, hidden)
    trainer = Trainer(model_a, loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"], progress=False)
    optimizer = torch.optim.Adam(model_b.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.BCELoss()

    def plain_epoch():
        model_b.train()
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = loss_fn(model_b(inputs), targets)
            loss.backward()
            optimizer.step()

    times = {"trainer": [], "plain": []}
    trainer.fit(loader, epochs=1)  # warm-up both
    plain_epoch()
    for _ in range(repeats):
        start = time.perf_counter()
        trainer.fit(loader, epochs=1)
        times["trainer"].append(time.perf_counter() - start)
        start = time.perf_counter()
        plain_epoch()
        times["plain"].append(time.perf_counter() - start)
    trainer_s, plain_s = statistics.median(times["trainer"]), statistics.median(times["plain"])
    return {"samples": samples, "steps": steps, "hidden": hidden, "batch_size": 64, "repeats": repeats,
            "trainer_s_per_epoch": trainer_s, "plain_s_per_epoch": plain_s, "ratio": trainer_s / plain_s}


CHILD = r"""
import json, resource, sys, torch
from torch import nn
sys.path.insert(0, {bench!r})
from train_overhead import memory_model
from rnnkit.train import TBPTT, ArrayLoader, Trainer
torch.set_num_threads(1)
steps, hidden, k, recompute = {steps}, {hidden}, {k}, {recompute}
model = memory_model(hidden)
class Plain(nn.Module):  # full BPTT: the output alone
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
    def forward(self, x):
        return self.inner(x)[0]
x, y = torch.randn(16, steps, 4), torch.randn(16, steps, 1)
trainer = Trainer(Plain(model) if k == 0 else model, loss="mse", optimizer="sgd", progress=False,
                  tbptt=None if k == 0 else TBPTT(k, k, recompute=recompute))
trainer.fit(ArrayLoader(x[:, :5], y[:, :5], batch_size=16), epochs=1)  # warm-up: lazy imports and allocations
loader = ArrayLoader(x, y, batch_size=16, shuffle=False)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
trainer.fit(loader, epochs=1)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"growth_mib": (peak - base) / 1024, "loss": trainer.history.history["loss"][0]}}))
"""


def memory_model(hidden):
    import rnnkit

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnnkit.LSTM(4, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x, state=None):
            out, state = self.rnn(x, state)
            return self.head(out), state

    torch.manual_seed(0)
    return Tagger()


def memory(steps, hidden, k, recompute=None):
    code = CHILD.format(bench=HERE, steps=steps, hidden=hidden, k=k, recompute=recompute)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(HERE, "..", "src"), os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update({"steps": steps, "hidden": hidden, "tbptt": None if k == 0 else [k, k], "recompute": recompute,
                   "wall_s": time.perf_counter() - start})
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps_long = 1000 if args.quick else 4000
    report = {
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": 1,
                    "processor": platform.processor() or platform.machine(), "load_avg_1m": os.getloadavg()[0]},
        "overhead": overhead(samples=512 if args.quick else 2048, steps=30, hidden=32, repeats=3 if args.quick else 5),
        "memory": [memory(steps_long, 64, 0), memory(steps_long, 64, steps_long, recompute=100),
                   memory(steps_long, 64, 100), memory(steps_long, 64, 20)],
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "train_overhead.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    o = report["overhead"]
    lines = ["# Trainer overhead and truncated-BPTT memory", "",
             f"Measured by `benchmarks/train_overhead.py` on {report['machine']['processor']}, torch "
             f"{report['machine']['torch']}, 1 thread, 1-minute load average {report['machine']['load_avg_1m']:.1f} "
             f"(a shared machine: read ratios, not absolute times).", "",
             "## Trainer.fit against a plain loop (same model, data, optimizer, batch order)", "",
             "| samples | steps | hidden | Trainer s/epoch | plain loop s/epoch | ratio |", "|---|---|---|---|---|---|",
             f"| {o['samples']} | {o['steps']} | {o['hidden']} | {o['trainer_s_per_epoch']:.3f} | "
             f"{o['plain_s_per_epoch']:.3f} | {o['ratio']:.3f} |", "",
             "## Peak memory growth of one update on a long sequence (LSTM 64, batch 16)", "",
             "| steps | training | peak RSS growth (MiB) | loss | wall s |", "|---|---|---|---|---|"]
    for m in report["memory"]:
        mode = "full BPTT" if m["tbptt"] is None else f"tbptt={tuple(m['tbptt'])}"
        if m.get("recompute"):
            mode = f"full BPTT as tbptt=TBPTT({m['steps']}, {m['steps']}, recompute={m['recompute']})"
        lines.append(f"| {m['steps']} | {mode} | {m['growth_mib']:.1f} | {m['loss']:.4f} | {m['wall_s']:.1f} |")
    with open(os.path.join(HERE, "train_overhead.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
