import os

import pytest
import torch

from rnnkit.data import streaming
from rnnkit.data import (DataError, Vocab, batchify, iter_text_blocks, stream_sequences, stream_tensor, stream_text_file,
                         stream_text_files)


def rows_from_chunks(chunks, batch_size):
    """Concatenate each row's valid steps across chunks, splitting where reset is True."""
    rows = [[] for _ in range(batch_size)]
    for c in chunks:
        for b in range(batch_size):
            n = int(c.lengths[b])
            if c.reset[b]:
                rows[b].append([])
            if n:
                rows[b][-1].extend(c.inputs[b, :n].tolist())
    return rows


def test_batchify_layout():
    x = torch.arange(11)
    assert batchify(x, 3).tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(ValueError, match="`batch_size`: expected at most the sequence length 11"):
        batchify(x, 12)


def test_stream_tensor_consecutive_chunks_and_reset_only_at_start():
    ids = torch.arange(26)
    stream = stream_tensor(ids[:-1], ids[1:], batch_size=2, chunk_length=5)
    chunks = list(stream)
    assert [c.inputs.shape[1] for c in chunks] == [5, 5, 2]
    assert chunks[0].inputs.tolist() == [[0, 1, 2, 3, 4], [12, 13, 14, 15, 16]]
    assert chunks[1].inputs[0].tolist() == [5, 6, 7, 8, 9]  # row 0 continues where it stopped
    assert (chunks[2].targets == chunks[2].inputs + 1).all()
    assert chunks[0].reset.tolist() == [True, True] and not chunks[1].reset.any() and not chunks[2].reset.any()
    assert len(list(stream)) == 3  # re-iterable: a new epoch starts over
    feats = torch.randn(40, 3)
    c0 = next(iter(stream_tensor(feats, batch_size=4, chunk_length=3)))
    assert c0.inputs.shape == (4, 3, 3) and c0.targets is None and torch.equal(c0.inputs[1], feats[10:13])


def test_stream_sequences_resets_at_new_sequences():
    seqs = [torch.arange(100, 107), torch.arange(200, 203), torch.arange(300, 305), torch.arange(400, 401)]
    chunks = list(stream_sequences(seqs, batch_size=2, chunk_length=4))
    assert chunks[0].inputs.tolist() == [[100, 101, 102, 103], [200, 201, 202, 0]]
    assert chunks[0].lengths.tolist() == [4, 3] and chunks[0].reset.tolist() == [True, True]
    assert chunks[1].inputs.tolist() == [[104, 105, 106, 0], [300, 301, 302, 303]]
    assert chunks[1].reset.tolist() == [False, True]
    rows = rows_from_chunks(chunks, 2)
    flat = sorted(tuple(s) for r in rows for s in r)
    assert flat == sorted(tuple(s.tolist()) for s in seqs)
    ends = list(stream_sequences([torch.arange(7), torch.arange(3)], batch_size=2, chunk_length=4))
    assert [c.lengths.tolist() for c in ends] == [[4, 3], [3, 0]]
    assert ends[1].active.tolist() == [True, False]  # a row with nothing left has length 0


def test_stream_sequences_with_targets_and_errors():
    pairs = [(torch.randn(5, 2), torch.arange(5)), (torch.randn(3, 2), torch.arange(3))]
    chunks = list(stream_sequences(pairs, batch_size=1, chunk_length=4))
    assert [c.lengths.item() for c in chunks] == [4, 1, 3] and [c.reset.item() for c in chunks] == [True, False, True]
    with pytest.raises(ValueError, match="same feature shape"):
        list(stream_sequences([torch.randn(3, 2), torch.randn(3, 4)], batch_size=2, chunk_length=2))
    with pytest.raises(TypeError, match="at index 0"):
        list(stream_sequences(["abc"], batch_size=1, chunk_length=2))


