"""Interleaved A/B of the fused kernels' small-batch recurrent product (csrc/smallm.h).

    PYTHONPATH=src python benchmarks/kernels_smallm.py --batches 16 --hiddens 512 --steps 200

Each round times one call with the small-batch panel path and one with the GEMM path it
replaces (RNNKIT_NO_SMALLM set, read at every kernel call), back to back, so machine load
affects both alike; the minimum over rounds is kept. With --nn, torch.nn's LSTM/GRU/RNN of the
same size (oneDNN) is timed in the same rounds. Writes JSON and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from speed import LAYERS, torch_runner

CELLS = LAYERS  # name: (rnnkit class, its options, the torch.nn class of the same size)


def runners(cell: str, batch: int, hidden: int, steps: int, train: bool, inputs: int = 128):
    cls, kwargs, stock = CELLS[cell]
    torch.manual_seed(0)
    layer = cls(inputs, hidden, backend="fused", **kwargs).train(train)
    peer = stock(inputs, hidden).train(train)
    x = torch.randn(steps, batch, inputs)

    return torch_runner(layer, x, train), torch_runner(peer, x, train)


def ab(run, peer, rounds: int, with_nn: bool) -> dict:
    paths = ["smallm", "gemm"] + (["nn"] if with_nn else [])
    best = {path: float("inf") for path in paths}
    for _ in range(rounds):
        for path in paths:
            if path == "gemm":
                os.environ["RNNKIT_NO_SMALLM"] = "1"
            fn = peer if path == "nn" else run
            fn()  # warm, on the same path
            t = time.perf_counter()
            fn()
            best[path] = min(best[path], time.perf_counter() - t)
            os.environ.pop("RNNKIT_NO_SMALLM", None)
    return best


def table(rows: list) -> str:
    lines = ["| cell | mode | B | H | T | smallm ms | GEMM ms | smallm / GEMM | nn ms "
             "| smallm / nn | GEMM / nn |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        s, g = r["seconds"]["smallm"] * 1e3, r["seconds"]["gemm"] * 1e3
        n = r["seconds"].get("nn")
        tail = f"{n * 1e3:.3f} | {s / n / 1e3:.2f} | {g / n / 1e3:.2f}" if n else "– | – | –"
        lines.append(f"| {r['cell']} | {r['mode']} | {r['batch']} | {r['hidden']} | {r['steps']} "
                     f"| {s:.3f} | {g:.3f} | {s / g:.2f} | {tail} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm_ln")
    parser.add_argument("--modes", default="infer")
    parser.add_argument("--batches", default="2,4,8,16,32")
    parser.add_argument("--hiddens", default="64,256,512")
    parser.add_argument("--steps", default="50,200")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nn", action="store_true", help="also time torch.nn's cell of that size")
    # not results/kernels_smallm.json: that and kernels_smallm.md hold the runs behind the rule
    default_out = Path(__file__).parent / "results" / "kernels_smallm_latest.json"
    parser.add_argument("--out", default=str(default_out))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for hidden in map(int, args.hiddens.split(",")):
        for steps in map(int, args.steps.split(",")):
            for batch in map(int, args.batches.split(",")):
                for cell in args.cells.split(","):
                    for mode in args.modes.split(","):
                        run, peer = runners(cell, batch, hidden, steps, mode == "train")
                        best = ab(run, peer, args.rounds, args.nn)
                        rows.append({"cell": cell, "mode": mode, "batch": batch, "hidden": hidden,
                                     "steps": steps, "seconds": best})
                        print(table(rows[-1:]).splitlines()[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"threads": args.threads, "torch": torch.__version__, "rows": rows}
    out.write_text(json.dumps(meta, indent=1))
    out.with_suffix(".md").write_text(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
