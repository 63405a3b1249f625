"""``rnnkit diagnose DIR``: gradient-flow diagnostics of a trained run (rnnkit.diagnostics)."""

from __future__ import annotations


def register(commands) -> None:
    p = commands.add_parser("diagnose", help="gradient-flow plots and warnings for a run",
                            description="Run the diagnostics of rnnkit.diagnostics on a trained run: write PNG plots "
                                        "into the run directory (or --out) and warn about vanishing or exploding "
                                        "gradients and saturated gates.")
    p.add_argument("run_dir", metavar="DIR", help="a run directory written by `rnnkit train`")
    p.add_argument("--out", metavar="DIR", help="where to write the plots (default: DIR/diagnostics)")
    p.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.cli.errors import CLIError
    from rnnkit.tasks.run import LoadedRun

    try:
        from rnnkit.diagnostics import diagnose_run  # provided by the diagnostics package
    except ImportError:
        raise CLIError("rnnkit diagnose: this build of rnnkit has no diagnostics (rnnkit.diagnostics.diagnose_run "
                       "is missing).") from None
    loaded = LoadedRun(args.run_dir, command="diagnose")
    report = diagnose_run(loaded, out_dir=args.out)
    if report is not None:
        print(report)
    return 0
