"""Legacy pages of the 媒体上的大连 database, read into article records.

The library's old public site shows each article as plain text: the site's
navigation, four labelled fields (来源, 标题, 日期, 作者, with spaces inside the
labels), the full text, and the footer. These pages are the only source of the
collection, so the reader is strict where the application profile needs a value
(newspaper, title, date, text) and lenient everywhere else (encodings, colons,
spacing, traditional script, English articles), recording what it had to guess
as warnings instead of refusing the page.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from . import collections as library_collections
from .mods import RECORD_ID, Article, Host, Name, Title

COLLECTION_TITLE = "媒体上的大连专题数据库"
CONTENT_SOURCE = "大连图书馆"
RECORD_ORIGIN = "converted from the legacy web page of the Dalian Library 媒体上的大连 database"
PAGE_SUFFIXES = (".txt",)


class LegacyPageError(ValueError):
    """A page that cannot become a record; ``line`` (1-based) points the cataloger at the cause."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        super().__init__(source, line, message)
        self.source = source
        self.line = line
        self.message = message

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}: {self.message}"


@dataclass
class Author:
    name: str
    role: str = "aut"  # MARC relator code
    corporate: bool = False


@dataclass
class LegacyPage:
    source: str
    newspaper: str | None
    title: str
    subtitle: str | None
    date: str | None
    authors: list[Author]
    page: str | None
    language: str  # ISO 639-2/B: chi | eng
    script: str  # ISO 15924: Hans | Hant | Latn
    fulltext: str
    warnings: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- labels

# Labels are compared with their inner whitespace removed and case folded, so
# "来    源", "来源", "來 源" and "Source" all name the same field.
_LABELS: dict[str, str] = {
    "来源": "source",
    "來源": "source",
    "source": "source",
    "标题": "title",
    "標題": "title",
    "title": "title",
    "headline": "title",
    "日期": "date",
    "date": "date",
    "作者": "author",
    "author": "author",
    "authors": "author",
    "byline": "author",
    "版次": "page",
    "版面": "page",
    "版号": "page",
    "版號": "page",
    "page": "page",
}
_FIELD_NAMES = {
    "source": "来源 (newspaper)",
    "title": "标题 (title)",
    "date": "日期 (date)",
    "author": "作者 (author)",
    "page": "版次 (page)",
}
_TRADITIONAL_LABELS = {"來源", "標題", "版號"}

# A label is a short run of non-space characters (possibly spread out with spaces,
# NBSP or ideographic spaces) followed by an ASCII or full-width colon.
_LABEL_LINE = re.compile(r"^\s*(?P<label>[^\s:：](?:\s*[^\s:：]){0,11}?)\s*[:：]\s*(?P<value>.*?)\s*$")
# The legacy layout's own signature: single CJK characters separated by spaces ("栏    目:").
_SPACED_LABEL = re.compile(r"^[\u3400-\u9fff](?:\s+[\u3400-\u9fff])+$")

_FOOTER_LINE = re.compile(
    r"^\s*(?:总\s*机|總\s*機|地\s*址|版权所有|版權所有|技术支持|技術支持|copyright|©)|ICP\s*[备備]",
    re.IGNORECASE,
)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


@dataclass
class _Field:
    key: str | None  # None: a label the importer does not use
    label: str
    value: str
    line: int  # 1-based
    continuation: list[str] = field(default_factory=list)


def _label(line: str) -> tuple[str | None, str, str] | None:
    """(field key or None for an unknown legacy label, label, value), or None if the line is no label."""
    match = _LABEL_LINE.match(line)
    if not match:
        return None
    raw = match["label"]
    compact = re.sub(r"\s+", "", raw).casefold()
    if compact in _LABELS:
        return _LABELS[compact], compact, match["value"]
    if _SPACED_LABEL.match(raw):
        return None, compact, match["value"]
    return None


# --------------------------------------------------------------------------- decoding


