"""The built-in datasets as the tasks see them: a thin adapter over ``rnnkit.data``'s registry.

``rnnkit.data.list_datasets()`` describes every built-in set (name, task, sizes, source) and
``rnnkit.data.load_dataset(name)`` returns its official train/test parts. This module checks
that a name exists and suits the task, with messages that list what would work.
"""

from __future__ import annotations

# The registry's task names for each rnnkit task.
TASK_KINDS = {"classify": ("classify", "classification"), "tag": ("tag", "tagging"),
              "translate": ("translate", "translation"), "lm": ("lm", "language_model", "text"),
              "forecast": ("forecast", "forecasting")}


def _registry():
    from rnnkit import data

    return data.list_datasets, data.load_dataset


def builtin_datasets() -> list:
    """One dict per dataset: name, task, description, available."""
    list_datasets, _ = _registry()
    rows = []
    for info in list_datasets():
        sizes = ", ".join(f"{k} {v}" for k, v in getattr(info, "sizes", {}).items())
        note = "" if getattr(info, "available", True) else f"  [needs {', '.join(info.requires)}]"
        rows.append({"name": info.name, "task": info.task,
                     "description": f"{info.description}" + (f" ({sizes})" if sizes else "") + note})
    return rows


def _info(name: str):
    list_datasets, _ = _registry()
    infos = {info.name: info for info in list_datasets()}
    lower = {n.lower(): n for n in infos}
    if name.lower() in lower:  # names are case-insensitive, as in rnnkit.data.load_dataset
        return infos[lower[name.lower()]]
    if name not in infos:
        import difflib

        close = difflib.get_close_matches(name.lower(), list(lower), n=1)
        hint = f" Did you mean {lower[close[0]]!r}?" if close else ""
        raise ValueError(f"Received an invalid value for option `--dataset`: unknown dataset {name!r}.{hint} "
                         f"Expected one of {sorted(infos)} (see `rnnkit datasets`), or pass your file with --data.")
    return infos[name]


def check_dataset_for_task(name: str, task: str) -> None:
    info = _info(name)
    if info.task not in TASK_KINDS[task]:
        list_datasets, _ = _registry()
        fitting = sorted(i.name for i in list_datasets() if i.task in TASK_KINDS[task])
        raise ValueError(f"Received an invalid value for option `--dataset`: {name!r} is a {info.task} dataset, "
                         f"not one for task {task!r}; datasets for {task!r}: {fitting or 'none built in (use --data)'}.")


def load(name: str, task: str, **options):
    """The registry's Dataset for ``name`` after checking it suits ``task``; ``options`` go to
    its loader (e.g. ``num_train`` for the generated sets)."""
    check_dataset_for_task(name, task)
    _, load_dataset = _registry()
    return load_dataset(_info(name).name, **options)
