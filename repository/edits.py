"""A cataloger's change to the records, as the REST API and the browser editor both make it.

Both front ends take MODS from a person and must treat it the same way: the record keeps the
identifier and collection it is filed under, an unchanged record makes no new version, a record
edited from an older version is refused (:class:`~repository.store.StaleVersion`), and a batch of
new records goes in whole or not at all. This module is that policy, once; the front ends only
turn its exceptions into answers (JSON statuses, or a page that keeps the cataloger's text).
Every change goes through :class:`~repository.service.Repository`, the one save path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from . import xmlio
from .mods import m, read_article
from .service import Deleted, Prepared, Repository
from .store import NotFound, RecordState, StaleVersion
from .validation import Invalid, Problem

#: The longest reason a version may carry (the history shows it in full).
MAX_REASON_CHARS = 2000

#: "Keep the stored full text" (``None`` would remove it).
KEEP: Any = object()

#: The largest version number the stores hold (PostgreSQL ``integer``): a larger one names no version.
MAX_VERSION = 2**31 - 1
#: The largest change or entry number they hold (``bigint``).
MAX_SEQ = 2**63 - 1


#: How many problems an answer lists: a record can have a hundred thousand (one per stray attribute),
#: and listing every one costs seconds and megabytes and helps nobody.
MAX_PROBLEMS_SHOWN = 100


def shown_problems(problems: list[Problem]) -> list[Problem]:
    """The first :data:`MAX_PROBLEMS_SHOWN` problems, and one more saying how many were left out."""
    if len(problems) <= MAX_PROBLEMS_SHOWN:
        return problems
    rest = len(problems) - MAX_PROBLEMS_SHOWN
    return [*problems[:MAX_PROBLEMS_SHOWN], Problem(f"… and {rest:,} more problems", rule="more")]


def whole_number(raw: str | None, largest: int = MAX_VERSION) -> int | None:
    """``raw`` as a whole number from 0 to ``largest``, or None.

    Only ASCII digits count (``"²".isdigit()`` is true, but ``int("²")`` fails), and a number past
    what the stores hold is refused here rather than overflowing in the database.
    """
    raw = (raw or "").strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(largest)):
        return None
    number = int(raw)
    return number if number <= largest else None


class AlreadyExists(Exception):
    """New records whose identifiers are taken: nothing was stored."""

    def __init__(self, record_ids: list[str]):
        self.record_ids = record_ids
        super().__init__(f"{len(record_ids)} of the records already exist: {', '.join(record_ids[:5])}")


@dataclass(frozen=True)
class Saved:
    """The outcome of an update: the record's state now, and whether a version was made."""

    state: RecordState
    changed: bool


def parse(xml: bytes, source: str) -> etree._ElementTree:
    """The text as a tree, or :class:`Invalid` with the parser's line and message."""
    try:
        return xmlio.parse(xml, source)
    except xmlio.XMLInputError as exc:
        raise Invalid([Problem(exc.message, exc.line, None, "xml", source)]) from None


def one_line(reason: str | None) -> str:
    """A reason as a version stores it: one line, no control characters, single spaces."""
    return " ".join(xmlio.xml_chars(reason or "").split())


def xml_text(xml: bytes) -> str:
    """A stored record as text for a person to edit (one stored in another encoding, re-serialised)."""
    try:
        return xml.decode("utf-8")
    except UnicodeDecodeError:
        return etree.tostring(xmlio.parse(xml).getroot(), encoding="unicode")


def live_state(repo: Repository, record_id: str) -> RecordState:
    """The record as it is now: :class:`NotFound` when unknown, :class:`Deleted` when a tombstone."""
    state = repo.store.get(record_id)
    if state is None:
        raise NotFound(record_id)
    if state.deleted:
        raise Deleted(record_id)
    return state


def identity_problems(tree: etree._ElementTree, record_id: str, collection: str) -> list[Problem]:
    """An edited record must still name itself as it is filed, and stay in its collection."""
    problems = []
    root = tree.getroot()
    ident = root.find(f"{m('recordInfo')}/{m('recordIdentifier')}")
    named = (ident.text or "").strip() if ident is not None else ""
    if named and named != record_id:
        problems.append(
            Problem(
                f"recordIdentifier is {named!r} but this is record {record_id!r}",
                ident.sourceline,
                "recordIdentifier",
                "repository",
                record_id,
            )
        )
    if etree.QName(root).localname == "mods":
        coll = read_article(root).collection
        if coll and coll != collection:
            problems.append(
                Problem(
                    f"the record names collection {coll!r} but is filed in {collection!r}; "
                    "a record does not move between collections by editing",
                    None,
                    "relatedItem",
                    "repository",
                    record_id,
                )
            )
    return problems


def update(
    repo: Repository,
    record_id: str,
    xml: bytes,
    expected_version: int,
    *,
    fulltext: Any = KEEP,
    who: str,
    why: str,
) -> Saved:
    """Save ``xml`` as the next version of a live record, made to ``expected_version``.

    Raises :class:`Invalid` (nothing stored), :class:`StaleVersion` when someone saved since
    ``expected_version``, :class:`NotFound` or :class:`Deleted`.
    """
    state = live_state(repo, record_id)
    if expected_version != state.version:
        raise StaleVersion(record_id, expected_version, state.version)
    tree = parse(xml, record_id)
    problems = identity_problems(tree, record_id, state.collection)
    if problems:
        raise Invalid(problems)
    if fulltext is KEEP:
        fulltext = repo.store.version(record_id).fulltext
    prepared = repo.prepare(
        xml, record_id=record_id, collection=state.collection, fulltext=fulltext, source=record_id, tree=tree
    )
    if prepared.digest == state.digest:
        return Saved(state, changed=False)
    return Saved(repo.save(prepared, expected_version, who=who, why=why), changed=True)


def prepare_new(
    repo: Repository,
    members: list[tuple[bytes, etree._ElementTree]],
    *,
    collection: str | None,
    fulltext: str | None,
) -> list[Prepared]:
    """Validate new records (a file's or a body's members): every problem of every member, or all of them."""
    prepared: list[Prepared] = []
    problems: list[Problem] = []
    for i, (xml, tree) in enumerate(members, 1):
        source = "record" if len(members) == 1 else f"record {i}"
        try:
            prepared.append(
                repo.prepare(xml, collection=collection, fulltext=fulltext, source=source, tree=tree)
            )
        except Invalid as exc:
            problems += exc.problems
    if problems:
        raise Invalid(problems)
    return prepared


def create(repo: Repository, prepared: list[Prepared], *, who: str, why: str) -> list[RecordState]:
    """Store new records, all or none: :class:`Invalid` for an identifier named twice,
    :class:`AlreadyExists` for one that is taken."""
    if not prepared:
        raise Invalid([Problem("there is no record to store", rule="repository")])
    ids = [p.record_id for p in prepared]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise Invalid(
            [Problem(f"record {i} appears more than once", rule="repository", source=i) for i in repeated]
        )
    existing = [i for i in ids if repo.store.get(i) is not None]
    if existing:
        raise AlreadyExists(existing)
    try:
        return repo.commit([(p, 0) for p in prepared], who=who, why=why, action="create")
    except StaleVersion as exc:  # created by someone else a moment ago
        raise AlreadyExists([exc.record_id]) from None
