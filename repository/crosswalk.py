"""MODS → simple Dublin Core (``oai_dc``): the one crosswalk.

It follows the Library of Congress "MODS to Dublin Core" mapping
(https://www.loc.gov/standards/mods/mods-dcsimple.html), element by element,
with the project's choices from ``records.md``:

* names with role ``aut`` or ``cre`` (or no role) → ``dc:creator``; every other role → ``dc:contributor``;
* the host newspaper → ``dc:source`` as a readable citation ("辽宁日报, 2023-03-09, A5");
  the collection (and other related items) → ``dc:relation``;
* ``dc:type`` = the DCMI type of ``typeOfResource`` (``Text`` for articles) plus each genre;
* ``dc:identifier`` = the record's public URL and its local id first, then the record's own identifiers;
* titleInfo → title; abstract, note, tableOfContents → description; subject/topic, name, title,
  occupation, classification → subject; subject/geographic, temporal, hierarchicalGeographic → coverage;
  accessCondition → rights; originInfo/publisher → publisher; the key date (else the first
  dateIssued/dateCreated/…) → date; physicalDescription/form, extent, internetMediaType → format.

The crosswalk reads the MODS tree directly rather than the :class:`~repository.mods.Article` view,
because it must serve every MODS record the repository accepts, not only articles.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from lxml import etree

from .mods import MODS_NS, m

OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_DC_LOCATION = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

#: typeOfResource → DCMI Type Vocabulary (LoC mapping).
DCMI_TYPES = {
    "text": "Text",
    "cartographic": "Image",
    "notated music": "Text",
    "sound recording": "Sound",
    "sound recording-musical": "Sound",
    "sound recording-nonmusical": "Sound",
    "still image": "StillImage",
    "moving image": "MovingImage",
    "three dimensional object": "PhysicalObject",
    "software, multimedia": "Software",
    "mixed material": "Collection",
}

CREATOR_ROLES = {"aut", "cre", "author", "creator"}
DATE_ELEMENTS = ("dateIssued", "dateCreated", "dateCaptured", "dateOther", "copyrightDate")


def _text(el: etree._Element) -> str:
    value = el.text if len(el) == 0 else "".join(el.itertext())
    return " ".join(value.split()) if value else ""


def _title(ti: etree._Element) -> str:
    parts = []
    for child in ti:
        if not isinstance(child.tag, str):
            continue
        value = _text(child)
        if not value:
            continue
        local = etree.QName(child).localname
        if local == "nonSort":
            parts.append(value + ("" if value.endswith(("'", "’")) else " "))
        elif local == "subTitle":
            parts.append(f": {value}")
        elif local in ("partNumber", "partName"):
            parts.append(f". {value}")
        else:
            parts.append(value)
    return "".join(parts).strip()


def _name(n: etree._Element) -> str:
    given = [_text(p) for p in n.findall(m("namePart")) if _text(p)]
    return ", ".join(given) if n.get("type") == "personal" and len(given) > 1 else " ".join(given)


def _is_creator(n: etree._Element) -> bool:
    roles = [_text(r).lower().rstrip(".") for r in n.iterfind(f"{m('role')}/{m('roleTerm')}")]
    return not roles or any(r in CREATOR_ROLES for r in roles)


def _host_citation(ri: etree._Element) -> str:
    title = next((_title(t) for t in ri.findall(m("titleInfo")) if _title(t)), "")
    bits = [title] if title else []
    for part in ri.findall(m("part")):
        for d in part.findall(m("date")):
            if _text(d):
                bits.append(_text(d))
        for detail in part.findall(m("detail")):
            number = detail.find(m("number"))
            if number is not None and _text(number):
                bits.append(_text(number))
    return ", ".join(bits)


def _hierarchical(el: etree._Element) -> str:
    return " -- ".join(_text(c) for c in el if isinstance(c.tag, str) and _text(c))


#: subject children → (DC element, how to read the value).
_SUBJECT_PARTS = {
    "topic": ("subject", _text),
    "occupation": ("subject", _text),
    "genre": ("subject", _text),
    "name": ("subject", _name),
    "titleInfo": ("subject", _title),
    "geographic": ("coverage", _text),
    "temporal": ("coverage", _text),
    "hierarchicalGeographic": ("coverage", _hierarchical),
}


_MODS_PREFIX = f"{{{MODS_NS}}}"


def _by_local_name(el: etree._Element) -> dict[str, list[etree._Element]]:
    """MODS children grouped by local name, in one pass (a findall per field costs a pass each)."""
    out: dict[str, list[etree._Element]] = {}
    n = len(_MODS_PREFIX)
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(_MODS_PREFIX):
            out.setdefault(tag[n:], []).append(child)
    return out


def dc_values(mods: etree._Element, record_id: str, record_url: str) -> list[tuple[str, str]]:
    """(element, value) pairs in a stable order, duplicates removed."""
    out: list[tuple[str, str]] = []
    add = out.append
    groups = _by_local_name(mods)

    def top(tag: str) -> list[etree._Element]:
        return groups.get(tag, [])

    for ti in top("titleInfo"):
        if value := _title(ti):
            add(("title", value))
    for n in top("name"):
        if value := _name(n):
            add(("creator" if _is_creator(n) else "contributor", value))
    for s in top("subject"):
        for child in s:
            if not isinstance(child.tag, str) or not child.tag.startswith(f"{{{MODS_NS}}}"):
                continue
            local = etree.QName(child).localname
            reader = _SUBJECT_PARTS.get(local)
            if reader and (value := reader[1](child)):
                add((reader[0], value))
    for c in top("classification"):
        if value := _text(c):
            add(("subject", value))
    for tag in ("abstract", "tableOfContents", "note"):
        for el in top(tag):
            if value := _text(el):
                add(("description", value))
    for oi in top("originInfo"):
        for p in oi.findall(m("publisher")):
            if value := _text(p):
                add(("publisher", value))
    date = _key_date(top("originInfo"))
    if date:
        add(("date", date))
    for t in top("typeOfResource"):
        value = _text(t)
        if value:
            add(("type", DCMI_TYPES.get(value, value)))
    for g in top("genre"):
        if value := _text(g):
            add(("type", value))
    for pd in top("physicalDescription"):
        for tag in ("form", "extent", "internetMediaType"):
            for el in pd.findall(m(tag)):
                if value := _text(el):
                    add(("format", value))
    add(("identifier", record_url))
    add(("identifier", record_id))
    for i in top("identifier"):
        if value := _text(i):
            add(("identifier", value))
    for loc in top("location"):
        for url in loc.findall(m("url")):
            if value := _text(url):
                add(("identifier", value))
    for lang in top("language"):
        for term in lang.findall(m("languageTerm")):
            if value := _text(term):
                add(("language", value))
    for ri in top("relatedItem"):
        if ri.get("type") == "host" and ri.get("displayLabel") != "collection":
            if value := _host_citation(ri):
                add(("source", value))
        else:
            title = next((_title(t) for t in ri.findall(m("titleInfo")) if _title(t)), None)
            ident = next((_text(i) for i in ri.findall(m("identifier")) if _text(i)), None)
            if title or ident:
                add(("relation", title or ident))
    for ac in top("accessCondition"):
        if value := _text(ac):
            add(("rights", value))

    seen: set[tuple[str, str]] = set()
    unique = []
    for pair in out:
        if pair not in seen:
            seen.add(pair)
            unique.append(pair)
    return unique


def _key_date(origins: list[etree._Element]) -> str | None:
    dates = [d for oi in origins for tag in DATE_ELEMENTS for d in oi.findall(m(tag))]
    keyed = [d for d in dates if d.get("keyDate") == "yes" and _text(d)]
    chosen = keyed or [d for d in dates if _text(d)]
    if not chosen:
        return None
    first = chosen[0]
    # A range (point="start" … point="end") reads as "start/end", the W3CDTF interval form.
    if first.get("point") == "start":
        end = next((d for d in dates if d.get("point") == "end" and d.tag == first.tag and _text(d)), None)
        if end is not None:
            return f"{_text(first)}/{_text(end)}"
    return _text(first)


_DC_OPEN = (
    f'<oai_dc:dc xmlns:oai_dc="{OAI_DC_NS}" xmlns:dc="{DC_NS}" xmlns:xsi="{XSI}"'
    f' xsi:schemaLocation="{OAI_DC_NS} {OAI_DC_LOCATION}">'
).encode()


def oai_dc_bytes(mods: etree._Element, record_id: str, record_url: str) -> bytes:
    """The ``oai_dc:dc`` document for one MODS record, serialized directly (the stored rendering).

    Values come from a parsed, valid record, so they hold no character XML forbids;
    escaping is all that is needed, and writing the text directly is several times
    faster than building and serializing a tree.
    """
    parts = [_DC_OPEN]
    for element, value in dc_values(mods, record_id, record_url):
        parts.append(f"<dc:{element}>{escape(value)}</dc:{element}>".encode())
    parts.append(b"</oai_dc:dc>")
    return b"".join(parts)


def to_oai_dc(mods: etree._Element, record_id: str, record_url: str) -> etree._Element:
    """The ``oai_dc:dc`` element for one MODS record."""
    return etree.fromstring(oai_dc_bytes(mods, record_id, record_url))
