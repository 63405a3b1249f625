"""Interleaved A/B timing of one layer call in two source trees, at more points than
``call_overhead.py``: B1 H64 and B1 H256 training and inference, B16 H64 training, for every
configuration of ``call_overhead.VARIANTS``.

Each (point, tree) runs in its own child process pinned to one CPU (``taskset -c CPU``), one
thread; the child warms up 30 calls and times ``calls`` calls one by one (training: gradients
set to None, forward, ``out.sum().backward()``; inference: forward under ``torch.no_grad()``)
and prints min, 10th percentile and median. Rounds alternate which tree runs first. Each child
appends one JSON line to ``--out``.

Run: ``python benchmarks/call_overhead_ab.py --before <old tree> --after . --rounds 4``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from call_overhead import VARIANTS, make_layer, time_calls  # noqa: E402


def child(variant: str, mode: str, hidden: int, batch: int, calls: int) -> None:
    import torch

    import rnnkit

    torch.set_num_threads(1)
    torch.manual_seed(0)
    from speed import torch_runner  # noqa: PLC0415  (imports rnnkit: after the tree is chosen)

    layer = make_layer(rnnkit, variant, hidden)
    x = torch.randn(50, batch, 128)  # (T, B, I)
    call = torch_runner(layer, x, mode == "train")  # speed.py's call: grads to None, forward, backward
    for _ in range(30):
        call()
    times = sorted(time_calls(call, calls))
    print(json.dumps({"min": times[0] / 1e3, "p10": times[len(times) // 10] / 1e3,
                      "med": times[len(times) // 2] / 1e3}))


def points() -> list:
    found = [(v, m, 64, 1) for v in VARIANTS for m in ("train", "infer")]
    found += [(v, m, 256, 1) for v in VARIANTS for m in ("train", "infer")]
    return found + [(v, "train", 64, 16) for v in VARIANTS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="folder of the old source tree (holds src/rnnkit)")
    parser.add_argument("--after", default=os.path.dirname(HERE))
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--cpu", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "call_overhead_ab.jsonl"))
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, mode, hidden, batch, calls = args.child
        child(variant, mode, int(hidden), int(batch), int(calls))
        return
    if not args.before or not os.path.isdir(os.path.join(args.before, "src", "rnnkit")):
        raise ValueError(f"Received an invalid value for argument `--before`: expected a folder "
                         f"holding src/rnnkit, got {args.before!r}.")
    trees = {"before": args.before, "after": args.after}
    with open(args.out, "a") as handle:
        for round_ in range(args.rounds):
            for spec in points():
                order = list(trees) if round_ % 2 == 0 else list(trees)[::-1]
                for name in order:
                    calls = 150 if spec[2] == 256 else 300
                    env = dict(os.environ, PYTHONPATH=os.path.join(trees[name], "src"),
                               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
                    command = ["taskset", "-c", str(args.cpu), sys.executable,
                               os.path.abspath(__file__), "--child", *map(str, spec), str(calls)]
                    done = subprocess.run(command, env=env, check=True, capture_output=True,
                                          text=True)
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    entry = {"round": round_, "tree": name, "spec": spec, **row}
                    handle.write(json.dumps(entry) + "\n")
                    handle.flush()


if __name__ == "__main__":
    main()
