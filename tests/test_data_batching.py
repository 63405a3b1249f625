import numpy as np
import pytest
import torch

from rnnkit.data import BucketBatchSampler, bucket_batches, lengths_to_mask, pad_sequences, validation_split


def test_pad_sequences_tokens_and_features():
    x, lengths = pad_sequences([[1, 2, 3], [4], [5, 6]])
    assert x.tolist() == [[1, 2, 3], [4, 0, 0], [5, 6, 0]] and lengths.tolist() == [3, 1, 2]
    feats = [torch.ones(2, 3), torch.full((4, 3), 2.0)]
    x, lengths = pad_sequences(feats, padding_value=-1.0)
    assert x.shape == (2, 4, 3) and lengths.tolist() == [2, 4]
    assert (x[0, 2:] == -1).all() and (x[1] == 2).all()
    x, lengths = pad_sequences([np.arange(5), np.arange(2)], max_length=3)
    assert x.tolist() == [[0, 1, 2], [0, 1, 0]] and lengths.tolist() == [3, 2]


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="non-empty list"):
        pad_sequences([])
    with pytest.raises(ValueError, match="at index 1"):
        pad_sequences([torch.ones(2, 3), torch.ones(2, 4)])
    with pytest.raises(ValueError, match="index 1 is empty"):
        pad_sequences([[1], []])
    with pytest.raises(TypeError, match="at index 0"):
        pad_sequences(["abc"])


def test_lengths_to_mask():
    assert lengths_to_mask(torch.tensor([2, 0, 3])).tolist() == [[True, True, False], [False, False, False], [True, True, True]]


def test_bucket_batches_cover_all_and_group_similar_lengths():
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 200, size=1000)
    batches = bucket_batches(lengths, 32, seed=3, pool_size=320)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_spread = np.mean([lengths[b].max() - lengths[b].min() for b in np.array_split(rng.permutation(1000), 32)])
    assert spread < random_spread / 4  # bucketing wastes far less on padding than random batches
    assert batches == bucket_batches(lengths, 32, seed=3, pool_size=320)  # seeded
    assert batches != bucket_batches(lengths, 32, seed=4, pool_size=320)


def test_bucket_batches_sorted_and_drop_last():
    lengths = [5, 1, 4, 2, 3]
    assert bucket_batches(lengths, 2, shuffle=False) == [[1, 3], [4, 2], [0]]
    assert bucket_batches(lengths, 2, shuffle=False, drop_last=True) == [[1, 3], [4, 2]]
    with pytest.raises(ValueError, match="`batch_size`"):
        bucket_batches(lengths, 0)
    with pytest.raises(ValueError, match="`lengths`"):
        bucket_batches([], 2)


def test_bucket_sampler_with_dataloader_reshuffles_each_epoch():
    lengths = list(range(1, 41))
    sampler = BucketBatchSampler(lengths, 4, seed=0, pool_size=8)
    data = torch.arange(40)
    loader = torch.utils.data.DataLoader(data, batch_sampler=sampler)
    first = [b.tolist() for b in loader]
    second = [b.tolist() for b in loader]
    assert len(loader) == 10 and sorted(sum(first, [])) == list(range(40))
    assert first != second


def test_validation_split_plain_is_seeded_and_disjoint():
    train, val = validation_split(100, fraction=0.2, seed=5)
    assert len(val) == 20 and len(train) == 80
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(range(100))
    again = validation_split(100, fraction=0.2, seed=5)
    assert (again[1] == val).all()
    assert not (validation_split(100, fraction=0.2, seed=6)[1] == val).all()


def test_validation_split_is_stratified():
    labels = np.array([0] * 90 + [1] * 10)
    train, val = validation_split(100, fraction=0.2, seed=0, labels=labels)
    assert len(val) == 20
    assert (labels[val] == 1).sum() == 2 and (labels[val] == 0).sum() == 18
    # Every class keeps a training sample; singletons never move to validation.
    labels = np.array([0, 0, 0, 0, 1, 2, 2, 2, 2, 2])
    train, val = validation_split(10, fraction=0.3, seed=0, labels=labels)
    assert 1 not in labels[val] and len(val) == 3
    assert set(labels[train]) == {0, 1, 2}


def test_validation_split_falls_back_when_stratification_impossible():
    labels = np.arange(10)  # every class a singleton
    train, val = validation_split(10, fraction=0.2, seed=0, labels=labels)
    assert len(val) == 2 and len(train) == 8


def test_validation_split_errors():
    with pytest.raises(ValueError, match=r"`fraction`: expected a number in \(0, 1\)"):
        validation_split(10, fraction=1.0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        validation_split(1)
    with pytest.raises(ValueError, match=r"`labels`: expected shape \(10,\)"):
        validation_split(10, labels=[0, 1])
