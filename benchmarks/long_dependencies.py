"""Long-dependency benchmark: the adding problem and copy memory for tanh RNN, LSTM and GRU.

Grid (issue 6): adding T in {100, 200, 400, 600} (about 70K parameters), copy memory
T in {100, 200, 500} (about 16K parameters), as in Bai, Kolter and Koltun 2018; each cell with
and without gradient clipping (global norm 1.0), each run within a fixed time budget
(``--budget`` seconds: process CPU time on a CPU, wall time on a GPU). Training samples are
drawn fresh every step from ``rnnkit.data.synthetic``; the final loss is measured on a fixed
test set of 1000 samples (seed 12345) shared by every run. Adam, lr 1e-3, batch ``--batch``.

After training, the weights are loaded into the rnnkit twin of the model (``rnnkit.LSTM``
etc. have torch's state_dict keys) and ``rnnkit.diagnostics.gradient_flow`` measures
||dLoss/dh_t|| per step on 32 test samples; the twin's outputs are checked against the
trained model's.

Engines: ``--engine torch`` trains with ``torch.nn.LSTM/GRU/RNN`` (oneDNN on CPU, cuDNN on
GPU), the same parameterization as rnnkit's layers; ``--engine rnnkit`` trains rnnkit's layers
with whatever backend ``auto`` picks (the fused C++ kernels, or torch's oneDNN kernel for LSTM
training at batch x hidden >= 4096); each result records it as ``train_backend``.

    PYTHONPATH=src python benchmarks/long_dependencies.py --grid key --budget 120 --jobs 2 --out results.jsonl
    PYTHONPATH=src python benchmarks/long_dependencies.py --engine rnnkit --budget 720 --runs copy:200:lstm:clip:chrono \
        --lr 1e-2 --lr-schedule cosine --curriculum 10:2:0.1 --out results.jsonl   # curriculum over T from 10
    PYTHONPATH=src python benchmarks/long_dependencies_report.py results.jsonl ...
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time

import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.data.synthetic import ADDING_BASELINE_MSE, adding_problem, copy_memory, copy_memory_baseline
from rnnkit.diagnostics import gradient_flow
from rnnkit.train.curriculum import LengthCurriculum

ADDING_T, COPY_T, CELLS = (100, 200, 400, 600), (100, 200, 500), ("rnn", "lstm", "gru")
# hidden sizes that put each model near the budget (counted in param_count below)
HIDDEN = {("adding", "lstm"): 130, ("adding", "gru"): 150, ("adding", "rnn"): 262,
          ("copy", "lstm"): 56, ("copy", "gru"): 66, ("copy", "rnn"): 116}
VOCAB = 10  # copy memory: blank 0, symbols 1..8, delimiter 9
TEST_SEED, TEST_SIZE, CLIP_NORM, LR = 12345, 1000, 1.0, 1e-3


def baseline(task: str, steps: int) -> float:
    return ADDING_BASELINE_MSE if task == "adding" else copy_memory_baseline(steps)


class Net(nn.Module):
    """Recurrent layer + linear head: adding reads the last step, copy every step (one-hot input)."""

    def __init__(self, task, cell, hidden, engine):
        super().__init__()
        self.task = task
        source = rnnkit if engine == "rnnkit" else nn
        layer = {"lstm": source.LSTM, "gru": source.GRU, "rnn": source.RNN}[cell]
        self.rnn = layer(2 if task == "adding" else VOCAB, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1 if task == "adding" else VOCAB)

    def forward(self, x):
        if self.task == "copy":
            x = F.one_hot(x, VOCAB).to(self.head.weight.dtype)  # (B, L, 10)
        out = self.rnn(x)[0]  # (B, L, H)
        return self.head(out[:, -1]) if self.task == "adding" else self.head(out)


def task_loss(task, out, y):
    if task == "adding":
        return F.mse_loss(out, y)
    return F.cross_entropy(out.reshape(-1, VOCAB), y.reshape(-1))


def sample(task, steps, n, generator):
    if task == "adding":
        return adding_problem(n, steps, generator=generator)
    return copy_memory(n, steps, generator=generator)


@torch.no_grad()
def chrono_init(net, cell, steps, generator):
    """Tallec and Ollivier 2018: forget (LSTM) / update (GRU) gate biases log U(1, T - 1), so
    the initial memory time scales cover 1..T; LSTM input-gate bias the negative of it."""
    rnn, h = net.rnn, net.rnn.hidden_size
    if cell == "rnn":
        return
    b = torch.log(torch.rand(h, generator=generator) * (steps - 2) + 1).to(rnn.bias_ih_l0)
    block = {"lstm": 1, "gru": 1}[cell]  # LSTM i,f,g,o: f is 1; GRU r,z,n: z is 1
    rnn.bias_hh_l0[block * h:(block + 1) * h] = 0
    rnn.bias_ih_l0[block * h:(block + 1) * h] = b
    if cell == "lstm":
        rnn.bias_hh_l0[:h] = 0
        rnn.bias_ih_l0[:h] = -b


def make_curriculum(cfg, task, steps):
    """cfg["curriculum"] = "start:growth:threshold" -> a LengthCurriculum ending at the task's T."""
    if not cfg.get("curriculum"):
        return None
    start, growth, threshold = cfg["curriculum"].split(":")
    return LengthCurriculum(int(start), steps, baseline=lambda length: baseline(task, length), growth=float(growth),
                            threshold=float(threshold), window=50)