def decode(data: bytes, source: str) -> str:
    """The page's text: UTF-8 (BOM or not) first, since GB18030 would also accept most UTF-8 bytes."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first_error = exc
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        line = data.count(b"\n", 0, first_error.start) + 1
        message = f"the page is neither UTF-8 nor GB18030 text (byte {first_error.start} is not UTF-8)"
        raise LegacyPageError(source, line, message) from None


# --------------------------------------------------------------------------- dates

_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
_MONTHS["sept"] = 9
_TIME = r"(?:\s*[T ]\s*\d{1,2}:\d{2}(?::\d{2})?)?"
_DATE_FORMS = [
    re.compile(rf"^(?P<y>\d{{4}})\s*[-/.]\s*(?P<m>\d{{1,2}})\s*[-/.]\s*(?P<d>\d{{1,2}}){_TIME}$"),
    re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号號]?$"),
    re.compile(r"^(?P<y>\d{4})\s*[-/.]\s*(?P<m>\d{1,2})$"),
    re.compile(r"^(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月$"),
    re.compile(r"^(?P<y>\d{4})\s*年?$"),
    re.compile(r"^(?P<mn>[A-Za-z]+)\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>\d{4})$"),
    re.compile(r"^(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+(?P<mn>[A-Za-z]+)\.?,?\s+(?P<y>\d{4})$"),
    re.compile(r"^(?P<mn>[A-Za-z]+)\.?,?\s+(?P<y>\d{4})$"),
]


def parse_date(value: str) -> str:
    """The W3CDTF form (YYYY, YYYY-MM or YYYY-MM-DD) of a date as the pages write it.

    Raises ValueError for anything that is not a real calendar date, because a
    wrong date would file the article under the wrong issue of its newspaper.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    for form in _DATE_FORMS:
        match = form.match(text)
        if not match:
            continue
        parts = match.groupdict()
        year = int(parts["y"])
        if parts.get("mn") is not None:
            month: int | None = _MONTHS.get(parts["mn"].lower())
            if month is None:
                break
        else:
            month = int(parts["m"]) if parts.get("m") else None
        day = int(parts["d"]) if parts.get("d") else None
        if year < 1:
            break
        if month is None:
            return f"{year:04d}"
        if not 1 <= month <= 12:
            break
        if day is None:
            return f"{year:04d}-{month:02d}"
        try:
            return dt.date(year, month, day).isoformat()
        except ValueError:
            break
    raise ValueError(f"{value!r} is not a date")


# --------------------------------------------------------------------------- authors

_ROLE_PREFIXES: dict[str, str] = {
    "记者": "aut",
    "記者": "aut",
    "本报记者": "aut",
    "本報記者": "aut",
    "特约记者": "aut",
    "特約記者": "aut",
    "见习记者": "aut",
    "見習記者": "aut",
    "通讯员": "aut",
    "通訊員": "aut",
    "本报通讯员": "aut",
    "本報通訊員": "aut",
    "文": "aut",
    "撰文": "aut",
    "摄影": "pht",
    "攝影": "pht",
    "摄影记者": "pht",
    "攝影記者": "pht",
    "图": "pht",
    "圖": "pht",
    "图片": "pht",
    "圖片": "pht",
    "编辑": "edt",
    "編輯": "edt",
    "责任编辑": "edt",
    "責任編輯": "edt",
    "责编": "edt",
    "責編": "edt",
}
# Longest first, so 摄影记者 wins over 记者 and 本报记者 over 记者.
_ATTACHED_PREFIXES = sorted((p for p in _ROLE_PREFIXES if len(p) >= 2), key=len, reverse=True)
_PHOTO_SUFFIXES = {"摄", "攝"}
# Datelines and placeholders that stand where a byline would, naming nobody.
_NOT_NAMES = {"本报讯", "本報訊", "佚名", "无", "無"}
_AGENCIES = {
    "新华社",
    "新華社",
    "中新社",
    "中国新闻社",
    "中國新聞社",
    "新华网",
    "新華網",
    "人民网",
    "人民網",
}
_ENGLISH_AGENCIES = {
    "xinhua",
    "xinhua news agency",
    "china news service",
    "reuters",
    "ap",
    "associated press",
    "afp",
    "agence france-presse",
}
_CHINESE_SEPARATORS = re.compile(r"[、，,;；/／:：\s]+")
_ENGLISH_SEPARATORS = re.compile(r"\s*(?:[,;；，、]|\s+and\s+|\s*&\s*)\s*", re.IGNORECASE)


