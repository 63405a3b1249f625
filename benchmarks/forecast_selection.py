"""Choose the forecasting defaults of the built-in series on the training part only.

The held-out test part of airline (36 months) and sunspots (30 years) is never read here.

Round 11 (``rolling``, keys ``transform=...,...``): ``--transform sqrt|log|boxcox`` applies a
variance-stabilizing transform for every candidate (in place of the series' ``log=true`` where it
has one), judged on the same origins, seeds and rule; candidates and margins fixed in
``quality_notes/round11_forecasting.md`` before the runs. ``--origins`` runs only some origins
(the check runs of the stored default).

Round 10 (``rolling``, keys ``difference=[...],...``): ``--difference '[1,12]'`` replaces a
series' fixed differencing lags for every candidate (airline: the airline model's first and
seasonal differences with the round-9b hybrid), judged on the same origins, seeds and rule.

Round 9b (``rolling``, keys ``residual_ar=p``): the hybrid of a fixed least-squares AR(p) and an
LSTM trained on its residual (``-o residual_ar=p``), judged on the same origins, seeds and rule
against the stored runs of the current default (highway 0, no residual AR; the default path is
unchanged by the new option). Candidates fixed before the runs: p = season and season + 1 for
airline (12, 13), the ~11-year cycle and twice it for sunspots (11, 22). After the first
airline runs showed the LSTM fitting the residual's noise, one more candidate per series was
declared before its runs: p = season (airline 12) or cycle (sunspots 11) with weight_decay 0.01
(Adam's L2 penalty; 0.01 is torch.optim.AdamW's default), the brief's "regularized toward zero".

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
    python benchmarks/forecast_selection.py --threads 1 --residual-ar default --seeds 0,1,2   # round 9b
    python benchmarks/forecast_selection.py --threads 1 --only airline --seeds 0,1,2 --residual-ar 12 \
        --weight-decay 0.01 --difference '[1,12]'                  # round 10
    python benchmarks/forecast_selection.py --threads 1 --only sunspots --seeds 0,1,2 \
        --residual-ar 11 --weight-decay 0.01 --transform sqrt        # round 11
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

RESIDUAL_AR = {"airline": (12, 13), "sunspots": (11, 22)}  # round 9b's candidates, fixed before the runs
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


def candidate_key(highway: int, residual_ar: int, weight_decay: float = 0.0, difference: str = "",
                  transform: str = "") -> str:
    """The JSON key of a candidate: round 9's plain highway widths, round 9b's ``residual_ar=p[,weight_decay=w]``,
    round 10's ``difference=[...],`` prefix where the differencing lags differ from the series'
    fixed ones, round 11's ``transform=...,`` prefix where a transform replaces the series' own
    (none, or airline's log)."""
    key = f"residual_ar={residual_ar}" if residual_ar else str(highway)
    key += f",weight_decay={weight_decay:g}" if weight_decay else ""
    key = f"difference={difference},{key}" if difference else key
    return f"transform={transform},{key}" if transform else key


def candidate_label(key: str) -> str:
    if key == "0":
        return "none (the current default)"
    return key if key.startswith(("residual_ar", "difference", "transform")) else f"highway={key}"


def replace_option(fixed: list, option: str, value: str = "") -> list:
    """``fixed`` (["-o", "k=v", ...]) without option ``option``, then ``-o option=value`` if a
    value is given."""
    pairs = [(flag, item) for flag, item in zip(fixed[::2], fixed[1::2])
             if not item.startswith(f"{option}=")]
    kept = [item for pair in pairs for item in pair]
    return kept + (["-o", f"{option}={value}"] if value else [])


def run_candidate(name: str, highway: int, origin: int, seed: int, residual_ar: int = 0, weight_decay: float = 0.0,
                  difference: str = "", transform: str = "") -> dict:
    from rnnkit.cli.main import main
    from rnnkit.tasks import get_task

    ahead, _, _, _, fixed = SERIES[name]
    if difference:  # round 10: replace the series' fixed differencing lags
        fixed = replace_option(fixed, "difference", difference)
    if transform:  # round 11: the transform replaces the series' log, if it has one
        fixed = replace_option(replace_option(fixed, "log"), "transform", transform)
    steps = min(ahead, len(training_part(name)[1]) - origin)
    defaults = get_task("forecast").defaults(name)
    lags = difference.strip("[]").replace(",", "_")
    differencing = "-d" + lags if lags else ""
    transformed = "-t" + transform if transform else ""
    out = WORK / "runs" / (f"{name}-hw{highway}-ar{residual_ar}-wd{weight_decay:g}{differencing}"
                           f"{transformed}-o{origin}-{seed}")
    argv = ["train", "forecast", "--data", str(origin_csv(name, origin, steps)), "-o", f"test_size={steps}",
            "-o", f"horizon={defaults['options']['horizon']}", "-o", f"highway={highway}",
            "-o", f"residual_ar={residual_ar}", "-o", f"weight_decay={weight_decay}", *fixed,
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
                  f"| candidate | {metric} per origin (seed: origins in order) | mean per seed | mean |", "|---|---|---|---|"]
        means = {}
        for key, by_seed in rows.items():
            per_seed = rolling_means(by_seed, metric)
            if not per_seed:
                continue
            means[key] = statistics.fmean(per_seed.values())
            detail = "; ".join(f"{s}: " + ", ".join(f"{r['metrics'][metric]:.3f}" for _, r in sorted(
                by_seed[s].items(), key=lambda kv: int(kv[0]))) for s in sorted(per_seed))
            lines.append(f"| {candidate_label(key)} | {detail} | {', '.join(f'{v:.3f}' for v in per_seed.values())} | {means[key]:.3f} |")
        if means:
            best, default = min(means, key=means.get), default_key(name)
            score = f" ({metric} {means[default]:.3f})." if default in means else "."
            lines += ["", f"Lowest mean: {candidate_label(best)} ({metric} {means[best]:.3f}, over "
                      f"origins and seeds). Built-in default: {candidate_label(default)}"
                      f"{score}", ""]
    return lines


def default_key(name: str) -> str:
    """The key of the series' built-in default among the candidates (the tables' rows)."""
    from rnnkit.tasks import get_task

    options = get_task("forecast").defaults(name)["options"]
    transform = options.get("transform", "none")
    transform = "" if transform == "none" else transform
    return candidate_key(options.get("highway", 0), options.get("residual_ar", 0),
                         options.get("weight_decay", 0.0), transform=transform)


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
             "forecasts open loop up to the end of the training part. Round 9b: on the same origins and seeds, the "
             "hybrid of a fixed least-squares AR(p) and an LSTM trained on its residual (`-o residual_ar=p`; "
             "candidates fixed in advance: airline p = 12, 13 (season, season + 1), sunspots p = 11, 22 (the "
             "~11-year cycle, twice it)); the lowest mean over origins and seeds is chosen. "
             "Round 10: airline's differencing [1, 12]. Round 11: a variance-stabilizing "
             "transform (`-o transform=...`; sunspots sqrt, airline Box-Cox in place of the log), "
             "adopted only if it beats the current default's mean by a margin fixed in advance "
             "(0.02 MASE, 0.10 MAPE points; `quality_notes/round11_forecasting.md`); below each "
             "table, the lowest mean and the built-in default.", ""]
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
    parser.add_argument("--residual-ar", default="", help="comma-separated residual_ar candidates, or 'default' for "
                        "each series' own (round 9b; the highway is then 0)")
    parser.add_argument("--weight-decay", type=float, default=0.0, help="Adam's L2 penalty for every candidate (0: none)")
    parser.add_argument("--difference", default="", help="differencing lags for every candidate, e.g. '[1,12]' "
                        "(round 10; default: each series' own)")
    parser.add_argument("--transform", default="", choices=("", "sqrt", "log", "boxcox"),
                        help="variance-stabilizing transform for every candidate, replacing the "
                        "series' log (round 11; default: each series' own)")
    parser.add_argument("--origins", default="",
                        help="comma-separated origins (default: each series' own)")
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
            candidates = [(h, 0) for h in highways]
            decay = args.weight_decay
            if args.residual_ar:
                orders = RESIDUAL_AR[name] if args.residual_ar == "default" else [int(p) for p in args.residual_ar.split(",")]
                candidates = [(0, p) for p in orders]
            origins = [int(o) for o in args.origins.split(",") if o] or SERIES[name][2]
            for (highway, order), seed, origin in itertools.product(candidates, seeds, origins):
                run = run_candidate(name, highway, origin, seed, order, decay, args.difference,
                                    args.transform)
                key = candidate_key(highway, order, decay, args.difference, args.transform)
                fresh = load_results()  # other processes may have written other series meanwhile
                fresh.setdefault("rolling", {}).setdefault(name, {}).setdefault(key, {}) \
                    .setdefault(str(seed), {})[str(origin)] = run
                RESULTS.write_text(json.dumps(fresh, indent=2) + "\n")
                results = fresh
                value = run.get("metrics", {}).get(SERIES[name][1])
                print(f"{name} {candidate_label(key)} seed {seed} origin {origin}: {value}",
                      flush=True)
    REPORT.write_text(render(results))
    print(REPORT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