def param_count(net):
    return sum(p.numel() for p in net.parameters())


class Batches:
    """Fresh training batches, generated on the CPU 32 at a time and moved in one copy; with a
    curriculum, one batch at a time at the length the curriculum asks for."""

    def __init__(self, task, steps, batch, seed, device, curriculum=None):
        self.args, self.gen, self.device, self.queue = (task, steps, batch), torch.Generator().manual_seed(seed), device, []
        self.curriculum, self.length = curriculum, steps

    def next(self):
        if self.curriculum is not None:
            task, _, batch = self.args
            self.length = self.curriculum.sample_length(self.gen)
            x, y = sample(task, self.length, batch, self.gen)
            return x.to(self.device), y.to(self.device)
        if not self.queue:
            task, steps, batch = self.args
            x, y = sample(task, steps, 32 * batch, self.gen)
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            self.queue = list(zip(x.split(batch), y.split(batch)))[::-1]
        return self.queue.pop()


def evaluate(net, task, x, y, chunk=250):
    with torch.no_grad():
        total = sum(float(task_loss(task, net(x[i:i + chunk]), y[i:i + chunk])) * len(x[i:i + chunk])
                    for i in range(0, len(x), chunk))
    return total / len(x)


def run_one(cfg: dict) -> dict:
    task, steps, cell, device = cfg["task"], cfg["T"], cfg["cell"], torch.device(cfg["device"])
    torch.manual_seed(cfg["seed"])
    net = Net(task, cell, HIDDEN[(task, cell)], cfg["engine"])
    if cfg["init"] == "chrono":
        chrono_init(net, cell, steps + (20 if task == "copy" else 0), torch.Generator().manual_seed(cfg["seed"]))
    net = net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.get("lr", LR))
    # the fixed evaluation set: the test set (seed 12345), or a validation set for pilot runs
    test_x, test_y = sample(task, steps, TEST_SIZE, torch.Generator().manual_seed(cfg.get("eval_seed", TEST_SEED)))
    test_x, test_y = test_x.to(device), test_y.to(device)
    curriculum = make_curriculum(cfg, task, steps)
    batches = Batches(task, steps, cfg["batch"], cfg["seed"] + 1, device, curriculum)
    cuda = device.type == "cuda"
    clock = time.perf_counter if cuda else time.process_time
    spent, step, curve, next_eval = 0.0, 0, [], 0.0  # spent: training time only, evaluations excluded
    max_norm = torch.zeros((), device=device)
    ratios = []  # with a curriculum: training loss / baseline at the batch's length, since the last evaluation
    mark = clock()
    while True:
        if step % 10 == 0:  # look at the clock every 10 steps (on a GPU that needs a sync)
            if cuda:
                torch.cuda.current_stream(device).synchronize()
            spent += clock() - mark
            if spent >= next_eval or spent >= cfg["budget"]:
                curve.append({"seconds": round(spent, 2), "step": step, "test_loss": evaluate(net, task, test_x, test_y),
                              "train_length": curriculum.length if curriculum else steps,
                              "train_ratio": sum(ratios) / len(ratios) if ratios else None})
                ratios.clear()
                print(f"  {task} T={steps} {cell} clip={cfg['clip']} init={cfg['init']}: {curve[-1]}", flush=True)
                next_eval += cfg["budget"] / 8
                if spent >= cfg["budget"]:
                    break
            if cfg.get("lr_schedule") == "cosine":  # by the share of the budget spent, so any budget ends at 0
                for group in optimizer.param_groups:
                    group["lr"] = cfg["lr"] * 0.5 * (1 + math.cos(math.pi * min(1.0, spent / cfg["budget"])))
            mark = clock()
        x, y = batches.next()
        loss = task_loss(task, net(x), y)
        if step == 0:
            backend = train_backend(net)  # what ran a training step (evaluations may run on another)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(net.parameters(), CLIP_NORM if cfg["clip"] else float("inf"))
        max_norm = torch.maximum(max_norm, norm.detach())  # stays on the device: no sync per step
        optimizer.step()
        if curriculum is not None:
            ratios.append(float(loss.detach()) / baseline(task, batches.length))  # training loss / its baseline
            curriculum.update(ratios[-1] * baseline(task, batches.length), batches.length)
        step += 1
    final = curve[-1]["test_loss"]
    result = dict(cfg, params=param_count(net), hidden=HIDDEN[(task, cell)], steps_done=step,
                  samples_seen=step * cfg["batch"], seconds=curve[-1]["seconds"], final_loss=final,
                  baseline=baseline(task, steps), ratio_to_baseline=final / baseline(task, steps),
                  max_grad_norm=float(max_norm), curve=curve, torch=torch.__version__, train_backend=backend,
                  device_name=torch.cuda.get_device_name(device) if cuda else "cpu",
                  curriculum_history=curriculum.history if curriculum else None)
    result.update(diagnose_twin(net.cpu(), cfg, test_x[:32].cpu(), test_y[:32].cpu()))
    return result


