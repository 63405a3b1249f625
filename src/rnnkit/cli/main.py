"""``rnnkit``: the command-line entry point. Each command lives in its own module.

    rnnkit train TASK ...          train a model, write a run directory
    rnnkit evaluate DIR            test metrics of a run
    rnnkit predict DIR INPUT       classify or tag the samples in INPUT
    rnnkit generate DIR --prompt   sample text from a language model
    rnnkit translate DIR TEXT      decode with beam search
    rnnkit forecast DIR --horizon  forecast the next H steps
    rnnkit datasets                list the built-in datasets
    rnnkit diagnose DIR            gradient-flow diagnostics of a run

Exit codes: 0 success, 1 a problem with the data, files or run directory, 2 a usage error
(unknown command, task or option), 130 interrupted. Set RNNKIT_DEBUG=1 for tracebacks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional, Sequence

from rnnkit.cli.errors import CLIError

COMMANDS = ("train", "evaluate", "predict", "generate", "translate", "forecast", "datasets", "diagnose")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent sequence models: train, evaluate and use them.")
    parser.add_argument("--version", action="version", version=f"rnnkit {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"rnnkit.cli.{name}_cmd").register(commands)
    return parser


def _version() -> str:
    from rnnkit import __version__
    return __version__


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run one command; returns the exit code (the console script passes it to sys.exit)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed the usage error (or --help)
        return int(stop.code or 0) if not isinstance(stop.code, str) else 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("rnnkit: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except CLIError as err:
        return _fail(err, err.exit_code)
    except (ValueError, TypeError, OSError, UnicodeError) as err:
        return _fail(err, 1)
    except ImportError as err:  # an optional package (sktime, statsmodels, matplotlib) is missing
        return _fail(err, 1)


def _fail(err: BaseException, code: int) -> int:
    if os.environ.get("RNNKIT_DEBUG"):
        raise err
    message = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in message:
        message = f"{err.filename}: {message}"
    print(f"rnnkit: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
