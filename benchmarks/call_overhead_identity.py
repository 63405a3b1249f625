"""Check that two source trees give bit-identical results on the call_overhead configurations.

A change that only cuts per-call overhead must not change a single bit: for every
configuration of ``benchmarks/call_overhead.py`` (hidden 64, batch 3, 50 steps), float32 and
float64, full and padded lengths, training (outputs, final states and every parameter's
gradient, recurrent-dropout masks drawn from the same seed) and inference (outputs and final
states), this script runs each tree in a child process and compares the raw bytes, and the
text of ``rnnkit.explain``. Training runs with four losses: outputs and final states summed
(``train``), the outputs alone (``train_out``: the final states get no gradient), the final
states alone (``train_state``: the outputs get none), and ``train_h0``: a given initial state
and input that require gradients, whose gradients are compared too.

Run: ``python benchmarks/call_overhead_identity.py --before <old tree> --after .``
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from call_overhead import VARIANTS, make_layer  # noqa: E402


def child(path: str) -> None:
    import torch

    import rnnkit

    torch.set_num_threads(1)
    results = {}
    for dtype in (torch.float32, torch.float64):
        for variant in VARIANTS:
            for lengths in (None, [50, 37, 12]):
                torch.manual_seed(0)
                layer = make_layer(rnnkit, variant, 64).to(dtype)
                x = torch.randn(50, 3, 128, dtype=dtype)  # (T, B, I)
                for mode in ("train", "train_out", "train_state", "train_h0", "infer"):
                    training = mode != "infer"
                    layer.train(training)
                    layer.zero_grad()
                    given, x_in = None, x
                    if mode == "train_h0":
                        torch.manual_seed(2)
                        count = 2 if variant.startswith("lstm") else 1
                        given = tuple(torch.randn(1, 3, 64, dtype=dtype, requires_grad=True)
                                      for _ in range(count))  # (layers, B, H)
                        given = given if count == 2 else given[0]
                        x_in = x.clone().requires_grad_(True)
                    torch.manual_seed(1)  # the recurrent-dropout mask
                    with torch.set_grad_enabled(training):
                        out, state = layer(x_in, given, lengths=lengths)
                    parts = state if isinstance(state, tuple) else (state,)
                    grads = []
                    if training:
                        loss = {"train_out": out.sum(),
                                "train_state": sum(part.sum() for part in parts)}.get(
                                    mode, out.sum() + sum(part.sum() for part in parts))
                        loss.backward()
                        grads = [p.grad for p in layer.parameters()]
                        if given is not None:
                            leaves = given if isinstance(given, tuple) else (given,)
                            grads += [leaf.grad for leaf in leaves] + [x_in.grad]
                    key = (str(dtype), variant, str(lengths), mode)
                    results[key] = ([t.detach().numpy().tobytes() for t in (out, *parts, *grads)],
                                    rnnkit.explain(layer))
    with open(path, "wb") as handle:
        pickle.dump(results, handle)


def run_tree(tree: str, path: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.join(tree, "src"), OMP_NUM_THREADS="1")
    command = [sys.executable, os.path.abspath(__file__), "--child", path]
    subprocess.run(command, env=env, check=True)
    with open(path, "rb") as handle:  # written by our own child process a moment ago
        return pickle.load(handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="folder of the old source tree (holds src/rnnkit)")
    parser.add_argument("--after", default=os.path.dirname(HERE),
                        help="folder of the new source tree")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not args.before or not os.path.isdir(os.path.join(args.before, "src", "rnnkit")):
        raise ValueError(f"Received an invalid value for argument `--before`: expected a folder "
                         f"holding src/rnnkit, got {args.before!r}.")
    with tempfile.TemporaryDirectory() as folder:
        before = run_tree(args.before, os.path.join(folder, "before.pkl"))
        after = run_tree(args.after, os.path.join(folder, "after.pkl"))
    differing = [key for key in before if before[key] != after.get(key)]
    listed = f": {differing}" if differing else ""
    print(f"{len(before)} cases, {len(differing)} differing{listed}")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