def test_stream_text_file_matches_in_memory_split(tmp_path):
    text = "".join(f"line {i}: naïve café ✓\n" for i in range(50))  # multi-byte characters
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    vocab = Vocab.build([list(text)])
    stream = stream_text_file(path, vocab, batch_size=3, chunk_length=16)
    chunks = list(stream)
    rows = rows_from_chunks(chunks, 3)
    decoded = ["".join(vocab.decode(r[0], skip_specials=False)) for r in rows]
    # The rows are contiguous pieces that, with each row's final character (a target only), give the text.
    finals = []
    for b in range(3):
        last = max(i for i, c in enumerate(chunks) if c.lengths[b] > 0)
        finals.append(vocab.lookup_token(int(chunks[last].targets[b, chunks[last].lengths[b] - 1])))
    assert "".join(d + f for d, f in zip(decoded, finals)) == text
    for c in chunks:
        assert c.inputs.shape[1] <= 16
        valid = torch.arange(c.inputs.shape[1])[None, :] < c.lengths[:, None]
        assert (c.targets[~valid] == -100).all() and (c.inputs[~valid] == 0).all()
        # target t is input t + 1 inside a chunk
        assert torch.equal(c.targets[:, :-1][valid[:, 1:]], c.inputs[:, 1:][valid[:, 1:]])
    assert chunks[0].reset.all() and not any(c.reset.any() for c in chunks[1:])


def test_stream_text_file_reads_incrementally(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_text("abcdefghij" * 2000, encoding="utf-8")
    vocab = Vocab.build([list("abcdefghij")])
    sizes = []

    class Spy:
        def __init__(self, f):
            self.f = f

        def read(self, n=-1):
            sizes.append(n)
            return self.f.read(n)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(streaming, "open", lambda *a, **k: Spy(open(*a, **k)), raising=False)
    n_chunks = sum(1 for _ in stream_text_file(path, vocab, batch_size=4, chunk_length=32))
    assert n_chunks == 5000 // 32 + 1
    assert sizes and max(sizes) <= 33 and -1 not in sizes  # never the whole file, at most k + 1 bytes


def test_stream_text_files_one_file_per_sequence(tmp_path):
    paths = []
    for i, body in enumerate(["aaaaaaa", "bb", "cccc"]):
        p = tmp_path / f"{i}.txt"
        p.write_text(body, encoding="utf-8")
        paths.append(p)
    vocab = Vocab.build([list("abc")])
    chunks = list(stream_text_files(paths, vocab, batch_size=2, chunk_length=3))
    rows = rows_from_chunks(chunks, 2)
    got = sorted("".join(vocab.decode(s)) for r in rows for s in r)
    assert got == ["aaaaaa", "b", "ccc"]  # each file's characters but its last (which is only a target)
    assert chunks[0].reset.tolist() == [True, True]


def test_stream_text_errors(tmp_path):
    vocab = Vocab.build([list("ab")])
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ab\nab\nab\xffab" * 3)
    with pytest.raises(DataError, match=r"bad.txt' is not valid UTF-8 text: byte offset 8 \(line 3\)"):
        list(stream_text_file(bad, vocab, batch_size=1, chunk_length=4))
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("ab", encoding="utf-8")
    with pytest.raises(DataError, match="too short"):
        stream_text_file(tiny, vocab, batch_size=4, chunk_length=2)
    with pytest.raises(ValueError, match="`paths`: expected a non-empty list"):
        stream_text_files(str(tiny), vocab, batch_size=1, chunk_length=2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        stream_text_files([tmp_path / "missing.txt"], vocab, batch_size=1, chunk_length=2)
    with pytest.raises(TypeError, match="`vocab`"):
        stream_text_file(tiny, 3, batch_size=1, chunk_length=2)


def test_iter_text_blocks_builds_the_same_vocab(tmp_path):
    text = "héllo wörld\n" * 100
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    blocks = list(iter_text_blocks(path, block_chars=7))
    assert "".join(blocks) == text and max(map(len, blocks)) <= 7
    assert Vocab.build(map(list, iter_text_blocks(path, 50))).tokens == Vocab.build([list(text)]).tokens
