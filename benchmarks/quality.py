"""Quality benchmark: does `rnnkit train` reach published figures? 3 seeds, mean and spread.

Each row trains with the real command (``rnnkit.cli.main.main``, in-process) on a built-in
dataset (or on data this script generates from the Python standard library), reads the test
metric from the run's metrics.json, and compares the mean over seeds with the target of
issue 5 and the published figures quoted beside it. Results are merged into quality.json
after every run (so a long benchmark can be split with --only and resumed), and quality.md
is rendered from quality.json.

    python benchmarks/quality.py                         # every row, seeds 0 1 2
    python benchmarks/quality.py --only JapaneseVowels,airline --seeds 0
    python benchmarks/quality.py --report                # only re-render quality.md

Hyperparameters were set by validation-set behaviour or fixed in advance, never by the test
score; the exact command of every row is written into the table.
"""

from __future__ import annotations

import argparse
import json
import lzma
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

RESULTS = HERE / "quality.json"
FIRST_PASS = HERE / "quality_pass1.json"  # the first run, kept because defaults changed after it
SECOND_PASS = HERE / "quality_pass2.json"  # the time-series rows before LSTM-FCN and forecast ensembles
THIRD_PASS = HERE / "quality_pass3.json"  # every row as it stood at the start of the ninth working round
NOTES_DIR = HERE / "quality_notes"  # one markdown file per change round, rendered after the tables in name order
REPORT = HERE / "quality.md"
WORK = Path(tempfile.gettempdir()) / "rnnkit-quality"

TSC = "Sources: hfawaz/dl-4-tsc results, angus924/rocket results, titu1994/LSTM-FCN results (as quoted in issue 5)."


@dataclass
class Row:
    name: str
    task: str
    args: list  # command-line arguments after `rnnkit train TASK`
    metric: str
    target: tuple  # (">=" or "<=" or "<", value) in the reported unit
    published: str
    scale: float = 1.0  # metric value -> reported unit (100 for percentages)
    unit: str = ""
    baseline: object = None  # callable(): value the target compares against (xz), else None
    data: object = None  # callable() -> extra args (generated data), else None
    notes: str = ""
    extra: dict = field(default_factory=dict)


def stdlib_dir() -> Path:
    import tokenize

    return Path(tokenize.__file__).resolve().parent


def lm_corpus() -> Path:
    """Every standard-library module of ``corpus_files`` (1.4 MB for Python 3.11), copied."""
    out = WORK / "stdlib_lm_all"
    if out.exists():
        return out
    out.mkdir(parents=True)
    for path in corpus_files():
        (out / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return out


def corpus_files():
    """Top-level stdlib modules of 2-30 kB (many whole files, so that several can be held out)."""
    return [p for p in sorted(stdlib_dir().glob("*.py")) if 2_000 <= p.stat().st_size <= 30_000 and _utf8(p)]


def _utf8(path) -> bool:
    try:
        path.read_text(encoding="utf-8")
        return True
    except UnicodeDecodeError:
        return False


def lm_args():
    return ["--data", str(lm_corpus()), "-o", "pattern=*.py"]


def xz_bits_per_char() -> float:
    """bits per character of `xz -9` (lzma preset 9) on exactly the text the lm task holds out."""
    from rnnkit.tasks import RunConfig, get_task

    task = get_task("lm")
    config = RunConfig(task="lm", data=str(lm_corpus()), options={"pattern": "*.py"})
    _, test_text = task.texts(config, task.options(config))
    return 8 * len(lzma.compress(test_text.encode("utf-8"), preset=9)) / len(test_text)


def naive_baseline(name: str, season: int, metric: str, *, seasonal: bool) -> float:
    """The (seasonal) naive forecast's score on the same split: the last value (or the last
    season) of the training part repeated over the held-out part."""
    import numpy as np

    from rnnkit.data import load_dataset
    from rnnkit.tasks.forecast import forecast_metrics

    data = load_dataset(name)
    train, test = data.train.values, data.test.values
    period = season if seasonal else 1
    forecast = np.array([train[len(train) - period + (i % period)] for i in range(len(test))])
    return forecast_metrics(test, forecast, train, season)[metric]


def naive_one_step(name: str, season: int, metric: str) -> float:
    """The one-step (seasonal) naive forecast's score over the held-out part: each step forecast
    as the true value ``season`` steps before it (rolling origin, as ``*_1step`` metrics are)."""
    import numpy as np

    from rnnkit.data import load_dataset
    from rnnkit.tasks.forecast import forecast_metrics

    data = load_dataset(name)
    train, test = data.train.values, data.test.values
    series = np.concatenate([train, test])
    forecast = series[len(train) - season:len(series) - season]
    return forecast_metrics(test, forecast, train, season if name == "airline" else 1)[metric]


def char_kinds(path: Path):
    """(characters, tags) of one whole source file; tags from `tokenize`: code, comment, string
    (None when `tokenize` rejects the file)."""
    import io
    import tokenize

    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    tags = ["code"] * len(text)
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.COMMENT, tokenize.STRING):
                kind = "comment" if token.type == tokenize.COMMENT else "string"
                begin = starts[token.start[0] - 1] + token.start[1]
                end = starts[token.end[0] - 1] + token.end[1]
                tags[begin:end] = [kind] * (end - begin)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    return [f"U+{ord(c):04X}" for c in text], tags  # whitespace-free tokens for CoNLL


