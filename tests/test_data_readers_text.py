import json
import os

import pytest

from rnnkit.data import (DataError, DataFileNotFoundError, DataFileUnreadableError, read_conll, read_sentence_pairs,
                         read_text, read_text_classification, read_texts)


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


# ---- classification ----------------------------------------------------------------------------
def test_csv_classification_with_quotes_and_custom_columns(tmp_path):
    p = write(tmp_path / "a.csv", 'id,sentence,y\n1,"good, very good",pos\n2,"bad ""really""",neg\n\n3,ok,pos\n')
    data = read_text_classification(p, text_column="sentence", label_column="y")
    assert data.texts == ["good, very good", 'bad "really"', "ok"]
    assert data.labels == ["pos", "neg", "pos"]
    assert data.classes == ["neg", "pos"] and data.label_ids() == [1, 0, 1]


def test_tsv_and_jsonl_classification(tmp_path):
    tsv = write(tmp_path / "a.tsv", "text\tlabel\nhello there\t1\nbye\t2\nagain\t10\n")
    assert read_text_classification(tsv).classes == ["1", "2", "10"]  # numeric order
    jsonl = write(tmp_path / "a.jsonl", json.dumps({"text": "é", "label": 1}) + "\n\n" + json.dumps({"text": "b", "label": 0}) + "\n")
    data = read_text_classification(jsonl)
    assert data.texts == ["é", "b"] and data.labels == ["1", "0"]


def test_classification_missing_column_lists_available(tmp_path):
    p = write(tmp_path / "a.csv", "sentence,label\nx,1\ny,2\n")
    with pytest.raises(DataError, match=r"column 'text' not found; available columns: \['sentence', 'label'\]"):
        read_text_classification(p)
    j = write(tmp_path / "a.jsonl", '{"text": "a", "label": 1}\n{"txt": "b", "label": 2}\n')
    with pytest.raises(DataError, match=r"column 'text' not found on line 2; available columns: \['txt', 'label'\]"):
        read_text_classification(j)


def test_classification_single_class_and_empty(tmp_path):
    p = write(tmp_path / "a.csv", "text,label\nx,spam\ny,spam\n")
    with pytest.raises(DataError, match="single class .'spam' in all 2 records"):
        read_text_classification(p)
    assert read_text_classification(p, min_classes=1).classes == ["spam"]
    header_only = write(tmp_path / "b.csv", "text,label\n")
    with pytest.raises(DataError, match="b.csv' is empty"):
        read_text_classification(header_only)
    empty = write(tmp_path / "c.csv", "")
    with pytest.raises(DataError, match="c.csv' .* is empty"):
        read_text_classification(empty)


def test_classification_malformed_lines(tmp_path):
    p = write(tmp_path / "a.csv", "text,label\nx,1\ny,2,extra\n")
    with pytest.raises(DataError, match="malformed line 3: expected 2 fields"):
        read_text_classification(p)
    q = write(tmp_path / "b.csv", 'text,label\nx,1\n"unterminated,2\n')
    with pytest.raises(DataError, match="malformed CSV on line"):
        read_text_classification(q)
    j = write(tmp_path / "c.jsonl", '{"text": "a", "label": 1}\n{"text": "b", "label": \n')
    with pytest.raises(DataError, match="malformed JSON on line 2"):
        read_text_classification(j)
    k = write(tmp_path / "d.jsonl", '["a", 1]\n')
    with pytest.raises(DataError, match="line 1 is not a JSON object"):
        read_text_classification(k)
    e = write(tmp_path / "e.csv", "text,label\nx,\n")
    with pytest.raises(DataError, match="empty label in column 'label' on line 2"):
        read_text_classification(e)


def test_missing_unreadable_and_unknown_format(tmp_path):
    with pytest.raises(DataFileNotFoundError, match="nope.csv' does not exist"):
        read_text_classification(tmp_path / "nope.csv")
    with pytest.raises(DataFileUnreadableError, match="expected a file, got the directory"):
        read_text_classification(tmp_path)
    p = write(tmp_path / "a.xml", "<a/>")
    with pytest.raises(DataError, match=r"Cannot infer the format .*'.xml'.*pass `format=`"):
        read_text_classification(p)
    with pytest.raises(TypeError, match="`path`: expected a file path"):
        read_text_classification(3)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions are not enforced for root")
