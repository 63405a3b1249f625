"""Render benchmarks/speed.json (written by speed.py) as benchmarks/speed.md.

    python benchmarks/report.py [--json benchmarks/speed.json] [--out benchmarks/speed.md]

Every ratio is time(other) / time(rnnkit) or time(rnnkit) / time(torch.nn) as labelled, from
the minimum over interleaved rounds of one run; nothing is edited by hand.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
import json

STOCK = ("lstm", "gru", "rnn")
VARIANTS = ("lstm_ln", "lstm_rd", "gru_orig")
NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN (tanh)", "gru_orig": "GRU reset_after=False",
         "lstm_ln": "LSTM layer_norm", "lstm_rd": "LSTM recurrent_dropout=0.25"}


def geomean(values):
    values = [v for v in values if v and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def ratio(seconds, a, b):
    if a in seconds and b in seconds:
        return seconds[a] / seconds[b]
    return None


def fmt(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


def point_name(p):
    return f"B{p['batch']} H{p['hidden']} T{p['steps']}"


def summary(points, lines):
    lines.append("## Where each target stands\n")
    lines.append("| target | measured | met? |")
    lines.append("| --- | --- | --- |")
    for impl in ("rnnkit", "fused"):
        rs = [(ratio(p["seconds"], impl, "nn"), p) for p in points if p["cell"] in STOCK and p["mode"] == "train"]
        rs = [(r, p) for r, p in rs if r is not None]
        if rs:
            g = geomean([r for r, _ in rs])
            worst, wp = max(rs, key=lambda item: item[0])
            ok = g <= 1.0 and worst <= 1.25
            label = "rnnkit (auto)" if impl == "rnnkit" else "fused backend alone"
            lines.append(f"| stock LSTM/GRU/RNN training, {label} / torch.nn: geomean <= 1.0, worst <= 1.25 | "
                         f"geomean {g:.2f}, worst {worst:.2f} ({NAMES[wp['cell']]} {point_name(wp)}) | {'yes' if ok else 'no'} |")
    for cell in VARIANTS:
        for mode in ("train", "infer"):
            sel = [p for p in points if p["cell"] == cell and p["mode"] == mode]
            vs_nn = [ratio(p["seconds"], "rnnkit", "nn") for p in sel]
            vs_loop = [ratio(p["seconds"], "loop", "rnnkit") for p in sel]
            vs_jax = [ratio(p["seconds"], "jax", "rnnkit") for p in sel]
            vs_nn, vs_loop, vs_jax = ([v for v in vs if v is not None] for vs in (vs_nn, vs_loop, vs_jax))
            if not vs_nn:
                continue
            parts = [f"/ stock torch.nn: geomean {geomean(vs_nn):.2f}, worst {max(vs_nn):.2f}"]
            met = max(vs_nn) <= 1.5
            if vs_loop:
                parts.append(f"autograd loop / rnnkit: geomean {geomean(vs_loop):.1f}, least {min(vs_loop):.1f}")
                met = met and min(vs_loop) >= 4
            if vs_jax:
                parts.append(f"JAX / rnnkit: geomean {geomean(vs_jax):.2f}, least {min(vs_jax):.2f}")
                met = met and min(vs_jax) > 1
            lines.append(f"| {NAMES[cell]} {mode}: <= 1.5x stock nn, >= 4x faster than the loop, faster than JAX | "
                         f"{'; '.join(parts)} | {'yes' if met else 'no'} |")
    keras = [(ratio(p["seconds"], "keras", "rnnkit"), p) for p in points]
    keras = [(r, p) for r, p in keras if r is not None]
    if keras:
        slower = [(r, p) for r, p in keras if r <= 1]
        worst, wp = min(keras, key=lambda item: item[0])
        lines.append(f"| every configuration faster than Keras 3 on TensorFlow | faster at {len(keras) - len(slower)} of "
                     f"{len(keras)} measured points; least Keras / rnnkit {worst:.2f} ({NAMES[wp['cell']]} {wp['mode']} "
                     f"{point_name(wp)}) | {'yes' if not slower else 'no'} |")
    lines.append("")


ORIGINAL_RUN = "earlier run"  # rows written before speed.json recorded runs


def run_letters(points) -> dict:
    """A short letter for each run that measured rows, in order of first appearance."""
    letters = {}
    for p in points:
        letters.setdefault(p.get("run", ORIGINAL_RUN), "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(letters) % 26])
    return letters


def runs(data, lines):
    letters = run_letters(data["points"])
    lines.append("## Runs\n")
    lines.append("Each table row names the run that measured it (the *run* column). Ratios within a row are always "
                 "from one run, measured side by side.\n")
    lines.append("*pinned*: the CPUs the process was pinned to (runs before pinning let JAX spread over both "
                 "cores). *CPU/wall*: the largest process-CPU-seconds per wall second of any runner in the "
                 "run's fastest calls (1.0 is one core; recorded from the pinning change on).\n")
    lines.append("| run | name | rows | warm-up call before short timed calls | pinned | CPU/wall | arguments |")
    lines.append("| --- | --- | ---: | --- | --- | ---: | --- |")
    for name, letter in letters.items():
        rows = [p for p in data["points"] if p.get("run", ORIGINAL_RUN) == name]
        info = data.get("runs", {}).get(name, {})
        argv = " ".join(info.get("argv", [])) or "–"
        warm = f"yes (< {info['warm_up_below_seconds'] * 1e3:.0f} ms)" if "warm_up_below_seconds" in info else "no"
        pinned = f"CPU {','.join(map(str, info['cpus']))}" if info.get("cpus") else "no"
        loads = [v for p in rows for v in p.get("cpu_per_wall", {}).values()]
        lines.append(f"| {letter} | {name} | {len(rows)} | {warm} | {pinned} | {fmt(max(loads) if loads else None)} "
                     f"| `{argv}` |")
    for section in ("stream", "gflops"):
        if data.get(f"{section}_run"):
            lines.append(f"\nThe {section} table below was measured in run {data[f'{section}_run']}.")
    lines.append("")


def stream_target(stream, lines):
    """The row 'batch-1 inference per step no slower than nn.LSTMCell', appended to the summary table."""
    key = "rnnkit stream.step"
    if not stream or key not in next(iter(stream.values())):
        return
    ratios = {h: row[key] / row["nn.LSTMCell loop"] for h, row in stream.items()}
    text = ", ".join(f"H{h} {r:.2f}" for h, r in ratios.items())
    met = all(r <= 1.0 for r in ratios.values())
    lines.insert(len(lines) - 1, f"| batch-1 inference per step, rnnkit stream.step / nn.LSTMCell loop: <= 1 | {text} | "
                                 f"{'yes' if met else 'no'} |")


def tables(points, lines):
    impls = ["rnnkit", "fused", "nn", "loop", "jax", "keras"]
    letters = run_letters(points)
    for mode in ("train", "infer"):
        lines.append(f"## {'Training step (forward + backward)' if mode == 'train' else 'Inference (no gradients)'}: milliseconds\n")
        lines.append("Ratios: **rnnkit/nn** (below 1 is faster than torch.nn), and other/rnnkit (above 1 is slower than rnnkit).\n")
        lines.append("| cell | point | run | " + " | ".join(impls) + " | rnnkit/nn | fused/nn | loop/rnnkit | jax/rnnkit | keras/rnnkit |")
        lines.append("| --- | --- | --- | " + " | ".join("---:" for _ in impls) + " | ---: | ---: | ---: | ---: | ---: |")
        for p in points:
            if p["mode"] != mode:
                continue
            s = p["seconds"]
            cells = [fmt(s[i] * 1e3) if i in s else "–" for i in impls]
            rs = [ratio(s, "rnnkit", "nn"), ratio(s, "fused", "nn"), ratio(s, "loop", "rnnkit"), ratio(s, "jax", "rnnkit"),
                  ratio(s, "keras", "rnnkit")]
            lines.append(f"| {NAMES[p['cell']]} | {point_name(p)} | {letters[p.get('run', ORIGINAL_RUN)]} | " + " | ".join(cells) + " | " +
                         " | ".join(fmt(r) for r in rs) + " |")
        lines.append("")


def main(argv=None) -> int:
    here = Path(__file__).parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", default=str(here / "speed.json"))
    parser.add_argument("--out", default=str(here / "speed.md"))
    args = parser.parse_args(argv)
    data = json.loads(Path(args.json).read_text())
    points = data["points"]
    lines = ["# rnnkit speed (generated by benchmarks/report.py from speed.json)\n",
             f"Versions: {data['versions']}. Threads per framework: {data['threads']}. "
             f"{'Quick subset. ' if data.get('quick') else ''}Times are the minimum over interleaved rounds, each row from "
             "one run (see Runs) on a shared, noisy 2-core machine: read ratios, not absolute times.\n"]
    summary(points, lines)
    stream_target(data.get("stream"), lines)
    runs(data, lines)
    if data.get("stream"):
        lines.append("## Batch-1 inference, time per step (microseconds)\n")
        keys = list(next(iter(data["stream"].values())))
        lines.append("| hidden | " + " | ".join(keys) + " |")
        lines.append("| --- | " + " | ".join("---:" for _ in keys) + " |")
        for hidden, row in data["stream"].items():
            lines.append(f"| {hidden} | " + " | ".join(fmt(row[k] * 1e6, 1) for k in keys) + " |")
        lines.append("\n*sequence*: one call over 50 steps; *layer call per step*: the layer called on one step at a time "
                     "with the state carried; *stream.step*: the streaming API (``layer.stream(1).step(x_t)``).\n")
    if data.get("gflops"):
        lines.append("## Recurrent GEMM throughput inside the fused forward kernel vs torch.mm (GFLOP/s)\n")
        lines.append("| cell | batch | hidden | fused kernel | torch.mm same shapes | fused / mm |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in data["gflops"]:
            lines.append(f"| {NAMES[row['cell']]} | {row['batch']} | {row['hidden']} | {row['fused']:.1f} | {row['torch.mm']:.1f} | "
                         f"{row['fused'] / row['torch.mm']:.2f} |")
        lines.append("\nThe fused kernel's time includes its gate math, so fused / mm < 1 is the share left for it.\n")
    tables(points, lines)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