def tag_args():
    """CoNLL files of character tags, one sentence per whole source file (every module of
    ``corpus_files``); every 10th file is held out whole as the test set."""
    out = WORK / "stdlib_tag_files"
    train, test = out / "train.conll", out / "test.conll"
    if not train.exists():
        out.mkdir(parents=True, exist_ok=True)
        with open(train, "w", encoding="utf-8") as f_train, open(test, "w", encoding="utf-8") as f_test:
            for i, path in enumerate(corpus_files()):
                tagged = char_kinds(path)
                if tagged is not None:
                    f = f_test if i % 10 == 9 else f_train
                    f.write("".join(f"{c} {t}\n" for c, t in zip(*tagged)) + "\n")
    return ["--data", str(train), "-o", f"test_data={test}"]


ROWS = [
    Row("JapaneseVowels", "classify", ["--dataset", "JapaneseVowels"], "accuracy", (">=", 98.5),
        f"FCN 99.3, TWIESN 96.5, MLSTM-FCN 100. {TSC}", scale=100, unit="%"),
    Row("GunPoint", "classify", ["--dataset", "GunPoint"], "accuracy", (">=", 97.0),
        f"FCN 100, 1-NN DTW 90.7. {TSC}", scale=100, unit="%"),
    Row("ItalyPowerDemand", "classify", ["--dataset", "ItalyPowerDemand"], "accuracy", (">=", 96.0),
        f"FCN 96.1, ROCKET 97.0. {TSC}", scale=100, unit="%"),
    Row("ArrowHead", "classify", ["--dataset", "ArrowHead"], "accuracy", (">=", 80.0),
        f"FCN 84.3, ROCKET 81.4. {TSC}", scale=100, unit="%"),
    Row("airline", "forecast", ["--dataset", "airline"], "mape", ("<=", 6.0),
        "seasonal naive 13.19, AutoETS 6.19, AutoARIMA 4.15 (sktime forecasting tutorial, last 36 months held out)",
        unit="%", extra={"reference": ("seasonal naive on this split",
                                       lambda: naive_baseline("airline", 12, "mape", seasonal=True)),
                         "one_step": ("mape_1step", "seasonal naive one step ahead (y[t-12])",
                                      lambda: naive_one_step("airline", 12, "mape"))}),
    Row("sunspots", "forecast", ["--dataset", "sunspots"], "mase", ("<", 1.0),
        "MASE < 1: better than the naive forecast's in-sample error (statsmodels sunspots, last 30 years held out)",
        extra={"reference": ("naive forecast (last value repeated) on this split",
                             lambda: naive_baseline("sunspots", 1, "mase", seasonal=False)),
               "one_step": ("mase_1step", "naive one step ahead (y[t-1])",
                            lambda: naive_one_step("sunspots", 1, "mase"))}),
    Row("dates", "translate", ["--dataset", "dates"], "exact_match", (">=", 99.5),
        "generated date-format pairs, 2,000 held-out dates", scale=100, unit="%"),
    Row("stdlib-lm", "lm", ["--epochs", "8", "-o", "dynamic_lr=0.3"], "bits_per_char", ("<", "xz -9"),
        "xz -9 (lzma preset 9) on the same held-out files; like xz, the model adapts to the held-out text as it "
        "reads it (dynamic evaluation; without it: the line below the table)", data=lm_args, baseline=xz_bits_per_char),
    Row("stdlib-tag", "tag", [], "accuracy", (">=", 99.5),
        "characters of stdlib source as code/comment/string, truth from `tokenize`", scale=100, unit="%",
        data=tag_args, extra={"args": ["--epochs", "16", "-o", "train_chunk=500", "--keep", "val_accuracy"]}),
]
BY_NAME = {row.name: row for row in ROWS}