def _strip_punctuation(text: str) -> str:
    """Trim brackets, colons, dots and spaces the bylines put around names, keeping inner ones (·)."""

    def edge(ch: str) -> bool:
        return unicodedata.category(ch)[0] in "PSZC"

    start, end = 0, len(text)
    while start < end and edge(text[start]):
        start += 1
    while end > start and edge(text[end - 1]):
        end -= 1
    return text[start:end]


def parse_authors(value: str, language: str = "chi") -> list[Author]:
    """The names of a byline with MARC relator roles.

    Chinese bylines list names after role words (记者 …, 通讯员 …, 摄影 …) and
    separate them with 、，or spaces; English bylines keep given and family
    names together, so they are only split on commas, semicolons and "and".
    """
    value = value.strip()
    if not value:
        return []
    if language == "eng" or not _CJK.search(value):
        return _english_authors(value)
    authors: list[Author] = []
    role = "aut"
    for raw in _CHINESE_SEPARATORS.split(value):
        token = _strip_punctuation(raw)
        if not token:
            continue
        if token in _ROLE_PREFIXES:
            role = _ROLE_PREFIXES[token]
            continue
        if token in _NOT_NAMES:
            continue
        if token in _PHOTO_SUFFIXES and authors:
            authors[-1].role = "pht"
            continue
        if token in _AGENCIES:
            authors.append(Author(token, "aut", corporate=True))
            continue
        agency = next((a for a in _AGENCIES if token.startswith(a)), None)
        if agency and token[len(agency) :] in _ROLE_PREFIXES:  # 新华社记者 …: the reporter is the author
            role = _ROLE_PREFIXES[token[len(agency) :]]
            continue
        if agency and token[len(agency) :] in ("电", "電", "讯", "訊"):
            authors.append(Author(agency, "aut", corporate=True))
            continue
        prefix = next((p for p in _ATTACHED_PREFIXES if token.startswith(p) and len(token) > len(p)), None)
        if prefix:
            role = _ROLE_PREFIXES[prefix]
            token = _strip_punctuation(token[len(prefix) :])
        authors.append(Author(token, role))
    return authors


def _english_authors(value: str) -> list[Author]:
    value = re.sub(r"^\s*by\s+", "", value, flags=re.IGNORECASE)
    authors = []
    for raw in _ENGLISH_SEPARATORS.split(value):
        name = _strip_punctuation(re.sub(r"^\s*by\s+", "", raw, flags=re.IGNORECASE))
        name = re.sub(r"\s+", " ", name)
        if name:
            authors.append(Author(name, "aut", corporate=name.casefold() in _ENGLISH_AGENCIES))
    return authors


# --------------------------------------------------------------------------- page numbers

_PAGE_VALUE = re.compile(
    r"^(?:第\s*)?(?P<p>[A-Za-z]{0,2}\s*\d{1,3}|[一二三四五六七八九十]{1,3})\s*(?:版|页|頁)?$"
)
_PAGE_ENGLISH = re.compile(r"^(?:page|pp?\.?)\s*(?P<p>[A-Za-z]{0,2}\d{1,3})$", re.IGNORECASE)
_PAGE_IN_SOURCE = re.compile(
    r"[\s,，]*[（(]?\s*(?:第\s*)?(?P<p>[A-Za-z]{0,2}\d{1,3})\s*版\s*[)）]?\s*$"
    r"|[\s,，]+(?:page|p\.)\s*(?P<e>[A-Za-z]{0,2}\d{1,3})\s*$",
    re.IGNORECASE,
)
_CHINESE_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}


