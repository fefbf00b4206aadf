"""Citation export for the catalogue: RIS, BibTeX, CSL-JSON and formatted citations.

Readers of the catalogue cite newspaper articles: they want the record in their reference manager
(Zotero, EndNote, JabRef, a ``.bib`` file) or a citation they can paste. Each function here is pure (an
:class:`~repository.mods.Article`, the record id and its canonical URL in, text out), so the web layer
can serve every format through :data:`EXPORTS` without knowing any of them.

Choices, and why:

* **Who is an author.** ``aut`` and ``cre`` names are the authors, as in the Dublin Core crosswalk.
  Other roles only go where the target format has a slot that a reference manager reads back:
  translators (RIS ``A4``, BibTeX ``translator``, CSL ``translator``), editors (BibTeX ``editor``,
  CSL ``editor``), and in CSL every other role as ``contributor``. A photographer (``pht``) is never
  passed off as an author, and RIS leaves such names out: Zotero, the main consumer, has no slot for ``A2`` or
  ``A3`` in a newspaper article and would file the line as a stray note.
* **RIS** is the 2011 RIS specification's ``NEWS`` type, with the tags Zotero's RIS translator maps for
  a newspaper article: the newspaper in ``T2`` (Zotero reads ``JO`` as a journal *abbreviation*), the
  page (版次) in ``SP``, ``PY`` as the year and ``DA`` as ``YYYY/MM/DD/``, the library's catalogue in
  ``DP`` (Zotero's "Library Catalog") and the collection in ``DB`` ("Archive"). Lines end in CRLF.
* **BibTeX** has no newspaper type, so the entry is ``@article`` with ``journal`` (read by every BibTeX
  style, by Zotero and JabRef, and by biblatex through its ``journal`` → ``journaltitle`` alias) plus
  ``entrysubtype = {newspaper}``, the marker the biblatex manual gives for a newspaper article
  (BibTeX ignores it; biblatex styles can cite the entry as a newspaper). ``date`` serves biblatex,
  ``year``/``month`` serve BibTeX. The key is ASCII: the pinyin of the first author's surname, the
  year and the pinyin of the title's first two characters (``lv2023dalian``); it depends only on the
  record, so exporting twice gives the same key. Braces that pair up are written ``\\{ \\}``; a lone
  brace is written ``\\textbraceleft{}``, since BibTeX counts a brace even after a backslash.
* **CSL-JSON** is the input of citeproc (Zotero, Pandoc, Mendeley). Chinese names are ``literal``:
  splitting 欧阳修 into family and given needs knowledge the record does not carry.
* **Formatted citations**: GB/T 7714-2015 (the Chinese national standard for bibliographies, the one a
  Chinese library is expected to use) for a newspaper article ``[N]``, and an APA-like English form.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from typing import Any, NamedTuple

from pypinyin import Style, lazy_pinyin

from .mods import Article, Name

#: The library's local-documents catalogue, as a reference manager should name where a record came from.
CATALOGUE = "大连图书馆 地方文献"

#: Roles that make a name an author (the same rule as the Dublin Core crosswalk's dc:creator).
AUTHOR_ROLES = ("aut", "cre")

_CJK = re.compile(r"[\u2e80-\u2fdf\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")
_W3CDTF = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:$|T)")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


# --------------------------------------------------------------------------- shared helpers


def _clean(value: str | None) -> str:
    """Collapse whitespace: catalogued values keep line breaks that no citation format wants."""
    return " ".join(value.split()) if value else ""


def _is_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def _date_parts(value: str | None) -> list[int]:
    """[year, month, day] as far as a w3cdtf value gives them; [] when it is not w3cdtf."""
    match = _W3CDTF.match(value or "")
    if not match:
        return []
    parts = [int(p) for p in match.groups() if p is not None]
    if len(parts) > 1 and not 1 <= parts[1] <= 12:
        return parts[:1]
    if len(parts) > 2 and not 1 <= parts[2] <= 31:
        return parts[:2]
    return parts


def _date(article: Article) -> str | None:
    """The issue date: the record's dateIssued, else the date of the host newspaper's issue."""
    return article.date_issued or (article.host.date if article.host else None)


def _page(article: Article) -> str:
    return _clean(article.host.page) if article.host else ""


def _newspaper(article: Article) -> str:
    return _clean(article.host.title) if article.host else ""


def _keywords(article: Article) -> list[str]:
    seen: dict[str, None] = {}
    for s in article.subjects:
        for value in (s.topic, s.geographic):
            if value := _clean(value):
                seen.setdefault(value)
    return list(seen)


def _authors(article: Article) -> list[Name]:
    return [n for n in article.names if n.role in AUTHOR_ROLES and _clean(n.text)]


def _with_role(article: Article, *roles: str) -> list[Name]:
    return [n for n in article.names if n.role in roles and _clean(n.text)]


def _split_latin(name: Name) -> tuple[str, str] | None:
    """(family, given) for a personal name written "Family, Given"; None when it is not in that form."""
    if name.type != "personal" or _is_cjk(name.text) or name.text.count(",") != 1:
        return None
    family, given = (_clean(p) for p in name.text.split(","))
    return (family, given) if family and given else None


# --------------------------------------------------------------------------- RIS


def _ris_date(parts: list[int]) -> str:
    """RIS DA is ``YYYY/MM/DD/other``; unknown parts stay empty so importers do not invent a day."""
    fields = [f"{parts[0]:04d}", *(f"{p:02d}" for p in parts[1:])]
    fields += [""] * (3 - len(fields))
    return "/".join(fields) + "/"


def ris(article: Article, record_id: str, url: str) -> str:
    """One RIS record of type NEWS, for EndNote, Zotero, Mendeley and the many tools that import RIS."""
    lines: list[tuple[str, str]] = [("TY", "NEWS"), ("ID", record_id)]
    if title := _clean(article.title):
        lines.append(("TI", title))
    lines += [("AU", _clean(n.text)) for n in _authors(article)]
    lines += [("A4", _clean(n.text)) for n in _with_role(article, "trl")]
    parts = _date_parts(_date(article))
    if parts:
        lines += [("PY", f"{parts[0]:04d}"), ("DA", _ris_date(parts))]
    if newspaper := _newspaper(article):
        lines.append(("T2", newspaper))
    if page := _page(article):
        lines.append(("SP", page))
    if language := article.language_tag or article.language:
        lines.append(("LA", language))
    if abstract := _clean(article.abstract):
        lines.append(("AB", abstract))
    lines += [("KW", k) for k in _keywords(article)]
    lines.append(("UR", url))
    if collection := _clean(article.collection_title):
        lines.append(("DB", collection))
    lines += [("DP", CATALOGUE), ("ER", "")]
    # The specification's line is "TAG  - value" (two spaces, hyphen, space), ended by CRLF.
    return "".join(f"{tag}  - {value}\r\n" for tag, value in lines)


# --------------------------------------------------------------------------- BibTeX

_BIBTEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_BIBTEX_SPECIAL = re.compile("[" + re.escape("".join(_BIBTEX_ESCAPES)) + "{}]")

#: ISO 639-2/B → the language names babel and biblatex use (biblatex prints or localises ``language``).
_BIBTEX_LANGUAGES = {
    "chi": "chinese", "zho": "chinese", "eng": "english",
    "jpn": "japanese", "kor": "korean", "rus": "russian",
}  # fmt: skip
_BIBTEX_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

# Surnames whose reading differs from the character's everyday one (pypinyin reads 曾 as "ceng"),
# and two-character surnames, so the citation key carries the surname as it is spoken.
_SURNAMES = {
    "曾": "zeng", "单": "shan", "乐": "yue", "区": "ou", "仇": "qiu", "解": "xie", "朴": "piao",
    "查": "zha", "盖": "ge", "翟": "zhai", "缪": "miao", "覃": "qin", "种": "chong", "召": "shao",
    "繁": "po", "长孙": "zhangsun", "尉迟": "yuchi", "万俟": "moqi", "欧阳": "ouyang", "司马": "sima",
    "上官": "shangguan", "诸葛": "zhuge", "东方": "dongfang", "皇甫": "huangfu", "公孙": "gongsun",
    "慕容": "murong", "司徒": "situ", "夏侯": "xiahou", "令狐": "linghu", "端木": "duanmu",
    "南宫": "nangong", "宇文": "yuwen", "歐陽": "ouyang", "諸葛": "zhuge",
}  # fmt: skip
_TITLE_STOPWORDS = {"a", "an", "the", "on", "of", "in", "and", "to", "for"}


def _unmatched_braces(value: str) -> set[int]:
    """Positions of braces without a partner: BibTeX and biber count a brace even after a backslash."""
    opened: list[int] = []
    lone: set[int] = set()
    for i, ch in enumerate(value):
        if ch == "{":
            opened.append(i)
        elif ch == "}":
            if opened:
                opened.pop()
            else:
                lone.add(i)
    return lone | set(opened)


def bibtex_escape(value: str) -> str:
    """A value BibTeX, biber and LaTeX all read back as the same text.

    Paired braces become ``\\{`` and ``\\}``, which every BibTeX reader decodes; a brace without a
    partner would unbalance the entry even escaped, so it is written ``\\textbraceleft{}`` (or
    ``\\textbraceright{}``), which keeps the value's braces balanced.
    """
    lone = _unmatched_braces(value)

    def escape(m: re.Match[str]) -> str:
        ch = m.group()
        if ch in "{}":
            if m.start() in lone:
                return r"\textbraceleft{}" if ch == "{" else r"\textbraceright{}"
            return "\\" + ch
        return _BIBTEX_ESCAPES[ch]

    return _BIBTEX_SPECIAL.sub(escape, value)


def _ascii(text: str) -> str:
    """Lower-case ASCII letters and digits: Han characters as toneless pinyin, accents dropped."""
    romanised = "".join(lazy_pinyin(text, style=Style.NORMAL))
    decomposed = unicodedata.normalize("NFKD", romanised)
    return re.sub(r"[^a-z0-9]", "", decomposed.encode("ascii", "ignore").decode().lower())


def _surname_key(name: Name) -> str:
    text = _clean(name.text)
    if name.type == "personal" and _is_cjk(text):
        for length in (2, 1):
            if text[:length] in _SURNAMES:
                return _SURNAMES[text[:length]]
        return _ascii(text[0])
    if latin := _split_latin(name):
        return _ascii(latin[0])
    if name.type == "personal":  # "Given Family"
        return _ascii(text.split()[-1])
    return _ascii(text)  # an agency: its whole name


def _title_key(title: str) -> str:
    """The title's first word: two Han characters (most Chinese words have two), else a Latin word."""
    for match in re.finditer(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{1,2}|[^\W_]+", title):
        word = match.group()
        if _HAN_RUN.fullmatch(word):
            return _ascii(word)
        if word.isdigit() or word.lower() in _TITLE_STOPWORDS:
            continue
        if key := _ascii(word):
            return key
    return ""


def citation_key(article: Article, record_id: str) -> str:
    """A readable ASCII key made from the record alone (``lv2023dalian``), so it is stable across exports.

    Falls back to the record id (itself ASCII) when neither an author nor a title gives letters.
    """
    authors = _authors(article)
    surname = _surname_key(authors[0]) if authors else ""
    parts = _date_parts(_date(article))
    year = str(parts[0]) if parts else ""
    word = _title_key(article.title)
    if not (surname or word):
        return re.sub(r"[^A-Za-z0-9._:-]", "", record_id) or "record"
    return f"{surname}{year}{word}" if surname else f"{word}{year}"


def _bibtex_name(name: Name) -> str:
    """A name BibTeX will not split: Chinese and corporate names are one braced "last name"."""
    text = _clean(name.text)
    if name.type != "personal" or _is_cjk(text):
        return "{" + bibtex_escape(text) + "}"
    return bibtex_escape(text)


def _bibtex_url(url: str) -> str:
    """URLs are verbatim in biblatex and hyperref: nothing is escaped, only characters that would break
    the entry's braces (or a URL) are percent-encoded."""
    return re.sub(r"[{}\\\s]", lambda m: f"%{ord(m.group()):02X}", url)


def bibtex(article: Article, record_id: str, url: str) -> str:
    """One ``@article`` entry (``entrysubtype = {newspaper}``) for BibTeX, biblatex, JabRef and Zotero."""
    fields: list[tuple[str, str]] = []

    def add(key: str, value: str | None, *, raw: bool = False) -> None:
        if value:
            fields.append((key, value if raw else "{" + value + "}"))

    add("author", " and ".join(_bibtex_name(n) for n in _authors(article)))
    add("editor", " and ".join(_bibtex_name(n) for n in _with_role(article, "edt")))
    add("translator", " and ".join(_bibtex_name(n) for n in _with_role(article, "trl")))
    add("title", bibtex_escape(_clean(article.title)))
    add("journal", bibtex_escape(_newspaper(article)))
    add("entrysubtype", "newspaper" if article.host else None)
    date = _date_parts(_date(article))
    if date:
        add("date", "-".join([f"{date[0]:04d}", *(f"{p:02d}" for p in date[1:])]))
        add("year", f"{date[0]:04d}")
        if len(date) > 1:
            add("month", _BIBTEX_MONTHS[date[1] - 1], raw=True)  # the standard month macro
    add("pages", bibtex_escape(_page(article)))
    if article.language:
        add("language", _BIBTEX_LANGUAGES.get(article.language, article.language))
    add("keywords", ", ".join(bibtex_escape(k) for k in _keywords(article)))
    add("abstract", bibtex_escape(_clean(article.abstract)))
    add("url", _bibtex_url(url))
    body = ",\n".join(f"  {key} = {value}" for key, value in fields)
    return f"@article{{{citation_key(article, record_id)},\n{body}\n}}\n"


# --------------------------------------------------------------------------- CSL-JSON

_CSL_ROLES = {"edt": "editor", "trl": "translator"}


def _csl_name(name: Name) -> dict[str, str]:
    if latin := _split_latin(name):
        return {"family": latin[0], "given": latin[1]}
    return {"literal": _clean(name.text)}


def csl_json(article: Article, record_id: str, url: str) -> dict[str, Any]:
    """One CSL-JSON item (type ``article-newspaper``), the input of every citeproc implementation."""
    item: dict[str, Any] = {"id": record_id, "type": "article-newspaper", "title": _clean(article.title)}
    for name in article.names:
        if not _clean(name.text):
            continue
        variable = "author" if name.role in AUTHOR_ROLES else _CSL_ROLES.get(name.role, "contributor")
        item.setdefault(variable, []).append(_csl_name(name))
    if newspaper := _newspaper(article):
        item["container-title"] = newspaper
    if date := _date(article):
        parts = _date_parts(date)
        item["issued"] = {"date-parts": [parts]} if parts else {"raw": date}
    if page := _page(article):
        item["page"] = page
    if language := article.language_tag:
        item["language"] = language
    if abstract := (article.abstract or "").strip():
        item["abstract"] = abstract
    if keywords := _keywords(article):
        item["keyword"] = ", ".join(keywords)
    if collection := _clean(article.collection_title):
        item["archive"] = collection
    item["source"] = CATALOGUE
    item["URL"] = url
    return item


def csl_json_text(article: Article, record_id: str, url: str) -> str:
    """The item as a CSL-JSON document: a list, which is what citeproc, Pandoc and Zotero import."""
    return json.dumps([csl_json(article, record_id, url)], ensure_ascii=False, indent=2) + "\n"


# --------------------------------------------------------------------------- formatted citations


def _gb7714_name(name: Name) -> str:
    """GB/T 7714-2015 §8.1.1: Western (and pinyin) names as SURNAME plus initials without points."""
    if latin := _split_latin(name):
        initials = " ".join(p[0].upper() for p in re.split(r"[\s.\-]+", latin[1]) if p)
        return f"{latin[0].upper()} {initials}".strip()
    return _clean(name.text)


def gb7714(article: Article) -> str:
    """GB/T 7714-2015 §7.5/§8 for a newspaper article: ``作者. 题名[N]. 报纸名, 出版日期(版次).``

    Authors beyond the third give way to ", 等" (", et al." for a Western-language article), and with
    no author the citation opens with the title, as the standard's numeric system allows (§8.1.4).
    The print form [N] is given: the article was printed; the catalogue record is not the article.
    """
    names = [_gb7714_name(n) for n in _authors(article)]
    etal = "等" if article.language in (None, "chi", "zho", "jpn", "kor") else "et al"
    authors = ", ".join(names[:3] + ([etal] if len(names) > 3 else []))
    out = f"{_period(authors)} " if authors else ""
    out += f"{_clean(article.title)}[N]. "
    date = _date(article)
    date = date.split("T")[0] if date else ""
    source = ", ".join(p for p in (_newspaper(article), date) if p)
    page = _page(article)
    out += source + (f"({page})" if page else "")
    return out.rstrip(". ") + "."


def _apa_name(name: Name) -> str:
    if latin := _split_latin(name):
        initials = " ".join(f"{p[0].upper()}." for p in re.split(r"[\s.]+", latin[1]) if p)
        return f"{latin[0]}, {initials}"
    return _clean(name.text)


def _apa_authors(names: list[str]) -> str:
    """APA 7 §9.8: up to 20 names, "&" before the last; beyond 20, the first 19, an ellipsis, the last."""
    if len(names) == 1:
        return names[0]
    if len(names) > 20:
        return ", ".join(names[:19]) + ", . . . " + names[-1]
    return ", ".join(names[:-1]) + ", & " + names[-1]


def _period(text: str) -> str:
    return text if text.endswith((".", "?", "!", "。", "？", "！")) else text + "."


def apa(article: Article, url: str) -> str:
    """An APA 7-like English citation of a newspaper article, for readers writing in English.

    Names are kept as printed (a Chinese name is not romanised: pinyin of a name is a guess), and an
    English title the record carries is added in brackets, as APA asks for works in other languages.
    """
    parts = _date_parts(_date(article))
    if not parts:
        when = "n.d."
    elif len(parts) == 1:
        when = str(parts[0])
    else:
        when = f"{parts[0]}, {_MONTHS[parts[1] - 1]}" + (f" {parts[2]}" if len(parts) > 2 else "")
    title = _clean(article.title)
    translated = next((t for t in article.titles if t.type == "translated" and t.lang == "eng"), None)
    if translated and article.language != "eng":
        title += f" [{_clean(translated.text)}]"
    names = [_apa_name(n) for n in _authors(article)]
    if names:
        out = f"{_period(_apa_authors(names))} ({when}). {_period(title)}"
    else:  # APA moves the title into the author position
        out = f"{_period(title)} ({when})."
    source = ", ".join(p for p in (_newspaper(article), _page(article)) if p)
    if source:
        out += f" {_period(source)}"
    return f"{out} {url}" if url else out


#: Styles of :func:`formatted`, by name.
STYLES: dict[str, Callable[[Article, str], str]] = {
    "gb7714": lambda article, _url: gb7714(article),
    "apa": apa,
}


def formatted(article: Article, url: str, style: str = "gb7714") -> str:
    """A citation to paste, as plain text; GB/T 7714-2015 unless another of :data:`STYLES` is asked for."""
    try:
        render = STYLES[style]
    except KeyError:
        raise ValueError(f"unknown citation style {style!r}; known: {', '.join(STYLES)}") from None
    return render(article, url)


# --------------------------------------------------------------------------- registry


class Export(NamedTuple):
    """How a web route serves one export format: its media type, file extension and renderer."""

    mimetype: str
    extension: str
    render: Callable[[Article, str, str], str]


#: Export formats by the name a route takes (``/records/<id>/cite.<name>``, say).
EXPORTS: dict[str, Export] = {
    "ris": Export("application/x-research-info-systems", "ris", ris),
    "bib": Export("application/x-bibtex", "bib", bibtex),
    "csl": Export("application/vnd.citationstyles.csl+json", "json", csl_json_text),
}
