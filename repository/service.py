"""The save path: the one way any change reaches the store.

Import, file sync, the editor and the API all come through
:meth:`Repository.prepare` and :meth:`Repository.commit`: parse (hardened) →
validate (MODS schema + the collection's profile) → derive renderings, set
memberships and summary → commit the new version with them in one
transaction. A refused record raises :class:`~repository.validation.Invalid`
with every problem and leaves the store untouched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from . import collections, xmlio
from .config import Settings
from .crosswalk import oai_dc_bytes
from .mods import RECORD_ID, Article, m, read_article, split_collection
from .rdf import record_rdf_xml
from .sets import sets_for
from .store import Change, NotFound, RecordState, StoreError, Version, open_store
from .validation import Invalid, Problem, check_identifier, validate


@dataclass(frozen=True)
class Derivation:
    """What a renderer gets: the parsed record and how it is addressed."""

    record_id: str
    collection: str
    mods: etree._Element
    article: Article
    record_url: str
    base_url: str


#: Renderings derived at save time, by format name. Later modules (RDF, search)
#: register theirs here, so every save keeps every rendering current.
RENDERERS: dict[str, Callable[[Derivation], bytes]] = {
    "oai_dc": lambda d: oai_dc_bytes(d.mods, d.record_id, d.record_url),
    "rdf": lambda d: record_rdf_xml(d.record_id, d.article, d.base_url, d.collection),
}


@dataclass
class Prepared:
    """A validated record, ready to commit."""

    record_id: str
    collection: str
    xml: bytes
    fulltext: str | None
    digest: str
    renderings: dict[str, bytes]
    sets: dict[str, str]
    summary: dict[str, str | None]
    article: Article | None  # the record view; import workers drop it before sending the record back


def digest_of(xml: bytes, fulltext: str | None) -> str:
    h = hashlib.sha256(xml)
    h.update(b"\0")
    h.update((fulltext or "").encode("utf-8"))
    return h.hexdigest()


def identifier_of(root: etree._Element) -> str | None:
    el = root.find(f"{m('recordInfo')}/{m('recordIdentifier')}")
    return el.text.strip() if el is not None and el.text and el.text.strip() else None


def _collection_of(root: etree._Element) -> str | None:
    for ri in root.findall(m("relatedItem")):
        if ri.get("type") == "host" and ri.get("displayLabel") == "collection":
            el = ri.find(m("identifier"))
            if el is not None and el.text and el.text.strip():
                return el.text.strip()
    return None


class Deleted(StoreError):
    """The record is a tombstone (it can be restored)."""

    def __init__(self, record_id: str):
        self.record_id = record_id
        super().__init__(f"record {record_id} is deleted")


class Repository:
    """A repository instance: its store, its public base URL and the save path."""

    def __init__(
        self,
        instance: Path | str,
        base_url: str | None = None,
        settings: Settings | None = None,
        *,
        read_only: bool = False,
    ):
        """``read_only`` is for helper processes (import workers) that prepare but never commit."""
        self.instance = Path(instance)
        self.instance.mkdir(parents=True, exist_ok=True)
        self.settings = settings or Settings.from_env(base_url)
        self.base_url = self.settings.base_url
        self.store = open_store(self.instance)
        #: Called after every commit with the new states: derived stores outside the
        #: database (the RDF graph) follow the records this way.
        self.listeners: list[Callable[[list[RecordState]], None]] = []
        if read_only:
            return
        rows = [
            {"code": c.code, "position": c.position, "kind": c.kind, "names": c.names, "profile": c.profile}
            for c in collections.collections()
        ]
        if self.store.collection_rows() != rows:  # written only when changed: a read-only store opens
            self.store.save_collections(rows)

    def close(self) -> None:
        self.store.close()

    def render(self, record_id: str, collection: str, xml: bytes, fmt: str) -> bytes:
        """A rendering of a stored version that is no longer current (the current ones are stored)."""
        root = xmlio.parse(xml, record_id).getroot()
        url = self.record_url(record_id)
        return RENDERERS[fmt](Derivation(record_id, collection, root, read_article(root), url, self.base_url))

    def record_url(self, record_id: str) -> str:
        return f"{self.base_url}/records/{record_id}"

    # ------------------------------------------------------------------ preparing
    def prepare(
        self,
        xml: bytes,
        *,
        record_id: str | None = None,
        collection: str | None = None,
        fulltext: str | None = None,
        source: str | None = None,
        tree: etree._ElementTree | None = None,
    ) -> Prepared:
        """Parse and validate one record, and derive everything stored with it.

        ``tree`` is ``xml`` already parsed by :func:`repository.xmlio.parse` (see :meth:`split`).
        """
        source = source or record_id or "<record>"
        if tree is None:
            tree = self._parse(xml, source)
        root = tree.getroot()
        if root.tag != m("mods"):
            found = etree.QName(root).localname
            hint = (
                " (a modsCollection holds several records: import or upload it to split it)"
                if found == "modsCollection"
                else ""
            )
            raise Invalid(
                [
                    Problem(
                        f"expected one <mods> record, found <{found}>{hint}",
                        root.sourceline,
                        found,
                        "repository",
                        source,
                    )
                ]
            )
        record_id = record_id or identifier_of(root)
        problems: list[Problem] = []
        if not record_id:
            problems.append(
                Problem(
                    "the record has no identifier (recordInfo/recordIdentifier)",
                    None,
                    "recordInfo",
                    "record-id",
                    source,
                )
            )
        else:
            problems += check_identifier(record_id, source)
        collection = collection or _collection_of(root)
        coll = collections.get(collection) if collection else None
        if coll is None:
            known = ", ".join(c.code for c in collections.collections())
            problems.append(
                Problem(
                    f"unknown collection {collection!r}; the collections are: {known}",
                    None,
                    None,
                    "repository",
                    source,
                )
                if collection
                else Problem("the record names no collection", None, None, "repository", source)
            )
        problems += validate(tree, coll.profile if coll else None, source)
        if coll is not None and coll.profile and record_id:
            problems += self._consistency(root, record_id, coll.code, source)
        if problems:
            raise Invalid(problems)
        assert record_id is not None and coll is not None
        if fulltext is not None:
            # A NUL or another control (bad OCR, a paste from a binary file) cannot be stored on
            # PostgreSQL nor served in XML: dropped here, on the one path every record takes in.
            fulltext = xmlio.xml_chars(fulltext)
        article = read_article(root)
        d = Derivation(record_id, coll.code, root, article, self.record_url(record_id), self.base_url)
        renderings = {fmt: render(d) for fmt, render in RENDERERS.items()}
        return Prepared(
            record_id=record_id,
            collection=coll.code,
            xml=xml,
            fulltext=fulltext,
            digest=digest_of(xml, fulltext),
            renderings=renderings,
            sets=sets_for(coll.code, article),
            summary={
                "title": article.title or None,
                "date_issued": article.date_issued,
                "newspaper": article.host.title if article.host else None,
                "language": article.language,
            },
            article=article,
        )

    @staticmethod
    def _consistency(root: etree._Element, record_id: str, collection: str, source: str) -> list[Problem]:
        """A profiled record must name itself and its collection as the store files it."""
        problems = []
        ident = root.find(f"{m('recordInfo')}/{m('recordIdentifier')}")
        if ident is not None and (ident.text or "").strip() not in ("", record_id):
            problems.append(
                Problem(
                    f"recordIdentifier is {(ident.text or '').strip()!r} "
                    f"but the record is filed as {record_id!r}",
                    ident.sourceline,
                    "recordIdentifier",
                    "repository",
                    source,
                )
            )
        named = _collection_of(root)
        if named and named != collection:
            problems.append(
                Problem(
                    f"the record names collection {named!r} but is filed in {collection!r}",
                    None,
                    "relatedItem",
                    "repository",
                    source,
                )
            )
        return problems

    @staticmethod
    def _parse(xml: bytes, source: str) -> etree._ElementTree:
        try:
            return xmlio.parse(xml, source)
        except xmlio.XMLInputError as exc:
            raise Invalid([Problem(exc.message, exc.line, None, "xml", source)]) from None

    def split(self, xml: bytes, source: str) -> list[tuple[bytes, etree._ElementTree]]:
        """The records of a file, parsed: itself, or each ``modsCollection`` member as its own document."""
        tree = self._parse(xml, source)
        root = tree.getroot()
        if root.tag != m("modsCollection"):
            return [(xml, tree)]
        problems = validate(tree, None, source)
        if problems:
            raise Invalid(problems)
        members = [xmlio.to_bytes(el) for el in split_collection(root)]
        return [(data, self._parse(data, source)) for data in members]

    # ------------------------------------------------------------------ committing
    def commit(
        self,
        prepared: Iterable[tuple[Prepared, int]],
        *,
        who: str,
        why: str,
        action: str | None = None,
    ) -> list[RecordState]:
        """Commit (record, version it was made to) pairs as one transaction."""
        changes = [
            Change(
                record_id=p.record_id,
                collection=p.collection,
                expected_version=expected,
                action=action or ("create" if expected == 0 else "update"),
                xml=p.xml,
                fulltext=p.fulltext,
                digest=p.digest,
                who=who,
                why=why,
                renderings=p.renderings,
                sets=p.sets,
                summary=p.summary,
            )
            for p, expected in prepared
        ]
        return self._commit(changes)

    def _commit(self, changes: list[Change]) -> list[RecordState]:
        states = self.store.commit(changes)
        for listener in self.listeners:
            listener(states)
        return states

    def save(self, prepared: Prepared, expected_version: int, *, who: str, why: str) -> RecordState:
        return self.commit([(prepared, expected_version)], who=who, why=why)[0]

    def delete(
        self, record_id: str, expected_version: int | None = None, *, who: str, why: str
    ) -> RecordState:
        """Tombstone a record: a new version marked deleted, its content kept for restore."""
        state = self._existing(record_id)
        if state.deleted:
            raise StoreError(f"record {record_id} is already deleted")
        current = self.store.version(record_id)
        change = Change(
            record_id=record_id,
            collection=state.collection,
            expected_version=state.version if expected_version is None else expected_version,
            action="delete",
            xml=current.xml,
            fulltext=current.fulltext,
            digest=current.digest,
            who=who,
            why=why,
            summary={
                "title": state.title,
                "date_issued": state.date_issued,
                "newspaper": state.newspaper,
                "language": state.language,
            },
        )
        return self._commit([change])[0]

    def restore(
        self,
        record_id: str,
        version: int | None = None,
        expected_version: int | None = None,
        *,
        who: str,
        why: str,
    ) -> RecordState:
        """Bring back a version (by default the last one before deletion) as a new version."""
        state = self._existing(record_id)
        if version is None:
            if not state.deleted:
                raise StoreError(f"record {record_id} is not deleted; name the version to restore")
            version = state.version
        old = self.store.version(record_id, version)
        prepared = self.prepare(
            old.xml,
            record_id=record_id,
            collection=state.collection,
            fulltext=old.fulltext,
            source=f"{record_id} version {version}",
        )
        expected = state.version if expected_version is None else expected_version
        return self.commit([(prepared, expected)], who=who, why=why, action="restore")[0]

    def live(self, record_id: str) -> tuple[RecordState, Version]:
        """A record that can be shown, and its current version.

        :class:`NotFound` for an unknown (or malformed) identifier, :class:`Deleted` for a
        tombstone: the web answers them 404 and 410.
        """
        if not is_record_id(record_id):
            raise NotFound(record_id)
        state = self._existing(record_id)
        if state.deleted:
            raise Deleted(record_id)
        return state, self.store.version(record_id)

    def _existing(self, record_id: str) -> RecordState:
        state = self.store.get(record_id)
        if state is None:
            raise NotFound(record_id)
        return state


def is_record_id(value: str) -> bool:
    return bool(RECORD_ID.match(value))
