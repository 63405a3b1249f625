"""Render the long-dependency results (JSON lines from long_dependencies.py) as a markdown
table, a summary JSON and plots beside it.

    PYTHONPATH=src python benchmarks/long_dependencies_report.py benchmarks/results/long_dependencies_{key,rest}_*.jsonl \
        --rnnkit benchmarks/results/long_dependencies_rnnkit_cpu*.jsonl

Runs given with ``--rnnkit`` (trained by rnnkit's own layers on the CPU) get their own table, with
the learning rate, schedule, curriculum and the backend that ran, and their own curves plot.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from rnnkit.diagnostics.flow import FlowReport
from rnnkit.diagnostics.plots import _pyplot, plot_flow

HERE = Path(__file__).parent
# Bai, Kolter and Koltun 2018, "An Empirical Evaluation of Generic Convolutional and Recurrent
# Networks for Sequence Modeling", Table 1 (adding T=600 MSE; copy memory T=1000 loss).
PUBLISHED = {("adding", 600, "lstm"): 0.164, ("adding", 600, "gru"): 5.3e-5, ("adding", 600, "rnn"): 0.177}
CELL_ORDER = {"rnn": 0, "lstm": 1, "gru": 2}


def load(paths):
    results = []
    for path in paths:
        results += [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    results.sort(key=lambda r: (r["task"], r["T"], CELL_ORDER[r["cell"]], r["init"], not r["clip"]))
    return results


def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def budget_text(r):
    return f"{r['budget']:g} s {'GPU wall, shared' if r['device'].startswith('cuda') else 'CPU'}"


def table(results):
    rows = ["| task | T | cell | init | clip | params | budget | steps | final loss | baseline | loss / baseline | Bai et al. | max grad norm | flow ratio h_1/h_T |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        pub = PUBLISHED.get((r["task"], r["T"], r["cell"]))
        rows.append(f"| {r['task']} | {r['T']} | {r['cell']} | {r['init']} | {'yes' if r['clip'] else 'no'} | {r['params']:,} | "
                    f"{budget_text(r)} | {r['steps_done']:,} | {fmt(r['final_loss'], 4)} | {fmt(r['baseline'], 4)} | "
                    f"{fmt(r['ratio_to_baseline'])} | {fmt(pub) if pub else '-'} | {fmt(r['max_grad_norm'])} | {fmt(r['flow_ratio'])} |")
    return "\n".join(rows)


def best(results, task, steps, cell):
    runs = [r for r in results if (r["task"], r["T"], r["cell"]) == (task, steps, cell)]
    return min(runs, key=lambda r: r["final_loss"]) if runs else None


def flow_plot(results, task, steps, path):
    directions = []
    for cell in ("rnn", "lstm", "gru"):
        run = next((r for r in results if (r["task"], r["T"], r["cell"], r["clip"], r["init"]) == (task, steps, cell, True, "torch")), None)
        if run is None:
            continue
        report = FlowReport.from_dict(run["flow"])
        d = report.directions[0]
        d.name = f"{cell} (loss {run['final_loss']:.3g}, ratio {d.ratio:.2g})"
        directions.append(d)
    if directions:
        plot_flow(FlowReport(float("nan"), float("nan"), directions), path,
                  title=f"{task} T={steps}: ||dLoss/dh_t|| after training (clipped runs, float64)")
        return path
    return None


def curve_plot(results, path):
    plt = _pyplot()
    cases = [("adding", 400), ("copy", 200)]
    fig, axes = plt.subplots(1, len(cases), figsize=(12, 4.2))
    for ax, (task, steps) in zip(axes, cases):
        for r in results:
            if (r["task"], r["T"]) != (task, steps):
                continue
            xs = [p["step"] for p in r["curve"]]
            ys = [p["test_loss"] / r["baseline"] for p in r["curve"]]
            ax.semilogy(xs, ys, label=f"{r['cell']} {r['init']}{' clip' if r['clip'] else ''} ({r['budget']:g} s)")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.axhline(0.06 if task == "adding" else 0.01, color="r", lw=0.8, ls=":")
        ax.set_title(f"{task} T={steps}: test loss / baseline (red: target)")
        ax.set_xlabel("training step")
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def recipe_text(r):
    lr = f"Adam {r.get('lr', 1e-3):g}" + (" cosine" if r.get("lr_schedule") == "cosine" else "")
    if r.get("curriculum"):
        start, growth, threshold = r["curriculum"].split(":")
        lengths = " -> ".join(str(length) for _, length in r["curriculum_history"])
        lr += f"; curriculum from T={start} (x{growth} when train loss < {threshold} of baseline; reached {lengths})"
    return lr


def rnnkit_table(results):
    rows = ["| task | T | cell | init | clip | training recipe | params | budget | steps | final loss | loss / baseline | Bai et al. | ran on | max grad norm | flow ratio h_1/h_T |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        pub = PUBLISHED.get((r["task"], r["T"], r["cell"]))
        ran = r.get("train_backend", "-").split(" (")[0].replace("layer 0 forward: ", "")
        rows.append(f"| {r['task']} | {r['T']} | {r['cell']} | {r['init']} | {'yes' if r['clip'] else 'no'} | {recipe_text(r)} | "
                    f"{r['params']:,} | {budget_text(r)} | {r['steps_done']:,} | {fmt(r['final_loss'], 4)} | "
                    f"{fmt(r['ratio_to_baseline'])} | {fmt(pub) if pub else '-'} | {ran} | {fmt(r['max_grad_norm'])} | {fmt(r['flow_ratio'])} |")
    return "\n".join(rows)


def rnnkit_curve_plot(results, path):
    """Test loss / baseline against CPU seconds for the rnnkit runs; curriculum length dotted."""
    plt = _pyplot()
    cases = sorted({(r["task"], r["T"]) for r in results})
    fig, axes = plt.subplots(1, len(cases), figsize=(6 * len(cases), 4.2), squeeze=False)
    for ax, (task, steps) in zip(axes[0], cases):
        for r in results:
            if (r["task"], r["T"]) != (task, steps):
                continue
            xs = [p["seconds"] for p in r["curve"]]
            line, = ax.semilogy(xs, [p["test_loss"] / r["baseline"] for p in r["curve"]],
                                label=f"{r['cell']} {r['init']} lr {r.get('lr', 1e-3):g}{' curriculum' if r.get('curriculum') else ''}, {r['budget']:g} s")
            if r.get("curriculum"):
                twin = ax.twinx()
                twin.plot(xs, [p["train_length"] for p in r["curve"]], ls=":", color=line.get_color())
                twin.set_ylabel("curriculum T (dotted)")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.axhline(0.06 if task == "adding" else 0.01, color="r", lw=0.8, ls=":")
        ax.set_title(f"{task} T={steps}, rnnkit on CPU: test loss / baseline (red: target)")
        ax.set_xlabel("process CPU seconds")
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary(results):
    keep = ("task", "T", "cell", "init", "clip", "params", "hidden", "budget", "batch", "device", "device_name", "engine",
            "steps_done", "samples_seen", "final_loss", "baseline", "ratio_to_baseline", "max_grad_norm", "flow_ratio",
            "saturation", "spectral_radius", "twin_max_abs_diff", "torch", "curve", "lr", "lr_schedule", "curriculum",
            "curriculum_history", "train_backend", "eval_seed")
    return [{k: r.get(k) for k in keep} | {"published_bai2018": PUBLISHED.get((r["task"], r["T"], r["cell"]))} for r in results]


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("results", nargs="+")
    parser.add_argument("--rnnkit", nargs="*", default=[], help="runs trained by rnnkit on the CPU: own table and plot")
    parser.add_argument("--json", default=str(HERE / "long_dependencies.json"))
    args = parser.parse_args(argv)
    results, own = load(args.results), load(args.rnnkit)
    Path(args.json).write_text(json.dumps(summary(results + own), indent=1))
    plots = [flow_plot(results, "adding", 400, HERE / "long_dependencies_flow_adding400.png"),
             flow_plot(results, "copy", 200, HERE / "long_dependencies_flow_copy200.png"),
             curve_plot(results, HERE / "long_dependencies_curves.png")]
    print(table(results))
    if own:
        plots.append(rnnkit_curve_plot(own, HERE / "long_dependencies_curves_rnnkit_cpu.png"))
        print("\n" + rnnkit_table(own))
    print("\n".join(str(p) for p in plots if p))


if __name__ == "__main__":
    main()
