"""k-fold cross-validation curves of the classify task on a built-in set's training part.

The training part is cut into k stratified folds; for each fold an ensemble of M members (the
task's defaults, or ``-o KEY=VALUE`` overrides) trains on the other folds exactly as a run on
the whole training part would (no validation data given to the trainer, so the plateau
schedule reads the training loss and the last epoch is what a run keeps), and after every
epoch the held-out fold is scored by

    each member alone                  (single-model accuracy and loss)
    the first k members averaged       for k = 1..M (probabilities averaged, as ``ensemble=k``)

Averaged over folds, these curves say how many epochs to train and what averaging gains, from
the training part only: the test part is never scored.

    python benchmarks/classify_cv.py JapaneseVowels --folds 3 --members 3 --epochs 80 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

RESULTS = HERE / "classify_cv.json"


def stratified_folds(labels, folds: int, seed: int) -> list:
    """Fold index (0..folds-1) of every sample: each class shuffled, then dealt round-robin."""
    import numpy as np

    labels = np.asarray(labels)
    fold = np.zeros(len(labels), dtype=np.int64)
    rng = np.random.default_rng(seed)
    start = 0
    for label in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        fold[members] = (start + np.arange(len(members))) % folds  # a class's remainder goes to the next folds
        start += len(members)
    return fold.tolist()


def scores(member_logits, targets) -> dict:
    """Accuracy and mean negative log-likelihood of each member and of the first k averaged."""
    import torch

    log_p = torch.log_softmax(member_logits, dim=-1)  # (M, N, C)
    out = {"member_accuracy": [], "member_loss": [], "ensemble_accuracy": [], "ensemble_loss": []}
    for m in range(log_p.shape[0]):
        out["member_accuracy"].append(float(log_p[m].argmax(-1).eq(targets).float().mean()))
        out["member_loss"].append(float(-log_p[m].gather(1, targets[:, None]).mean()))
        mixed = torch.logsumexp(log_p[:m + 1], dim=0) - math.log(m + 1)  # (N, C)
        out["ensemble_accuracy"].append(float(mixed.argmax(-1).eq(targets).float().mean()))
        out["ensemble_loss"].append(float(-mixed.gather(1, targets[:, None]).mean()))
    return out


def fold_curves(dataset: str, folds: int, members: int, epochs: int, seed: int, options: dict) -> list:
    import torch

    from rnnkit.tasks import RunConfig, get_task
    from rnnkit.tasks.base import Prepared, Split
    from rnnkit.tasks.classify import predict_batches
    from rnnkit.tasks.run import fit
    from rnnkit.train import Callback

    task = get_task("classify")
    defaults = task.defaults(dataset)
    values = {**defaults, "task": "classify", "dataset": dataset, "epochs": epochs, "seed": seed, "validation": 0.0,
              "options": {**defaults.get("options", {}), **options, "ensemble": members}}
    config = RunConfig.from_dict(values)
    prepared = task.prepare(config)  # validation 0: every training series in prepared.train
    inputs, targets = prepared.train.inputs, prepared.train.targets
    fold_of = torch.tensor(stratified_folds(targets.tolist(), folds, seed))
    out = []
    for k in range(folds):
        take = lambda keep: Split(tuple(t[keep] for t in inputs), targets[keep])  # noqa: E731
        train, held = take(fold_of != k), take(fold_of == k)
        part = Prepared(train, None, prepared.test, prepared.model_config, prepared.state)
        torch.manual_seed(seed)
        model = task.build_model(prepared.model_config)
        curve = []
        every_member = getattr(model, "members_forward", lambda *x: model(*x)[None])  # (M, B, C)

        class Score(Callback):
            def on_epoch_end(self, trainer, epoch, logs):
                model.eval()
                every = predict_batches(lambda *x: every_member(*x).transpose(0, 1), held.inputs)  # (N, M, C)
                curve.append({**scores(every.transpose(0, 1), held.targets), "train_loss": logs["loss"]})
                model.train()

        start = time.process_time()
        fit(task, model, part, config, progress=False, callbacks=[Score()])
        best = min(range(epochs), key=lambda e: curve[e]["ensemble_loss"][-1])
        print(f"{dataset} fold {k + 1}/{folds}: trained on {len(train)}, scored {len(held)}; {time.process_time() - start:.0f} "
              f"CPU s; ensemble of {members} at the last epoch: accuracy {curve[-1]['ensemble_accuracy'][-1]:.4f}, "
              f"lowest loss at epoch {best + 1}", flush=True)
        out.append(curve)
    return out


def summary(curves: list, members: int) -> dict:
    """Fold means per epoch, and where the ensemble's accuracy (10-epoch running mean) is highest
    and its loss (10-epoch running mean) lowest."""
    epochs = len(curves[0])
    mean = lambda key, m: [sum(c[e][key][m] for c in curves) / len(curves) for e in range(epochs)]  # noqa: E731
    single_acc = [sum(mean("member_accuracy", m)[e] for m in range(members)) / members for e in range(epochs)]
    single_loss = [sum(mean("member_loss", m)[e] for m in range(members)) / members for e in range(epochs)]
    ens_acc, ens_loss = mean("ensemble_accuracy", members - 1), mean("ensemble_loss", members - 1)
    running = [sum(ens_loss[max(0, e - 9):e + 1]) / len(ens_loss[max(0, e - 9):e + 1]) for e in range(epochs)]
    best = running.index(min(running))
    running_acc = [sum(ens_acc[max(0, e - 9):e + 1]) / len(ens_acc[max(0, e - 9):e + 1]) for e in range(epochs)]
    return {"ensemble_accuracy_running_mean": running_acc,
            "best_epoch_running_accuracy": running_acc.index(max(running_acc)) + 1,"single_accuracy": single_acc, "single_loss": single_loss, "ensemble_accuracy": ens_acc,
            "ensemble_loss": ens_loss, "ensemble_loss_running_mean": running, "best_epoch_running_loss": best + 1,
            "ensemble_of_k_accuracy_last": [mean("ensemble_accuracy", m)[-1] for m in range(members)]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--name", default="", help="key in classify_cv.json (default: the dataset)")
    parser.add_argument("-o", "--option", action="append", default=[], help="classify option KEY=VALUE (TOML value)")
    args = parser.parse_args(argv)
    import torch

    from rnnkit.tasks.config import parse_option_value

    if args.threads:
        torch.set_num_threads(args.threads)
    options = {k: parse_option_value(v) for k, v in (o.split("=", 1) for o in args.option)}
    start = time.process_time()
    curves = fold_curves(args.dataset, args.folds, args.members, args.epochs, args.seed, options)
    result = summary(curves, args.members)
    e = result["best_epoch_running_loss"] - 1
    a = result["best_epoch_running_accuracy"] - 1
    print(f"{args.dataset}: fold-mean ensemble accuracy (10-epoch running mean) highest at epoch {a + 1} of {args.epochs}: "
          f"ensemble accuracy {result['ensemble_accuracy'][a]:.4f}, single {result['single_accuracy'][a]:.4f}")
    print(f"{args.dataset}: fold-mean ensemble loss (10-epoch running mean) lowest at epoch {e + 1} of {args.epochs}: "
          f"ensemble accuracy {result['ensemble_accuracy'][e]:.4f}, single {result['single_accuracy'][e]:.4f}")
    for epoch in range(0, args.epochs, max(1, args.epochs // 16)):
        print(f"  epoch {epoch + 1}: single {result['single_accuracy'][epoch]:.4f} / {result['single_loss'][epoch]:.4f}, "
              f"ensemble {result['ensemble_accuracy'][epoch]:.4f} / {result['ensemble_loss'][epoch]:.4f} (accuracy / loss)")
    print(f"  last epoch, ensemble of k = 1..{args.members}: {[round(v, 4) for v in result['ensemble_of_k_accuracy_last']]}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[args.name or args.dataset] = {
        "dataset": args.dataset, "folds": args.folds, "members": args.members, "epochs": args.epochs, "seed": args.seed,
        "options": options, "cpu_seconds": round(time.process_time() - start, 1), **result, "folds_curves": curves}
    RESULTS.write_text(json.dumps(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
