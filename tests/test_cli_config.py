"""Run options (defaults < dataset defaults < TOML < command line) and run-directory writing."""

from __future__ import annotations

import pytest

from rnnkit.cli.errors import CLIError
from rnnkit.cli.main import build_parser
from rnnkit.cli.rundir import RunWriter, check_out_dir
from rnnkit.cli.train_cmd import cli_values
from rnnkit.tasks.config import RunConfig, parse_option_value, resolve


def defaults(dataset):
    return {"epochs": 50, "hidden": 32, "options": {"pooling": "mean"}}


def test_precedence_defaults_file_command_line():
    config = resolve("classify", file_values={"dataset": "GunPoint", "hidden": 16, "lr": 0.01,
                                              "classify": {"pooling": "max"}},
                     cli_values={"hidden": 8}, task_defaults=defaults)
    assert (config.dataset, config.hidden, config.lr, config.epochs) == ("GunPoint", 8, 0.01, 50)
    assert config.options == {"pooling": "max"}


def test_command_line_source_replaces_the_files():
    config = resolve("classify", file_values={"dataset": "GunPoint"}, cli_values={"data": "my.csv"})
    assert config.dataset is None and config.data == "my.csv"


def test_parsed_command_line_only_holds_given_options():
    args = build_parser().parse_args(["train", "lm", "--data", "t.txt", "--out", "r", "--lr", "0.5",
                                      "-o", "seq_len=20", "-o", "pattern=*.py"])
    assert cli_values(args) == {"data": "t.txt", "lr": 0.5, "options": {"seq_len": 20, "pattern": "*.py"}}


def test_option_values_read_as_toml():
    assert parse_option_value("3") == 3 and parse_option_value("true") is True
    assert parse_option_value('["a", "b"]') == ["a", "b"] and parse_option_value("mean") == "mean"


@pytest.mark.parametrize("values, pattern", [
    ({"task": "classify"}, "exactly one of them"),
    ({"task": "classify", "dataset": "x", "data": "y"}, "exactly one of them"),
    ({"task": "classify", "data": "y", "cell": "lstn"}, "`cell`"),
    ({"task": "classify", "data": "y", "lr": 0}, "`lr`"),
    ({"task": "classify", "data": "y", "epochs": 1.5}, "`epochs`"),
    ({"task": "classify", "data": "y", "bidirectional": "yes"}, "`bidirectional`"),
    ({"task": "classify", "data": "y", "validation": 0.9}, "`validation`"),
    ({"task": "classify", "data": "y", "hiden": 3}, "unknown option"),
])
def test_bad_run_options(values, pattern):
    with pytest.raises(ValueError, match=pattern):
        RunConfig.from_dict(values)


def test_run_writer_renames_only_on_success(tmp_path):
    out = tmp_path / "runs" / "a"
    with RunWriter(out) as tmp:
        (tmp / "run.json").write_text("{}")
        assert not out.exists()
    assert (out / "run.json").exists() and sorted(p.name for p in out.parent.iterdir()) == ["a"]
    with pytest.raises(RuntimeError):
        with RunWriter(out, overwrite=True) as tmp:
            (tmp / "run.json").write_text('{"new": 1}')
            raise RuntimeError("training failed")
    assert (out / "run.json").read_text() == "{}"
    assert sorted(p.name for p in out.parent.iterdir()) == ["a"]


def test_out_checks(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CLIError, match="a file with that name exists"):
        check_out_dir(tmp_path / "file", overwrite=True)
    (tmp_path / "empty").mkdir()
    assert check_out_dir(tmp_path / "empty", overwrite=False) == tmp_path / "empty"


def test_differencing_is_undone_exactly():
    import numpy as np

    from rnnkit.tasks.forecast import differenced, integrated

    z = np.random.default_rng(0).normal(size=(60, 2)).cumsum(axis=0)
    history = differenced(z[:45], [1, 12])
    future = differenced(z, [1, 12])[-1][-15:]  # the last level's values over the 15 future steps
    np.testing.assert_allclose(integrated(history[:-1], future, [1, 12]), z[45:], atol=1e-12)


def test_datasets_command_lists_builtins_with_their_task(capsys):
    from rnnkit.cli.main import main

    assert main(["datasets"]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert rows["JapaneseVowels"] == "classify" and rows["airline"] == "forecast" and rows["dates"] == "translate"


def test_help_and_version_exit_zero(capsys):
    from rnnkit.cli.main import main

    assert main(["--version"]) == 0 and "rnnkit" in capsys.readouterr().out
    assert main(["train", "--help"]) == 0 and "--bidirectional" in capsys.readouterr().out
    assert main([]) == 2 and "COMMAND" in capsys.readouterr().err
