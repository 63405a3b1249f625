"""Per-call cost of a small rnnkit layer call, before and after a change, side by side.

A batch-1 call of ``rnnkit.LSTM(128, H)`` over 50 steps runs a C++ kernel of a few tens of
microseconds; everything around it (input checks, the backend choice, autograd nodes, small
tensor ops) is per-call overhead. This script times the same calls from two source trees
(``--before`` and ``--after``, each a folder holding ``src/rnnkit``) in alternating child
processes, so both see the same machine load, and keeps each configuration's minimum over
all calls and alternations (the least-disturbed call; the median is recorded as well).

Configurations (input 128, batch 1, 50 steps, one thread): lstm, lstm_ln (layer_norm=True),
lstm_rd (recurrent_dropout=0.25), gru_orig (reset_after=False), gru, rnn; hidden 64 and 256;
``train`` is forward + ``out.sum().backward()``, ``infer`` is the forward under ``torch.no_grad()``.

After the timed calls, each child times the same calls once more with the fused extension's
entry points (``lstm_forward``, ``gru_backward``, ``lstm_infer``, ...) wrapped by a timer: the
least time spent inside them per call is ``kernel``; the rest of a call (Python, autograd,
the input-projection GEMMs and small tensor ops) is what the Python side adds. That pass is
separate because the wrapper costs time of its own.

Writes JSON (``--out``, default ``benchmarks/results/call_overhead.json``) and a markdown table
(``--md``, default ``benchmarks/call_overhead.md``).
Run: ``python benchmarks/call_overhead.py --before /path/to/old/tree --after . [--calls 200 --alternations 7]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VARIANTS = ("lstm", "lstm_ln", "lstm_rd", "gru_orig", "gru", "rnn")
MODES = ("train", "infer")


def make_layer(rnnkit, variant: str, hidden: int):
    if variant == "lstm":
        return rnnkit.LSTM(128, hidden)
    if variant == "lstm_ln":
        return rnnkit.LSTM(128, hidden, layer_norm=True)
    if variant == "lstm_rd":
        return rnnkit.LSTM(128, hidden, recurrent_dropout=0.25)
    if variant == "gru_orig":
        return rnnkit.GRU(128, hidden, reset_after=False)
    if variant == "gru":
        return rnnkit.GRU(128, hidden)
    if variant == "rnn":
        return rnnkit.RNN(128, hidden)
    raise ValueError(f"Received an invalid value for argument `variant`: expected one of {list(VARIANTS)}, got {variant!r}.")


def step_call(torch, layer, x, mode: str):
    """One timed unit: a training step (forward, backward of the sum) or a no-grad forward."""
    layer.train(mode == "train")

    def call():
        if mode == "train":
            out, _ = layer(x)
            out.sum().backward()
        else:
            with torch.no_grad():
                layer(x)

    return call


def time_calls(call, calls: int) -> list:
    """Nanoseconds of ``calls`` calls of ``call``, each timed alone."""
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - start)
    return times


def child(hiddens, calls: int) -> dict:
    """Time every configuration in this process: per-call nanoseconds, each call timed alone."""
    import torch

    import rnnkit

    torch.set_num_threads(1)
    results = {}
    for hidden in hiddens:
        for variant in VARIANTS:
            torch.manual_seed(0)
            layer = make_layer(rnnkit, variant, hidden)
            x = torch.randn(50, 1, 128)  # (T, B, I)
            for mode in MODES:
                call = step_call(torch, layer, x, mode)
                for _ in range(20):  # warm-up: extension load, allocator, first-call paths
                    call()
                times = time_calls(call, calls)
                backend = layer.last_backend[0][0].backend
                kernel = kernel_times(call, max(calls // 4, 10))
                results[f"{variant}|{mode}|{hidden}"] = {"times_ns": times, "backend": backend,
                                                         "kernel_ns": kernel}
    return results


class _TimedModule:
    """Stands in for the compiled extension: every function call is timed into ``spent``."""

    def __init__(self, module):
        self.module, self.spent = module, 0

    def __getattr__(self, name):
        function = getattr(self.module, name)

        def timed(*args):
            start = time.perf_counter_ns()
            try:
                return function(*args)
            finally:
                self.spent += time.perf_counter_ns() - start

        return timed


def kernel_times(call, calls: int) -> list:
    """Per-call nanoseconds spent inside the fused extension's functions (0 on other backends)."""
    from rnnkit.kernels import extension

    module = extension.load_extension()
    if module is None:
        return [0] * calls
    timed = extension._state["module"] = _TimedModule(module)
    spent = []
    try:
        for _ in range(calls):
            timed.spent = 0
            call()
            spent.append(timed.spent)
    finally:
        extension._state["module"] = module
    return spent


