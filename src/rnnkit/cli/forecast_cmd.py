"""``rnnkit forecast DIR --horizon H``: forecast the next H steps after the end of the series."""

from __future__ import annotations


def register(commands) -> None:
    p = commands.add_parser("forecast", help="forecast with a forecast run",
                            description="Forecast the H steps after the end of the run's series (or of --data PATH), "
                                        "printed as CSV: step,value.")
    p.add_argument("run_dir", metavar="DIR", help="a forecast run directory")
    p.add_argument("--horizon", type=int, required=True, metavar="H", help="steps to forecast")
    p.add_argument("--data", metavar="PATH", help="continue this series instead (same columns as training)")
    p.set_defaults(run=run)


def run(args) -> int:
    from rnnkit.cli.errors import CLIError
    from rnnkit.tasks.run import LoadedRun

    if args.horizon < 1:
        raise CLIError(f"--horizon: expected a positive integer, got {args.horizon}.", exit_code=2)
    loaded = LoadedRun(args.run_dir, task="forecast", command="forecast")
    rows = loaded.task.forecast(loaded.model, loaded.state, loaded.config, horizon=args.horizon, data_path=args.data)
    print("step," + ",".join(rows["columns"]))
    for step, values in zip(rows["steps"], rows["values"]):
        print(f"{step}," + ",".join(f"{v:.6g}" for v in values))
    return 0
