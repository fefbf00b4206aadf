"""What every store offers: the narrow interface the rest of the repository relies on.

A store keeps records (current state), every version of each, the renderings
derived from the current version, set memberships and the working-copy
bookkeeping. It does not validate or render: the save path in
:mod:`repository.service` does that and hands the store finished
:class:`Change` objects, which it applies in one transaction or not at all.
Keeping the interface this small is what lets a PostgreSQL store follow.

For OAI-PMH the store also keeps, per record, the elements a list response is made
of (see :func:`list_items`), written in the same transaction as the datestamp and
the set memberships they carry, so that a page is one indexed read and a join.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol
from xml.sax.saxutils import escape

from ..xmlio import strip_declaration


class StoreUnavailable(Exception):
    """The store cannot take a write now: its disk is full, it is read-only, its server is gone.

    Nothing of the change was written. Not a :class:`StoreError` (a change refused on its
    merits): the same change can succeed once an operator has fixed the cause, so a web
    answer is 503, not 4xx. ``reason`` is the cause without the store's location, for answers
    to the public; the message names both, for the operator.
    """

    def __init__(self, where: str, reason: str):
        self.where, self.reason = where, reason
        super().__init__(f"cannot write to the store {where}: {reason}; nothing of this change was written")


class StoreError(Exception):
    """A change the store refused; nothing was written."""


class StaleVersion(StoreError):
    """The change names a version that is no longer the current one."""

    def __init__(self, record_id: str, expected: int, current: int):
        self.record_id, self.expected, self.current = record_id, expected, current
        super().__init__(
            f"record {record_id} is at version {current}, but the change was made to version {expected}: "
            "reload it and apply your change again"
        )


class NotFound(StoreError):
    def __init__(self, record_id: str, version: int | None = None):
        self.record_id, self.version = record_id, version
        what = f"version {version} of record {record_id}" if version else f"record {record_id}"
        super().__init__(f"{what} does not exist")


@dataclass(frozen=True)
class RecordState:
    """A record's current state: what OAI-PMH headers and listings need."""

    id: str
    collection: str
    version: int
    datestamp: str  # UTC, YYYY-MM-DDThh:mm:ssZ
    deleted: bool
    digest: str
    created: str
    title: str | None = None
    date_issued: str | None = None
    newspaper: str | None = None
    language: str | None = None
    seq: int = 0  # the store-wide change sequence of the record's last change


class PageRow(NamedTuple):
    """A record in a (datestamp, id) listing: its header fields and its sets."""

    id: str
    datestamp: str
    deleted: bool
    collection: str
    sets: list[str]


#: The format whose metadata is the stored record itself (as stored, without its XML declaration);
#: every other format is a rendering derived at save time (``Change.renderings``).
STORED_FORMAT = "mods"
#: The list item of a record's header alone (ListIdentifiers); a format name is never empty.
HEADER = ""
#: How a list element opens, for a live record and a deleted one (index: deleted). A stored item
#: starts after the opening and the repository's identifier prefix (``oai:{repositoryIdentifier}:``),
#: which is configuration, not data: the element served is ``opening + prefix + item``.
HEADER_OPEN = (b"<header><identifier>", b'<header status="deleted"><identifier>')
RECORD_OPEN = (b"<record><header><identifier>", b'<record><header status="deleted"><identifier>')


class ListItem(NamedTuple):
    """A stored list item with the (datestamp, record id) it is ordered by and whether it is deleted."""

    item: bytes
    datestamp: str
    id: str
    deleted: int


def disseminations(xml: bytes, renderings: Mapping[str, bytes]) -> dict[str, bytes]:
    """A version's metadata in every format it is disseminated in: its renderings and the record itself."""
    return {**renderings, STORED_FORMAT: strip_declaration(xml)}


def list_items(
    record_id: str, datestamp: str, sets: Iterable[str], metadata: Mapping[str, bytes | None]
) -> dict[str, bytes]:
    """What a record contributes to OAI-PMH list responses: format → stored item (``HEADER``: the header).

    ``metadata`` maps each format to its metadata element, or to None for a deleted record
    (whose ListRecords element is the header alone). Built at save time, so a page is a join
    of stored bytes; a store calls this on every change of the datestamp, the sets or the
    deletion state, which are exactly what a header says.
    """
    specs = "".join(f"<setSpec>{escape(s)}</setSpec>" for s in sorted(sets))
    header = f"{escape(record_id)}</identifier><datestamp>{datestamp}</datestamp>{specs}</header>".encode()
    items = {HEADER: header}
    for fmt, content in metadata.items():
        if content is None:
            items[fmt] = header + b"</record>"
        else:
            items[fmt] = b"".join((header, b"<metadata>", content, b"</metadata></record>"))
    return items


