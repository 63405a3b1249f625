"""``rnnkit evaluate DIR``: the test metrics of a trained run (optionally on another file)."""

from __future__ import annotations

import json


def register(commands) -> None:
    p = commands.add_parser("evaluate", help="test metrics of a trained run",
                            description="Evaluate a trained run on its test data (or on --data PATH) and print "
                                        "{\"test\": {metric: value}} as JSON.")
    p.add_argument("run_dir", metavar="DIR", help="a run directory written by `rnnkit train`")
    p.add_argument("--data", metavar="PATH", help="evaluate on this file instead (same format as training)")
    p.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.tasks.run import LoadedRun

    loaded = LoadedRun(args.run_dir, command="evaluate")
    metrics = loaded.evaluate(args.data)
    print(json.dumps({"test": metrics}, indent=2))
    return 0