def _chinese_number(text: str) -> int:
    if text == "十":
        return 10
    if "十" in text:
        tens, _, units = text.partition("十")
        return (_CHINESE_DIGITS[tens] if tens else 1) * 10 + (_CHINESE_DIGITS[units] if units else 0)
    return int("".join(str(_CHINESE_DIGITS[c]) for c in text))


def parse_page_number(value: str) -> str | None:
    """The page as the host citation shows it ("A5" from 第A5版, A5版, A5 or "page A5"), or None.

    Only values that clearly name a page are taken: a wrong page would send a
    reader to the wrong sheet of the newspaper.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    match = _PAGE_VALUE.match(text) or _PAGE_ENGLISH.match(text)
    if not match:
        return None
    page = re.sub(r"\s+", "", match["p"])
    if page[0] in _CHINESE_DIGITS or page[0] == "十":
        try:
            return str(_chinese_number(page))
        except (KeyError, ValueError):
            return None
    return page.upper()


def _split_source(value: str) -> tuple[str, str | None]:
    """The newspaper's name and the page its source line adds ("辽宁日报 第A5版")."""
    match = _PAGE_IN_SOURCE.search(value)
    if not match or match.start() == 0:
        return value.strip(), None
    page = (match["p"] or match["e"]).upper()
    return value[: match.start()].strip(), page


# --------------------------------------------------------------------------- language and script


SCRIPT_SAMPLE = 1500


@cache
def _converter(config: str):  # opencc ships no type information
    import opencc

    return opencc.OpenCC(config)


def _changed(text: str, config: str) -> int:
    """How many CJK characters of ``text`` a conversion rewrites, each character taken on its own."""
    counts = Counter(_CJK.findall(text))
    if not counts:
        return 0
    chars = list(counts)
    converted = _converter(config).convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):  # a conversion that merged lines: fall back to one call per character
        converted = [_converter(config).convert(ch) for ch in chars]
    return sum(counts[ch] for ch, new in zip(chars, converted, strict=True) if new != ch)


def detect_script(text: str) -> str | None:
    """'Hant' or 'Hans' by which OpenCC conversion rewrites more of the text; None when neither does.

    Most characters are the same in both scripts, so only the characters a
    conversion changes carry evidence: traditional text is changed by t2s and
    left alone by s2t, and simplified text the other way round.
    """
    text = text[:SCRIPT_SAMPLE]  # a page's opening says which script it is in; the rest costs time
    to_simplified = _changed(text, "t2s")
    to_traditional = _changed(text, "s2t")
    if to_simplified == to_traditional == 0:
        return None
    return "Hant" if to_simplified > to_traditional else "Hans"


def _is_english(text: str) -> bool:
    latin = len(_LATIN.findall(text))
    cjk = len(_CJK.findall(text))
    return latin > 0 and latin > cjk


# --------------------------------------------------------------------------- body


def _is_blank(line: str) -> bool:
    return not line.strip()


def _footer_start(lines: list[str]) -> int | None:
    """Index of the footer: the first footer line after which every non-blank line is footer too.

    Requiring the whole tail to look like footer keeps a paragraph that merely
    starts with 地址 inside the text.
    """
    start = None
    for i in range(len(lines) - 1, -1, -1):
        if _is_blank(lines[i]):
            continue
        if _FOOTER_LINE.search(lines[i]):
            start = i
        else:
            break
    return start


def _join_lines(lines: list[str]) -> str:
    """One paragraph from its wrapped lines: Chinese runs on without a space, Latin words get one."""
    text = ""
    for line in lines:
        if text and not _is_wide(text[-1] + line[0]):
            text += " "
        text += line
    return text


