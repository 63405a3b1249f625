"""Choose the forecasting defaults of the built-in series on the training part only.

The held-out test part of airline (36 months) and sunspots (30 years) is never read here.

Round 9 (``rolling``): rolling-origin validation. The training part is cut at several origins;
at each one a candidate trains on the series before it with ``rnnkit train forecast`` and
forecasts open loop up to 36 (airline) or 30 (sunspots) steps after it, never past the end of
the training part, as the quality benchmark forecasts the test part. The candidate with the
lowest mean score over origins and seeds (MAPE for airline, MASE for sunspots: the metrics of
their quality rows) becomes the task's default. Several origins judge a candidate on several
stretches of a short series instead of one. Candidates: the width of the linear autoregressive
highway beside the LSTM (``-o highway=p``; 0: none), single models, everything else as the
task's defaults (lookback and recursive forecasting as chosen in round 8).

Round 8 (``tail``, kept as a record): one validation tail (the last 36 or 30 steps of the
training part), candidates window length and direct against recursive forecasting.

    python benchmarks/forecast_selection.py --threads 1          # rolling-origin runs; writes .json / .md
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

SERIES = {  # name: (steps forecast after each origin, metric, origins, candidate highways, fixed options)
    "airline": (36, "mape", (72, 84, 96), (0, 12, 24),
                ["-o", "lookback=24", "-o", "strategy=recursive", "-o", "log=true", "-o", "difference=[12]",
                 "-o", "season=12"]),
    "sunspots": (30, "mase", (159, 189, 219, 249), (0, 11, 22),
                 ["-o", "lookback=22", "-o", "strategy=recursive", "-o", "season=1"]),
}
TAIL = {"airline": (36, "mape"), "sunspots": (30, "mase")}  # round 8's validation tails (record only)


def training_part(name: str):
    """The training part of a built-in series (its test part left out): (column name, values)."""
    from rnnkit.data import load_dataset

    data = load_dataset(name)
    return data.train.columns[0], data.train.values[:, 0]


def origin_csv(name: str, origin: int, steps: int) -> Path:
    """The first ``origin + steps`` values of the training part as a CSV file."""
    column, values = training_part(name)
    path = WORK / f"{name}_{origin}_{steps}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{column}\n" + "".join(f"{v:.10g}\n" for v in values[:origin + steps]), encoding="utf-8")
    return path


def run_candidate(name: str, highway: int, origin: int, seed: int) -> dict:
    from rnnkit.cli.main import main
    from rnnkit.tasks import get_task

    ahead, _, _, _, fixed = SERIES[name]
    steps = min(ahead, len(training_part(name)[1]) - origin)
    defaults = get_task("forecast").defaults(name)
    out = WORK / "runs" / f"{name}-hw{highway}-o{origin}-{seed}"
    argv = ["train", "forecast", "--data", str(origin_csv(name, origin, steps)), "-o", f"test_size={steps}",
            "-o", f"horizon={defaults['options']['horizon']}", "-o", f"highway={highway}", *fixed,
            "--epochs", str(defaults["epochs"]), "--hidden", str(defaults["hidden"]),
            "--batch-size", str(defaults["batch_size"]), "--lr", str(defaults["lr"]),
            "--validation", str(defaults.get("validation", 0.1)),
            "--seed", str(seed), "--out", str(out), "--overwrite", "--quiet"]
    if main(argv) != 0:
        return {"error": "training failed", "argv": argv}
    return {"metrics": json.loads((out / "metrics.json").read_text())["test"], "steps": steps, "argv": argv}


def rolling_means(runs_by_seed: dict, metric: str) -> dict:
    """{seed: mean over origins} for the seeds whose origins all ran."""
    means = {}
    for seed, by_origin in runs_by_seed.items():
        values = [r["metrics"][metric] for r in by_origin.values() if "metrics" in r]
        if values and len(values) == len(by_origin):
            means[seed] = statistics.fmean(values)
    return means


def render_rolling(results: dict) -> list:
    lines = []
    for name, (ahead, metric, origins, _, _) in SERIES.items():
        rows = results.get("rolling", {}).get(name, {})
        if not rows:
            continue
        lines += [f"## {name}: rolling origins {', '.join(map(str, origins))} of the training part "
                  f"({len(training_part(name)[1])} steps), up to {ahead} steps ahead, {metric}", "",
                  f"| highway | {metric} per origin (seed: origins in order) | mean per seed | mean |", "|---|---|---|---|"]
        means = {}
        for key, by_seed in rows.items():
            per_seed = rolling_means(by_seed, metric)
            if not per_seed:
                continue
            means[key] = statistics.fmean(per_seed.values())
            detail = "; ".join(f"{s}: " + ", ".join(f"{r['metrics'][metric]:.3f}" for _, r in sorted(
                by_seed[s].items(), key=lambda kv: int(kv[0]))) for s in sorted(per_seed))
            lines.append(f"| {key} | {detail} | {', '.join(f'{v:.3f}' for v in per_seed.values())} | {means[key]:.3f} |")
        if means:
            best = min(means, key=means.get)
            lines += ["", f"Chosen: highway {best} ({metric} {means[best]:.3f}, mean over origins and seeds).", ""]
    return lines


def render_tail(results: dict) -> list:
    lines = ["## Round 8: one validation tail (kept as a record)", "",
             "Each candidate trained on the training part minus its last steps and forecast those steps open loop; "
             "single models, the lowest mean over the seeds chosen.", ""]
    for name, (tail, metric) in TAIL.items():
        rows = results.get("tail", {}).get(name, {})
        if not rows:
            continue
        lines += [f"### {name}: last {tail} steps of the training part, {metric}", "",
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
    return lines


def render(results: dict) -> str:
    lines = ["# Forecasting defaults chosen on the training part", "",
             "Produced by `benchmarks/forecast_selection.py` (raw numbers in `forecast_selection.json`); the test "
             "part is never read. Round 9: rolling-origin validation of the linear autoregressive highway beside "
             "the LSTM (`-o highway=p`), single models; each origin's model trains on the series before it and "
             "forecasts open loop up to the end of the training part.", ""]
    return "\n".join(lines + render_rolling(results) + render_tail(results)) + "\n"


def load_results() -> dict:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if results and "tail" not in results and "rolling" not in results:  # the round-8 layout
        results = {"tail": results}
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated series (default: all): " + ",".join(SERIES))
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    parser.add_argument("--highways", default="", help="comma-separated candidates (default: each series' own)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("--report", action="store_true", help="only re-render the markdown from the JSON")
    args = parser.parse_args(argv)
    results = load_results()
    if not args.report:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        names = [n for n in args.only.split(",") if n] or list(SERIES)
        seeds = [int(s) for s in args.seeds.split(",") if s]
        for name in names:
            highways = [int(h) for h in args.highways.split(",") if h] or SERIES[name][3]
            for highway, seed, origin in itertools.product(highways, seeds, SERIES[name][2]):
                run = run_candidate(name, highway, origin, seed)
                fresh = load_results()  # other processes may have written other series meanwhile
                fresh.setdefault("rolling", {}).setdefault(name, {}).setdefault(str(highway), {}) \
                    .setdefault(str(seed), {})[str(origin)] = run
                RESULTS.write_text(json.dumps(fresh, indent=2) + "\n")
                results = fresh
                value = run.get("metrics", {}).get(SERIES[name][1])
                print(f"{name} highway {highway} seed {seed} origin {origin}: {value}", flush=True)
    REPORT.write_text(render(results))
    print(REPORT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
