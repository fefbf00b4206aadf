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

W3CDTF_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    value = "".join(el.itertext()).strip()
    return value or None


def root_mods(tree: etree._ElementTree | etree._Element) -> etree._Element:
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    return root


def read_article(tree: etree._ElementTree | etree._Element) -> Article:
    """The view of one ``<mods>`` element. Tolerant: any valid MODS gives a view."""
    root = root_mods(tree)
    a = Article()
    for ti in root.findall(m("titleInfo")):
        text = _text(ti.find(m("title")))
        if not text:
            continue
        a.titles.append(
            Title(
                text=text,
                subtitle=_text(ti.find(m("subTitle"))),
                lang=ti.get("lang"),
                script=ti.get("script"),
                type=ti.get("type"),
                transliteration=ti.get("transliteration"),
                alt_rep_group=ti.get("altRepGroup"),
            )
        )
    for n in root.findall(m("name")):
        parts = [p for p in (_text(x) for x in n.findall(m("namePart"))) if p]
        if not parts:
            continue
        role_el = n.find(f"{m('role')}/{m('roleTerm')}")
        role = (_text(role_el) or "aut") if role_el is not None else "aut"
        if role_el is not None and role_el.get("type") == "text":
            role = _ROLE_WORDS.get(role.lower().rstrip("."), role)
        a.names.append(Name(" ".join(parts), role=role, type=n.get("type") or "personal"))
    origin = root.find(m("originInfo"))
    for oi in root.findall(m("originInfo")):
        if oi.get("eventType") in (None, "publication"):
            origin = oi
            break
    if origin is not None:
        dates = origin.findall(m("dateIssued"))
        key = next((d for d in dates if d.get("keyDate") == "yes"), dates[0] if dates else None)
        a.date_issued = _text(key)
    for g in root.findall(m("genre")):
        if value := _text(g):
            a.genres.append(value)
    a.type_of_resource = _text(root.find(m("typeOfResource")))
    lang = root.find(m("language"))
    if lang is not None:
        a.language = _text(lang.find(m("languageTerm")))
        a.script = _text(lang.find(m("scriptTerm")))
    for ri in root.findall(m("relatedItem")):
        if ri.get("type") != "host":
            continue
        title = _text(ri.find(f"{m('titleInfo')}/{m('title')}"))
        if ri.get("displayLabel") == "collection":
            a.collection_title = title
            a.collection = _text(ri.find(m("identifier")))
            continue
        if a.host is None and title:
            part = ri.find(m("part"))
            date = page = None
            if part is not None:
                date = _text(part.find(m("date")))
                for detail in part.findall(m("detail")):
                    if detail.get("type") == "page":
                        page = _text(detail.find(m("number")))
            a.host = Host(title=title, date=date, page=page, genre=_text(ri.find(m("genre"))))
    for s in root.findall(m("subject")):
        topic = _text(s.find(m("topic")))
        geo = _text(s.find(m("geographic")))
        if topic or geo:
            a.subjects.append(Subject(topic=topic, geographic=geo))
    a.abstract = _text(root.find(m("abstract")))
    a.notes = [t for t in (_text(n) for n in root.findall(m("note"))) if t]
    a.access_conditions = [t for t in (_text(n) for n in root.findall(m("accessCondition"))) if t]
    for url in root.iterfind(f"{m('location')}/{m('url')}"):
        if value := _text(url):
            a.urls.append((value, url.get("access")))
    info = root.find(m("recordInfo"))
    if info is not None:
        a.identifier = _text(info.find(m("recordIdentifier")))
        a.record_created = _text(info.find(m("recordCreationDate")))
        a.record_changed = _text(info.find(m("recordChangeDate")))
        a.content_source = _text(info.find(m("recordContentSource")))
        a.record_origin = _text(info.find(m("recordOrigin")))
        a.cataloging_language = _text(info.find(f"{m('languageOfCataloging')}/{m('languageTerm')}"))
    if a.identifier is None:
        local = root.find(f"{m('identifier')}[@type='local']")
        a.identifier = _text(local)
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
