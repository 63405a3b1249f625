"""``rnnkit diagnose DIR``: gradient flow through time of a trained run (rnnkit.diagnostics).

Loads the run's model, takes a batch of its test data, and calls
``rnnkit.diagnostics.diagnose_run``, which writes ``gradient_flow.png`` and
``gradient_flow.json`` (and a heatmap over training when one was recorded) and warns when
gradients vanish or explode or gates saturate.
"""

from __future__ import annotations

import warnings


def register(commands) -> None:
    p = commands.add_parser("diagnose", help="gradient-flow plots and warnings for a run",
                            description="Measure how gradients flow back through time in a trained run, on a batch "
                                        "of its test data: write PNG plots into DIR/diagnostics (or --out) and warn "
                                        "about vanishing or exploding gradients and saturated gates.")
    p.add_argument("run_dir", metavar="DIR", help="a run directory written by `rnnkit train`")
    p.add_argument("--out", metavar="DIR", help="where to write the plots (default: DIR/diagnostics)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=32, metavar="N",
                   help="test samples to measure on (default 32)")
    p.set_defaults(run=run)


def run(args) -> int:
    import torch

    from rnnkit.cli.errors import CLIError
    from rnnkit.diagnostics import diagnose_run
    from rnnkit.tasks.run import LoadedRun

    if args.batch_size < 1:
        raise CLIError(f"--batch-size: expected a positive integer, got {args.batch_size}.", exit_code=2)
    loaded = LoadedRun(args.run_dir, command="diagnose")
    batch = loaded.task.diagnosis_batch(loaded, args.batch_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = diagnose_run(loaded.dir, model=loaded.task.training_module(loaded.model), batch=batch,
                              loss_fn=loaded.task.loss, out_dir=args.out)
    report = result["report"]
    print(f"loss {float(report.loss):.4f}, global gradient norm {float(report.global_grad_norm):.4g}")
    for path in result["files"]:
        print(f"wrote {path}")
    messages = list(report.warnings) + [str(w.message) for w in caught if str(w.message) not in report.warnings]
    for message in messages:
        print(f"warning: {message}")
    if not messages:
        print("no warnings: gradients neither vanish nor explode on this batch")
    del torch
    return 0
