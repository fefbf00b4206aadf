"""The record model: MODS 3.x in, a Python view of what the repository uses, MODS out.

The stored form of a record is always its MODS document, byte for byte as the
cataloger or importer gave it; :class:`Article` is a *view* read from it (for
listing, crosswalks, indexing) and a builder for new records (import, forms).
Reading a view never changes the document, so nothing the repository does not
model (extensions, foreign elements, comments) can be lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

MODS_NS = "http://www.loc.gov/mods/v3"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MODS_LOCATION = "http://www.loc.gov/standards/mods/v3/mods-3-8.xsd"
NS = {"m": MODS_NS}

#: The ISO 639-2/B codes and ISO 15924 scripts the collection uses, with the
#: BCP 47 tag each pair maps to (for RDF literals and HTML ``lang``).
LANGUAGE_TAGS = {
    ("chi", "Hans"): "zh-Hans",
    ("chi", "Hant"): "zh-Hant",
    ("chi", "Latn"): "zh-Latn-pinyin",
    ("chi", None): "zh",
    ("eng", None): "en",
    ("eng", "Latn"): "en",
}

RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")


def m(tag: str) -> str:
    return f"{{{MODS_NS}}}{tag}"


@dataclass
class Title:
    text: str
    subtitle: str | None = None
    lang: str | None = None
    script: str | None = None
    type: str | None = None  # None (primary), "translated", "alternative", …
    transliteration: str | None = None
    alt_rep_group: str | None = None


@dataclass
class Name:
    text: str
    role: str = "aut"  # MARC relator code: aut, pht, edt, cre, …
    type: str = "personal"  # personal | corporate


@dataclass
class Host:
    """The newspaper an article appeared in."""

    title: str
    date: str | None = None
    page: str | None = None
    genre: str | None = "newspaper"

    def citation(self) -> str:
        """'辽宁日报, 2023-03-09, A5': the readable form dc:source carries."""
        return ", ".join(p for p in (self.title, self.date, self.page) if p)


@dataclass
class Subject:
    topic: str | None = None
    geographic: str | None = None


@dataclass
class Article:
    """What the repository reads from (and writes into) a MODS record."""

    identifier: str | None = None
    titles: list[Title] = field(default_factory=list)
    names: list[Name] = field(default_factory=list)
    date_issued: str | None = None
    host: Host | None = None
    language: str | None = None
    script: str | None = None
    collection: str | None = None
    collection_title: str | None = None
    subjects: list[Subject] = field(default_factory=list)
    abstract: str | None = None
    genres: list[str] = field(default_factory=list)
    type_of_resource: str | None = None
    notes: list[str] = field(default_factory=list)
    access_conditions: list[str] = field(default_factory=list)
    urls: list[tuple[str, str | None]] = field(default_factory=list)  # (url, access)
    record_created: str | None = None
    record_changed: str | None = None
    content_source: str | None = None
    record_origin: str | None = None
    cataloging_language: str | None = None

    @property
    def title(self) -> str:
        """The primary title, subtitle joined the way the library's pages show it."""
        for t in self.titles:
            if t.type is None and t.transliteration is None:
                return _join_title(t)
        return _join_title(self.titles[0]) if self.titles else ""

    @property
    def creators(self) -> list[Name]:
        return [n for n in self.names if n.role in ("aut", "cre")]

    @property
    def language_tag(self) -> str | None:
        return LANGUAGE_TAGS.get((self.language, self.script)) or LANGUAGE_TAGS.get((self.language, None))


def _join_title(t: Title) -> str:
    return f"{t.text}: {t.subtitle}" if t.subtitle else t.text


# --------------------------------------------------------------------------- reading


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    # MODS values are leaves; only mixed content (rare) needs the slower itertext.
    value = el.text if len(el) == 0 else "".join(el.itertext())
    if value is None:
        return None
    value = value.strip()
    return value or None


_TAGS = (
    "titleInfo", "title", "subTitle", "name", "namePart", "role", "roleTerm", "originInfo", "dateIssued",
    "genre", "typeOfResource", "language", "languageTerm", "scriptTerm", "relatedItem", "identifier", "part",
    "date", "detail", "number", "subject", "topic", "geographic", "abstract", "note", "accessCondition",
    "location", "url", "recordInfo", "recordIdentifier", "recordCreationDate", "recordChangeDate",
    "recordContentSource", "recordOrigin", "languageOfCataloging",
)  # fmt: skip
T = type("Tags", (), {t: m(t) for t in _TAGS})


