"""Chinese-aware text analysis: the same folding and tokens for documents and queries.

Why this shape (``../shared/reference/catalog.md``):

* Engines that take a run of Chinese characters as one token never find 大连
  inside a sentence, and a trigram index finds nothing for two-character words,
  the most common queries. The index (:mod:`.index`) makes every run of one to
  four characters a term, so a word of up to four characters is found exactly
  where it occurs contiguously, and every pair of adjacent characters a term *with
  its position* (:func:`bigram_stream`), so a longer word is the phrase of its
  bigrams at consecutive positions: never its pieces scattered over the record
  (大连 … 连港 … 港口 does not match 大连港口). Latin text is indexed as ASCII words.
* Simplified and traditional forms must find each other in both directions, so
  everything is **folded to simplified** (OpenCC ``t2s``; folding the other way is
  one-to-many: 干 is 幹, 乾 or 干). Full-width and half-width forms and case fold
  too (NFKC, lower case).
* Folding is **character for character**, so a folded text is as long as the
  original and a match found in it is at the same offsets in the text shown to
  the reader (highlighted snippets need that). The table is built once from
  OpenCC's own conversion of each character.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

#: Han ideographs (URO, extension A, compatibility, the supplementary planes),
#: kana and hangul: scripts written without spaces, indexed as bigrams.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
#: A run of CJK characters (group ``cjk``) or a word of other letters and digits (group ``word``).
TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+)")
_ASCII_WORD = re.compile(r"[a-z0-9]+")


@cache
def _table() -> dict[int, str]:
    """Every BMP character whose folded form is one other character, mapped to it."""
    import opencc  # ships no type information; loaded only when text is first analysed

    table: dict[int, str] = {}
    for cp in range(0x20, 0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        folded = unicodedata.normalize("NFKC", c).lower()
        if len(folded) == 1 and folded != c:
            table[cp] = folded
    if table.get(0x3000) is None:
        table[0x3000] = " "
    # OpenCC converts phrases as well as characters; one character per line keeps
    # the conversion per character, and one call converts the whole repertoire.
    han = [chr(cp) for cp in range(0x3400, 0xA000)] + [chr(cp) for cp in range(0xF900, 0xFB00)]
    han = [table.get(ord(c), c) for c in han]
    converted = opencc.OpenCC("t2s").convert("\n".join(han)).split("\n")
    if len(converted) == len(han):
        for source, target in zip(han, converted, strict=True):
            if len(target) == 1 and target != source:
                table[ord(source)] = target
    # Compose: a compatibility ideograph folds by NFKC, then by OpenCC.
    for cp, target in list(table.items()):
        again = table.get(ord(target))
        if again is not None and len(target) == 1:
            table[cp] = again
    return table


def fold(text: str) -> str:
    """``text`` folded (simplified, half-width, lower case), as long as it was."""
    return text.translate(_table())


@cache
def _foldable() -> re.Pattern[str]:
    """The letters and digits that fold: matching only them skips the punctuation the index ignores."""
    table = _table()
    keys = "".join(re.escape(chr(cp)) for cp in sorted(table) if chr(cp).isalnum())
    return re.compile(f"[{keys}]")


def fold_terms(text: str) -> str:
    """``text`` folded as far as its index terms go; fast on simplified text, where little folds."""
    table = _table()
    return _foldable().sub(lambda m: table[ord(m.group())], text)


def grams(run: str) -> list[str]:
    """A CJK run's bigrams in order; a one-character run is its own term."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def word_parts(word: str) -> tuple[list[str], list[str]]:
    """What a query word must match: (its folded CJK runs, its ASCII words), each once.

    A run of up to four characters is looked up as one n-gram term, a longer one as
    the phrase of its bigrams (:func:`grams`).
    """
    folded = fold(word)
    runs = [m.group("cjk") for m in TOKEN.finditer(folded) if m.group("cjk")]
    return list(dict.fromkeys(runs)), list(dict.fromkeys(_ASCII_WORD.findall(folded)))


_SPACE32 = " ".encode("utf-32-le")


def bigram_stream(folded: str) -> str:
    """Every pair of adjacent characters of ``folded``, in order, separated by spaces: ``大连 连港 港口``.

    A whitespace tokenizer then gives the pairs consecutive positions, which tantivy's
    n-gram tokenizer does not, so a phrase of a word's bigrams matches exactly where
    the word occurs. Pairs across punctuation or a space are emitted too (a pair with a
    space in it breaks into shorter tokens): they keep the runs on either side from
    becoming adjacent, so 港口，口岸 never matches 港口岸. Built by interleaving the
    text's UTF-32 code units with byte-slice copies: joining a thousand pair strings
    made in Python cost ten times as much (150 µs for a 1,000-character article).
    """
    n = len(folded)
    if n < 2:
        return folded
    source = folded.encode("utf-32-le")
    out = bytearray(_SPACE32 * (3 * (n - 1) - 1))  # pair i: characters 3i and 3i+1, then a space
    for k in range(4):
        out[k::12] = source[k : 4 * (n - 1) : 4]
        out[4 + k :: 12] = source[4 + k :: 4]
    return out.decode("utf-32-le")


def query_words(query: str) -> list[str]:
    """A query split into the words that must all match; ``"…"`` keeps a phrase together.

    Each word is matched as contiguous text, so 大连港口 is one word (大连 连港
    港口 in sequence) while ``大连 港口`` is two words anywhere.
    """
    words: list[str] = []
    for quoted, bare in re.findall(r'"([^"]*)"|(\S+)', fold(query)):
        word = (quoted or bare).strip()
        if word and TOKEN.search(word):
            words.append(word)
    return words


def highlight_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Where the query words occur in ``text`` (offsets in the original, thanks to folding in place).

    A word matches as its folded characters with anything that is not a letter
    or digit allowed between them, the way its tokens matched in the index.
    """
    folded = fold_terms(text)  # letters and digits are all a match can hold; punctuation need not fold
    spans: list[tuple[int, int]] = []
    for word in words:
        parts = [m.group(0) for m in TOKEN.finditer(fold(word))]
        if not parts:
            continue
        pattern = r"[\W_]*".join(re.escape(p) for p in parts)
        spans.extend(m.span() for m in re.finditer(pattern, folded))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


@cache
def _t2s():  # noqa: ANN202 - opencc ships no type information
    import opencc

    return opencc.OpenCC("t2s")


def simplified(value: str) -> str:
    """A facet value (newspaper, name) in simplified form, so 遼寧日報 and 辽宁日报 are one entry."""
    return _t2s().convert(value)
