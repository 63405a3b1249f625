"""GPU speed of rnnkit's fused path (Triton + cuBLAS) against cuDNN and the autograd loop.

For each cell (LSTM, GRU reset-after, GRU original form, RNN tanh, layer-norm LSTM; LSTM with
recurrent dropout in training) over batch {1, 16, 64} x hidden {64, 256, 512} x steps {50, 200}, input 128,
float32 with TF32 off everywhere (the same float32 math on every peer), it times

* ``fused``:     ``rnnkit.LSTM/GRU/RNN(backend="fused", strict=True)`` (``kernels/gpu.py``);
* ``cudnn``:     ``torch.nn.LSTM/GRU/RNN`` (cuDNN; no peer for the original GRU, recurrent dropout
                 or layer norm);
* ``reference``: ``rnnkit.*(backend="reference")``, autograd over ``cell.step``;

for a training step (forward, backward of a sum of the outputs, parameter gradients) and for
inference (``torch.no_grad``, eval mode). Each time is the minimum over repeats of wall-clock
time between two ``torch.cuda.synchronize()`` calls, after warm-up; all peers of one point are
measured side by side in one process. Writes ``speed_gpu.json`` and ``speed_gpu.md``.

    python benchmarks/speed_gpu.py [--quick] [--out benchmarks]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
from torch import nn

import rnnkit

INPUT = 128
CELLS = {
    "lstm": (lambda **k: rnnkit.LSTM(INPUT, **k), nn.LSTM),
    "gru": (lambda **k: rnnkit.GRU(INPUT, **k), nn.GRU),
    "gru_orig": (lambda **k: rnnkit.GRU(INPUT, reset_after=False, **k), None),
    "rnn_tanh": (lambda **k: rnnkit.RNN(INPUT, **k), nn.RNN),
    "lstm_rd": (lambda **k: rnnkit.LSTM(INPUT, recurrent_dropout=0.25, **k), None),
    "lstm_ln": (lambda **k: rnnkit.LSTM(INPUT, layer_norm=True, **k), None),
}


def timed(fn, repeats: int) -> float:
    """Minimum wall-clock milliseconds of ``fn()`` over ``repeats``, after two warm-up calls."""
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    best = math.inf
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def step_fn(layer, x, mode: str):
    params = list(layer.parameters())

    def train():
        for p in params:
            p.grad = None
        out = layer(x)[0]
        out.sum().backward()

    def infer():
        with torch.no_grad():
            layer(x)

    layer.train(mode == "train")
    return train if mode == "train" else infer


def measure(cell: str, batch: int, hidden: int, steps: int, mode: str, repeats: int) -> dict:
    make, torch_cls = CELLS[cell]
    torch.manual_seed(0)
    ours = make(hidden_size=hidden, device="cuda")
    x = torch.randn(steps, batch, INPUT, device="cuda")
    row = {"cell": cell, "mode": mode, "batch": batch, "hidden": hidden, "steps": steps}
    ours.backend, ours.strict = "fused", True
    row["fused_ms"] = timed(step_fn(ours, x, mode), repeats)
    assert all(c.backend == "fused" for r in ours.last_backend for c in r), ours.last_backend
    if torch_cls is not None:
        peer = torch_cls(INPUT, hidden, device="cuda")
        peer.load_state_dict(ours.state_dict())
        row["cudnn_ms"] = timed(step_fn(peer, x, mode), repeats)
    ours.backend, ours.strict = "reference", False
    row["reference_ms"] = timed(step_fn(ours, x, mode), max(2, repeats // 2))
    return row


def geomean(values):
    values = [v for v in values if v is not None]
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def ratio(a, b):
    return None if a is None or b is None else a / b


def markdown(rows: list, meta: dict) -> str:
    lines = [
        "# GPU speed: rnnkit fused (Triton + cuBLAS) vs cuDNN vs the autograd loop",
        "",
        f"Device: {meta['device']}; torch {meta['torch']}, Triton {meta['triton']}; float32 with TF32 off; "
        f"input {INPUT}; minimum of {meta['repeats']} repeats (reference: half as many), wall clock between "
        "synchronizations. Written by `benchmarks/speed_gpu.py`.",
        "",
        "`fused/cuDNN` above 1 means cuDNN is faster; `ref/fused` above 1 means the fused path is faster than the "
        "autograd loop. `-`: no cuDNN peer (original-form GRU, recurrent dropout, layer norm).",
        "",
    ]
    for cell in CELLS:
        for mode in ("train", "infer"):
            part = [r for r in rows if r["cell"] == cell and r["mode"] == mode]
            if not part:
                continue
            lines += [f"## {cell}, {'training step' if mode == 'train' else 'inference'}", "",
                      "| batch | hidden | steps | fused ms | cuDNN ms | reference ms | fused/cuDNN | ref/fused |",
                      "|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for r in part:
                cudnn = r.get("cudnn_ms")
                fc = ratio(r["fused_ms"], cudnn)
                lines.append(f"| {r['batch']} | {r['hidden']} | {r['steps']} | {r['fused_ms']:.2f} | "
                             f"{'-' if cudnn is None else f'{cudnn:.2f}'} | {r['reference_ms']:.2f} | "
                             f"{'-' if fc is None else f'{fc:.2f}'} | {r['reference_ms'] / r['fused_ms']:.2f} |")
            fc = geomean([ratio(r["fused_ms"], r.get("cudnn_ms")) for r in part])
            rf = geomean([r["reference_ms"] / r["fused_ms"] for r in part])
            lines += ["", f"Geometric mean: fused/cuDNN {'-' if fc is None else f'{fc:.2f}'}, ref/fused {rf:.2f}.", ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 2-point grid to check the script")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).parent))
    parser.add_argument("--cells", default=",".join(CELLS))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("speed_gpu.py needs a CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    import triton  # noqa: PLC0415

    batches, hiddens, steps_list = ((1, 64), (256,), (50,)) if args.quick else ((1, 16, 64), (64, 256, 512), (50, 200))
    meta = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "triton": triton.__version__,
            "python": platform.python_version(), "repeats": args.repeats, "tf32": False, "input_size": INPUT}
    rows = []
    for cell in args.cells.split(","):
        for mode in ("train", "infer"):
            if cell == "lstm_rd" and mode == "infer":
                continue  # recurrent dropout acts only in training; inference is the stock LSTM
            for batch in batches:
                for hidden in hiddens:
                    for steps in steps_list:
                        row = measure(cell, batch, hidden, steps, mode, args.repeats)
                        rows.append(row)
                        print(json.dumps(row), flush=True)
            write(Path(args.out), rows, meta)  # after every cell and mode, so a cut-off run keeps its rows
    print(markdown(rows, meta))


def write(out: Path, rows: list, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed_gpu.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    (out / "speed_gpu.md").write_text(markdown(rows, meta))


if __name__ == "__main__":
    main()
