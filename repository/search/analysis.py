"""Chinese-aware text analysis: the same folding and tokens for documents and queries.

Why this shape (``../shared/reference/catalog.md``):

* Engines that take a run of Chinese characters as one token never find 大连
  inside a sentence, and a trigram index finds nothing for two-character words,
  the most common queries. Every CJK bigram must be a term. Rather than write
  every overlapping bigram out in Python (a millisecond an article, too slow for
  the index build), each text is indexed **twice** by the index's own tokenizer
  (Rust): cut into two-character chunks from the first character of each CJK run
  (:data:`EVEN_PATTERN`) and from its second (:data:`ODD_PATTERN`). Every bigram is
  a chunk of one of the two; a query word becomes a phrase of its own chunks, a
  lone last character matching as a prefix (:func:`chunks`), looked up in both.
  Latin text is indexed as words.
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
_TOKEN = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+)")
_CJK_CHAR = re.compile(rf"[{_CJK}]")
_CHUNK = re.compile(rf"[{_CJK}]{{1,2}}|[^\W_{_CJK}]+")


def _rust(ranges: str) -> str:
    r"""The CJK ranges in the syntax of Rust's ``regex`` crate (``\u{…}`` escapes)."""
    return "".join(c if c == "-" else f"\\u{{{ord(c):x}}}" for c in ranges)


_R = _rust(_CJK)
_RUST_WORD = rf"[\w--_--[{_R}]]"
#: Chunks from the first character of each CJK run: 在大 连港 口.
EVEN_PATTERN = rf"[{_R}]{{1,2}}|{_RUST_WORD}+"
#: Chunks from the second: the run's first character is taken with what precedes it
#: (text start, a non-word character, or a Latin word) as one token no query asks for.
ODD_PATTERN = rf"^[{_R}]|[^\w][{_R}]|{_RUST_WORD}+[{_R}]?|[{_R}]{{1,2}}"


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


def chunks(word: str) -> list[str]:
    """A query word as the index cuts it (from the start of its CJK runs)."""
    return _CHUNK.findall(fold(word))


def is_cjk(chunk: str) -> bool:
    return _CJK_CHAR.match(chunk) is not None


def query_words(query: str) -> list[str]:
    """A query split into the words that must all match; ``"…"`` keeps a phrase together.

    Each word is later analysed into a phrase of tokens, so 大连港口 is one word
    (大连 连港 港口 in sequence) while ``大连 港口`` is two words anywhere.
    """
    words: list[str] = []
    for quoted, bare in re.findall(r'"([^"]*)"|(\S+)', fold(query)):
        word = (quoted or bare).strip()
        if word and chunks(word):
            words.append(word)
    return words


def highlight_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Where the query words occur in ``text`` (offsets in the original, thanks to folding in place).

    A word matches as its folded characters with anything that is not a letter
    or digit allowed between them, the way its tokens matched in the index.
    """
    folded = fold(text)
    spans: list[tuple[int, int]] = []
    for word in words:
        parts = [m.group(0) for m in _TOKEN.finditer(fold(word))]
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