def load_results() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def save_results(results: dict, name: str, seed: str) -> None:
    """Write run ``seed`` of row ``name`` into quality.json, keeping everything else as it is on
    disk now (several processes may run different rows or seeds at the same time)."""
    merged = load_results()
    entry = merged.setdefault(name, {"runs": {}})
    entry.update({k: v for k, v in results[name].items() if k != "runs"})
    entry["runs"][seed] = results[name]["runs"][seed]
    results.update(merged)
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")


def run_row(row: Row, seed: int, results: dict, extra_args: list) -> None:
    from rnnkit.cli.main import main

    args = list(row.args) + (row.data() if row.data else []) + list(row.extra.get("args", [])) + extra_args
    out = WORK / "runs" / f"{row.name}-seed{seed}"
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = ["train", row.task, *args, "--seed", str(seed), "--out", str(out), "--overwrite", "--quiet"]
    start, cpu_start = time.perf_counter(), time.process_time()
    code = main(argv)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    entry = results.setdefault(row.name, {"runs": {}})
    entry["command"] = "rnnkit " + " ".join(a for a in argv if a not in ("--out", str(out), "--overwrite", "--quiet",
                                                                          "--seed", str(seed)))
    if code != 0:
        entry["runs"][str(seed)] = {"error": f"exit code {code}", "seconds": seconds}
    else:
        metrics = json.loads((out / "metrics.json").read_text())["test"]
        config = json.loads((out / "config.json").read_text())
        history = json.loads((out / "history.json").read_text())
        entry["runs"][str(seed)] = {"metrics": metrics, "seconds": round(seconds, 1),
                                    "cpu_seconds": round(cpu_seconds, 1), "config": config,
                                    "best_epoch": history.get("best_epoch")}
    if row.baseline:  # recomputed: the held-out text changes when the corpus does
        entry["baseline"] = row.baseline()
    save_results(results, row.name, str(seed))
    shutil.rmtree(out, ignore_errors=True)
    value = entry["runs"][str(seed)].get("metrics", {}).get(row.metric)
    print(f"{row.name} seed {seed}: {row.metric} = {value} ({seconds:.0f}s)", flush=True)


PASS_NOTES = """\
## History: the first pass and what changed after it

The first pass ran with the first defaults (`quality_pass1.json`). Three changes followed, each
a general rule rather than a setting fitted to a test score, and the rows they affect were run
again (the table above); JapaneseVowels and sunspots were not affected and keep their
first-pass runs:

1. Validation parts under 20 samples are no longer held out (with 4-7 validation samples, the
   epoch picked by validation loss was often an early, untrained one: GunPoint fell to chance).
   Affects ItalyPowerDemand, GunPoint, ArrowHead.
2. Long univariate series are read in patches of consecutive steps (`-o patch=10`: 150 steps
   become 15 steps of 10 values), so the LSTM sees short sequences. Affects GunPoint, ArrowHead.
3. Forecasting can difference the series (`-o difference=[12]`) and integrate the forecasts
   back; airline now models the log series' seasonal difference (yearly growth), which stays
   inside the range seen in training, where the first pass had to extrapolate the level.

The language-model and tagging rows first ran (seed 0 only) without the task defaults, which
then applied to built-in datasets only: hidden size 64, learning rate 1e-3, 10 epochs, tagging
in chunks of 400 characters. Their validation loss was still falling at the last epoch, so
the task defaults now apply to user files too and these rows train for 20 epochs (tagging in
chunks of 200 characters). First tries on the test part: stdlib-lm 3.212 bits per character
(xz -9: 2.001), stdlib-tag 90.64% character accuracy.

## Reading the forecasting rows

Both forecasts start at the end of the training part and cover the whole held-out part without
seeing any of it (36 months for airline, 30 years for sunspots), as in sktime's tutorial. The
seasonal-naive forecast computed here on the same split reproduces the tutorial's 13.19% MAPE,
so the split and the metric match. `mase` is the standard MASE: the mean absolute error over
the held-out part divided by the in-sample one-step (seasonal, m = 12 for airline, m = 1 for
sunspots) naive error. A 30-step-ahead forecast rarely gets under the one-step naive error;
against the naive *forecast* over the same 30 years (last value repeated, MASE 2.806) the
model's error is lower by the ratio measured / 2.806.
"""


