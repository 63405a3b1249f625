import pytest
import torch

from rnnkit.data import (DataError, Vocab, batchify, iter_text_blocks, stream_csv_file, stream_csv_files,
                         stream_sequences, stream_tensor, stream_text_file, stream_text_files, streaming_files)


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

    monkeypatch.setattr(streaming_files, "open", lambda *a, **k: Spy(open(*a, **k)), raising=False)
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


def write_csv(path, rows, header="t,a,b,y"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_stream_csv_file_rows_are_contiguous_line_ranges(tmp_path):
    rows = [(i, i, 10 * i, -i) for i in range(103)]
    path = write_csv(tmp_path / "rec.csv", rows)
    stream = stream_csv_file(path, batch_size=4, chunk_length=8, target_columns=["y"], time_column="t")
    chunks = list(stream)
    assert chunks[0].inputs.shape == (4, 8, 2) and chunks[0].targets.shape == (4, 8, 1)
    assert chunks[0].reset.all() and not any(c.reset.any() for c in chunks[1:])
    seen = []
    for b in range(4):
        steps = [c.inputs[b, :n] for c in chunks for n in [int(c.lengths[b])] if n]
        targets = [c.targets[b, :n] for c in chunks for n in [int(c.lengths[b])] if n]
        row = torch.cat(steps)
        assert torch.equal(row[:, 1], 10 * row[:, 0]) and torch.equal(torch.cat(targets)[:, 0], -row[:, 0])
        seen.extend(row[:, 0].tolist())
    assert seen == [float(i) for i in range(103)]  # rows in order, every line exactly once
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('t,a\n"2020-01-01, Mon",1.5\n"2020-01-02, Tue","2"\n', encoding="utf-8")
    q = next(iter(stream_csv_file(quoted, batch_size=1, chunk_length=4, time_column="t")))
    assert q.inputs[0, :, 0].tolist() == [1.5, 2.0]
    only_a = next(iter(stream_csv_file(path, batch_size=2, chunk_length=3, columns=["a"])))
    assert only_a.inputs.shape == (2, 3, 1) and only_a.targets is None


def test_stream_csv_files_reset_per_recording(tmp_path):
    a = write_csv(tmp_path / "a.csv", [(i, i, i, i) for i in range(5)])
    b = write_csv(tmp_path / "b.csv", [(i, 100 + i, i, i) for i in range(2)])
    c = write_csv(tmp_path / "c.csv", [(i, 200 + i, i, i) for i in range(3)])
    chunks = list(stream_csv_files([a, b, c], batch_size=2, chunk_length=4, columns=["a"]))
    assert [c.lengths.tolist() for c in chunks] == [[4, 2], [1, 3]]
    assert [c.reset.tolist() for c in chunks] == [[True, True], [False, True]]
    assert chunks[1].inputs[1, :3, 0].tolist() == [200, 201, 202]


def test_stream_csv_errors_name_the_line(tmp_path):
    rows = [(i, i, i, i) for i in range(10)]
    bad = write_csv(tmp_path / "bad.csv", rows[:6] + [(6, "x", 6, 6)] + rows[7:])
    with pytest.raises(DataError, match=r"bad.csv': non-numeric value 'x' in column 'a' on line 8"):
        list(stream_csv_file(bad, batch_size=1, chunk_length=4))
    hole = write_csv(tmp_path / "hole.csv", rows[:3] + [(3, "", 3, 3)])
    with pytest.raises(DataError, match="missing value in column 'a' on line 5"):
        list(stream_csv_file(hole, batch_size=1, chunk_length=8))
    short = tmp_path / "short.csv"
    short.write_text("t,a\n1,2\n3\n", encoding="utf-8")
    with pytest.raises(DataError, match="malformed line: expected 2 fields like the header, got 1 on line 3"):
        list(stream_csv_file(short, batch_size=1, chunk_length=4))
    with pytest.raises(DataError, match=r"column 'z' not found; available columns: \['t', 'a', 'b', 'y'\]"):
        stream_csv_file(write_csv(tmp_path / "ok.csv", rows), batch_size=1, chunk_length=2, target_columns=["z"])
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="is empty"):
        stream_csv_file(empty, batch_size=1, chunk_length=2)
