"""The editor's form: the common article fields read from a MODS record and written back into it.

The form is a second way to edit the *same* XML, not a separate record: :func:`read_fields` gives
what the form shows, and :func:`apply_fields` changes only the fields the cataloger changed, in
place, so everything else in the document (other titles, name parts, authorities, extensions,
comments, the cataloger's own layout) stays as it was. A field the form did not change is never
rewritten, which is also what lets a cataloger edit the XML and the form in one save.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from lxml import etree

from .. import collections
from ..edits import one_line
from ..mods import MODS_NS, Article, Host, Title, build_mods, m, read_article

#: Roles the form offers (MARC relator codes), in the order a cataloger needs them.
ROLES = ("aut", "pht", "edt", "ctb", "trl", "cre", "ill", "ive")
NAME_TYPES = ("personal", "corporate")
#: A whole form row may name at most this many people or subjects (a hostile form cannot grow a record).
MAX_ROWS = 200
CONTENT_SOURCE = "大连图书馆"


@dataclass
class Fields:
    """What the form edits. Names are (name, role, type); subjects and places one per entry.

    ``identifier`` and ``collection`` are set when a record is made; editing an existing record
    shows them but a change to either is refused at save (a record keeps where it is filed).
    """

    identifier: str = ""
    collection: str = ""
    title: str = ""
    subtitle: str = ""
    names: list[tuple[str, str, str]] = field(default_factory=list)
    newspaper: str = ""
    page: str = ""
    date: str = ""
    subjects: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    abstract: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Fields:
        """Fields from a dict as :meth:`to_dict` gives (the form's hidden copy); anything else is empty."""
        if not isinstance(data, dict):
            return cls()

        def text(key: str) -> str:
            value = data.get(key)
            return value if isinstance(value, str) else ""

        def strings(key: str) -> list[str]:
            value = data.get(key)
            return [v for v in value if isinstance(v, str)][:MAX_ROWS] if isinstance(value, list) else []

        names = []
        for row in data.get("names") or []:
            if isinstance(row, list | tuple) and len(row) == 3 and all(isinstance(v, str) for v in row):
                names.append((row[0], row[1], row[2]))
        return cls(
            identifier=text("identifier"),
            collection=text("collection"),
            title=text("title"),
            subtitle=text("subtitle"),
            names=names[:MAX_ROWS],
            newspaper=text("newspaper"),
            page=text("page"),
            date=text("date"),
            subjects=strings("subjects"),
            places=strings("places"),
            abstract=text("abstract"),
        )


def read_fields(root: etree._Element) -> Fields:
    """The form's values for a record."""
    a = read_article(root)
    primary = _primary_title(root)
    title = subtitle = ""
    if primary is not None:
        title = _child_text(primary, "title")
        subtitle = _child_text(primary, "subTitle")
    return Fields(
        identifier=a.identifier or "",
        collection=a.collection or "",
        title=title,
        subtitle=subtitle,
        names=[(n.text, n.role, n.type) for n in a.names],
        newspaper=a.host.title if a.host else "",
        page=(a.host.page or "") if a.host else "",
        date=a.date_issued or "",
        subjects=[s.topic for s in a.subjects if s.topic],
        places=[s.geographic for s in a.subjects if s.geographic],
        abstract=a.abstract or "",
    )


def apply_fields(root: etree._Element, base: Fields, new: Fields) -> list[str]:
    """Write into ``root`` each field where ``new`` differs from ``base`` (what the form showed).

    Returns the names of the fields written.
    """
    changed = []
    if new.identifier != base.identifier and one_line(new.identifier):
        _set_identifier(root, base.identifier, one_line(new.identifier))
        changed.append("identifier")
    if new.collection != base.collection and collections.get(new.collection):
        _set_collection(root, new.collection)
        changed.append("collection")
    if (new.title, new.subtitle) != (base.title, base.subtitle):
        _set_title(root, one_line(new.title), one_line(new.subtitle))
        changed.append("title")
    if new.names != base.names:
        _set_names(root, [(one_line(n), r, t) for n, r, t in new.names if one_line(n)])
        changed.append("names")
    if new.date != base.date:
        _set_date(root, one_line(new.date))
        _sync_host_date(root, base.date, one_line(new.date))
        changed.append("date")
    if new.newspaper != base.newspaper or new.page != base.page:
        _set_host(root, one_line(new.newspaper), one_line(new.page), one_line(new.date))
        changed.append("newspaper")
    if new.subjects != base.subjects or new.places != base.places:
        topics = [one_line(s) for s in new.subjects if one_line(s)]
        _set_subjects(root, topics, [one_line(p) for p in new.places if one_line(p)])
        changed.append("subjects")
    if new.abstract != base.abstract:
        _set_simple(root, "abstract", new.abstract.strip(), after=("subject", "note", "language"))
        changed.append("abstract")
    return changed


def serialize_like(original: str, root: etree._Element) -> str:
    """``root``'s document as text, with the original's prolog and root start tag kept as typed.

    lxml keeps every text node inside the root, so the body's layout survives re-serialisation; what
    it rewrites is outside: the line breaks between the declaration, comments and the root, and the
    layout inside the root's start tag. :func:`apply_fields` never changes those, so they are taken
    from the original text.
    """
    new = etree.tostring(root.getroottree(), encoding="unicode")
    declaration = original.lstrip().startswith("<?xml")
    cut_old, cut_new = _root_start_end(original), _root_start_end(new)
    if cut_old is None or cut_new is None:  # not expected of text lxml parsed; fall back to lxml's form
        head = '<?xml version="1.0" encoding="UTF-8"?>\n' if declaration else ""
        return head + new + ("\n" if original.endswith("\n") else "")
    tail = new[cut_new:]
    if original.endswith("\n") and not tail.endswith("\n"):
        tail += "\n"
    return original[:cut_old] + tail


def _root_start_end(text: str) -> int | None:
    """Where the root element's start tag ends (after its ``>``), skipping the prolog."""
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace() or text[i] == "\ufeff":
            i += 1
            continue
        for opener, closer in (("<?", "?>"), ("<!--", "-->")):
            if text.startswith(opener, i):
                end = text.find(closer, i + len(opener))
                if end < 0:
                    return None
                i = end + len(closer)
                break
        else:
            if text[i] != "<" or text.startswith("<!", i):  # text, or a DOCTYPE (the parser refuses those)
                return None
            break
    quote = None
    for j in range(i, n):
        c = text[j]
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == ">":
            return j + 1
    return None


# ---------------------------------------------------------------------- new records
def suggest_identifier(collection: str) -> str:
    """A fresh identifier in the collection's pattern (``media-2026-11-25-3f9a0c12d4``)."""
    return f"{collection}-{datetime.now(UTC):%Y-%m-%d}-{secrets.token_hex(5)}"


def template(collection: str, record_id: str, base_url: str) -> etree._Element:
    """The collection's template: an article record with everything but the cataloger's fields."""
    coll = collections.get(collection)
    base = base_url.rstrip("/")
    return build_mods(
        Article(
            identifier=record_id,
            titles=[Title(text="", lang="chi", script="Hans")],
            type_of_resource="text",
            genres=["article"],
            date_issued="",
            host=Host(title=""),
            language="chi",
            script="Hans",
            collection=collection,
            collection_title=coll.name("zh-Hans") if coll else collection,
            urls=[(f"{base}/records/{record_id}", None), (f"{base}/records/{record_id}/text", "raw object")],
            content_source=CONTENT_SOURCE,
            record_created=f"{datetime.now(UTC):%Y-%m-%d}",
            cataloging_language="chi",
        )
    )


# ---------------------------------------------------------------------- writing helpers
def _children(el: etree._Element, tag: str) -> list[etree._Element]:
    return el.findall(m(tag))


def _child_text(el: etree._Element, tag: str) -> str:
    child = el.find(m(tag))
    return (child.text or "").strip() if child is not None else ""


def _primary_title(root: etree._Element) -> etree._Element | None:
    """The titleInfo the catalogue shows as the title (as :attr:`Article.title` chooses it)."""
    infos = _children(root, "titleInfo")
    for ti in infos:
        if ti.get("type") is None and ti.get("transliteration") is None and ti.find(m("title")) is not None:
            return ti
    return infos[0] if infos else None


def _depth(el: etree._Element) -> int:
    return sum(1 for _ in el.iterancestors())


def _place(parent: etree._Element, el: etree._Element, index: int) -> etree._Element:
    """Insert ``el`` at ``index`` of ``parent``, indented like its siblings."""
    parent.insert(index, el)
    level = _depth(el)
    etree.indent(el, space="  ", level=level)
    indent = "\n" + "  " * level
    previous = el.getprevious()
    if previous is not None:
        el.tail = previous.tail
        previous.tail = indent
    else:
        el.tail = parent.text if parent.text and not parent.text.strip() else "\n" + "  " * (level - 1)
        parent.text = indent
    return el


def _remove(el: etree._Element) -> None:
    """Remove an element and keep the layout: the tail of the last child moves to the previous one."""
    parent = el.getparent()
    previous = el.getprevious()
    if el.getnext() is None and previous is not None:
        previous.tail = el.tail
    parent.remove(el)


def _new(tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.Element(m(tag), attrs, nsmap={None: MODS_NS})
    if text is not None:
        el.text = text
    return el


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, m(tag), attrs)
    if text is not None:
        el.text = text
    return el


def _index_after(root: etree._Element, tags: tuple[str, ...]) -> int:
    """Where a new top-level element goes: after the last of ``tags`` present (else at the start)."""
    last = -1
    for i, child in enumerate(root):
        if isinstance(child.tag, str) and etree.QName(child).localname in tags:
            last = i
    return last + 1


def _set_child(parent: etree._Element, tag: str, value: str, index: int = 0) -> None:
    """Set (or add, or with an empty value remove) the first ``tag`` child of ``parent``."""
    child = parent.find(m(tag))
    if value:
        if child is None:
            _place(parent, _new(tag, value), min(index, len(parent)))
        else:
            child.text = value
    elif child is not None:
        _remove(child)


def _set_identifier(root: etree._Element, old: str, new: str) -> None:
    """The identifier everywhere the record names itself: recordIdentifier, local identifier, its URLs."""
    info = root.find(m("recordInfo"))
    if info is None:
        info = _place(root, _new("recordInfo"), len(root))
    ident = info.find(m("recordIdentifier"))
    if ident is None:
        _place(info, _new("recordIdentifier", new, source="local"), len(info))
    else:
        ident.text = new
    for el in _children(root, "identifier"):
        if el.get("type") == "local" and (el.text or "").strip() in (old, ""):
            el.text = new
    if old:
        for url in root.iterfind(f"{m('location')}/{m('url')}"):
            text = (url.text or "").strip()
            for suffix in ("", "/text"):
                if text.endswith(f"/records/{old}{suffix}"):
                    url.text = text[: -len(f"{old}{suffix}")] + f"{new}{suffix}"


def _set_collection(root: etree._Element, code: str) -> None:
    coll = collections.get(code)
    item = next((ri for ri in _children(root, "relatedItem") if ri.get("displayLabel") == "collection"), None)
    if item is None:
        item = _new("relatedItem", type="host", displayLabel="collection")
        _sub(_sub(item, "titleInfo"), "title")
        _sub(item, "identifier", type="local")
        _place(root, item, _index_after(root, ("relatedItem", "subject", "abstract", "language")))
    title = item.find(f"{m('titleInfo')}/{m('title')}")
    if title is not None and coll is not None:
        title.text = coll.name("zh-Hans")
    ident = item.find(m("identifier"))
    if ident is None:
        ident = _place(item, _new("identifier", type="local"), len(item))
    ident.text = code


def _set_title(root: etree._Element, title: str, subtitle: str) -> None:
    ti = _primary_title(root)
    if ti is None:
        ti = _place(root, _new("titleInfo", lang="chi", script="Hans"), 0)
    if ti.find(m("title")) is None:
        _place(ti, _new("title", title), 0)
    else:
        ti.find(m("title")).text = title
    _set_child(ti, "subTitle", subtitle, index=len(ti))


def _name_elements(root: etree._Element) -> list[etree._Element]:
    """The name elements :func:`read_article` reads (those with a name part)."""
    return [
        n for n in _children(root, "name") if any((p.text or "").strip() for p in n.findall(m("namePart")))
    ]


def _set_names(root: etree._Element, names: list[tuple[str, str, str]]) -> None:
    existing = _name_elements(root)
    for el, (text, role, kind) in zip(existing, names, strict=False):
        parts = el.findall(m("namePart"))
        if " ".join((p.text or "").strip() for p in parts if (p.text or "").strip()) != text:
            for p in parts[1:]:
                _remove(p)
            parts[0].text = text
            parts[0].attrib.pop("type", None)  # one part now: no longer "family" or "given"
        el.set("type", kind)
        term = el.find(f"{m('role')}/{m('roleTerm')}")
        if term is None:
            role_el = _place(el, _new("role"), len(el))
            _sub(role_el, "roleTerm", role, type="code", authority="marcrelator")
            etree.indent(role_el, space="  ", level=_depth(role_el))
        elif (term.text or "").strip() != role:
            term.text = role
            term.set("type", "code")
            term.set("authority", "marcrelator")
    for el in existing[len(names) :]:
        _remove(el)
    if len(names) > len(existing):
        index = root.index(existing[-1]) + 1 if existing else _index_after(root, ("titleInfo",))
        for text, role, kind in names[len(existing) :]:
            el = _new("name", type=kind)
            _sub(el, "namePart", text)
            _sub(_sub(el, "role"), "roleTerm", role, type="code", authority="marcrelator")
            _place(root, el, index)
            index += 1


def _key_date(root: etree._Element) -> etree._Element | None:
    origins = _children(root, "originInfo")
    origin = next((o for o in origins if o.get("eventType") in (None, "publication")), None)
    if origin is None:
        return None
    dates = origin.findall(m("dateIssued"))
    return next((d for d in dates if d.get("keyDate") == "yes"), dates[0] if dates else None)


def _set_date(root: etree._Element, date: str) -> None:
    el = _key_date(root)
    if el is None and date:
        origin = _place(
            root,
            _new("originInfo", eventType="publication"),
            _index_after(root, ("genre", "typeOfResource", "name", "titleInfo")),
        )
        el = _place(origin, _new("dateIssued", encoding="w3cdtf", keyDate="yes"), 0)
    if el is None:
        return
    if date:
        el.text = date
        return
    origin = el.getparent()
    _remove(el)
    if not len(origin):
        _remove(origin)


def _host(root: etree._Element) -> etree._Element | None:
    """The newspaper's relatedItem (the first host that is not the collection)."""
    for ri in _children(root, "relatedItem"):
        if ri.get("type") == "host" and ri.get("displayLabel") != "collection":
            return ri
    return None


def _set_host(root: etree._Element, newspaper: str, page: str, date: str) -> None:
    host = _host(root)
    if not newspaper:
        if host is not None:
            _remove(host)
        return
    if host is None:
        host = _new("relatedItem", type="host")
        _sub(_sub(host, "titleInfo"), "title", newspaper)
        _sub(host, "genre", "newspaper", authority="marcgt")
        _place(root, host, _index_after(root, ("subject", "abstract", "note", "language", "originInfo")))
    ti = host.find(m("titleInfo"))
    if ti is None:
        ti = _place(host, _new("titleInfo"), 0)
    _set_child(ti, "title", newspaper)
    part = host.find(m("part"))
    if part is None and (page or date):
        part = _place(host, _new("part"), len(host))
        if date:
            _place(part, _new("date", date, encoding="w3cdtf"), 0)
    if part is None:
        return
    detail = next((d for d in part.findall(m("detail")) if d.get("type") == "page"), None)
    if page:
        if detail is None:
            detail = _place(part, _new("detail", type="page"), len(part))
            _place(detail, _new("number", page), 0)
        else:
            _set_child(detail, "number", page)
    elif detail is not None:
        _remove(detail)
    if not len(part):
        _remove(part)


def _sync_host_date(root: etree._Element, old: str, new: str) -> None:
    """The host's part date is the issue date: it follows a changed date where it was the old one."""
    host = _host(root)
    part = host.find(m("part")) if host is not None else None
    el = part.find(m("date")) if part is not None else None
    if el is not None and (el.text or "").strip() in ("", old):
        if new:
            el.text = new
        else:
            _remove(el)


def _set_subjects(root: etree._Element, topics: list[str], places: list[str]) -> None:
    wanted = {"topic": Counter(topics), "geographic": Counter(places)}
    last = None
    for subject in _children(root, "subject"):
        last = subject
        kids = [k for k in subject if isinstance(k.tag, str)]
        if any(etree.QName(k).localname not in wanted for k in kids):
            continue  # a structured subject (name, temporal, genre, …): the form does not own it
        for k in kids:
            kind, value = etree.QName(k).localname, (k.text or "").strip()
            if wanted[kind][value] > 0:
                wanted[kind][value] -= 1
            else:
                _remove(k)
        if not any(isinstance(k.tag, str) for k in subject):
            last = subject.getprevious() if subject.getprevious() is not None else last
            _remove(subject)
    index = (
        root.index(last) + 1
        if last is not None and last.getparent() is root
        else _index_after(root, ("abstract", "note", "language", "originInfo"))
    )
    for kind, source in (("topic", topics), ("geographic", places)):
        for value in source:  # in the order the cataloger wrote them
            if wanted[kind][value] > 0:
                wanted[kind][value] -= 1
                subject = _new("subject")
                _sub(subject, kind, value)
                _place(root, subject, index)
                index += 1


def _set_simple(root: etree._Element, tag: str, value: str, after: tuple[str, ...]) -> None:
    el = root.find(m(tag))
    if value:
        if el is None:
            _place(root, _new(tag, value), _index_after(root, after))
        else:
            el.text = value
    elif el is not None:
        _remove(el)