TEXT_NOTES = """\
## History: the text rows, second pass (what changed and why)

Before this pass (runs kept in `quality_text_pass1.json`): stdlib-lm 2.757 ± 0.021 bits per character (2.781, 2.749, 2.741; first ~400 kB
of the modules, 20 epochs of independent 100-character sequences from a zero state, the test
text read as 32 streams; xz -9 on its 40 k held-out characters: 2.001) and stdlib-tag 96.10 ±
1.09% (96.70, 96.77, 94.84; first ~300 kB in independent chunks of 200 characters, test chunks
too). Changes, each a general option of `rnnkit train`, chosen by a rule or on the validation
part (the end of the training text, or whole training files), never on the test files:

1. Data: every module of the selection (1.4 MB) instead of the first 300-400 kB; the held-out
   rule (every 10th file) is unchanged. xz -9 on the 113,108 held-out characters: 2.001 bits
   per character, recomputed on exactly the text scored. (Taking the packages' modules too,
   4 MB, would lower xz to 1.593 on its held-out part, and the training would not fit the CPU
   budget.)
2. lm trains on 32 contiguous streams of the training text with the state carried from each
   chunk of 100 characters to the next (truncated BPTT through the trainer), so the model
   learns from context longer than one chunk; it scores the held-out text as one stream in
   order (before: 32 streams, each starting from a zero state). The fused C++ LSTM runs it
   (`rnnkit.explain`: `fused`).
3. Learning rate: cosine decay from the task's rate to 0 over all steps (`--lr-schedule
   cosine`, now the default of lm and tag), so the last updates are small ones.
4. lm dynamic evaluation (`-o dynamic_lr=0.3`, Krause et al. 2018): after scoring each 50
   characters, a copy of the model takes one SGD step on them, so the rest of a file is
   predicted by a model adapted to its beginning, as xz adapts to the text it compresses;
   every character is scored before any step has seen it. Rate and interval were chosen on
   the validation part with a pilot model (seed 0, 5 epochs): static 2.119; SGD rate 0.03 /
   0.1 / 0.3 / 1 / 3 (every 100 characters): 2.022 / 1.933 / 1.841 / 1.844 / 1.977; at 0.3
   every 100 / 50 / 20 characters: 1.841 / 1.801 / 1.799. The static figure is reported too.
5. lm capacity stays at one layer of 256: on one thread it trains ~25 k characters per second,
   a layer of 384 or two of 256 ~7.8 k, so within the budget a larger model would see the
   corpus about 2-3 times instead of 8; the pilot's validation loss was still falling at
   epoch 5 (1.868, 1.637, 1.535, 1.484, 1.471 nats), with training loss above validation loss.
6. tag reads each source file as one sentence. Training cuts them into pieces of 500
   characters (`-o train_chunk=500`: 74 updates of 32 pieces per epoch, where whole files
   would give 3), validates on whole held-out training files (10 of 97), and predicts each
   test file whole, so the bidirectional LSTM sees every character's full left and right
   context (a docstring opened 50 lines earlier). A pilot (seed 0, 8 epochs) reached 99.02%
   on validation; a second layer was not better on validation after 3 epochs (98.36% against
   98.50%) at twice the cost, so the tagger keeps one layer of 64 per direction, 16 epochs.

Pilot runs also scored the test part once each: lm (5 epochs, static) 2.385 bits per
character; tag (8 epochs) 99.03%, (2 layers, 3 epochs) 98.22%. The CPU budget of this pass was
about 60 core-minutes for the text rows: the final runs took about 500 core-seconds per lm seed
and 350 per tag seed (sampled with `ps`; `cpu_seconds` is recorded for later runs), the pilots
and the validation choices about 15 core-minutes more. The three seeds of each row ran side by
side on the shared machine, hence ~3,000 s of wall time per seed.

What it gave, as measured: stdlib-lm 1.812 ± 0.007 bits per character with dynamic evaluation
(1.806, 1.810, 1.820), below xz -9's 2.001 on the same text; the trained model as it is scores
2.238 ± 0.009 (2.239, 2.229, 2.247), still above xz (before: 2.757 on a smaller corpus). Every
seed kept its last epoch (8 of 8). stdlib-tag 99.19 ± 0.68% (98.41, 99.66, 99.49): one seed
above the target and one just under it, the mean below it (before: 96.10%). Seed 0 kept the
weights of epoch 4 of 16, where its loss on the 10 whole validation files was lowest, and
scored 98.41% (strings 96.79%); seeds 1 and 2 kept epochs 11 and 12. Strings remain the
hardest class (per-class line under the table): quotes inside docstrings and long docstrings
that hold code examples are where the tagger loses track (seen on the validation files).
"""


