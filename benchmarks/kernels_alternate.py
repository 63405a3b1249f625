"""Interleaved A/B of whole fused layers with and without the alternating weight traversal
(csrc/matvec.h at batch 1, csrc/smallm.h at batch 2-64; RNNKIT_NO_ALTERNATE turns it off).

    taskset -c 1 env PYTHONPATH=src python benchmarks/kernels_alternate.py --batches 1 \
        --hiddens 64,256,512 --steps 50,200 --out /tmp/alternate_b1.json

RNNKIT_NO_ALTERNATE is read when a kernel call builds its weight panels, so one layer serves
both sides: the "off" runner sets it around its call, the "on" runner clears it. speed.py's
``measure`` runs them in turn, round after round (each short call right after an untimed call
of the same runner), and keeps each side's minimum. Writes JSON and a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from speed import INPUT, LAYERS, measure, torch_runner  # noqa: E402


def switched(run, off: bool):
    """run() with the alternating traversal off (RNNKIT_NO_ALTERNATE set) or on."""
    def call():
        if off:
            os.environ["RNNKIT_NO_ALTERNATE"] = "1"
        try:
            run()
        finally:
            os.environ.pop("RNNKIT_NO_ALTERNATE", None)
    return call


def point(cell: str, batch: int, hidden: int, steps: int, train: bool, rounds: int) -> dict:
    cls, kwargs, _ = LAYERS[cell]
    torch.manual_seed(0)
    run = torch_runner(cls(INPUT, hidden, backend="fused", **kwargs),
                       torch.randn(steps, batch, INPUT), train)
    best = measure({"on": switched(run, False), "off": switched(run, True)}, rounds,
                   budget=30.0, min_seconds=1.0)
    return {"cell": cell, "mode": "train" if train else "infer", "batch": batch,
            "hidden": hidden, "steps": steps, "seconds": best}


def table(rows: list) -> str:
    lines = ["| cell | mode | B | H | T | alternate ms | forward order ms | alternate / forward |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        on, off = r["seconds"]["on"] * 1e3, r["seconds"]["off"] * 1e3
        lines.append(f"| {r['cell']} | {r['mode']} | {r['batch']} | {r['hidden']} "
                     f"| {r['steps']} | {on:.3f} | {off:.3f} | {on / off:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(LAYERS))
    parser.add_argument("--modes", default="train,infer")
    parser.add_argument("--batches", default="1")
    parser.add_argument("--hiddens", default="64,256,512")
    parser.add_argument("--steps", default="50,200")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", required=True, help="JSON path (a .md table is written beside)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for batch in map(int, args.batches.split(",")):
        for hidden in map(int, args.hiddens.split(",")):
            for steps in map(int, args.steps.split(",")):
                for cell in args.cells.split(","):
                    for mode in args.modes.split(","):
                        rows.append(point(cell, batch, hidden, steps, mode == "train",
                                          args.rounds))
                        print(table(rows[-1:]).splitlines()[-1], flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"threads": 1, "torch": torch.__version__, "cpus": sorted(os.sched_getaffinity(0)),
            "rows": rows}
    out.write_text(json.dumps(meta, indent=1))
    out.with_suffix(".md").write_text(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
