"""``rnnkit datasets``: the built-in datasets, the task each suits, and their sizes."""

from __future__ import annotations


def register(commands) -> None:
    p = commands.add_parser("datasets", help="list the built-in datasets",
                            description="List the built-in datasets (nothing is downloaded).")
    p.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.tasks.datasets import builtin_datasets

    rows = builtin_datasets()
    width = max(len(r["name"]) for r in rows)
    twidth = max(len(r["task"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['task']:<{twidth}}  {r['description']}")
    return 0
