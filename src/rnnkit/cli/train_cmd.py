"""``rnnkit train TASK``: data -> trained model -> run directory, in one command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.cli.errors import CLIError
from rnnkit.cli.rundir import RunWriter, check_out_dir
from rnnkit.tasks.config import TASK_NAMES, CELL_NAMES, KEEP_CHOICES, LR_SCHEDULES, parse_option_value, read_toml, resolve

S = argparse.SUPPRESS


def register(commands) -> None:
    p = commands.add_parser("train", help="train a model and write a run directory",
                            description="Train a model for TASK on a built-in dataset or your file, and write "
                                        "the config, checkpoint, metrics.json and plots into --out.")
    p.add_argument("task", choices=TASK_NAMES, metavar="TASK", help=f"one of {', '.join(TASK_NAMES)}")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--dataset", default=S, metavar="NAME", help="a built-in dataset (see `rnnkit datasets`)")
    source.add_argument("--data", default=S, metavar="PATH", help="your data file")
    p.add_argument("--cell", choices=CELL_NAMES, default=S, help="recurrent cell (default lstm)")
    p.add_argument("--hidden", type=int, default=S, metavar="N", help="hidden size per direction (default 64)")
    p.add_argument("--layers", type=int, default=S, metavar="N", help="stacked layers (default 1)")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=S, help="read both directions")
    p.add_argument("--dropout", type=float, default=S, metavar="P", help="dropout between layers (default 0)")
    p.add_argument("--epochs", type=int, default=S, metavar="N")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=S, metavar="N")
    p.add_argument("--lr", type=float, default=S, metavar="RATE", help="Adam learning rate (default 1e-3)")
    p.add_argument("--lr-schedule", dest="lr_schedule", choices=LR_SCHEDULES, default=S,
                   help="constant (default); cosine: from --lr down to 0 over all training steps; plateau: halve "
                        "--lr after 10 epochs without a lower loss (classify: -o plateau_patience=N)")
    p.add_argument("--seed", type=int, default=S, metavar="N")
    p.add_argument("--clip-norm", dest="clip_norm", type=float, default=S, metavar="X", help="0 turns clipping off")
    p.add_argument("--validation", type=float, default=S, metavar="FRACTION",
                   help="part of the training data held out for validation (default 0.1)")
    p.add_argument("--keep", choices=KEEP_CHOICES, default=S,
                   help="which epoch's weights the run keeps: lowest val_loss (default), highest val_accuracy "
                        "(tag's default), or the last")
    p.add_argument("--option", "-o", dest="options", action="append", default=S, metavar="KEY=VALUE",
                   help="task-specific option, repeatable (e.g. -o pooling=mean, -o target=passengers)")
    p.add_argument("--config", metavar="FILE", help="TOML file of options; the command line overrides it")
    p.add_argument("--out", required=True, metavar="DIR", help="run directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (small recurrent models often train fastest on 1)")
    p.set_defaults(run=run)


def cli_values(args) -> dict:
    values = {k: v for k, v in vars(args).items()
              if k not in ("task", "config", "out", "overwrite", "quiet", "threads", "run", "command", "options")}
    options = {}
    for item in getattr(args, "options", []):
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--option {item!r}: expected KEY=VALUE, e.g. --option pooling=mean.", exit_code=2)
        options[key.strip()] = parse_option_value(text.strip())
    if options:
        values["options"] = options
    return values


def run(args) -> int:
    from rnnkit.tasks import get_task
    from rnnkit.tasks.run import train_run

    check_out_dir(args.out, overwrite=args.overwrite)  # refuse before spending time on training
    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads: expected a positive integer, got {args.threads}.", exit_code=2)
        import torch

        torch.set_num_threads(args.threads)
    task = get_task(args.task)
    file_values = read_toml(args.config) if args.config else {}
    if args.config and isinstance(file_values.get("data"), str):  # a path in the file is relative to the file
        file_values["data"] = str(Path(args.config).parent / Path(file_values["data"]).expanduser())
    config = resolve(args.task, file_values=file_values, cli_values=cli_values(args), task_defaults=task.defaults)
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))
    with RunWriter(args.out, overwrite=args.overwrite) as tmp:
        metrics = train_run(config, tmp, progress=not args.quiet, log=log)
    print(f"{config.task} on {config.dataset or config.data}: test " +
          ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    print(f"run written to {args.out}")
    return 0
