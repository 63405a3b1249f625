"""Choose the forecasting defaults of the built-in series on a validation tail of the training part.

The held-out test part of airline (36 months) and sunspots (30 years) is never read here. The
training part is cut once more: its last 36 (airline) or 30 (sunspots) steps become a
validation tail, and every candidate trains on what is left with ``rnnkit train forecast``
and forecasts that tail open loop, as the quality benchmark forecasts the test part. The
candidate with the lowest mean validation score over the seeds (MAPE for airline, MASE for
sunspots: the metrics of their quality rows) becomes the task's default. Candidates: window
length (lookback) and direct against recursive forecasting, single models, everything else
as the task's defaults.

    python benchmarks/forecast_selection.py --threads 1          # writes forecast_selection.json / .md
    python benchmarks/forecast_selection.py --report
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

RESULTS = HERE / "forecast_selection.json"
REPORT = HERE / "forecast_selection.md"
WORK = Path(tempfile.gettempdir()) / "rnnkit-forecast-selection"

SERIES = {  # name: (validation tail, metric, lookbacks, horizon, fixed options)
    "airline": (36, "mape", (12, 24, 36), 12, ["-o", "log=true", "-o", "difference=[12]", "-o", "season=12"]),
    "sunspots": (30, "mase", (11, 22, 33), 11, ["-o", "season=1"]),
}
STRATEGIES = ("direct", "recursive")


def training_part_csv(name: str) -> Path:
    """The training part of a built-in series as a CSV file (its test part left out)."""
    from rnnkit.data import load_dataset

    data = load_dataset(name)
    path = WORK / f"{name}_train.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    column = data.train.columns[0]
    path.write_text(f"{column}\n" + "".join(f"{v:.10g}\n" for v in data.train.values[:, 0]), encoding="utf-8")
    return path


def run_candidate(name: str, lookback: int, strategy: str, seed: int) -> dict:
    from rnnkit.cli.main import main
    from rnnkit.tasks import get_task

    tail, _, _, horizon, fixed = SERIES[name]
    defaults = get_task("forecast").defaults(name)
    out = WORK / "runs" / f"{name}-{lookback}-{strategy}-{seed}"
    argv = ["train", "forecast", "--data", str(training_part_csv(name)), "-o", f"test_size={tail}",
            "-o", f"lookback={lookback}", "-o", f"horizon={horizon}", "-o", f"strategy={strategy}", *fixed,
            "--epochs", str(defaults["epochs"]), "--hidden", str(defaults["hidden"]),
            "--batch-size", str(defaults["batch_size"]), "--lr", str(defaults["lr"]),
            "--validation", str(defaults.get("validation", 0.1)),
            "--seed", str(seed), "--out", str(out), "--overwrite", "--quiet"]
    if main(argv) != 0:
        return {"error": "training failed", "argv": argv}
    return {"metrics": json.loads((out / "metrics.json").read_text())["test"], "argv": argv}


def render(results: dict) -> str:
    lines = ["# Forecasting defaults chosen on a validation tail of the training part", "",
             "Produced by `benchmarks/forecast_selection.py` (raw numbers in `forecast_selection.json`). Each "
             "candidate trains on the training part minus its last steps and forecasts those steps open loop "
             "(the test part is not read); the lowest mean over the seeds is chosen.", ""]
    for name, (tail, metric, _, _, _) in SERIES.items():
        rows = results.get(name, {})
        if not rows:
            continue
        lines += [f"## {name}: last {tail} steps of the training part, {metric}", "",
                  f"| lookback | strategy | {metric} per seed | mean |", "|---|---|---|---|"]
        means = {}
        for key, runs in rows.items():
            values = [r["metrics"][metric] for r in runs.values() if "metrics" in r]
            if values:
                means[key] = statistics.fmean(values)
                lookback, strategy = key.split("/")
                lines.append(f"| {lookback} | {strategy} | {', '.join(f'{v:.3f}' for v in values)} | {means[key]:.3f} |")
        if means:
            best = min(means, key=means.get)
            lines += ["", f"Chosen: lookback {best.split('/')[0]}, {best.split('/')[1]} ({metric} {means[best]:.3f}).", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated series (default: all): " + ",".join(SERIES))
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--report", action="store_true", help="only re-render the markdown from the JSON")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.report:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        names = [n for n in args.only.split(",") if n] or list(SERIES)
        seeds = [int(s) for s in args.seeds.split(",") if s]
        for name in names:
            for lookback, strategy, seed in itertools.product(SERIES[name][2], STRATEGIES, seeds):
                run = run_candidate(name, lookback, strategy, seed)
                results.setdefault(name, {}).setdefault(f"{lookback}/{strategy}", {})[str(seed)] = run
                RESULTS.write_text(json.dumps(results, indent=2) + "\n")
                value = run.get("metrics", {}).get(SERIES[name][1])
                print(f"{name} lookback {lookback} {strategy} seed {seed}: {value}", flush=True)
    REPORT.write_text(render(results))
    print(REPORT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
