"""Interleaved A/B of the fused kernels' batch-1 recurrent product (csrc/matvec.h).

    PYTHONPATH=src python benchmarks/kernels_batch1.py --hiddens 256 --steps 50 --threads 1

Each round times one call with the panel matrix-vector path and one with the GEMM path it
replaced (RNNKIT_NO_MATVEC set, read at every kernel call), back to back, so machine load
affects both alike; the minimum over rounds is kept. Writes JSON and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

import rnnkit
from speed import torch_runner

CELLS = {"lstm": (rnnkit.LSTM, {}), "lstm_ln": (rnnkit.LSTM, {"layer_norm": True}),
         "lstm_rd": (rnnkit.LSTM, {"recurrent_dropout": 0.25}), "gru": (rnnkit.GRU, {}),
         "gru_orig": (rnnkit.GRU, {"reset_after": False})}


def runner(cell: str, hidden: int, steps: int, train: bool, inputs: int = 128):
    cls, kwargs = CELLS[cell]
    torch.manual_seed(0)
    layer = cls(inputs, hidden, backend="fused", **kwargs).train(train)
    x = torch.randn(steps, 1, inputs)

    return torch_runner(layer, x, train)


def ab(run, rounds: int) -> dict:
    best = {"panel": float("inf"), "gemm": float("inf")}
    for _ in range(rounds):
        for path in best:
            if path == "gemm":
                os.environ["RNNKIT_NO_MATVEC"] = "1"
            run()  # warm, on the same path
            t = time.perf_counter()
            run()
            best[path] = min(best[path], time.perf_counter() - t)
            os.environ.pop("RNNKIT_NO_MATVEC", None)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--hiddens", default="64,256,512")
    parser.add_argument("--steps", default="50,200")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "kernels_batch1.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for hidden in map(int, args.hiddens.split(",")):
        for steps in map(int, args.steps.split(",")):
            for cell in args.cells.split(","):
                for mode in ("train", "infer"):
                    best = ab(runner(cell, hidden, steps, mode == "train"), args.rounds)
                    rows.append({"cell": cell, "mode": mode, "batch": 1, "hidden": hidden, "steps": steps, "seconds": best})
                    print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"threads": args.threads, "torch": torch.__version__, "rows": rows}, indent=1))
    lines = ["| cell | mode | H | T | panel ms | GEMM ms | panel / GEMM |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        p, g = r["seconds"]["panel"] * 1e3, r["seconds"]["gemm"] * 1e3
        lines.append(f"| {r['cell']} | {r['mode']} | {r['hidden']} | {r['steps']} | {p:.3f} | {g:.3f} | {p / g:.2f} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
