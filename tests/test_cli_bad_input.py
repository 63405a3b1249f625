"""Bad input: a clear message, a non-zero exit code, and nothing overwritten or left behind."""

from __future__ import annotations

import hashlib

import pytest

from _cli_data import FAST, run_cli, series_csv, text_csv


def snapshot(directory):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = text_csv(root / "reviews.csv")
    out = root / "run"
    assert run_cli("train", "classify", "--data", data, "--out", out, *FAST) == 0
    return out


def fails(capsys, argv, code, *patterns):
    capsys.readouterr()
    assert run_cli(*argv) == code
    err = capsys.readouterr().err
    for pattern in patterns:
        assert pattern in err, err
    assert "Traceback" not in err
    return err


def test_missing_file(tmp_path, capsys):
    fails(capsys, ["train", "classify", "--data", tmp_path / "nope.csv", "--out", tmp_path / "r"], 1,
          "nope.csv", "does not exist")
    assert not (tmp_path / "r").exists()


def test_unreadable_file_a_directory(tmp_path, capsys):
    (tmp_path / "dir.csv").mkdir()
    fails(capsys, ["train", "classify", "--data", tmp_path / "dir.csv", "--out", tmp_path / "r"], 1, "expected a file")


def test_missing_column(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("sentence,label\nhello,a\nbye,b\n", encoding="utf-8")
    fails(capsys, ["train", "classify", "--data", path, "--out", tmp_path / "r"], 1, "'text' not found", "sentence")


def test_wrong_column_option(tmp_path, capsys):
    path = series_csv(tmp_path / "s.csv")
    fails(capsys, ["train", "forecast", "--data", path, "-o", "columns=sales", "--out", tmp_path / "r"], 1,
          "'sales' not found", "value")


def test_empty_dataset(tmp_path, capsys):
    path = tmp_path / "empty.csv"
    path.write_text("text,label\n", encoding="utf-8")
    fails(capsys, ["train", "classify", "--data", path, "--out", tmp_path / "r"], 1, "empty")


def test_single_class(tmp_path, capsys):
    path = tmp_path / "one.csv"
    path.write_text("text,label\n" + "".join(f"t{i},same\n" for i in range(10)), encoding="utf-8")
    fails(capsys, ["train", "classify", "--data", path, "--out", tmp_path / "r"], 1, "single class")


def test_non_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9,a\nbar,b\n".encode("latin-1"))
    fails(capsys, ["train", "classify", "--data", path, "--out", tmp_path / "r"], 1, "UTF-8")


def test_horizon_longer_than_series(tmp_path, capsys):
    path = series_csv(tmp_path / "s.csv", n=40)
    fails(capsys, ["train", "forecast", "--data", path, "-o", "time_column=month", "-o", "lookback=30",
                   "-o", "horizon=12", "--out", tmp_path / "r"], 1, "longer than the training part")


def test_forecast_horizon_longer_than_series(tmp_path, capsys):
    path = series_csv(tmp_path / "s.csv", n=60)
    out = tmp_path / "run"
    assert run_cli("train", "forecast", "--data", path, "-o", "time_column=month", "-o", "lookback=6",
                   "-o", "horizon=3", "--out", out, *FAST) == 0
    fails(capsys, ["forecast", out, "--horizon", "61"], 1, "--horizon", "longer than the series")


def test_unknown_dataset(tmp_path, capsys):
    fails(capsys, ["train", "classify", "--dataset", "JapanesVowels", "--out", tmp_path / "r"], 1,
          "unknown dataset", "Did you mean 'JapaneseVowels'")


def test_dataset_of_another_task(tmp_path, capsys):
    fails(capsys, ["train", "classify", "--dataset", "airline", "--out", tmp_path / "r"], 1, "forecast dataset")


def test_unknown_task_and_option(tmp_path, capsys):
    fails(capsys, ["train", "regress", "--data", "x", "--out", tmp_path / "r"], 2, "invalid choice: 'regress'")
    fails(capsys, ["train", "classify", "--data", "x", "--out", tmp_path / "r", "--hiden", "3"], 2,
          "unrecognized arguments: --hiden")
    fails(capsys, ["bogus"], 2, "invalid choice: 'bogus'")
    path = text_csv(tmp_path / "t.csv")
    fails(capsys, ["train", "classify", "--data", path, "--out", tmp_path / "r", "-o", "pooling=median"], 1,
          "pooling", "median")
    fails(capsys, ["train", "classify", "--data", path, "--out", tmp_path / "r", "-o", "poolin=mean"], 1,
          "unknown option(s) ['poolin']")
    fails(capsys, ["train", "classify", "--data", path, "--out", tmp_path / "r", "--hidden", "0"], 1, "hidden")
    assert not (tmp_path / "r").exists()


def test_bad_config_file(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("hidden = [\n", encoding="utf-8")
    fails(capsys, ["train", "classify", "--config", config, "--out", tmp_path / "r"], 1, "not valid TOML")
    config.write_text('hiddn = 3\ndata = "x.csv"\n', encoding="utf-8")
    fails(capsys, ["train", "classify", "--config", config, "--out", tmp_path / "r"], 1, "unknown option(s) ['hiddn']")
    config.write_text('task = "lm"\n', encoding="utf-8")
    fails(capsys, ["train", "classify", "--config", config, "--out", tmp_path / "r"], 1, "for task 'lm'")


def test_run_dir_of_another_task(classify_run, capsys):
    fails(capsys, ["forecast", classify_run, "--horizon", "3"], 1, "`classify` run", "needs a `forecast` run")
    fails(capsys, ["generate", classify_run, "--prompt", "x"], 1, "needs a `lm` run")
    fails(capsys, ["translate", classify_run, "hello"], 1, "needs a `translate` run")


def test_not_a_run_dir(tmp_path, capsys):
    fails(capsys, ["evaluate", tmp_path / "nothing"], 1, "no such run directory")
    (tmp_path / "plain").mkdir()
    fails(capsys, ["evaluate", tmp_path / "plain"], 1, "not an rnnkit run directory")


def test_existing_run_refused_without_overwrite(classify_run, capsys):
    before = snapshot(classify_run)
    data = classify_run.parent / "reviews.csv"
    fails(capsys, ["train", "classify", "--data", data, "--out", classify_run, *FAST], 1, "--overwrite")
    assert snapshot(classify_run) == before


def test_failed_overwrite_keeps_the_old_run(classify_run, tmp_path, capsys):
    before = snapshot(classify_run)
    bad = tmp_path / "one.csv"
    bad.write_text("text,label\na,x\nb,x\nc,x\nd,x\n", encoding="utf-8")
    fails(capsys, ["train", "classify", "--data", bad, "--out", classify_run, "--overwrite", *FAST], 1, "single class")
    assert snapshot(classify_run) == before
    assert not [p for p in classify_run.parent.iterdir() if p.name.startswith(".")]


def test_overwrite_never_replaces_a_foreign_directory(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious", encoding="utf-8")
    data = text_csv(tmp_path / "t.csv")
    fails(capsys, ["train", "classify", "--data", data, "--out", foreign, "--overwrite", *FAST], 1,
          "not an rnnkit run")
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_overwrite_replaces_a_run(tmp_path):
    data = text_csv(tmp_path / "t.csv")
    out = tmp_path / "run"
    assert run_cli("train", "classify", "--data", data, "--out", out, *FAST) == 0
    assert run_cli("train", "classify", "--data", data, "--out", out, "--overwrite", "--seed", "3", *FAST) == 0
    assert '"seed": 3' in (out / "config.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "t.csv"]


def test_predict_input_problems(classify_run, tmp_path, capsys):
    fails(capsys, ["predict", classify_run, tmp_path / "missing.txt"], 1, "does not exist")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe text")
    fails(capsys, ["predict", classify_run, bad], 1, "UTF-8")
