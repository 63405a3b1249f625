"""Classifier ensembles: averaged class probabilities, each member trained on its own loss."""

import math

import pytest
import torch
from torch import nn

from rnnkit.models import ClassifierConfig, ClassifierEnsemble, SequenceClassifier
from rnnkit.models.classifier_ensemble import mean_probability_log


def config(**kw):
    return ClassifierConfig(**{"num_classes": 3, "input_size": 2, "hidden_size": 5, "pooling": "mean", "conv": True,
                               "conv_filters": (4, 3), "conv_kernels": (3, 2), **kw})


def test_output_is_the_log_of_the_members_mean_probabilities():
    torch.manual_seed(0)
    ensemble = ClassifierEnsemble(config(), members=3).eval()
    x, lengths = torch.randn(4, 7, 2), torch.tensor([7, 3, 5, 1])
    every = ensemble.members_forward(x, lengths)
    assert every.shape == (3, 4, 3)
    torch.testing.assert_close(every[2], ensemble.members[2](x, lengths))
    mean = (every[0].softmax(-1) + every[1].softmax(-1) + every[2].softmax(-1)) / 3  # (B, C)
    out = ensemble(x, lengths)
    assert out.shape == (4, 3)
    torch.testing.assert_close(out.exp(), mean)
    torch.testing.assert_close(out.softmax(-1), mean)  # what predict and evaluate read
    assert not torch.allclose(every[0], every[1])  # own initializations


def test_one_member_gives_its_own_log_probabilities():
    logits = torch.tensor([[[2.0, -1.0, 0.5]]])  # (1, 1, 3)
    torch.testing.assert_close(mean_probability_log(logits), logits[0].log_softmax(-1))
    two = torch.tensor([[[0.0, math.log(3.0)]], [[math.log(3.0), 0.0]]])  # members (1/4, 3/4) and (3/4, 1/4)
    torch.testing.assert_close(mean_probability_log(two).exp(), torch.tensor([[0.5, 0.5]]))


def test_each_member_gets_the_gradient_of_its_own_loss():
    """The task's loss on EachMember's output (M, B, C) gives every member 1/M times the
    gradient it would get trained alone on the same batch."""
    from rnnkit.tasks import get_task

    torch.manual_seed(1)
    ensemble = ClassifierEnsemble(config(conv=False), members=2)
    task = get_task("classify")
    x, y = torch.randn(5, 6, 2), torch.tensor([0, 2, 1, 1, 0])
    outputs = task.training_module(ensemble)(x)
    assert outputs.shape == (2, 5, 3)
    task.loss(outputs, y).backward()
    for member in ensemble.members:
        alone = SequenceClassifier(config(conv=False))
        alone.load_state_dict(member.state_dict())
        nn.functional.cross_entropy(alone(x), y).backward()
        for p_alone, p_member in zip(alone.parameters(), member.parameters()):
            torch.testing.assert_close(p_member.grad, p_alone.grad / 2)
    assert task.training_module(ensemble.members[0]) is ensemble.members[0]


def test_logged_accuracy_is_the_ensembles():
    from rnnkit.tasks.classify import ensemble_accuracy

    # member 0 is sure of class 0, member 1 leans to class 1: the average picks class 0
    every = torch.tensor([[[9.0, 0.0]], [[0.0, 0.5]]])  # (2, 1, 2)
    assert float(ensemble_accuracy(every, torch.tensor([0]))) == 1.0
    assert float(ensemble_accuracy(every[1], torch.tensor([0]))) == 0.0  # a single model's (B, C) logits


def test_task_builds_an_ensemble_from_the_members_key():
    from rnnkit.tasks import get_task

    task = get_task("classify")
    model_config = config().to_dict()
    assert type(task.build_model(model_config)) is SequenceClassifier
    ensemble = task.build_model({**model_config, "members": 4})
    assert isinstance(ensemble, ClassifierEnsemble) and len(ensemble.members) == 4


@pytest.mark.parametrize("members", [0, -2, 1.5, True])
def test_bad_member_count_names_the_argument(members):
    with pytest.raises(ValueError, match="`members`: expected a positive integer"):
        ClassifierEnsemble(config(), members=members)


@pytest.mark.parametrize("value, message", [(0, "`ensemble`: expected a positive integer, got 0"),
                                            ("three", "`ensemble` of task 'classify': expected int")])
def test_bad_ensemble_option_names_the_option(value, message):
    from rnnkit.tasks import get_task
    from rnnkit.tasks.config import RunConfig

    run = RunConfig(task="classify", data="x.csv", options={"ensemble": value})
    with pytest.raises(ValueError, match=message):
        get_task("classify").options(run)