def _is_wide(chars: str) -> bool:
    return any(unicodedata.east_asian_width(c) in "WF" for c in chars)


def _paragraphs(lines: list[str]) -> list[str]:
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if _is_blank(line):
            if paragraphs[-1]:
                paragraphs.append([])
            continue
        paragraphs[-1].append(line.strip())
    return [_join_lines(p) for p in paragraphs if p]


# --------------------------------------------------------------------------- parsing


def _fields(lines: list[str], start: int) -> tuple[list[_Field], int]:
    """The labelled block from ``start``: its fields and the index where the body begins."""
    fields: list[_Field] = []
    i = start
    while i < len(lines):
        found = _label(lines[i])
        if found is not None:
            key, label, value = found
            current = _Field(key, label, value, i + 1)
            fields.append(current)
            i += 1
            if key == "title":
                # A continuation is only a headline line if another label follows it;
                # otherwise it is the first paragraph of the text.
                j = i
                while j < len(lines) and not _is_blank(lines[j]) and _label(lines[j]) is None:
                    j += 1
                if j > i and j < len(lines) and _label(lines[j]) is not None:
                    current.continuation = [ln.strip() for ln in lines[i:j]]
                    i = j
            continue
        if _is_blank(lines[i]):
            j = i
            while j < len(lines) and _is_blank(lines[j]):
                j += 1
            if j < len(lines) and _label(lines[j]) is not None:
                i = j
                continue
        break
    return fields, i


def parse_page(data: bytes, source: str) -> LegacyPage:
    """Read one legacy page; raise :class:`LegacyPageError` when it cannot make a valid record."""
    text = decode(data, source)
    lines = re.split(r"\r\n|\r|\n", text)
    warnings: list[str] = []

    known = [i for i, ln in enumerate(lines) if (f := _label(ln)) is not None and f[0] is not None]
    if not known:
        message = "not a legacy page: no labelled fields (来源, 标题, 日期, 作者) found"
        raise LegacyPageError(source, None, message)
    start = known[0]
    if all(_is_blank(ln) for ln in lines[:start]):
        warnings.append("no navigation block before the fields")

    fields, body_start = _fields(lines, start)
    by_key: dict[str, _Field] = {}
    for f in fields:
        if f.key is None:
            warnings.append(f"line {f.line}: field '{f.label}' is not used by the importer")
        elif f.key in by_key:
            warnings.append(f"line {f.line}: {_FIELD_NAMES[f.key]} given twice; the first one is kept")
        else:
            by_key[f.key] = f
    last_field_line = fields[-1].line + len(fields[-1].continuation)

    # Title.
    title_field = by_key.get("title")
    headline = [] if title_field is None else [v for v in [title_field.value, *title_field.continuation] if v]
    if not headline:
        line = title_field.line if title_field else None
        raise LegacyPageError(source, line, f"{_FIELD_NAMES['title']} is missing")
    title = headline[0]
    subtitle = " ".join(headline[1:]) or None

    # Newspaper and page.
    source_field = by_key.get("source")
    if source_field is None or not source_field.value:
        line = source_field.line if source_field else None
        message = f"{_FIELD_NAMES['source']} is missing: the article profile requires the host newspaper"
        raise LegacyPageError(source, line, message)
    newspaper, page = _split_source(source_field.value)
    if not newspaper:
        raise LegacyPageError(source, source_field.line, f"{_FIELD_NAMES['source']} names no newspaper")
    page_field = by_key.get("page")
    if page_field is not None and page_field.value:
        number = parse_page_number(page_field.value)
        where = f"line {page_field.line}: {_FIELD_NAMES['page']}"
        if number is None:
            warnings.append(f"{where} '{page_field.value}' is not a page")
        else:
            if page and page != number:
                warnings.append(f"{where} {number} differs from {page} in the source line; {number} is kept")
            page = number

    # Date.
    date_field = by_key.get("date")
    if date_field is None or not date_field.value:
        line = date_field.line if date_field else None
        raise LegacyPageError(
            source, line, f"{_FIELD_NAMES['date']} is missing: the article profile requires the date of issue"
        )
    try:
        date = parse_date(date_field.value)
    except ValueError:
        raise LegacyPageError(
            source, date_field.line, f"{_FIELD_NAMES['date']} '{date_field.value}' is not a date"
        ) from None

    # Body, without the footer and the blank lines before it.
    body_lines = lines[body_start:]
    footer = _footer_start(body_lines)
    if footer is None:
        warnings.append("no footer found after the text: the whole rest of the page is taken as the text")
    else:
        body_lines = body_lines[:footer]
    paragraphs = _paragraphs(body_lines)
    if not paragraphs:
        line = body_start + 1 if body_start < len(lines) else last_field_line
        raise LegacyPageError(source, line, "the body (正文, the article's text) is empty")
    fulltext = "\n\n".join(paragraphs).strip()

    # Language and script.
    labels = {f.label for f in fields}
    sample = "\n".join([title, subtitle or "", fulltext])
    if _is_english(sample):
        language, script = "eng", "Latn"
    else:
        language = "chi"
        detected = detect_script(sample)
        if detected is None:
            detected = "Hant" if labels & _TRADITIONAL_LABELS else "Hans"
            warnings.append(f"the script could not be told from the text; taken as {detected}")
        script = detected

    # Authors.
    author_field = by_key.get("author")
    authors = parse_authors(author_field.value, language) if author_field else []
    if not authors:
        warnings.append(f"{_FIELD_NAMES['author']} is missing: the record has no names")

    return LegacyPage(
        source=source,
        newspaper=newspaper,
        title=title,
        subtitle=subtitle,
        date=date,
        authors=authors,
        page=page,
        language=language,
        script=script,
        fulltext=fulltext,
        warnings=warnings,
    )