class Changed(NamedTuple):
    """A record as it is after a change: what derived stores (graph, search index) follow."""

    id: str
    collection: str
    deleted: bool
    seq: int
    xml: bytes
    fulltext: str | None


@dataclass(frozen=True)
class Version:
    record_id: str
    version: int
    xml: bytes
    fulltext: str | None
    digest: str
    created: str
    who: str
    why: str
    action: str  # create | update | delete | restore
    datestamp: str = ""
    seq: int = 0


@dataclass
class Change:
    """One record's next version, ready to commit.

    ``expected_version`` is the version the change was made to (0 for a new
    record); the store refuses the change if the record has moved on since.
    """

    record_id: str
    collection: str
    expected_version: int
    action: str
    xml: bytes
    fulltext: str | None
    digest: str
    who: str
    why: str
    renderings: dict[str, bytes] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)  # set spec → set name
    summary: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class FileState:
    """What a record's files in the working copy looked like when they last matched the store.

    ``stat`` is the size and modification time of the ``.xml`` and its ``.txt``:
    while it is unchanged the files are not read again, which keeps a sync of an
    unchanged tree of 100,000 records to a directory scan.
    """

    record_id: str
    path: str
    version: int
    stat: str
    digest: str


class Store(Protocol):
    def commit(self, changes: list[Change]) -> list[RecordState]:
        """Apply all changes in one transaction; raise :class:`StaleVersion` and write nothing on conflict."""

    def get(self, record_id: str) -> RecordState | None: ...

    def version(self, record_id: str, version: int | None = None) -> Version:
        """A version (the current one by default); :class:`NotFound` when there is none."""

    def history(self, record_id: str) -> list[Version]: ...

    def rendering(self, record_id: str, fmt: str) -> bytes | None: ...

    def records(
        self, collection: str | None = None, *, include_deleted: bool = False
    ) -> Iterator[RecordState]: ...

    def count(self, collection: str | None = None) -> int: ...

    def sample_id(self) -> str | None: ...

    def live_page(self, offset: int, limit: int) -> list[tuple[str, str]]: ...

    def live_count(self) -> int: ...

    def sets_of(self, record_id: str) -> list[str]: ...

    def save_collections(self, rows: Iterable[dict]) -> None: ...

    def recent(self, limit: int = 20, collection: str | None = None) -> list[RecordState]:
        """The live records catalogued last (first version newest first): the home page's additions."""

    def counts_by_collection(self) -> dict[str, int]: ...

    def collection_rows(self) -> list[dict]: ...

    # the working copy
    def file_states(self, record_ids: Iterable[str] | None = None) -> dict[str, FileState]:
        """The working copy's file states: of every record, or of those named."""
        ...

    def save_file_states(self, states: Iterable[FileState], removed: Iterable[str] = ()) -> None: ...

    def current_versions(self) -> dict[str, tuple[int, bool, str]]:
        """record id → (version, deleted, collection), in one read."""

    # OAI-PMH listing
    def max_seq(self) -> int:
        """The store-wide change sequence: a harvest's snapshot bound."""

    def integrity_problems(self) -> list[str]:
        """What the database itself finds damaged (empty when sound)."""

    def earliest_datestamp(self) -> str | None: ...

    def list_page(
        self,
        *,
        set_spec: str | None,
        from_: str,
        until: str,
        bound_seq: int,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[PageRow]:
        """Records with ``seq <= bound_seq`` after ``after``, in (datestamp, id) order, at any depth alike."""

    def list_items(
        self,
        *,
        fmt: str,
        set_spec: str | None,
        from_: str,
        until: str,
        bound_seq: int,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[ListItem]:
        """The records of :meth:`list_page` as their stored items in ``fmt`` (``HEADER``: the header alone).

        Rows come as the database gives them (plain tuples in ListItem's order); a record without
        an item in ``fmt`` is left out.
        """

    def get_item(self, record_id: str, fmt: str) -> ListItem | None:
        """A record's stored item in ``fmt`` (None: no such record, or not in that format)."""

    def list_count(self, *, set_spec: str | None, from_: str, until: str) -> int: ...

    def versions_as_of(self, bound_seq: int) -> list[tuple[RecordState, Version]]: ...

    def set_names(self) -> dict[str, str]: ...

    # derived stores
    def changed_since(self, seq: int, limit: int = 1000) -> list[Changed]:
        """The records changed after ``seq`` as they are now, in change order."""

    def close(self) -> None: ...
