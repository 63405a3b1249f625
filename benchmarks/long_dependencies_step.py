"""Time of one training step of the long-dependency benchmark's models, per engine and backend.

One step = a fresh batch, forward, loss, backward, clipping, Adam: exactly the loop of
``long_dependencies.py``. Measured as process CPU time on one thread, after 3 warm-up steps,
the mean over ``--steps`` steps; all rows in one process, side by side, so their ratios can be
compared even on a shared machine. Also times the data generation per batch and records which
backend ``rnnkit.explain`` says ran the training step.

    PYTHONPATH=src python benchmarks/long_dependencies_step.py --out benchmarks/results/long_dependencies_step.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import long_dependencies as ld  # noqa: E402

CASES = [("adding", 400, "lstm"), ("adding", 400, "gru"), ("copy", 200, "lstm"), ("copy", 200, "gru")]
ENGINES = [("torch", None), ("rnnkit", "auto"), ("rnnkit", "fused"), ("rnnkit", "vendor")]


def step_seconds(task, steps, cell, engine, backend, repeats, batch=32):
    torch.manual_seed(0)
    net = ld.Net(task, cell, ld.HIDDEN[(task, cell)], engine)
    if backend is not None:
        net.rnn.backend = backend
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    batches = ld.Batches(task, steps, batch, 1, torch.device("cpu"))

    def one():
        x, y = batches.next()
        loss = ld.task_loss(task, net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), ld.CLIP_NORM)
        optimizer.step()

    for _ in range(3):
        one()
    start = time.process_time()
    for _ in range(repeats):
        one()
    return (time.process_time() - start) / repeats, ld.train_backend(net)


def data_seconds(task, steps, batch=32, repeats=5):
    generator = torch.Generator().manual_seed(0)
    start = time.process_time()
    for _ in range(repeats):
        ld.sample(task, steps, 32 * batch, generator)  # as Batches draws them: 32 batches at once
    return (time.process_time() - start) / repeats / 32


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for task, steps, cell in CASES:
        for engine, backend in ENGINES:
            seconds, ran = step_seconds(task, steps, cell, engine, backend, args.steps)
            rows.append({"task": task, "T": steps, "cell": cell, "engine": engine, "backend": backend,
                         "ms_per_step": 1000 * seconds, "train_backend": ran})
            print(f"{task} T={steps} {cell} {engine}/{backend}: {1000 * seconds:.1f} ms/step ({ran[:60]})", flush=True)
    data = {task: 1000 * data_seconds(task, steps) for task, steps in (("adding", 400), ("copy", 200))}
    print(f"data generation, ms per batch of 32: {data}")
    Path(args.out).write_text(json.dumps({"torch": torch.__version__, "threads": 1, "batch": 32, "rows": rows,
                                          "data_ms_per_batch": data}, indent=1))
    print("| task | T | cell | engine / backend | ms per step | ran |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['T']} | {r['cell']} | {r['engine']}{' / ' + r['backend'] if r['backend'] else ''} | "
              f"{r['ms_per_step']:.1f} | {r['train_backend'].split(' (')[0]} |")


if __name__ == "__main__":
    main()