def run_child(tree: str, hiddens, calls: int) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.join(tree, "src"), OMP_NUM_THREADS="1")
    command = [sys.executable, os.path.abspath(__file__), "--child", "--hiddens", ",".join(map(str, hiddens)),
               "--calls", str(calls)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def render(rows: list, meta: dict) -> str:
    lines = [
        "# Per-call overhead of a small layer call (generated by benchmarks/call_overhead.py)",
        "",
        f"Input 128, batch 1, 50 steps, one thread. Before: `{meta['before']}`; after: `{meta['after']}`. "
        f"Each tree ran in {meta['alternations']} alternating child processes of {meta['calls']} timed calls per "
        "configuration; min is the least of all those calls, median the median of all of them. "
        "train = forward + backward of out.sum(); infer = forward under torch.no_grad(). "
        "kernel = least time per call inside the fused extension's functions (separate pass, see "
        "the script); outside = min - kernel (Python, autograd, the input-projection GEMMs, small "
        "tensor ops). "
        "Shared, noisy 2-core machine: read the ratios.",
        "",
        "| config | H | mode | backend | before min µs | after min µs | after/before (min) "
        "| kernel µs (before, after) | outside µs (before, after) | before median µs "
        "| after median µs | after/before (median) |",
        "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['hidden']} | {r['mode']} | {r['backend']} | {r['before_min_us']:.1f} | "
            f"{r['after_min_us']:.1f} | {r['ratio_min']:.2f} | {r['before_kernel_min_us']:.1f}, "
            f"{r['after_kernel_min_us']:.1f} | {r['before_min_us'] - r['before_kernel_min_us']:.1f}, "
            f"{r['after_min_us'] - r['after_kernel_min_us']:.1f} | {r['before_median_us']:.1f} | "
            f"{r['after_median_us']:.1f} | {r['ratio_median']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="folder of the old source tree (holds src/rnnkit)")
    parser.add_argument("--after", default=os.path.dirname(HERE), help="folder of the new source tree")
    parser.add_argument("--hiddens", default="64,256")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--alternations", type=int, default=7)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "call_overhead.json"))
    parser.add_argument("--md", default=os.path.join(HERE, "call_overhead.md"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    hiddens = [int(h) for h in args.hiddens.split(",")]
    if args.calls < 1:
        raise ValueError(f"Received an invalid value for argument `--calls`: expected an integer >= 1, got {args.calls}.")
    if args.child:
        print(json.dumps(child(hiddens, args.calls)))
        return
    if not args.before or not os.path.isdir(os.path.join(args.before, "src", "rnnkit")):
        raise ValueError(f"Received an invalid value for argument `--before`: expected a folder holding src/rnnkit, got {args.before!r}.")
    samples = {"before": {}, "after": {}}
    for _ in range(args.alternations):
        for side in ("before", "after"):
            tree = args.before if side == "before" else args.after
            for key, value in run_child(tree, hiddens, args.calls).items():
                entry = samples[side].setdefault(
                    key, {"times_ns": [], "kernel_ns": [], "backend": value["backend"]})
                entry["times_ns"].extend(value["times_ns"])
                entry["kernel_ns"].extend(value["kernel_ns"])
    rows = []
    for key in samples["after"]:
        variant, mode, hidden = key.split("|")
        before, after = samples["before"][key]["times_ns"], samples["after"][key]["times_ns"]
        row = {"variant": variant, "mode": mode, "hidden": int(hidden), "backend": samples["after"][key]["backend"],
               "backend_before": samples["before"][key]["backend"],
               "before_min_us": min(before) / 1e3, "after_min_us": min(after) / 1e3,
               "before_median_us": statistics.median(before) / 1e3, "after_median_us": statistics.median(after) / 1e3}
        row["before_kernel_min_us"] = min(samples["before"][key]["kernel_ns"]) / 1e3
        row["after_kernel_min_us"] = min(samples["after"][key]["kernel_ns"]) / 1e3
        row["ratio_min"] = row["after_min_us"] / row["before_min_us"]
        row["ratio_median"] = row["after_median_us"] / row["before_median_us"]
        rows.append(row)
    rows.sort(key=lambda r: (r["hidden"], VARIANTS.index(r["variant"]), MODES.index(r["mode"])))
    meta = {"before": args.before, "after": args.after, "calls": args.calls, "alternations": args.alternations,
            "threads": 1, "batch": 1, "steps": 50, "input_size": 128,
            "run": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump({"meta": meta, "rows": rows}, handle, indent=1)
    with open(args.md, "w") as handle:
        handle.write(render(rows, meta))
    print(render(rows, meta))


if __name__ == "__main__":
    main()
