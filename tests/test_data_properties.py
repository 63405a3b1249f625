"""Property-based tests (hypothesis) over random lengths, batch sizes and chunk lengths."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data import (Vocab, bucket_batches, pad_sequences, sliding_windows, stream_sequences, stream_tensor,
                         stream_text_file, validation_split)

FAST = settings(max_examples=40, deadline=None)


@FAST
@given(st.lists(st.integers(1, 12), min_size=1, max_size=20))
def test_pad_sequences_keeps_every_value(lengths):
    seqs = [torch.arange(n) + 100 * i for i, n in enumerate(lengths)]
    x, got = pad_sequences(seqs)
    assert got.tolist() == lengths and x.shape == (len(lengths), max(lengths))
    for i, s in enumerate(seqs):
        assert torch.equal(x[i, : len(s)], s) and (x[i, len(s):] == 0).all()


@FAST
@given(st.lists(st.integers(1, 50), min_size=1, max_size=200), st.integers(1, 16), st.integers(0, 5))
def test_bucket_batches_is_a_partition(lengths, batch_size, seed):
    batches = bucket_batches(lengths, batch_size, seed=seed, pool_size=batch_size * 3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)


@FAST
@given(st.lists(st.integers(0, 3), min_size=2, max_size=100), st.floats(0.05, 0.5), st.integers(0, 3))
def test_validation_split_partitions_and_keeps_every_class(labels, fraction, seed):
    train, val = validation_split(len(labels), fraction=fraction, seed=seed, labels=labels)
    assert len(val) >= 1 and sorted(np.concatenate([train, val]).tolist()) == list(range(len(labels)))
    labels = np.asarray(labels)
    if len(val) <= sum(c - 1 for c in np.unique(labels, return_counts=True)[1]):
        assert set(labels[train]) == set(labels)  # stratified: no class loses all its training samples


@FAST
@given(st.lists(st.integers(1, 30), min_size=1, max_size=12), st.integers(1, 5), st.integers(1, 9))
def test_stream_sequences_delivers_each_sequence_once_in_order(lengths, batch_size, k):
    seqs = [torch.arange(n) + 1000 * i for i, n in enumerate(lengths)]
    rows = [[] for _ in range(batch_size)]
    for chunk in stream_sequences(seqs, batch_size=batch_size, chunk_length=k):
        assert chunk.inputs.shape[1] == int(chunk.lengths.max()) <= k
        for b in range(batch_size):
            n = int(chunk.lengths[b])
            if chunk.reset[b]:
                rows[b].append([])
            assert n == 0 or rows[b], "data before any reset"
            if n:
                rows[b][-1].extend(chunk.inputs[b, :n].tolist())
    got = sorted(tuple(s) for r in rows for s in r)
    assert got == sorted(tuple(s.tolist()) for s in seqs)


@FAST
@given(st.integers(2, 300), st.integers(1, 6), st.integers(1, 20))
def test_stream_tensor_equals_batchify(length, batch_size, k):
    if length < batch_size:
        return
    data = torch.arange(length)
    per_row = length // batch_size
    chunks = list(stream_tensor(data, batch_size=batch_size, chunk_length=k))
    joined = torch.cat([c.inputs for c in chunks], dim=1)
    assert torch.equal(joined, data[: per_row * batch_size].reshape(batch_size, per_row))


@FAST
@given(st.text(alphabet="ab é✓\n日", min_size=12, max_size=200), st.integers(1, 5), st.integers(1, 10))
def test_stream_text_file_reassembles_the_text(tmp_path_factory, text, batch_size, k):
    path = tmp_path_factory.mktemp("s") / "t.txt"
    path.write_text(text, encoding="utf-8", newline="")
    if len(text.encode("utf-8")) < 2 * batch_size:
        return
    vocab = Vocab.build([list(text)])
    inputs = [[] for _ in range(batch_size)]
    last_target = [None] * batch_size
    for c in stream_text_file(path, vocab, batch_size=batch_size, chunk_length=k):
        for b in range(batch_size):
            n = int(c.lengths[b])
            if n:
                inputs[b].extend(c.inputs[b, :n].tolist())
                last_target[b] = int(c.targets[b, n - 1])
    # Expected rows: bytes [b S / B, (b + 1) S / B), each boundary moved to a character start.
    data = text.encode("utf-8")
    bounds = []
    for b in range(batch_size):
        o = b * len(data) // batch_size
        while o < len(data) and (data[o] & 0xC0) == 0x80:
            o += 1
        bounds.append(o)
    bounds.append(len(data))
    for b in range(batch_size):
        expected = data[bounds[b]:bounds[b + 1]].decode("utf-8")
        if len(expected) < 2:
            assert inputs[b] == []  # one character makes no (input, target) pair
            continue
        got = vocab.decode_text(inputs[b] + [last_target[b]], skip_specials=False, stop_at_eos=False)
        assert got == expected


@FAST
@given(st.integers(5, 60), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3))
def test_sliding_windows_are_slices_of_the_series(steps, lookback, horizon, stride):
    if lookback + horizon > steps:
        return
    series = np.arange(steps, dtype=float)
    w = sliding_windows(series, lookback, horizon, stride=stride)
    for i, s in enumerate(w.starts.tolist()):
        assert w.inputs[i, :, 0].tolist() == list(range(s, s + lookback))
        assert w.targets[i, :, 0].tolist() == list(range(s + lookback, s + lookback + horizon))
    assert w.starts[-1] + lookback + horizon + stride > steps  # no window left out at the end