def train_backend(net):
    """What ran the recurrent layer during training: rnnkit.explain's line for an rnnkit layer."""
    if not hasattr(net.rnn, "last_backend"):
        return "torch.nn"
    return rnnkit.explain(net.rnn).splitlines()[1].strip()


def diagnose_twin(net, cfg, x, y):
    """Load the trained weights into the rnnkit twin and measure gradient flow on 32 samples
    (in float64, so that gradients far below float32's range still show)."""
    twin = Net(cfg["task"], cfg["cell"], HIDDEN[(cfg["task"], cfg["cell"])], "rnnkit")
    twin.load_state_dict(net.state_dict())
    with torch.no_grad():
        twin_gap = float((twin(x) - net(x)).abs().max())
    twin = twin.double()
    if x.is_floating_point():
        x, y = x.double(), y.double()
    report = gradient_flow(twin, (x, y), lambda out, target: task_loss(cfg["task"], out, target), warn=False)
    d = report.directions[0]
    return {"twin_max_abs_diff": twin_gap, "backend_diagnostics": str(twin.rnn.last_backend[0][0].backend),
            "flow": report.to_dict(), "flow_ratio": d.ratio, "saturation": d.saturation,
            "spectral_radius": d.spectra["radius"]}


def grid(kind, cells, clips, init):
    tasks = [("adding", 400), ("copy", 200)] if kind == "key" else \
        [("adding", t) for t in ADDING_T] + [("copy", t) for t in COPY_T]
    if kind == "stretch":
        tasks = [("adding", 600)]
    # the targets' cells first, so a run cut short still has them
    order = {("adding", 400): 0, ("copy", 200): 1}
    tasks.sort(key=lambda t: order.get(t, 2))
    return [{"task": task, "T": steps, "cell": cell, "clip": clip, "init": init}
            for task, steps in tasks for cell in cells for clip in clips]


