"""``rnnkit predict DIR INPUT``: classify (or tag) every sample in INPUT with a trained run."""

from __future__ import annotations

import sys


def register(commands) -> None:
    p = commands.add_parser("predict", help="classify or tag the samples in a file",
                            description="Predict with a classify or tag run. INPUT: one sample per line (text, or "
                                        "numbers separated by commas for a series), or CSV/JSONL with a text column.")
    p.add_argument("run_dir", metavar="DIR", help="a classify or tag run directory")
    p.add_argument("input", metavar="INPUT", help="file of samples")
    p.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.cli.errors import CLIError
    from rnnkit.cli.rundir import open_run
    from rnnkit.tasks.run import LoadedRun

    task = open_run(args.run_dir, command="predict").get("task")
    if task not in ("classify", "tag"):
        raise CLIError(f"{args.run_dir}: this is a `{task}` run; `rnnkit predict` needs a `classify` or `tag` run "
                       f"(use `rnnkit {'generate' if task == 'lm' else task}` for it).")
    loaded = LoadedRun(args.run_dir, command="predict")
    for row in loaded.task.predict_rows(loaded.model, loaded.state, args.input):
        print("\t".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    sys.stdout.flush()
    return 0