# --------------------------------------------------------------------------- records


def record_id_for(page: LegacyPage) -> str:
    """An identifier derived from what identifies the article, so re-importing a page updates its record."""
    if not page.date:
        raise ValueError(f"{page.source}: a legacy page without a date has no record identifier")
    key = f"{page.newspaper or ''}\n{page.title}\n{page.date}"
    record_id = f"media-{page.date}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:10]}"
    if not RECORD_ID.match(record_id):  # only a malformed date could cause this
        raise ValueError(f"{page.source}: date {page.date!r} gives no valid record identifier")
    return record_id


def to_article(page: LegacyPage, *, record_id: str, base_url: str, created: str) -> Article:
    """The record view of a page, as records.md encodes a newspaper article."""
    if not RECORD_ID.match(record_id):
        raise ValueError(f"{record_id!r} is not a record identifier")
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", created):
            raise ValueError(created)
        dt.date.fromisoformat(created)
    except ValueError:
        raise ValueError(f"record creation date {created!r} is not YYYY-MM-DD") from None
    if page.language == "chi":
        language, script = "chi", page.script
    else:
        language, script = page.language, None
    collection = library_collections.get(library_collections.MEDIA)
    base = base_url.rstrip("/")
    return Article(
        identifier=record_id,
        titles=[Title(text=page.title, subtitle=page.subtitle, lang=language, script=script)],
        names=[Name(a.name, a.role, "corporate" if a.corporate else "personal") for a in page.authors],
        type_of_resource="text",
        genres=["article"],
        date_issued=page.date,
        host=Host(title=page.newspaper or "", date=page.date, page=page.page),
        language=language,
        script=script,
        collection=library_collections.MEDIA,
        collection_title=collection.name("zh-Hans") if collection else COLLECTION_TITLE,
        urls=[(f"{base}/records/{record_id}", None), (f"{base}/records/{record_id}/text", "raw object")],
        content_source=CONTENT_SOURCE,
        record_created=created,
        record_origin=RECORD_ORIGIN,
        cataloging_language="chi",
    )