def _children(el: etree._Element) -> dict[str, list[etree._Element]]:
    """Children grouped by tag: one pass over an element instead of a find() per field."""
    out: dict[str, list[etree._Element]] = {}
    for child in el:
        out.setdefault(child.tag, []).append(child)
    return out


def _first_text(groups: dict[str, list[etree._Element]], tag: str) -> str | None:
    els = groups.get(tag)
    return _text(els[0]) if els else None


def read_article(tree: etree._ElementTree | etree._Element) -> Article:
    """The view of one ``<mods>`` element. Tolerant: any valid MODS gives a view."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    top = _children(root)
    a = Article()
    for ti in top.get(T.titleInfo, ()):
        parts = _children(ti)
        text = _first_text(parts, T.title)
        if text:
            a.titles.append(
                Title(
                    text=text,
                    subtitle=_first_text(parts, T.subTitle),
                    lang=ti.get("lang"),
                    script=ti.get("script"),
                    type=ti.get("type"),
                    transliteration=ti.get("transliteration"),
                    alt_rep_group=ti.get("altRepGroup"),
                )
            )
    for n in top.get(T.name, ()):
        parts = _children(n)
        names = [p for p in (_text(x) for x in parts.get(T.namePart, ())) if p]
        if not names:
            continue
        role_el = (
            next(iter(_children(parts[T.role][0]).get(T.roleTerm, ())), None) if T.role in parts else None
        )
        role = (_text(role_el) or "aut") if role_el is not None else "aut"
        if role_el is not None and role_el.get("type") == "text":
            role = _ROLE_WORDS.get(role.lower().rstrip("."), role)
        a.names.append(Name(" ".join(names), role=role, type=n.get("type") or "personal"))
    origins = top.get(T.originInfo, [])
    origin = next(
        (o for o in origins if o.get("eventType") in (None, "publication")), origins[0] if origins else None
    )
    if origin is not None:
        dates = _children(origin).get(T.dateIssued, [])
        key = next((d for d in dates if d.get("keyDate") == "yes"), dates[0] if dates else None)
        a.date_issued = _text(key)
    a.genres = [v for v in (_text(g) for g in top.get(T.genre, ())) if v]
    a.type_of_resource = _first_text(top, T.typeOfResource)
    if T.language in top:
        lang = _children(top[T.language][0])
        a.language = _first_text(lang, T.languageTerm)
        a.script = _first_text(lang, T.scriptTerm)
    for ri in top.get(T.relatedItem, ()):
        if ri.get("type") != "host":
            continue
        parts = _children(ri)
        ti = parts.get(T.titleInfo)
        title = _first_text(_children(ti[0]), T.title) if ti else None
        if ri.get("displayLabel") == "collection":
            a.collection_title = title
            a.collection = _first_text(parts, T.identifier)
        elif a.host is None and title:
            date = page = None
            if T.part in parts:
                part = _children(parts[T.part][0])
                date = _first_text(part, T.date)
                for detail in part.get(T.detail, ()):
                    if detail.get("type") == "page":
                        page = _first_text(_children(detail), T.number)
            a.host = Host(title=title, date=date, page=page, genre=_first_text(parts, T.genre))
    for s in top.get(T.subject, ()):
        parts = _children(s)
        topic, geo = _first_text(parts, T.topic), _first_text(parts, T.geographic)
        if topic or geo:
            a.subjects.append(Subject(topic=topic, geographic=geo))
    a.abstract = _first_text(top, T.abstract)
    a.notes = [t for t in (_text(n) for n in top.get(T.note, ())) if t]
    a.access_conditions = [t for t in (_text(n) for n in top.get(T.accessCondition, ())) if t]
    for loc in top.get(T.location, ()):
        for url in _children(loc).get(T.url, ()):
            if value := _text(url):
                a.urls.append((value, url.get("access")))
    if T.recordInfo in top:
        info = _children(top[T.recordInfo][0])
        a.identifier = _first_text(info, T.recordIdentifier)
        a.record_created = _first_text(info, T.recordCreationDate)
        a.record_changed = _first_text(info, T.recordChangeDate)
        a.content_source = _first_text(info, T.recordContentSource)
        a.record_origin = _first_text(info, T.recordOrigin)
        cat = info.get(T.languageOfCataloging)
        a.cataloging_language = _first_text(_children(cat[0]), T.languageTerm) if cat else None
    if a.identifier is None:
        a.identifier = next((_text(i) for i in top.get(T.identifier, ()) if i.get("type") == "local"), None)
    return a


_ROLE_WORDS = {
    "author": "aut",
    "creator": "cre",
    "photographer": "pht",
    "editor": "edt",
    "contributor": "ctb",
    "translator": "trl",
}


# --------------------------------------------------------------------------- writing


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
    el = etree.SubElement(parent, m(tag), {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def build_mods(a: Article) -> etree._Element:
    """A new MODS 3.8 record for an article, in the element order ``records.md`` shows.

    Used for records the repository creates (legacy import, new-record forms);
    records that arrive as MODS are stored as they came.
    """
    root = etree.Element(
        m("mods"),
        nsmap={None: MODS_NS, "xlink": XLINK_NS, "xsi": XSI_NS},
        attrib={"version": "3.8", f"{{{XSI_NS}}}schemaLocation": f"{MODS_NS} {MODS_LOCATION}"},
    )
    for t in a.titles:
        attrs = {
            "lang": t.lang,
            "script": t.script,
            "type": t.type,
            "transliteration": t.transliteration,
            "altRepGroup": t.alt_rep_group,
        }
        ti = _sub(root, "titleInfo", **attrs)
        _sub(ti, "title", t.text)
        if t.subtitle:
            _sub(ti, "subTitle", t.subtitle)
    for n in a.names:
        ne = _sub(root, "name", type=n.type)
        _sub(ne, "namePart", n.text)
        role = _sub(ne, "role")
        _sub(role, "roleTerm", n.role, type="code", authority="marcrelator")
    if a.type_of_resource:
        _sub(root, "typeOfResource", a.type_of_resource)
    for g in a.genres:
        _sub(root, "genre", g, authority="marcgt")
    if a.date_issued:
        oi = _sub(root, "originInfo", eventType="publication")
        _sub(oi, "dateIssued", a.date_issued, encoding="w3cdtf", keyDate="yes")
    if a.language:
        lang = _sub(root, "language")
        _sub(lang, "languageTerm", a.language, type="code", authority="iso639-2b")
        if a.script:
            _sub(lang, "scriptTerm", a.script, type="code", authority="iso15924")
    if a.abstract:
        _sub(root, "abstract", a.abstract)
    for note in a.notes:
        _sub(root, "note", note)
    for s in a.subjects:
        se = _sub(root, "subject")
        if s.topic:
            _sub(se, "topic", s.topic)
        if s.geographic:
            _sub(se, "geographic", s.geographic)
    if a.host:
        hi = _sub(root, "relatedItem", type="host")
        _sub(_sub(hi, "titleInfo"), "title", a.host.title)
        if a.host.genre:
            _sub(hi, "genre", a.host.genre, authority="marcgt")
        if a.host.date or a.host.page:
            part = _sub(hi, "part")
            if a.host.date:
                _sub(part, "date", a.host.date, encoding="w3cdtf")
            if a.host.page:
                _sub(_sub(part, "detail", type="page"), "number", a.host.page)
    if a.collection:
        ci = _sub(root, "relatedItem", type="host", displayLabel="collection")
        _sub(_sub(ci, "titleInfo"), "title", a.collection_title or a.collection)
        _sub(ci, "identifier", a.collection, type="local")
    if a.identifier:
        _sub(root, "identifier", a.identifier, type="local")
    if a.urls:
        loc = _sub(root, "location")
        for url, access in a.urls:
            _sub(loc, "url", url, access=access, usage="primary display" if access is None else None)
    for cond in a.access_conditions:
        _sub(root, "accessCondition", cond, type="use and reproduction")
    info = _sub(root, "recordInfo")
    if a.content_source:
        _sub(info, "recordContentSource", a.content_source)
    if a.record_created:
        _sub(info, "recordCreationDate", a.record_created, encoding="w3cdtf")
    if a.record_changed:
        _sub(info, "recordChangeDate", a.record_changed, encoding="w3cdtf")
    if a.identifier:
        _sub(info, "recordIdentifier", a.identifier, source="local")
    if a.record_origin:
        _sub(info, "recordOrigin", a.record_origin)
    if a.cataloging_language:
        loc_el = _sub(info, "languageOfCataloging")
        _sub(loc_el, "languageTerm", a.cataloging_language, type="code", authority="iso639-2b")
    return root


def split_collection(root: etree._Element) -> list[etree._Element]:
    """The ``<mods>`` records of a document: itself, or the members of a ``modsCollection``."""
    if root.tag == m("mods"):
        return [root]
    if root.tag == m("modsCollection"):
        return root.findall(m("mods"))
    return []
