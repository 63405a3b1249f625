"""LengthCurriculum: the ladder of lengths, the promotion rule read off training losses, mixed
lengths per batch, and clear errors for bad arguments."""

import pytest
import torch

from rnnkit.data.synthetic import copy_memory, copy_memory_baseline
from rnnkit.train.curriculum import LengthCurriculum, length_ladder


def flat(length):
    return 1.0  # a baseline of 1 at every length: losses are then ratios directly


def test_ladder_is_geometric_increasing_and_ends_at_target():
    assert length_ladder(10, 200, 2.0) == [10, 20, 40, 80, 160, 200]
    assert length_ladder(10, 10, 2.0) == [10]
    assert length_ladder(1, 4, 1.1) == [1, 2, 3, 4]  # rounding never stalls a rung
    assert length_ladder(3, 100, 3.0) == [3, 9, 27, 81, 100]


def test_promotes_only_when_the_window_mean_is_below_threshold():
    c = LengthCurriculum(10, 40, baseline=flat, growth=2.0, threshold=0.5, window=4, mix=False)
    for loss in (0.9, 0.1, 0.1, 0.1):  # mean 0.3 < 0.5 at the 4th loss
        moved = c.update(loss)
    assert moved and c.length == 20 and c.history == [(0, 10), (4, 20)]
    for loss in (0.9, 0.9, 0.9, 0.9, 0.9):  # mean 0.9 stays
        assert not c.update(loss)
    assert c.length == 20
    for loss in (0.1, 0.1, 0.1):  # the window slides: mean 0.7, then 0.5 (not below), then 0.3
        moved = c.update(loss)
    assert moved and c.done and c.length == 40 and c.history[-1] == (12, 40)
    assert not c.update(0.0) and c.length == 40  # stays at the target
    assert c.state_dict() == {"rung": 2, "steps": 13, "history": [[0, 10], [4, 20], [12, 40]]}


def test_losses_are_compared_with_their_own_lengths_baseline():
    c = LengthCurriculum(10, 200, baseline=copy_memory_baseline, threshold=0.1, window=2, mix=False)
    at_10 = copy_memory_baseline(10)
    c.update(0.05 * at_10, 10)
    assert c.update(0.05 * at_10, 10) and c.length == 20
    c.update(0.5 * copy_memory_baseline(20))
    assert not c.update(0.5 * copy_memory_baseline(20))  # half the baseline: not yet


def test_mixed_lengths_lie_between_the_previous_and_current_rung():
    c = LengthCurriculum(10, 80, baseline=flat, threshold=0.5, window=1)
    gen = torch.Generator().manual_seed(0)
    assert {c.sample_length(gen) for _ in range(20)} == {10}  # first rung: its own length
    c.update(0.0)
    lengths = {c.sample_length(gen) for _ in range(200)}
    assert min(lengths) >= 11 and max(lengths) == 20 and len(lengths) > 5
    c.update(0.0)
    c.update(0.0)
    assert c.done and {c.sample_length(gen) for _ in range(20)} == {80}  # the target trains at the target


def test_drives_copy_memory_batches():
    c = LengthCurriculum(5, 20, baseline=copy_memory_baseline, threshold=10.0, window=1)  # promote every step
    gen = torch.Generator().manual_seed(1)
    seen = []
    for _ in range(4):
        length = c.sample_length(gen)
        x, y = copy_memory(4, length, generator=gen)
        assert x.shape == (4, length + 20) and (x[:, 10 + length - 1] == 9).all()
        seen.append(length)
        c.update(copy_memory_baseline(length), length)
    assert seen[0] == 5 and 5 < seen[1] <= 10 and seen[-1] == 20 and c.done


@pytest.mark.parametrize("kwargs, error, match", [
    ({"start": 0}, ValueError, r"argument `start`: expected a positive integer, got 0"),
    ({"start": 300}, ValueError, r"argument `start`: expected at most target=200, got 300"),
    ({"growth": 1.0}, ValueError, r"argument `growth`: expected a factor above 1, got 1.0"),
    ({"growth": "2"}, ValueError, r"argument `growth`: expected a positive finite number, got '2'"),
    ({"threshold": -0.1}, ValueError, r"argument `threshold`: expected a positive finite number, got -0.1"),
    ({"window": 0}, ValueError, r"argument `window`: expected a positive integer, got 0"),
    ({"baseline": 0.1}, TypeError, r"argument `baseline`: expected a callable length -> loss, got float"),
])
def test_bad_arguments_name_the_argument(kwargs, error, match):
    args = {"start": 10, "target": 200, "baseline": copy_memory_baseline} | kwargs
    start, target = args.pop("start"), args.pop("target")
    with pytest.raises(error, match=match):
        LengthCurriculum(start, target, **args)


def test_non_finite_loss_is_refused():
    c = LengthCurriculum(10, 20, baseline=flat)
    with pytest.raises(ValueError, match=r"argument `loss`: expected a finite number, got nan"):
        c.update(float("nan"))