def render_one_step(results: dict) -> list:
    """The forecasting rows' rolling-origin one-step metrics beside the naive one-step forecast."""
    lines = ["", "## Forecasting rows, one step ahead (extra metrics, no target of issue 5)", "",
             "The same runs as the table above. Each held-out step is forecast from the true series before it "
             "(rolling origin), the way a deployed model forecasts the next step; the open-loop metrics above are "
             "unchanged and remain the ones the targets apply to. MASE has the same scale in both (the in-sample "
             "one-step naive error), and the naive forecast one step ahead is scored on the same held-out steps.", "",
             "| benchmark | metric | measured (mean ± sd) | per seed | naive one step ahead on the same steps |",
             "|---|---|---|---|---|"]
    for row in ROWS:
        if "one_step" not in row.extra:
            continue
        metric, label, compute = row.extra["one_step"]
        runs = results.get(row.name, {}).get("runs", {})
        values = [r["metrics"][metric] for r in runs.values() if metric in r.get("metrics", {})]
        if not values:
            continue
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        unit = "%" if metric.startswith("mape") else ""
        lines.append(f"| {row.name} | {metric} | {statistics.fmean(values):.3f} ± {sd:.3f}{unit} | "
                     + ", ".join(f"{v:.3f}" for v in values) + f" | {label}: {compute():.3f}{unit} |")
    return lines


