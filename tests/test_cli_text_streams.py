"""Language model and tagger on long texts: training streams with carried state, whole-sentence
prediction, per-tag accuracy, the cosine learning-rate schedule, and their bad-input errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from _cli_data import FAST, conll, read_metrics, run_cli, text_file
from rnnkit.tasks import RunConfig, get_task
from rnnkit.tasks.run import lr_schedule
from rnnkit.tasks.tag import IGNORE, cut_split, tag_accuracies
from rnnkit.tasks.base import Split


def lm_config(path, **values):
    return RunConfig(task="lm", data=str(path), options={"seq_len": 20}, **values)


def test_lm_trains_on_contiguous_streams_with_carried_state(tmp_path):
    task = get_task("lm")
    config = lm_config(text_file(tmp_path / "corpus.txt", repeat=40), batch_size=4)
    prepared = task.prepare(config)
    text = prepared.train.inputs[0]
    assert torch.equal(prepared.train.targets[:-1], text[1:])  # targets are the next characters
    data = task.training_data(prepared, config)
    assert data.tbptt == (20, 20)
    batches = list(data.train)
    assert [bool(b.reset.all()) for b in batches] == [True] + [False] * (len(batches) - 1)  # one start per stream
    (x0, n0), _ = batches[0]
    (x1, n1), _ = batches[1]
    rows = torch.cat([x0[:, : int(n0[0])], x1[:, : int(n1[0])]], dim=1)  # (4, 40): row b continues across batches
    starts = [int(s) for s in torch.linspace(0, len(text), 5).long()[:4]]
    for b, start in enumerate(starts):
        assert torch.equal(rows[b], text[start:start + rows.shape[1]])


def test_lm_validation_is_the_end_of_the_training_text(tmp_path):
    task = get_task("lm")
    config = lm_config(text_file(tmp_path / "corpus.txt", repeat=40), batch_size=4, validation=0.2)
    prepared = task.prepare(config)
    n_train, n_val = len(prepared.train), len(prepared.validation)
    assert n_val == pytest.approx(0.2 * (n_train + n_val), abs=2)
    assert prepared.validation.inputs[0][0] == prepared.train.targets[-1]  # continues where training stops


def test_lm_short_text_has_no_validation_and_too_many_streams_is_an_error(tmp_path):
    task = get_task("lm")
    path = text_file(tmp_path / "short.txt", repeat=3)  # 261 characters
    assert task.prepare(lm_config(path, batch_size=2)).validation is None
    with pytest.raises(Exception, match="too few for batch_size 500 streams"):
        task.prepare(lm_config(path, batch_size=500))


def test_lm_streams_option_is_checked(tmp_path):
    path = text_file(tmp_path / "corpus.txt")
    with pytest.raises(ValueError, match="option `streams`: expected a positive integer, got 0"):
        get_task("lm").prepare(RunConfig(task="lm", data=str(path), options={"streams": 0}))


def test_lm_one_evaluation_stream_equals_one_pass_over_the_text():
    from rnnkit.models import LanguageModel, LanguageModelConfig
    from rnnkit.tasks.lm import bits_per_char

    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=12, embedding_size=4, hidden_size=8)).eval()
    ids = torch.randint(0, 12, (301,))
    with torch.no_grad():
        logits, _ = model(ids[:-1].unsqueeze(0))
        expected = torch.nn.functional.cross_entropy(logits[0], ids[1:]).item() / math.log(2)
    assert bits_per_char(model, ids, streams=1, chunk=7) == pytest.approx(expected, rel=1e-5)


def test_cosine_schedule_falls_from_lr_to_zero():
    config = RunConfig(task="lm", data="x", epochs=2, lr=0.1, lr_schedule="cosine")
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    scheduler = lr_schedule(config, steps_per_epoch=5)(optimizer)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.1)
    assert rates[5] == pytest.approx(0.05)  # half way
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    assert lr_schedule(RunConfig(task="lm", data="x"), 5) is None  # constant by default


def test_lr_schedule_from_the_command_line_and_its_error(tmp_path, capsys):
    data = text_file(tmp_path / "corpus.txt")
    out = tmp_path / "run"
    assert run_cli("train", "lm", "--data", data, "--out", out, "-o", "seq_len=40", "--lr-schedule", "constant",
                   *FAST) == 0
    assert json.loads((out / "config.json").read_text())["lr_schedule"] == "constant"
    with pytest.raises(ValueError, match=r"argument `lr_schedule`: expected one of \['constant', 'cosine', 'plateau'\], got 'linear'"):
        RunConfig(task="lm", data="x", lr_schedule="linear")


def test_cut_split_cuts_long_sentences_into_pieces():
    ids = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 0, 0, 0]])
    targets = torch.tensor([[0, 1, 0, 1, 0], [1, 1, IGNORE, IGNORE, IGNORE]])
    pieces = cut_split(Split((ids, torch.tensor([5, 2])), targets), 2)
    x, lengths = pieces.inputs
    assert lengths.tolist() == [2, 2, 1, 2]
    assert x.tolist() == [[1, 2], [3, 4], [5, 0], [6, 7]]
    assert pieces.targets.tolist() == [[0, 1], [0, 1], [0, IGNORE], [1, 1]]


def test_tag_accuracies_overall_and_per_tag():
    targets = torch.tensor([[0, 0, 1, 1, IGNORE]])
    predicted = torch.tensor([[0, 1, 1, 1, 0]])
    values = tag_accuracies(predicted, targets, ["code", "string", "comment"])
    assert values == {"accuracy": 0.75, "accuracy_code": 0.5, "accuracy_string": 1.0}  # no comment in targets


def test_tag_train_chunk_trains_on_pieces_and_tests_whole_sentences(tmp_path):
    train, test = conll(tmp_path / "train.conll", n=30), conll(tmp_path / "test.conll", n=5, seed=1)
    config = RunConfig(task="tag", data=str(train), validation=0.1,
                       options={"test_data": str(test), "train_chunk": 2})
    prepared = get_task("tag").prepare(config)
    assert int(prepared.train.inputs[1].max()) <= 2  # training pieces of at most 2 tokens
    assert prepared.validation is not None and int(prepared.validation.inputs[1].max()) > 2  # whole sentences
    assert len(prepared.validation) == 3  # 10% of 30 sentences, held out whole
    assert int(prepared.test.inputs[1].max()) > 2


def test_tag_train_chunk_from_the_command_line_and_its_error(tmp_path, capsys):
    data = conll(tmp_path / "train.conll")
    out = tmp_path / "run"
    assert run_cli("train", "tag", "--data", data, "--out", out, "-o", "train_chunk=3", *FAST) == 0
    assert 0 <= read_metrics(out)["accuracy"] <= 1
    with pytest.raises(ValueError, match="option `train_chunk`: expected a non-negative integer .* got -1"):
        get_task("tag").prepare(RunConfig(task="tag", data=str(data), options={"train_chunk": -1}))


def test_lm_dynamic_evaluation_scores_before_it_adapts_and_leaves_the_model_alone():
    from rnnkit.models import LanguageModel, LanguageModelConfig
    from rnnkit.tasks.lm import bits_per_char

    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=6, embedding_size=4, hidden_size=8)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ids = torch.tensor([4, 5] * 200)  # a pattern the adapted copy learns as it reads
    static = bits_per_char(model, ids, streams=1, chunk=10)
    first = bits_per_char(model, ids[:11], streams=1, chunk=10, dynamic_lr=1.0)  # one chunk: scored before any step
    assert first == pytest.approx(bits_per_char(model, ids[:11], streams=1, chunk=10), rel=1e-5)
    assert bits_per_char(model, ids, streams=1, chunk=10, dynamic_lr=1.0) < static
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_lm_dynamic_options_are_checked(tmp_path):
    path = str(text_file(tmp_path / "corpus.txt"))
    with pytest.raises(ValueError, match="option `dynamic_lr`: expected a number >= 0"):
        get_task("lm").prepare(RunConfig(task="lm", data=path, options={"dynamic_lr": -1.0}))
    with pytest.raises(ValueError, match="option `dynamic_chunk`: expected a positive integer, got 0"):
        get_task("lm").prepare(RunConfig(task="lm", data=path, options={"dynamic_chunk": 0}))


def test_lm_reports_static_and_dynamic_bits(tmp_path):
    data = text_file(tmp_path / "corpus.txt")
    out = tmp_path / "run"
    assert run_cli("train", "lm", "--data", data, "--out", out, "-o", "seq_len=40", "-o", "dynamic_lr=0.3",
                   *FAST) == 0
    values = read_metrics(out)
    assert set(values) == {"bits_per_char", "bits_per_char_static"}
    assert values["bits_per_char"] < values["bits_per_char_static"]  # the text repeats one line


def test_lm_run_evaluates_and_diagnoses_after_stream_training(tmp_path, capsys):
    data = text_file(tmp_path / "corpus.txt")
    out = tmp_path / "run"
    assert run_cli("train", "lm", "--data", data, "--out", out, "-o", "seq_len=40", *FAST) == 0
    bits = read_metrics(out)["bits_per_char"]
    capsys.readouterr()
    assert run_cli("evaluate", out) == 0
    assert json.loads(capsys.readouterr().out)["test"]["bits_per_char"] == pytest.approx(bits, rel=1e-5)
    assert run_cli("diagnose", out) == 0
    assert "gradient norm" in capsys.readouterr().out


def test_cosine_and_a_task_schedule_at_once_is_an_error():
    from rnnkit.tasks.run import schedule

    task = get_task("classify")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    plateau = RunConfig(task="classify", dataset="GunPoint", lr_schedule="cosine", options={"lr_schedule": "plateau"})
    with pytest.raises(ValueError, match="task 'classify' already sets a learning-rate schedule .* got 'cosine'"):
        schedule(task, optimizer, plateau, steps_per_epoch=3)
    cosine = RunConfig(task="classify", dataset="GunPoint", lr_schedule="cosine")
    assert schedule(task, optimizer, cosine, steps_per_epoch=3)["scheduler_interval"] == "step"


def test_plateau_is_a_run_level_schedule_for_every_task_and_one_with_classify_option():
    from rnnkit.tasks.run import schedule

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    tag = RunConfig(task="tag", dataset="stdlib-tag", lr=0.1, lr_schedule="plateau")
    made = schedule(get_task("tag"), optimizer, tag, steps_per_epoch=3)
    plateau = made["scheduler"]
    assert isinstance(plateau, torch.optim.lr_scheduler.ReduceLROnPlateau) and "scheduler_interval" not in made
    assert (plateau.factor, plateau.patience, plateau.min_lrs[0]) == (0.5, 10, pytest.approx(0.1 / 64))
    both = RunConfig(task="classify", dataset="GunPoint", lr_schedule="plateau",
                     options={"lr_schedule": "plateau", "plateau_patience": 4})
    assert schedule(get_task("classify"), optimizer, both, steps_per_epoch=3)["scheduler"].patience == 4
    run_level = RunConfig(task="classify", dataset="GunPoint", lr_schedule="plateau", options={"plateau_patience": 3})
    assert schedule(get_task("classify"), optimizer, run_level, steps_per_epoch=3)["scheduler"].patience == 3
    assert schedule(get_task("tag"), optimizer, RunConfig(task="tag", dataset="stdlib-tag"), steps_per_epoch=3) == {}
    with pytest.raises(ValueError, match="lr_schedule.*expected one of.*'plateau'.*got 'step'"):
        RunConfig(task="tag", dataset="stdlib-tag", lr_schedule="step")
