"""Speed of rnnkit's kernels against torch.nn (oneDNN), a torch autograd loop, JAX and Keras.

    PYTHONPATH=src python benchmarks/speed.py            # the issue's grid
    PYTHONPATH=src python benchmarks/speed.py --quick    # a small subset, for a first look
    PYTHONPATH=src python benchmarks/speed.py --cells lstm_ln --hiddens 64,256 --merge --label "k8 LN"
                                                         # re-measure some rows into speed.json
    python benchmarks/report.py                          # benchmarks/speed.json -> speed.md

With ``--merge`` the measured rows replace the rows of the same cell, mode and point in the
existing ``--out`` file and every other row is kept; each row records the ``run`` that measured
it (``--label``, default the UTC time), so the report can say which rows were measured when.

Grid: batch {1, 16, 64} x hidden {64, 256, 512} x steps {50, 200}, input 128, float32, one
thread for every framework (the machines are shared; one thread is the most repeatable). The
process is pinned to ``--threads`` CPUs (``os.sched_setaffinity``) before any peer is imported:
JAX's CPU client ran its work on a second core despite its single-thread flags (process CPU
time 1.8x wall time at LSTM B64 H256 T50 inference), so a thread count alone did not hold every
framework to it. Each row also records every runner's CPU seconds per wall second in its
fastest call (``cpu_per_wall``), so a peer that spreads over more cores shows in the data.
For each point, cell and mode (``train``: forward + backward of the summed outputs;
``infer``: forward without gradients) every implementation runs in turn, round after round,
and the minimum over rounds is kept, so they are measured side by side.

Implementations: ``rnnkit`` (backend auto), ``fused`` (backend fused), ``nn`` (torch.nn's stock
layer of the same size: LSTM for the LSTM variants, GRU for both GRU forms), ``loop`` (rnnkit's
reference backend: torch autograd over the cell, one step at a time), ``jax`` (lax.scan of the
same cell) and ``keras`` (Keras 3 on TensorFlow). Also: batch-1 inference per step against an
``nn.LSTMCell`` loop, and achieved GFLOP/s of the recurrent matrix multiplies against torch.mm.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

import rnnkit
from rnnkit.kernels.extension import load_extension

INPUT = 128
CELLS = ("lstm", "gru", "gru_orig", "rnn", "lstm_ln", "lstm_rd")
LAYERS = {
    "lstm": (rnnkit.LSTM, {}, torch.nn.LSTM),
    "gru": (rnnkit.GRU, {}, torch.nn.GRU),
    "gru_orig": (rnnkit.GRU, {"reset_after": False}, torch.nn.GRU),
    "rnn": (rnnkit.RNN, {}, torch.nn.RNN),
    "lstm_ln": (rnnkit.LSTM, {"layer_norm": True}, torch.nn.LSTM),
    "lstm_rd": (rnnkit.LSTM, {"recurrent_dropout": 0.25}, torch.nn.LSTM),
}


def torch_runner(layer, x, train: bool):
    layer.train(train)
    params = [p for p in layer.parameters()]

    def run():
        if train:
            for p in params:
                p.grad = None
            out, _ = layer(x)
            out.sum().backward()
        else:
            with torch.no_grad():
                layer(x)
    return run


def make(impl: str, cell: str, batch: int, hidden: int, steps: int, train: bool):
    """A zero-argument callable for one step of ``impl``, or None where it does not apply."""
    if impl == "jax":
        import peers_jax
        return peers_jax.make(cell, batch, hidden, steps, INPUT, train)
    if impl == "keras":
        import peers_keras
        return peers_keras.make(cell, batch, hidden, steps, INPUT, train)
    cls, kwargs, torch_cls = LAYERS[cell]
    x = torch.randn(steps, batch, INPUT)
    if impl == "nn":
        return torch_runner(torch_cls(INPUT, hidden), x, train)
    backend = {"rnnkit": "auto", "fused": "fused", "loop": "reference"}[impl]
    return torch_runner(cls(INPUT, hidden, backend=backend, **kwargs), x, train)


WARM_UP_BELOW = 0.05  # seconds: a call shorter than this is preceded by an untimed call of the same runner


def measure(runners: dict, rounds: int, budget: float, min_seconds: float = 1.5, max_rounds: int = 25,
            cpu_per_wall: dict = None) -> dict:
    """Minimum seconds of each runner over interleaved rounds: at least ``rounds`` rounds, more
    (up to ``max_rounds``) while less than ``min_seconds`` has been spent, fewer when the next
    round would take the total past ``budget`` seconds.

    Each timed call of a short runner (under ``WARM_UP_BELOW``) directly follows an untimed call
    of the same runner, so every implementation is timed warm. Without it, whichever runner came
    right after another framework's call (Keras, JAX) ran on cold caches: at LSTM B1 H64 T50
    training, rnnkit and its own fused backend (the same kernel) measured 1.73 and 1.11 ms when
    run in that order and 1.08 and 1.59 ms in the other; with the warm-up call, 1.00 and 0.90.

    ``cpu_per_wall``, when given, receives each runner's process CPU seconds per wall second in
    its fastest call (about 1.0 for a runner on one core; more when it spreads over cores)."""
    best = {name: float("inf") for name in runners}
    last = {name: 0.0 for name in runners}
    cpu_per_wall = {} if cpu_per_wall is None else cpu_per_wall
    start = time.perf_counter()
    for round_index in range(max_rounds):
        for name, run in runners.items():
            if last[name] < WARM_UP_BELOW:
                run()
            c = time.process_time()
            t = time.perf_counter()
            run()
            last[name] = time.perf_counter() - t
            if last[name] < best[name]:
                best[name] = last[name]
                cpu_per_wall[name] = (time.process_time() - c) / last[name]
        elapsed = time.perf_counter() - start
        done = round_index + 1
        if done >= rounds and elapsed >= min_seconds:
            break
        if done >= 2 and elapsed / done * (done + 1) > budget:
            break
    return best


def pin_cpus(threads: int) -> list:
    """Pin this process to ``threads`` of the CPUs it may run on (the lowest-numbered), so no
    framework can use more cores than the others; returns the CPUs it is pinned to."""
    allowed = sorted(os.sched_getaffinity(0))
    if threads < 1 or threads > len(allowed):
        raise SystemExit(f"--threads: expected 1 to {len(allowed)} (the CPUs this process may use), got {threads}")
    os.sched_setaffinity(0, allowed[:threads])
    return allowed[:threads]


def grid_points(quick: bool, batches=None, hiddens=None, steps=None):
    """The grid, or the quick subset, restricted to the given batches, hidden sizes and steps."""
    if quick:
        points = itertools.product((1, 16), (64, 256), (50,))
    else:
        points = itertools.product((1, 16, 64), (64, 256, 512), (50, 200))
    return [(b, h, t) for b, h, t in points
            if (not batches or b in batches) and (not hiddens or h in hiddens) and (not steps or t in steps)]


def _ints(text: str):
    return [int(v) for v in text.split(",")] if text else None


def _key(row) -> tuple:
    return tuple(row[k] for k in ("cell", "mode", "batch", "hidden", "steps"))


def step_stream(hidden: int, steps: int, rounds: int) -> dict:
    """Batch-1 inference per step: rnnkit.LSTM over the sequence, rnnkit.LSTM called once per
    step with the state carried (streaming), and an nn.LSTMCell loop."""
    x = torch.randn(steps, 1, INPUT)
    cell = torch.nn.LSTMCell(INPUT, hidden)
    layer = rnnkit.LSTM(INPUT, hidden).eval()
    fused = rnnkit.LSTM(INPUT, hidden, backend="fused").eval()

    @torch.no_grad()
    def lstmcell():
        state = None
        for t in range(steps):
            state = cell(x[t], state)

    @torch.no_grad()
    def streaming(model):
        def run():
            state = None
            for t in range(steps):
                _, state = model(x[t:t + 1], state)
        return run

    @torch.no_grad()
    def whole(model):
        return lambda: model(x)

    def stream_steps():
        stream = layer.stream(1)  # the streaming API: one C++ call per layer and step
        for t in range(steps):
            stream.step(x[t])
    runners = {"nn.LSTMCell loop": lstmcell, "rnnkit sequence (auto)": whole(layer), "rnnkit sequence (fused)": whole(fused),
               "rnnkit layer call per step (auto)": streaming(layer), "rnnkit layer call per step (fused)": streaming(fused),
               "rnnkit stream.step": stream_steps}
    return {k: v / steps for k, v in measure(runners, rounds, budget=60).items()}


def gflops(cell: str, batch: int, hidden: int, steps: int, rounds: int) -> dict:
    """Recurrent GEMM GFLOP/s inside the fused forward kernel vs torch.mm on the same shapes."""
    ext = load_extension()
    blocks = 4 if cell == "lstm" else 3
    x = torch.randn(steps, batch, blocks * hidden)
    h0 = torch.zeros(batch, hidden)
    w = torch.randn(blocks * hidden, hidden) * 0.1
    e, m = torch.empty(0), torch.empty(0, dtype=torch.bool)
    h = torch.randn(batch, hidden)
    wt = w.t()
    runners = {
        "fused": (lambda: ext.lstm_forward(x, h0, h0, w, m, e)) if cell == "lstm"
        else (lambda: ext.gru_forward(x, h0, w, e, m, e)),
        "torch.mm": lambda: [torch.mm(h, wt) for _ in range(steps)],
    }
    flops = 2.0 * batch * hidden * blocks * hidden * steps
    return {k: flops / v / 1e9 for k, v in measure(runners, rounds, budget=30).items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset of the grid")
    parser.add_argument("--cells", default=",".join(CELLS), help=f"comma-separated subset of {CELLS}")
    parser.add_argument("--impls", default="rnnkit,fused,nn,loop,jax,keras", help="comma-separated implementations")
    parser.add_argument("--peer-max-hidden", type=int, default=512, help="run loop/jax/keras only up to this hidden size")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=40.0, help="seconds per point and mode before fewer rounds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="", help="comma-separated subset of the grid's batch sizes")
    parser.add_argument("--hiddens", default="", help="comma-separated subset of the grid's hidden sizes")
    parser.add_argument("--steps", default="", help="comma-separated subset of the grid's sequence lengths")
    parser.add_argument("--sections", default="points,stream,gflops", help="which parts to measure")
    parser.add_argument("--modes", default="train,infer", help="comma-separated subset of train,infer (points only)")
    parser.add_argument("--merge", action="store_true", help="update the rows of the existing --out file, keep the rest")
    parser.add_argument("--label", default=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                        help="name of this run, recorded with every row it measures")
    parser.add_argument("--out", default=str(Path(__file__).with_name("speed.json")))
    args = parser.parse_args(argv)
    sections = args.sections.split(",")
    torch.set_num_threads(args.threads)
    cpus = pin_cpus(args.threads)
    sys.path.insert(0, str(Path(__file__).parent))
    impls = args.impls.split(",")
    versions = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.processor() or platform.machine()}
    for name in ("jax", "keras"):
        if name in impls:
            try:
                versions[name] = __import__(f"peers_{name}").version()
            except Exception as error:  # an optional peer that is not installed is reported, not fatal
                print(f"skipping {name}: {type(error).__name__}: {error}", flush=True)
                impls.remove(name)
                versions[name] = f"not run: {type(error).__name__}: {error}"
    result = {"threads": args.threads, "cpus": cpus, "quick": args.quick, "versions": versions, "fused_available": load_extension() is not None,
              "points": [], "stream": {}, "gflops": []}
    out = Path(args.out)
    if args.merge and out.exists():
        result = json.loads(out.read_text())
        result.setdefault("runs", {})
    result.setdefault("runs", {})[args.label] = {"versions": versions, "argv": sys.argv[1:] if argv is None else argv,
                                                 "warm_up_below_seconds": WARM_UP_BELOW, "cpus": cpus}
    index = {_key(row): i for i, row in enumerate(result["points"])}
    grid = grid_points(args.quick, _ints(args.batches), _ints(args.hiddens), _ints(args.steps))
    for batch, hidden, steps in (grid if "points" in sections else []):
        for cell in args.cells.split(","):
            for mode in args.modes.split(","):
                runners = {}
                for impl in impls:
                    if impl in ("loop", "jax", "keras") and hidden > args.peer_max_hidden:
                        continue
                    if impl == "fused" and cell in ("lstm_ln", "lstm_rd", "gru_orig"):
                        continue  # auto runs these on fused already
                    run = make(impl, cell, batch, hidden, steps, mode == "train")
                    if run is not None:
                        runners[impl] = run
                cpu_per_wall = {}
                times = measure(runners, args.rounds, args.budget, cpu_per_wall=cpu_per_wall)
                row = {"cell": cell, "mode": mode, "batch": batch, "hidden": hidden, "steps": steps, "seconds": times,
                       "cpu_per_wall": {k: round(v, 2) for k, v in cpu_per_wall.items()}, "run": args.label}
                if _key(row) in index:
                    result["points"][index[_key(row)]] = row
                else:
                    index[_key(row)] = len(result["points"])
                    result["points"].append(row)
                print(json.dumps(row), flush=True)
                out.write_text(json.dumps(result, indent=1))
    if "stream" in sections:
        result["stream"] = {}
        for hidden in (64, 256, 512):
            result["stream"][str(hidden)] = step_stream(hidden, 50, args.rounds + 2)
            print("stream", hidden, result["stream"][str(hidden)], flush=True)
        result["stream_run"] = args.label
    if "gflops" in sections:
        result["gflops"] = []
        for cell in ("lstm", "gru"):
            for batch, hidden in itertools.product((1, 16, 64), (64, 256, 512)):
                row = {"cell": cell, "batch": batch, "hidden": hidden, **gflops(cell, batch, hidden, 50, args.rounds)}
                result["gflops"].append(row)
        result["gflops_run"] = args.label
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