def test_unreadable_file(tmp_path):
    p = write(tmp_path / "a.csv", "text,label\na,1\n")
    p.chmod(0)
    try:
        with pytest.raises(DataFileUnreadableError, match="permission denied"):
            read_text_classification(p)
    finally:
        p.chmod(0o644)


def test_unreadable_file_simulated(tmp_path, monkeypatch):
    p = write(tmp_path / "a.csv", "text,label\na,1\n")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(DataFileUnreadableError, match="Cannot read .*a.csv.*permission denied"):
        read_text_classification(p)


def test_non_utf8_names_file_offset_and_line(tmp_path):
    p = write(tmp_path / "latin.csv", "text,label\ncaf\xe9,1\n", encoding="latin-1")
    with pytest.raises(DataError, match=r"latin.csv' is not valid UTF-8 text: byte b'\\xe9' at byte offset 14 \(line 2\)"):
        read_text_classification(p)


def test_bom_is_dropped(tmp_path):
    p = write(tmp_path / "a.csv", "\ufefftext,label\nx,1\ny,2\n")
    assert read_text_classification(p).texts == ["x", "y"]


# ---- CoNLL ---------------------------------------------------------------------------------------
CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
"""


def test_conll_sentences_and_docstart(tmp_path):
    data = read_conll(write(tmp_path / "a.conll", CONLL))
    assert data.tokens == [["EU", "rejects", "German"], ["Peter", "Blackburn"]]
    assert data.tags == [["B-ORG", "O", "B-MISC"], ["B-PER", "I-PER"]]
    chunks = read_conll(write(tmp_path / "b.conll", CONLL), tag_column=2)
    assert chunks.tags[0] == ["B-NP", "B-VP", "B-NP"]


def test_conll_tab_delimiter_keeps_spaces(tmp_path):
    data = read_conll(write(tmp_path / "a.tsv", "New York\tB-LOC\nis\tO\n"), delimiter="\t")
    assert data.tokens == [["New York", "is"]] and data.tags == [["B-LOC", "O"]]


def test_conll_errors(tmp_path):
    with pytest.raises(DataError, match="malformed line 3: expected at least 2 columns"):
        read_conll(write(tmp_path / "a.conll", "a O\nb O\nlonely\n"))
    with pytest.raises(DataError, match="is empty: expected at least one sentence"):
        read_conll(write(tmp_path / "b.conll", "-DOCSTART- O\n\n\n"))
    with pytest.raises(ValueError, match="two different columns"):
        read_conll(write(tmp_path / "c.conll", "a O\n"), token_column=1, tag_column=1)


# ---- sentence pairs and plain text ---------------------------------------------------------------
def test_sentence_pairs(tmp_path):
    p = write(tmp_path / "fra.txt", "Go.\tVa !\tCC-BY 2.0\nHi.\tSalut !\tCC-BY 2.0\n\n")
    data = read_sentence_pairs(p)
    assert data.sources == ["Go.", "Hi."] and data.targets == ["Va !", "Salut !"]
    rev = read_sentence_pairs(p, source_column=1, target_column=0)
    assert rev.sources == ["Va !", "Salut !"]
    h = write(tmp_path / "h.tsv", "src\ttgt\na\tb\n")
    assert len(read_sentence_pairs(h, header=True)) == 1


def test_sentence_pair_errors(tmp_path):
    with pytest.raises(DataError, match="malformed line 2: expected at least 2 tab-separated columns"):
        read_sentence_pairs(write(tmp_path / "a.tsv", "a\tb\nno tab here\n"))
    with pytest.raises(DataError, match="malformed line 1: empty target"):
        read_sentence_pairs(write(tmp_path / "b.tsv", "a\t \n"))
    with pytest.raises(DataError, match="is empty"):
        read_sentence_pairs(write(tmp_path / "c.tsv", "\n\n"))


def test_plain_text(tmp_path):
    assert read_text(write(tmp_path / "a.txt", "line one\nline two\n")) == "line one\nline two\n"
    with pytest.raises(DataError, match="is empty"):
        read_text(write(tmp_path / "b.txt", "  \n"))
    bad = write(tmp_path / "c.txt", b"ok\nok\n\xff\xfe")
    with pytest.raises(DataError, match=r"at byte offset 6 \(line 3\)"):
        read_text(bad)
    texts = read_texts([tmp_path / "a.txt"])
    assert list(texts.values()) == ["line one\nline two\n"]
    with pytest.raises(ValueError, match="`paths`: expected a non-empty list"):
        read_texts([])
