"""Instructions per small layer call, before and after a change, counted by callgrind.

Wall-clock minima on a shared 2-core machine move by 5-10% between runs; the number of
instructions a call executes does not depend on the machine's load. This script runs each
configuration of ``benchmarks/call_overhead.py`` (input 128, batch 1, 50 steps, one thread)
under ``valgrind --tool=callgrind`` once per source tree, with instrumentation switched on
only around ``--calls`` calls after a warm-up (a small C helper built here with gcc issues
callgrind's client requests), and splits each count into

- kernel: the inclusive count of the fused extension's entry points (``lstm_forward``,
  ``gru_backward``, ``lstm_infer``, ...: their loops, GEMMs, allocations and memsets) plus the
  inclusive count of ``torch.addmm`` / ``Tensor.mm`` called from Python (the input projection
  and the input-weight gradient; their few thousand instructions of dispatch included), or of
  the entry points ``project_forward`` / ``project_backward`` that make those calls in C++
  (with the bias sum, reshapes and row sums around them: a few small ops that were "rest"
  when Python made them; compare totals across such trees);
- rest: everything else: Python, torch's dispatcher and autograd engine, small tensor ops
  (bias sums, clones, zeros), malloc/free. This is the per-call overhead.

Needs valgrind (with ``valgrind/callgrind.h``) and gcc; takes about a minute per tree.
Run: ``python benchmarks/call_overhead_callgrind.py --before <old tree> --after . [--calls 20]``.
Writes JSON (``--out``, default ``benchmarks/results/call_overhead_callgrind.json``).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from call_overhead import MODES, VARIANTS, make_layer, step_call  # noqa: E402

HELPER = r"""
#include <valgrind/callgrind.h>
void cg_start(void) {
  CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; CALLGRIND_TOGGLE_COLLECT;
}
void cg_stop(void) {
  CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS; CALLGRIND_STOP_INSTRUMENTATION;
}
"""


def build_helper(folder: str) -> str:
    source, library = os.path.join(folder, "cgctl.c"), os.path.join(folder, "cgctl.so")
    with open(source, "w") as handle:
        handle.write(HELPER)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", library, source], check=True)
    return library


def child(hidden: int, calls: int, helper: str) -> None:
    """Inside valgrind: one dump per configuration, in the order of VARIANTS x MODES."""
    import ctypes

    import torch

    import rnnkit

    control = ctypes.CDLL(helper)
    torch.set_num_threads(1)
    for variant in VARIANTS:
        torch.manual_seed(0)
        layer = make_layer(rnnkit, variant, hidden)
        x = torch.randn(50, 1, 128)  # (T, B, I)
        for mode in MODES:
            call = step_call(torch, layer, x, mode)
            for _ in range(10):  # warm-up outside the count: extension load, first-call paths
                call()
            control.cg_start()
            for _ in range(calls):
                call()
            control.cg_stop()
            backend = layer.last_backend[0][0].backend
            print(json.dumps({"key": f"{variant}|{mode}|{hidden}", "backend": backend}))


# Inclusive counts that make up "kernel": the extension's entry points (none calls another)
# and the GEMMs Python calls (the extension's own at::mm calls do not pass through these).
KERNEL_ENTRY = re.compile(
    r"^\?\?\?:((lstm|gru|rnn|project)_\w+\(at::Tensor|torch::autograd::THPVariable_(addmm|mm)\()")


def split_counts(dump: str) -> dict:
    """Total, kernel and rest instructions of one callgrind dump."""
    command = ["callgrind_annotate", "--inclusive=yes", "--threshold=100", dump]
    text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    total = kernel = 0
    for line in text.splitlines():
        match = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*)$", line)
        if not match:
            continue
        count, where = int(match.group(1).replace(",", "")), match.group(2)
        if where.startswith("PROGRAM TOTALS"):
            total = count
        elif KERNEL_ENTRY.match(where):
            kernel += count
    return {"total": total, "kernel": kernel, "rest": total - kernel}


def run_tree(tree: str, hidden: int, calls: int, helper: str, folder: str) -> dict:
    prefix = os.path.join(folder, f"cg-{abs(hash(tree))}")
    env = dict(os.environ, PYTHONPATH=os.path.join(tree, "src"), OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--collect-atstart=no",
               f"--callgrind-out-file={prefix}.out", sys.executable, os.path.abspath(__file__),
               "--child", "--hidden", str(hidden), "--calls", str(calls), "--helper", helper]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    configs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    dumps = sorted(glob.glob(prefix + ".out.*"), key=lambda p: int(p.rsplit(".", 1)[1]))
    if len(dumps) != len(configs):
        raise RuntimeError(f"expected {len(configs)} callgrind dumps under {prefix}, "
                           f"found {len(dumps)}")
    results = {}
    for config, dump in zip(configs, dumps):
        counts = split_counts(dump)
        per_call = {k: v / calls for k, v in counts.items()}
        results[config["key"]] = {"backend": config["backend"], **per_call}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="folder of the old source tree (holds src/rnnkit)")
    parser.add_argument("--after", default=os.path.dirname(HERE),
                        help="folder of the new source tree")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--out",
                        default=os.path.join(HERE, "results", "call_overhead_callgrind.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--helper", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.calls < 1:
        raise ValueError(f"Received an invalid value for argument `--calls`: expected an integer "
                         f">= 1, got {args.calls}.")
    if args.child:
        child(args.hidden, args.calls, args.helper)
        return
    trees = {"after": args.after}
    if args.before:
        if not os.path.isdir(os.path.join(args.before, "src", "rnnkit")):
            raise ValueError(f"Received an invalid value for argument `--before`: expected a "
                             f"folder holding src/rnnkit, got {args.before!r}.")
        trees = {"before": args.before, "after": args.after}
    with tempfile.TemporaryDirectory() as folder:
        helper = build_helper(folder)
        counts = {side: run_tree(tree, args.hidden, args.calls, helper, folder)
                  for side, tree in trees.items()}
    rows = []
    for key, after in counts["after"].items():
        variant, mode, hidden = key.split("|")
        row = {"variant": variant, "mode": mode, "hidden": int(hidden), "backend": after["backend"],
               **{f"after_{k}": after[k] for k in ("total", "kernel", "rest")}}
        if "before" in counts:
            before = counts["before"][key]
            row.update({f"before_{k}": before[k] for k in ("total", "kernel", "rest")})
            row["rest_ratio"] = row["after_rest"] / row["before_rest"]
            row["total_ratio"] = row["after_total"] / row["before_total"]
        rows.append(row)
        print(json.dumps(row))
    meta = {"trees": trees, "calls": args.calls, "hidden": args.hidden, "batch": 1, "steps": 50,
            "input_size": 128, "threads": 1,
            "run": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as handle:
        json.dump({"meta": meta, "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
