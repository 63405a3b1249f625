"""Vocabularies and tokenization: tokens <-> integer ids.

Four special tokens come first with fixed ids, so that padding is always id 0 and a model's
embedding can use ``padding_idx=0``::

    PAD = 0 "<pad>"   fills the tail of short sequences in a batch
    UNK = 1 "<unk>"   any token not in the vocabulary
    BOS = 2 "<bos>"   start of a sequence (decoder input, language-model prompt)
    EOS = 3 "<eos>"   end of a sequence (decoder target)

Tokens then follow by decreasing count, ties broken by first appearance, so building the same
vocabulary twice from the same data gives the same ids.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from rnnkit.data.files import DataError, check_path, read_text_file
from rnnkit.errors import check_choice, check_nonnegative_int, check_positive_int

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def char_tokenize(text: str) -> List[str]:
    """Every character is a token, spaces and newlines included."""
    return list(text)


def word_tokenize(text: str, *, lower: bool = False) -> List[str]:
    """Words (runs of letters, digits, underscore) and single punctuation marks; spaces dropped.

    >>> word_tokenize("Hello, world!")
    ['Hello', ',', 'world', '!']
    """
    if lower:
        text = text.lower()
    return _WORD.findall(text)


TOKENIZERS: Dict[str, Callable[[str], List[str]]] = {"char": char_tokenize, "word": word_tokenize}


def get_tokenizer(name: str) -> Callable[[str], List[str]]:
    """``"char"`` or ``"word"``."""
    check_choice(name, TOKENIZERS, "tokenizer")
    return TOKENIZERS[name]


class Vocab:
    """A mapping between tokens and ids with the four specials at ids 0..3."""

    def __init__(self, tokens: Sequence[str] = ()):
        self._itos: List[str] = list(SPECIALS)
        self._stoi: Dict[str, int] = {t: i for i, t in enumerate(SPECIALS)}
        for token in tokens:
            if not isinstance(token, str):
                raise TypeError(f"Received an invalid token for `Vocab`: expected str, got {type(token).__name__} {token!r}.")
            if token not in self._stoi:
                self._stoi[token] = len(self._itos)
                self._itos.append(token)

    # ---- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, token_streams: Iterable[Iterable[str]], *, min_freq: int = 1,
              max_size: Optional[int] = None) -> "Vocab":
        """Build from an iterable of token sequences (for example one list of tokens per text).

        ``min_freq``: keep tokens seen at least this often. ``max_size``: at most this many
        entries in all, the four specials included (the most frequent tokens are kept).
        """
        min_freq = check_positive_int(min_freq, "min_freq")
        if max_size is not None:
            max_size = check_positive_int(max_size, "max_size")
            if max_size < len(SPECIALS):
                raise ValueError(
                    f"Received an invalid value for argument `max_size`: expected at least {len(SPECIALS)} "
                    f"(the special tokens {SPECIALS}), got {max_size}."
                )
        if isinstance(token_streams, str):
            raise TypeError(
                "Received an invalid value for argument `token_streams`: expected an iterable of token "
                "sequences (e.g. [['a', 'b'], ['c']]), got a str; tokenize it first (char_tokenize/word_tokenize)."
            )
        counts: Counter = Counter()
        for stream in token_streams:
            if isinstance(stream, str):
                raise TypeError(
                    "Received an invalid value for argument `token_streams`: expected sequences of tokens, "
                    f"got a str element {stream[:30]!r}; tokenize each text first."
                )
            counts.update(stream)
        # Counter keeps insertion order, and sorted() is stable: ties keep first appearance.
        ranked = [t for t, c in sorted(counts.items(), key=lambda kv: -kv[1]) if c >= min_freq and t not in SPECIALS]
        if max_size is not None:
            ranked = ranked[: max_size - len(SPECIALS)]
        return cls(ranked)

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, tokenizer: str = "char", min_freq: int = 1,
                   max_size: Optional[int] = None) -> "Vocab":
        """Tokenize ``texts`` with the named tokenizer and build."""
        tok = get_tokenizer(tokenizer)
        return cls.build((tok(t) for t in texts), min_freq=min_freq, max_size=max_size)

    # ---- lookup ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token) -> bool:
        return token in self._stoi

    def __getitem__(self, token: str) -> int:
        return self._stoi.get(token, UNK)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, first={self._itos[4:9]!r})"

    @property
    def tokens(self) -> List[str]:
        """All tokens in id order, specials first."""
        return list(self._itos)

    pad_id, unk_id, bos_id, eos_id = PAD, UNK, BOS, EOS

    def lookup_token(self, index: int) -> str:
        check_nonnegative_int(index, "index")
        if index >= len(self._itos):
            raise ValueError(f"Received an invalid value for argument `index`: expected an id < {len(self)}, got {index}.")
        return self._itos[index]

    def encode(self, tokens: Iterable[str], *, add_bos: bool = False, add_eos: bool = False) -> List[int]:
        """Token sequence -> ids; unknown tokens map to UNK (id 1)."""
        if isinstance(tokens, str):
            tokens = list(tokens)  # a string is a sequence of characters
        ids = [self._stoi.get(t, UNK) for t in tokens]
        return ([BOS] if add_bos else []) + ids + ([EOS] if add_eos else [])

    def decode(self, ids: Iterable[int], *, skip_specials: bool = True, stop_at_eos: bool = True) -> List[str]:
        """Ids -> tokens. By default stops at the first EOS and drops PAD/BOS (and EOS)."""
        out = []
        n = len(self._itos)
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"Received an invalid id in `ids`: expected ids in [0, {n}), got {i}.")
            if i == EOS and stop_at_eos:
                break
            if skip_specials and i in (PAD, BOS, EOS):
                continue
            out.append(self._itos[i])
        return out

    def decode_text(self, ids: Iterable[int], *, sep: str = "", **kwargs) -> str:
        """Ids -> one string: ``sep=""`` for characters, ``sep=" "`` for words."""
        return sep.join(self.decode(ids, **kwargs))

    # ---- saving ------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": "rnnkit.vocab", "version": 1, "specials": list(SPECIALS), "tokens": self._itos[len(SPECIALS):]}

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "`data`") -> "Vocab":
        if not isinstance(data, dict) or data.get("format") != "rnnkit.vocab" or not isinstance(data.get("tokens"), list):
            raise DataError(
                f"{source} is not an rnnkit vocabulary: expected a JSON object with \"format\": \"rnnkit.vocab\" "
                f"and a \"tokens\" list."
            )
        if list(data.get("specials", SPECIALS)) != list(SPECIALS):
            raise DataError(f"{source} has special tokens {data.get('specials')!r}, expected {list(SPECIALS)!r}.")
        tokens = data["tokens"]
        if len(set(tokens)) != len(tokens) or any(t in SPECIALS for t in tokens):
            raise DataError(f"{source} has duplicate tokens (or a special token among the ordinary ones).")
        return cls(tokens)

    def save(self, path) -> None:
        """Write the vocabulary as JSON (UTF-8)."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=0)

    @classmethod
    def load(cls, path) -> "Vocab":
        p = check_path(path, "path")
        text = read_text_file(p, "path")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{str(p)!r} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}.") from None
        return cls.from_dict(data, source=repr(str(p)))