def parse_runs(text, init):
    """"adding:400:lstm:clip[:chrono],copy:200:gru:noclip" -> configurations."""
    out = []
    for item in text.split(","):
        parts = item.split(":")
        if len(parts) not in (4, 5) or parts[0] not in ("adding", "copy") or parts[2] not in CELLS or parts[3] not in ("clip", "noclip"):
            raise SystemExit(f"--runs: expected task:T:cell:clip|noclip[:init], got {item!r}")
        out.append({"task": parts[0], "T": int(parts[1]), "cell": parts[2], "clip": parts[3] == "clip",
                    "init": parts[4] if len(parts) == 5 else init})
    return out


def _worker_init():
    torch.set_num_threads(1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", choices=("full", "key", "stretch"), default="key")
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--clip", choices=("both", "on", "off"), default="both")
    parser.add_argument("--init", choices=("torch", "chrono"), default="torch")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per run (CPU time on cpu, wall time on cuda)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, one process each (one thread each)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--engine", choices=("torch", "rnnkit"), default="torch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=LR, help="Adam learning rate")
    parser.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                        help="cosine: lr * (1 + cos(pi * budget share spent)) / 2, updated every 10 steps")
    parser.add_argument("--curriculum", default="", help="start:growth:threshold, a curriculum over T ending at the run's T "
                        "(rnnkit.train.curriculum.LengthCurriculum; the final loss is still measured at T)")
    parser.add_argument("--eval-seed", type=int, default=TEST_SEED,
                        help=f"seed of the fixed evaluation set: {TEST_SEED} is the test set; pilots use another (validation)")
    parser.add_argument("--limit", type=int, default=0, help="run only the first N configurations (0: all)")
    parser.add_argument("--runs", default="", help="explicit runs task:T:cell:clip|noclip[:init], comma-separated (replaces --grid)")
    parser.add_argument("--out", required=True, help="JSON lines file; one line is appended per finished run")
    args = parser.parse_args(argv)
    clips = {"both": (True, False), "on": (True,), "off": (False,)}[args.clip]
    configs = parse_runs(args.runs, args.init) if args.runs else grid(args.grid, args.cells.split(","), clips, args.init)
    if args.limit:
        configs = configs[:args.limit]
    for cfg in configs:
        cfg.update(budget=args.budget, batch=args.batch, device=args.device, engine=args.engine, seed=args.seed,
                   lr=args.lr, lr_schedule=args.lr_schedule, curriculum=args.curriculum, eval_seed=args.eval_seed)
    print(f"{len(configs)} runs, {args.budget:g} s each, {args.jobs} at once on {args.device}", flush=True)
    lock = threading.Lock()

    def save(result):
        with lock, open(args.out, "a") as f:
            f.write(json.dumps(result) + "\n")
        print(f"{result['task']} T={result['T']} {result['cell']} clip={result['clip']} init={result['init']}: "
              f"loss {result['final_loss']:.4g} ({result['ratio_to_baseline']:.3g} of baseline) after "
              f"{result['steps_done']} steps, flow ratio {result['flow_ratio']:.3g}", flush=True)

    if args.jobs > 1:  # one process per run at a time; on a GPU each has its own context
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.jobs, initializer=_worker_init) as pool:
            for result in pool.imap_unordered(run_one, configs):
                save(result)
    else:
        _worker_init()
        for cfg in configs:
            save(run_one(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