SECOND_NOTES = """\
## History: LSTM-FCN and forecast ensembles (the time-series rows)

The six time-series rows were run again after these changes (their earlier runs are in
`quality_pass2.json` and in the table below); the other rows keep their runs:

1. Classification: the built-in series sets train LSTM-FCN (Karim et al. 2017): a fully
   convolutional branch (Conv1d 128/256/128 filters, kernels 8/5/3, batch norm, ReLU, global
   average pooling over each series' valid steps) beside the bidirectional LSTM, the two
   summaries concatenated before the softmax head (`-o conv=true`). The rule, fixed before any
   run: LSTM-FCN for every built-in series set, with the learning rate halved after 10 epochs
   without a lower loss (`-o lr_schedule=plateau`). Epochs from validation curves on parts
   carved from the training data: GunPoint's validation loss (20 of its 50 training series held
   out; a patience of 20 epochs in that run) was lowest at epoch 132 of 150, so the long-series sets train 150 epochs (was 200 for
   the LSTM alone); JapaneseVowels' best epochs were 14, 39, 38 of 40, so it trains 80 and keeps
   the best. The convolutional branch reads the series step by step, while the LSTM still reads
   patches of 10 steps on GunPoint and ArrowHead (patching moved from the task into the model).
2. Forecasting: the built-in series train an ensemble of 5 models (own initializations, the
   same batches) and average their forecasts (`-o ensemble=5`), a rule fixed in advance against
   the seed-to-seed spread of one small model. The window length and direct against recursive
   forecasting were chosen on a validation tail of the training part (`forecast_selection.md`:
   single models, 2 seeds, the test part never read): the windows stayed (24 months, 22 years)
   and recursive forecasting replaced direct, which it beat there by a wide margin (airline MAPE
   5.20 against 13.11, sunspots MASE 1.26 against 2.04). Every forecast also reports
   rolling-origin one-step metrics (`mape_1step`, `mase_1step`, `rmse_1step`), shown above
   beside the naive forecast one step ahead; the open-loop metrics are computed as before.

What it gave, as measured: GunPoint (99.11%) and ItalyPowerDemand (96.18%) now meet their
targets; JapaneseVowels rose to 98.20% (target 98.5%; the epochs picked on its 27 validation
series were 7, 43 and 12 of 80) and ArrowHead to 75.81% (target 80%, FCN 84.3%). ArrowHead
holds out no validation part (36 training series); as a check run after its test scores,
its training part was cut in two halves of 18 (`classify_validation_curve.py`,
`classify_validation_curve.json`): the mean validation loss was lowest at epoch 103 of 300 and
rose after it, so more epochs would not close the gap (the defaults were left as they were).
The forecasting rows did not improve: airline 11.03% MAPE (was 10.23%) and sunspots MASE 1.753
(was 1.712), both within the seed-to-seed spread; what won on the validation tail did not carry
over to the test part. No setting was changed after the test scores were seen. One step ahead,
the sunspots model's MASE is 0.693 against the naive one-step forecast's 1.392 on the same
years, but the target of issue 5 is for the 30-year open-loop forecast and stays unmet.
"""


THIRD_NOTES = """## Every row before round 9

The table above replaced these runs for the rows that were run again in round 9 (the history
notes above say which and why); rows not run again keep these runs in the main table.
"""


def render_first_pass() -> list:
    return render_pass(FIRST_PASS, PASS_NOTES, "first pass")


def render_pass(path: Path, notes: str, title: str) -> list:
    if not path.exists():
        return []
    first = json.loads(path.read_text())
    lines = ["", notes, f"| benchmark | metric | {title} (mean ± sd) | per seed |", "|---|---|---|---|"]
    for row in ROWS:
        if row.name not in first:
            continue
        runs = first.get(row.name, {}).get("runs", {})
        values = [r["metrics"][row.metric] * row.scale for r in runs.values() if "metrics" in r]
        if values:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            lines.append(f"| {row.name} | {row.metric} | {statistics.fmean(values):.2f} ± {sd:.2f}{row.unit} | "
                         + ", ".join(f"{v:.2f}" for v in values) + " |")
    return lines


def lm_static(results: dict) -> list:
    """stdlib-lm's bits per character of the trained model as it is (no dynamic evaluation)."""
    runs = [r["metrics"] for r in results.get("stdlib-lm", {}).get("runs", {}).values() if "metrics" in r]
    values = [m["bits_per_char_static"] for m in runs if "bits_per_char_static" in m]
    if not values:
        return []
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return ["", f"stdlib-lm without dynamic evaluation (the trained model as it is, state carried through the "
                f"held-out text): {statistics.fmean(values):.3f} ± {sd:.3f} bits per character "
                f"({', '.join(f'{v:.3f}' for v in values)})."]


def per_tag(results: dict) -> list:
    """stdlib-tag's accuracy on the test characters of each true class, mean ± sd over seeds."""
    runs = [r["metrics"] for r in results.get("stdlib-tag", {}).get("runs", {}).values() if "metrics" in r]
    names = sorted({k for m in runs for k in m if k.startswith("accuracy_")})
    if not names:
        return []
    cells = []
    for name in names:
        values = [100 * m[name] for m in runs if name in m]
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        cells.append(f"{name[len('accuracy_'):]} {statistics.fmean(values):.2f} ± {sd:.2f}% "
                     f"({', '.join(f'{v:.2f}' for v in values)})")
    return ["", "stdlib-tag per class (accuracy on the test characters whose true class it is): " + "; ".join(cells) + "."]


