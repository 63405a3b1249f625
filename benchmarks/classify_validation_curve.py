"""Validation-loss curves of the classify task's defaults on parts carved from a training set.

For a built-in series set too small for the task to hold out a validation part (fewer than 20
series would be held out), this cuts the training part itself in two, stratified by class,
trains the task's default model on one half for many epochs and records the loss on the other
half after every epoch; then the halves swap. The epoch where the mean validation loss is
lowest says how long the defaults should train. The test part is never read.

    python benchmarks/classify_validation_curve.py ArrowHead --epochs 300 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

RESULTS = HERE / "classify_validation_curve.json"


def curves(dataset: str, epochs: int, seed: int) -> list:
    import torch

    from rnnkit.data.batching import validation_split
    from rnnkit.tasks import RunConfig, get_task
    from rnnkit.tasks.base import Prepared, Split
    from rnnkit.tasks.run import fit

    task = get_task("classify")
    defaults = task.defaults(dataset)
    config = RunConfig.from_dict({**defaults, "task": "classify", "dataset": dataset, "epochs": epochs, "seed": seed,
                                  "validation": 0.0})
    prepared = task.prepare(config)  # validation 0: every training series in prepared.train
    inputs, targets = prepared.train.inputs, prepared.train.targets
    first, second = validation_split(len(prepared.train), fraction=0.5, seed=seed, labels=targets)
    out = []
    for train_idx, val_idx in ((first, second), (second, first)):
        take = lambda idx: Split(tuple(t[torch.as_tensor(idx)] for t in inputs), targets[torch.as_tensor(idx)])  # noqa: E731
        half = Prepared(take(train_idx), take(val_idx), prepared.test, prepared.model_config, prepared.state)
        torch.manual_seed(seed)
        model = task.build_model(prepared.model_config)
        fitted = fit(task, model, half, config, progress=False)
        out.append(fitted["history"]["val_loss"])
        print(f"{dataset}: trained on {len(train_idx)}, validated on {len(val_idx)}; lowest validation loss "
              f"{min(out[-1]):.4f} at epoch {out[-1].index(min(out[-1])) + 1} of {epochs}", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    halves = curves(args.dataset, args.epochs, args.seed)
    mean = [sum(v) / len(v) for v in zip(*halves)]
    best = mean.index(min(mean)) + 1
    smooth = [sum(mean[max(0, i - 9):i + 1]) / len(mean[max(0, i - 9):i + 1]) for i in range(len(mean))]
    print(f"{args.dataset}: mean validation loss of the two halves lowest at epoch {best} of {args.epochs}; "
          f"10-epoch running mean lowest at epoch {smooth.index(min(smooth)) + 1}")
    for epoch in range(0, args.epochs, max(1, args.epochs // 15)):
        print(f"  epoch {epoch + 1}: {mean[epoch]:.4f} (running mean {smooth[epoch]:.4f})")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.dataset] = {"epochs": args.epochs, "seed": args.seed, "val_loss_halves": halves,
                             "best_epoch_mean": best, "best_epoch_running_mean": smooth.index(min(smooth)) + 1}
    RESULTS.write_text(json.dumps(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
