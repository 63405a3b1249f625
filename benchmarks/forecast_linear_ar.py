"""A plain linear autoregression on the rolling origins of forecast_selection.py (a diagnosis, no rnnkit model).

AR(p) with an intercept, fitted by least squares (ridge 1e-3) on the modeled series before each
origin (airline: log, seasonal difference 12; sunspots: as it is), forecast open loop over the
same steps as ``forecast_selection.py`` and scored with the task's metrics. The test part is
never read. It shows how a linear model without the recurrent part does on the same validation.

    python benchmarks/forecast_linear_ar.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

CASES = {  # name: (log, lags, season, metric, origins, steps ahead, orders)
    "airline": (True, [12], 12, "mape", (72, 84, 96), 36, (1, 2, 12, 13, 24)),
    "sunspots": (False, [], 1, "mase", (159, 189, 219, 249), 30, (2, 9, 11, 22)),
}


def ar_forecast(z, p: int, steps: int, ridge: float = 1e-3):
    """Least-squares AR(p) with intercept on z (T,), run open loop for ``steps`` steps."""
    inputs = np.stack([z[i:i + p] for i in range(len(z) - p)])  # (T-p, p)
    design = np.hstack([inputs, np.ones((len(inputs), 1))])
    w = np.linalg.solve(design.T @ design + ridge * np.eye(p + 1), design.T @ z[p:])
    window, out = list(z[-p:]), []
    for _ in range(steps):
        out.append(float(np.dot(w[:p], window[-p:]) + w[p]))
        window.append(out[-1])
    return np.array(out)


def main() -> int:
    from rnnkit.data import load_dataset
    from rnnkit.tasks.forecast import differenced, forecast_metrics, integrated

    for name, (log, lags, season, metric, origins, ahead, orders) in CASES.items():
        y = load_dataset(name).train.values[:, 0].astype(float)  # the training part only
        print(f"{name} ({metric}, origins {', '.join(map(str, origins))})")
        for p in orders:
            scores = []
            for origin in origins:
                steps, history = min(ahead, len(y) - origin), y[:origin]
                levels = differenced((np.log(history) if log else history)[:, None], lags)
                future = integrated(levels[:-1], ar_forecast(levels[-1][:, 0], p, steps)[:, None], lags)
                future = np.exp(future) if log else future
                scores.append(forecast_metrics(y[origin:origin + steps, None], future, history[:, None], season)[metric])
            print(f"  AR({p}): {', '.join(f'{s:.3f}' for s in scores)}; mean {statistics.fmean(scores):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