def render(results: dict) -> str:
    lines = ["# Quality benchmark (issue 5)", "",
             "Produced by `benchmarks/quality.py` (raw numbers in `quality.json`). Each row trains with "
             "`rnnkit train` and reads the test metric from the run's `metrics.json`; mean ± standard deviation "
             "over the seeds that ran. Measured on a 2-core CPU machine shared with other jobs (the seconds below "
             "include waiting for the CPU). stdlib-lm and stdlib-tag read data this script generates from the "
             "Python 3.11 standard library: every top-level module of 2-30 kB (107 files, 1.4 MB) in name order; "
             "every 10th file is held out whole as the test set (10 files, 113,108 characters).", "",
             "| benchmark | metric | target | measured (mean ± sd) | seeds | per seed | status | published / baseline |",
             "|---|---|---|---|---|---|---|---|"]
    commands = []
    for row in ROWS:
        entry = results.get(row.name)
        runs = {} if entry is None else entry["runs"]
        values = [r["metrics"][row.metric] * row.scale for r in runs.values() if "metrics" in r]
        errors = [s for s, r in runs.items() if "error" in r]
        op, goal = row.target
        if goal == "xz -9":
            goal = entry.get("baseline") if entry else None
            target = "< xz -9" + ("" if goal is None else f" ({goal:.3f})")
        else:
            target = f"{op} {goal:g}{row.unit}"
        if not values:
            measured, status = "—", "not run" if not errors else f"failed ({len(errors)} seed(s))"
            per_seed = ""
        else:
            mean = statistics.fmean(values)
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            measured = f"{mean:.2f} ± {sd:.2f}{row.unit}" if row.unit else f"{mean:.3f} ± {sd:.3f}"
            per_seed = ", ".join(f"{v:.2f}" if row.unit else f"{v:.3f}" for v in values)
            met = goal is not None and {">=": mean >= goal, "<=": mean <= goal, "<": mean < goal}[op]
            status = ("met" if met else "**not met**") + ("" if len(values) >= 3 else f" ({len(values)} of 3 seeds)")
        published = row.published
        if "reference" in row.extra:
            label, compute = row.extra["reference"]
            published += f"; {label}: {compute():.3f}"
        lines.append(f"| {row.name} | {row.metric} | {target} | {measured} | {len(values)} | {per_seed} | {status} | "
                     f"{published} |")
        if entry and entry.get("command"):
            seconds = [r.get("seconds", 0) for r in runs.values()]
            commands.append(f"- {row.name}: `{entry['command']} --seed N` "
                            f"({statistics.fmean(seconds):.0f} s per seed on average)")
    lines += lm_static(results) + per_tag(results)
    lines += ["", "Commands (defaults of the task for the built-in dataset apply; see `config` in quality.json):", ""]
    lines += commands
    lines += render_one_step(results)
    for note in sorted(NOTES_DIR.glob("*.md")) if NOTES_DIR.is_dir() else []:
        lines += ["", note.read_text().rstrip("\n")]
    lines += render_pass(THIRD_PASS, THIRD_NOTES, "before round 9")
    lines += ["", TEXT_NOTES.rstrip("\n")]
    lines += render_pass(SECOND_PASS, SECOND_NOTES, "before LSTM-FCN and ensembles")
    lines += render_first_pass()
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated row names (default: all): " + ",".join(BY_NAME))
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--report", action="store_true", help="only re-render quality.md from quality.json")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    parser.add_argument("extra", nargs="*", help="extra `rnnkit train` arguments after --, for trials")
    args = parser.parse_args(argv)
    results = load_results()
    if not args.report:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        names = [n for n in args.only.split(",") if n] or list(BY_NAME)
        unknown = sorted(set(names) - set(BY_NAME))
        if unknown:
            parser.error(f"unknown row(s) {unknown}; expected some of {sorted(BY_NAME)}")
        seeds = [int(s) for s in args.seeds.split(",") if s]
        for name in names:
            for seed in seeds:
                run_row(BY_NAME[name], seed, results, args.extra)
                REPORT.write_text(render(results))
    REPORT.write_text(render(results))
    print(REPORT.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
