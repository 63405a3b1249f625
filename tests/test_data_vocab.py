import json

import pytest

from rnnkit.data import BOS, EOS, PAD, UNK, DataError, DataFileNotFoundError, Vocab, char_tokenize, word_tokenize
from rnnkit.data.vocab import get_tokenizer


def test_specials_have_fixed_ids():
    v = Vocab()
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
    assert v.tokens == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert v["<pad>"] == 0 and v["<eos>"] == 3 and len(v) == 4


def test_build_orders_by_count_then_first_appearance():
    v = Vocab.build([["b", "a", "c"], ["a", "c", "a"], ["d"]])
    assert v.tokens[4:] == ["a", "c", "b", "d"]  # a:3, c:2, then b and d (count 1) in order seen


def test_min_freq_and_max_size():
    streams = [list("aaabbc")]
    assert Vocab.build(streams, min_freq=2).tokens[4:] == ["a", "b"]
    assert Vocab.build(streams, max_size=5).tokens[4:] == ["a"]
    with pytest.raises(ValueError, match="`max_size`: expected at least 4"):
        Vocab.build(streams, max_size=3)
    with pytest.raises(ValueError, match="`min_freq`"):
        Vocab.build(streams, min_freq=0)


def test_encode_decode_round_trip_and_unknowns():
    v = Vocab.from_texts(["hello world"], tokenizer="char")
    ids = v.encode("hold", add_bos=True, add_eos=True)
    assert ids[0] == BOS and ids[-1] == EOS
    assert v.decode_text(ids) == "hold"
    assert v.encode("hz") == [v["h"], UNK]
    assert v.decode([v["h"], EOS, v["o"]]) == ["h"]  # stops at EOS
    assert v.decode([PAD, v["h"], PAD], skip_specials=False) == ["<pad>", "h", "<pad>"]
    with pytest.raises(ValueError, match=r"expected ids in \[0, "):
        v.decode([len(v)])


def test_word_and_char_tokenizers():
    assert word_tokenize("Hello, world! It's 3.5") == ["Hello", ",", "world", "!", "It", "'", "s", "3", ".", "5"]
    assert word_tokenize("A b", lower=True) == ["a", "b"]
    assert char_tokenize("a b\n") == ["a", " ", "b", "\n"]
    assert get_tokenizer("word") is word_tokenize
    with pytest.raises(ValueError, match="`tokenizer`: expected one of"):
        get_tokenizer("bpe")


def test_build_rejects_untokenized_strings():
    with pytest.raises(TypeError, match="tokenize"):
        Vocab.build("abc")
    with pytest.raises(TypeError, match="tokenize each text"):
        Vocab.build(["abc", "de"])


def test_save_load_round_trip(tmp_path):
    v = Vocab.from_texts(["naïve café", "日本"], tokenizer="char")
    path = tmp_path / "vocab.json"
    v.save(path)
    assert Vocab.load(path) == v
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"][0] in "naïve café日本"


def test_load_errors(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="does not exist"):
        Vocab.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        Vocab.load(bad)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"tokens": ["a"]}), encoding="utf-8")
    with pytest.raises(DataError, match="not an rnnkit vocabulary"):
        Vocab.load(other)
    dup = tmp_path / "dup.json"
    dup.write_text(json.dumps({"format": "rnnkit.vocab", "tokens": ["a", "a"]}), encoding="utf-8")
    with pytest.raises(DataError, match="duplicate"):
        Vocab.load(dup)
