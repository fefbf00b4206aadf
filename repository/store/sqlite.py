"""The embedded store: one SQLite file in the instance folder.

WAL mode with ``synchronous=FULL``: readers (the web server) never block the
writer, and a committed save survives a power cut. A batch of changes is one
transaction, so a bulk import killed at any point leaves each record fully in
or fully out.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from .base import (
    HEADER,
    STORED_FORMAT,
    Change,
    Changed,
    FileState,
    ListItem,
    NotFound,
    PageRow,
    RecordState,
    StaleVersion,
    StoreError,
    StoreUnavailable,
    Version,
    disseminations,
    list_items,
)

#: 2: the OAI-PMH list items (``oai_items``), built from the records when a store of 1 is opened.
SCHEMA_VERSION = 2
MMAP_BYTES = 256 * 1024**2  # mapped pages count in RSS: enough for the hot part of a harvest

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    code TEXT PRIMARY KEY, position INTEGER NOT NULL, kind TEXT NOT NULL,
    names TEXT NOT NULL, profile TEXT
);
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    collection TEXT NOT NULL,
    version INTEGER NOT NULL,
    datestamp TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    digest TEXT NOT NULL,
    created TEXT NOT NULL,
    seq INTEGER NOT NULL,
    title TEXT, date_issued TEXT, newspaper TEXT, language TEXT
);
CREATE INDEX IF NOT EXISTS records_by_datestamp ON records (datestamp, id);
CREATE INDEX IF NOT EXISTS records_by_collection ON records (collection, datestamp, id);
CREATE INDEX IF NOT EXISTS records_by_seq ON records (seq);
CREATE INDEX IF NOT EXISTS records_by_created ON records (created, id);
CREATE TABLE IF NOT EXISTS versions (
    record_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    xml BLOB NOT NULL,
    fulltext TEXT,
    digest TEXT NOT NULL,
    created TEXT NOT NULL,
    datestamp TEXT NOT NULL,
    seq INTEGER NOT NULL,
    who TEXT NOT NULL,
    why TEXT NOT NULL,
    action TEXT NOT NULL,
    PRIMARY KEY (record_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS renderings (
    record_id TEXT NOT NULL, format TEXT NOT NULL, content BLOB NOT NULL,
    PRIMARY KEY (record_id, format)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS memberships (
    set_spec TEXT NOT NULL, datestamp TEXT NOT NULL, record_id TEXT NOT NULL,
    PRIMARY KEY (set_spec, datestamp, record_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS memberships_by_record ON memberships (record_id);
CREATE TABLE IF NOT EXISTS sets (spec TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
-- How many records (deleted ones included) each set has per datestamp second and per day
-- ('' is the whole repository): completeListSize for any window without counting rows.
CREATE TABLE IF NOT EXISTS second_counts (
    set_spec TEXT NOT NULL, datestamp TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (set_spec, datestamp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS day_counts (
    set_spec TEXT NOT NULL, day TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (set_spec, day)
) WITHOUT ROWID;
-- The OAI-PMH list elements (store.base.list_items), rewritten by every change: per record its header
-- (format '') and its <record> in each format. A rowid table, so that a 1-3 kB item stays on its
-- table page (in a WITHOUT ROWID table any row over ~1 kB spills onto an overflow page of its own);
-- the key index covers the keyset seek and the snapshot filter (seq), so a page of 100 reads 101
-- index entries and 101 rows. A commit inserts its rows by (format, datestamp, id), so the rows a
-- harvest of one format reads lie together on disk (records are saved in datestamp order).
CREATE TABLE IF NOT EXISTS oai_items (
    n INTEGER PRIMARY KEY,
    format TEXT NOT NULL, datestamp TEXT NOT NULL, record_id TEXT NOT NULL,
    seq INTEGER NOT NULL, deleted INTEGER NOT NULL, item BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS oai_items_by_key ON oai_items (format, datestamp, record_id, seq, deleted);
CREATE INDEX IF NOT EXISTS oai_items_by_record ON oai_items (record_id, format);
CREATE TABLE IF NOT EXISTS working_copy (
    record_id TEXT PRIMARY KEY, path TEXT NOT NULL, version INTEGER NOT NULL,
    stat TEXT NOT NULL, digest TEXT NOT NULL
) WITHOUT ROWID;
"""

_RECORD_COLUMNS = (
    "id, collection, version, datestamp, deleted, digest, created,"
    " title, date_issued, newspaper, language, seq"
)

_VERSION_COLUMNS = "record_id, version, xml, fulltext, digest, created, who, why, action, datestamp, seq"

# Every page of a harvest asks (usually to hear of none), so the statement is built once.
_VERSIONS_AS_OF = (
    "SELECT {r}, {v} FROM records r JOIN versions v ON v.record_id = r.id AND v.version ="
    " (SELECT max(w.version) FROM versions w WHERE w.record_id = r.id AND w.seq <= ?1) WHERE r.seq > ?1"
).format(
    r=", ".join(f"r.{c.strip()}" for c in _RECORD_COLUMNS.split(",")),
    v=", ".join(f"v.{c.strip()}" for c in _VERSION_COLUMNS.split(",")),
)
_INSERT_ITEM = (
    "INSERT INTO oai_items (format, datestamp, record_id, seq, deleted, item) VALUES (?, ?, ?, ?, ?, ?)"
)
# One keyset seek per page, on (datestamp, id) after the last key delivered; the first page starts
# after (from, ''), which every record with datestamp >= from follows. The row-value bound must be
# the only lower bound on datestamp, or SQLite scans from the window's start instead of seeking.
_ITEMS_PAGE = (
    "SELECT i.item, i.datestamp, i.record_id, i.deleted FROM oai_items i"
    " WHERE i.format = :fmt AND (i.datestamp, i.record_id) > (:lds, :lid) AND i.datestamp <= :until"
    " AND i.seq <= :bound ORDER BY i.datestamp, i.record_id LIMIT :n"
)
# The unary + keeps SQLite from carrying the page's datestamp range over to the items (it would
# then look each member up by a range scan of the window instead of by its key: seconds a page).
_SET_ITEMS_PAGE = (
    "SELECT i.item, m.datestamp, m.record_id, i.deleted FROM memberships m JOIN oai_items i"
    " ON i.format = :fmt AND i.datestamp = +m.datestamp AND i.record_id = m.record_id"
    " WHERE m.set_spec = :set AND (m.datestamp, m.record_id) > (:lds, :lid) AND m.datestamp <= :until"
    " AND i.seq <= :bound ORDER BY m.datestamp, m.record_id LIMIT :n"
)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def utc_now() -> str:
    """Now, as an OAI-PMH datestamp (UTC, to the second)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _after(after: tuple[str, str] | None, from_: str) -> dict[str, str]:
    """The keyset bound of a page: after the last key delivered, or for the first page after (from, '')."""
    lds, lid = after if after is not None and after[0] else (from_, "")
    return {"lds": lds, "lid": lid}


def _record(row: tuple) -> RecordState:
    return RecordState(
        id=row[0],
        collection=row[1],
        version=row[2],
        datestamp=row[3],
        deleted=bool(row[4]),
        digest=row[5],
        created=row[6],
        title=row[7],
        date_issued=row[8],
        newspaper=row[9],
        language=row[10],
        seq=row[11],
    )


class SQLiteStore:
    """The :class:`~repository.store.base.Store` on SQLite (one connection per thread)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._known_sets: dict[str, str] | None = None
        conn = self._conn()
        conn.executescript(SCHEMA)
        meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('schema_version', 'counts')"))
        if meta.get("schema_version") != str(SCHEMA_VERSION) or "counts" not in meta:
            with self._transaction() as conn:
                self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring a new store, or one made by earlier code, up to ``SCHEMA_VERSION``.

        ``SCHEMA`` creates what is missing; this derives what the new tables hold from the
        records, in the caller's write transaction, which also makes a second process opening
        the store meanwhile wait and then find it done. A store with no version at all is new
        (or older than versions): deriving from its records is right either way.
        """
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.path} has schema version {version}; this code knows up to {SCHEMA_VERSION}"
            )
        if conn.execute("SELECT 1 FROM meta WHERE key = 'counts'").fetchone() is None:
            self._rebuild_counts(conn)
        if version < 2:
            self._rebuild_items(conn)
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )

    @staticmethod
    def _rebuild_items(conn: sqlite3.Connection) -> None:
        """Derive every record's OAI-PMH list items from its current version, renderings and sets.

        Inserted as :meth:`commit` inserts a batch, by (format, datestamp, id) within each batch,
        so that the rows of one format lie together on disk in key order. A deleted record gets a
        deleted item in every format the store has renderings in, as it had when it was deleted.
        """
        conn.execute("DELETE FROM oai_items")
        formats = [f for (f,) in conn.execute("SELECT DISTINCT format FROM renderings")]
        records = conn.execute(
            "SELECT r.id, r.datestamp, r.seq, r.deleted, v.xml,"
            " (SELECT group_concat(s.set_spec, ' ') FROM memberships s WHERE s.record_id = r.id)"
            " FROM records r JOIN versions v ON v.record_id = r.id AND v.version = r.version"
            " ORDER BY r.datestamp, r.id"
        )
        while batch := records.fetchmany(5000):
            rows = []
            for rid, datestamp, seq, deleted, xml, specs in batch:
                if deleted:
                    metadata: dict[str, bytes | None] = dict.fromkeys([*formats, STORED_FORMAT])
                else:
                    renderings = dict(
                        conn.execute("SELECT format, content FROM renderings WHERE record_id = ?", (rid,))
                    )
                    metadata = disseminations(bytes(xml), {f: bytes(c) for f, c in renderings.items()})
                sets = specs.split(" ") if specs else []
                for fmt, item in list_items(rid, datestamp, sets, metadata).items():
                    rows.append((fmt, datestamp, rid, seq, deleted, item))
            rows.sort()
            conn.executemany(_INSERT_ITEM, rows)

    @staticmethod
    def _rebuild_counts(conn: sqlite3.Connection) -> None:
        """Derive the datestamp counts from the records (for stores made before they existed)."""
        conn.execute("DELETE FROM second_counts")
        conn.execute("DELETE FROM day_counts")
        conn.execute(
            "INSERT INTO second_counts SELECT '', datestamp, count(*) FROM records GROUP BY datestamp"
            " UNION ALL SELECT set_spec, datestamp, count(*) FROM memberships GROUP BY set_spec, datestamp"
        )
        conn.execute(
            "INSERT INTO day_counts SELECT set_spec, substr(datestamp, 1, 10), sum(n) FROM second_counts"
            " GROUP BY set_spec, substr(datestamp, 1, 10)"
        )
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('counts', '1')")

    # ------------------------------------------------------------------ plumbing
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            except sqlite3.OperationalError as exc:
                raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            # Reads (harvests, pages) go through memory-mapped I/O instead of a read()
            # per database page; SQLite falls back to read() where mmap is unavailable.
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            conn.execute("PRAGMA cache_size=-8192")  # 8 MiB of page cache per connection (one per thread)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The one way this store writes: an immediate transaction, rolled back whole on any error.

        An error that is about the disk rather than the change (full, read-only, failing) is
        raised as :class:`StoreUnavailable`, which says what the operator must fix.
        """
        conn = self._conn()
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # a full disk may refuse even this
                        conn.execute("ROLLBACK")
                self._known_sets = None  # the rolled-back transaction may have added some
                if isinstance(exc, sqlite3.DatabaseError) and (why := _unwritable(exc)):
                    raise StoreUnavailable(str(self.path), why) from exc
                raise

    def commit(self, changes: list[Change]) -> list[RecordState]:
        if not changes:
            return []
        with self._transaction() as conn:
            return self._apply_all(conn, changes, utc_now())

    def _apply_all(self, conn: sqlite3.Connection, changes: list[Change], now: str) -> list[RecordState]:
        """Apply a batch: check every expected version, then write each table with one executemany.

        A bulk import commits hundreds of records at a time; one statement per table instead
        of several per record is most of what the store costs. A batch naming a record twice
        is applied one change at a time, each seeing the one before.
        """
        ids = [c.record_id for c in changes]
        if len(set(ids)) != len(ids):
            states = []
            for c in changes:
                states += self._apply_all(conn, [c], now)
            return states
        current: dict[str, tuple[int, str, str]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for rid, version, created, datestamp in conn.execute(
                f"SELECT id, version, created, datestamp FROM records WHERE id IN ({marks})", chunk
            ):
                current[rid] = (version, created, datestamp)
        seq = conn.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
        versions, records, renderings, members, items, states = [], [], [], [], [], []
        counts: Counter[tuple[str, str]] = Counter()  # (set spec, datestamp) → change in records
        for c in changes:
            # ``seq``, the change sequence, orders every change ever made; OAI-PMH uses it
            # to give a harvest a consistent snapshot (see repository.oai).
            seq += 1
            version, created, previous = current.get(c.record_id, (0, now, now))
            if version != c.expected_version:
                raise StaleVersion(c.record_id, c.expected_version, version)
            # A datestamp never goes backwards for a record, even if the clock does.
            datestamp = max(now, previous)
            deleted = c.action == "delete"
            versions.append(
                (
                    c.record_id,
                    version + 1,
                    c.xml,
                    c.fulltext,
                    c.digest,
                    now,
                    c.who,
                    c.why,
                    c.action,
                    datestamp,
                    seq,
                )
            )
            s = c.summary
            state = RecordState(
                c.record_id, c.collection, version + 1, datestamp, deleted, c.digest, created,
                s.get("title"), s.get("date_issued"), s.get("newspaper"), s.get("language"), seq,
            )  # fmt: skip
            states.append(state)
            records.append(
                (
                    state.id, state.collection, state.version, state.datestamp, int(state.deleted),
                    state.digest, state.created, state.title, state.date_issued, state.newspaper,
                    state.language, state.seq,
                )
            )  # fmt: skip
            old_sets: list[str] = []
            old_formats: list[str] = []
            if version:
                conn.execute("DELETE FROM renderings WHERE record_id = ?", (c.record_id,))
                old_sets = [r[0] for r in conn.execute(
                    "SELECT set_spec FROM memberships WHERE record_id = ?", (c.record_id,)
                )]  # fmt: skip
                for spec in ("", *old_sets):
                    counts[(spec, previous)] -= 1
                if deleted:
                    old_formats = [r[0] for r in conn.execute(
                        "SELECT format FROM oai_items WHERE record_id = ?", (c.record_id,)
                    )]  # fmt: skip
                conn.execute("DELETE FROM oai_items WHERE record_id = ?", (c.record_id,))
            sets = old_sets if deleted else list(c.sets)
            for spec in ("", *sets):
                counts[(spec, datestamp)] += 1
            renderings += [(c.record_id, fmt, content) for fmt, content in c.renderings.items()]
            # The list items carry the new datestamp, sets and state. A deleted record keeps an
            # item in each format it was disseminated in: its deleted header, for ever.
            metadata: dict[str, bytes | None] = (
                dict.fromkeys(f for f in old_formats if f != HEADER)
                if deleted
                else dict(disseminations(c.xml, c.renderings))
            )
            items += [
                (fmt, datestamp, c.record_id, seq, int(deleted), item)
                for fmt, item in list_items(c.record_id, datestamp, sets, metadata).items()
            ]
            if deleted:
                # A deleted record keeps its set memberships: OAI-PMH serves its
                # deleted header in the sets it belonged to, for ever.
                conn.execute(
                    "UPDATE memberships SET datestamp = ? WHERE record_id = ?", (datestamp, c.record_id)
                )
            else:
                if version:
                    conn.execute("DELETE FROM memberships WHERE record_id = ?", (c.record_id,))
                members += [(spec, datestamp, c.record_id) for spec in c.sets]
                self._save_set_names(conn, c.sets)
        conn.executemany(f"INSERT INTO versions ({_VERSION_COLUMNS}) VALUES ({_marks(11)})", versions)
        conn.executemany(f"INSERT OR REPLACE INTO records ({_RECORD_COLUMNS}) VALUES ({_marks(12)})", records)
        conn.executemany("INSERT INTO renderings (record_id, format, content) VALUES (?, ?, ?)", renderings)
        conn.executemany("INSERT INTO memberships (set_spec, datestamp, record_id) VALUES (?, ?, ?)", members)
        items.sort()  # by (format, datestamp, id): a harvest of one format then reads adjacent rows
        conn.executemany(_INSERT_ITEM, items)
        self._count(conn, counts)
        return states

    @staticmethod
    def _count(conn: sqlite3.Connection, counts: Counter[tuple[str, str]]) -> None:
        days: Counter[tuple[str, str]] = Counter()
        for (spec, stamp), n in counts.items():
            days[(spec, stamp[:10])] += n
        conn.executemany(
            "INSERT INTO second_counts (set_spec, datestamp, n) VALUES (?, ?, ?)"
            " ON CONFLICT (set_spec, datestamp) DO UPDATE SET n = n + excluded.n",
            [(spec, stamp, n) for (spec, stamp), n in counts.items() if n],
        )
        conn.executemany(
            "INSERT INTO day_counts (set_spec, day, n) VALUES (?, ?, ?)"
            " ON CONFLICT (set_spec, day) DO UPDATE SET n = n + excluded.n",
            [(spec, day, n) for (spec, day), n in days.items() if n],
        )

    def _save_set_names(self, conn: sqlite3.Connection, sets: dict[str, str]) -> None:
        known = self._sets_known(conn)
        new_sets = [(spec, name) for spec, name in sets.items() if known.get(spec) != name]
        if new_sets:
            conn.executemany(
                "INSERT INTO sets (spec, name) VALUES (?, ?)"
                " ON CONFLICT (spec) DO UPDATE SET name = excluded.name",
                new_sets,
            )
            known.update(new_sets)

    def _sets_known(self, conn: sqlite3.Connection) -> dict[str, str]:
        """The set names already stored, so a save writes only the sets that are new."""
        if self._known_sets is None:
            self._known_sets = dict(conn.execute("SELECT spec, name FROM sets"))
        return self._known_sets

    def save_collections(self, rows: Iterable[dict]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO collections (code, position, kind, names, profile) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (code) DO UPDATE SET position=excluded.position, kind=excluded.kind,"
                " names=excluded.names, profile=excluded.profile",
                [
                    (
                        r["code"],
                        r["position"],
                        r["kind"],
                        json.dumps(r["names"], ensure_ascii=False),
                        r.get("profile"),
                    )
                    for r in rows
                ],
            )

    # ------------------------------------------------------------------ reading
    def get(self, record_id: str) -> RecordState | None:
        row = (
            self._conn()
            .execute(f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = ?", (record_id,))
            .fetchone()
        )
        return _record(row) if row else None

    def version(self, record_id: str, version: int | None = None) -> Version:
        conn = self._conn()
        if version is None:
            row = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions"
                " WHERE record_id = ? AND version = (SELECT version FROM records WHERE id = ?)",
                (record_id, record_id),
            ).fetchone()
        else:
            row = conn.execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE record_id = ? AND version = ?",
                (record_id, version),
            ).fetchone()
        if row is None:
            raise NotFound(record_id, version)
        return Version(*row[:2], bytes(row[2]), *row[3:])

    def history(self, record_id: str) -> list[Version]:
        rows = (
            self._conn()
            .execute(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE record_id = ? ORDER BY version",
                (record_id,),
            )
            .fetchall()
        )
        return [Version(*r[:2], bytes(r[2]), *r[3:]) for r in rows]

    def rendering(self, record_id: str, fmt: str) -> bytes | None:
        row = (
            self._conn()
            .execute("SELECT content FROM renderings WHERE record_id = ? AND format = ?", (record_id, fmt))
            .fetchone()
        )
        return bytes(row[0]) if row else None

    def records(
        self, collection: str | None = None, *, include_deleted: bool = False
    ) -> Iterator[RecordState]:
        sql = f"SELECT {_RECORD_COLUMNS} FROM records"
        where, args = [], []
        if collection:
            where.append("collection = ?")
            args.append(collection)
        if not include_deleted:
            where.append("deleted = 0")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        for row in self._conn().execute(sql, args):
            yield _record(row)

    def recent(self, limit: int = 20, collection: str | None = None) -> list[RecordState]:
        sql = f"SELECT {_RECORD_COLUMNS} FROM records WHERE deleted = 0"
        args: list = []
        if collection:
            sql += " AND collection = ?"
            args.append(collection)
        sql += " ORDER BY created DESC, id DESC LIMIT ?"  # catalogued last, first (index records_by_created)
        return [_record(r) for r in self._conn().execute(sql, (*args, limit))]

    def live_page(self, offset: int, limit: int) -> list[tuple[str, str]]:
        """(id, datestamp) of live records in id order, a page at a time (sitemaps)."""
        sql = "SELECT id, datestamp FROM records WHERE deleted = 0 ORDER BY id LIMIT ? OFFSET ?"
        return list(self._conn().execute(sql, (limit, offset)))

    def live_count(self) -> int:
        return self._conn().execute("SELECT count(*) FROM records WHERE deleted = 0").fetchone()[0]

    def sample_id(self) -> str | None:
        """One live record's id (for sample identifiers): an index lookup, no cursor left open."""
        row = self._conn().execute("SELECT id FROM records WHERE deleted = 0 ORDER BY id LIMIT 1").fetchone()
        return row[0] if row else None

    def count(self, collection: str | None = None) -> int:
        if collection:
            row = (
                self._conn()
                .execute("SELECT count(*) FROM records WHERE deleted = 0 AND collection = ?", (collection,))
                .fetchone()
            )
        else:
            row = self._conn().execute("SELECT count(*) FROM records WHERE deleted = 0").fetchone()
        return row[0]

    def counts_by_collection(self) -> dict[str, int]:
        return dict(
            self._conn().execute(
                "SELECT collection, count(*) FROM records WHERE deleted = 0 GROUP BY collection"
            )
        )

    def sets_of(self, record_id: str) -> list[str]:
        return [
            r[0]
            for r in self._conn().execute(
                "SELECT set_spec FROM memberships WHERE record_id = ? ORDER BY set_spec", (record_id,)
            )
        ]

    def collection_rows(self) -> list[dict]:
        return [
            {"code": r[0], "position": r[1], "kind": r[2], "names": json.loads(r[3]), "profile": r[4]}
            for r in self._conn().execute(
                "SELECT code, position, kind, names, profile FROM collections ORDER BY position"
            )
        ]

    # ------------------------------------------------------------------ working copy
    def file_states(self, record_ids: Iterable[str] | None = None) -> dict[str, FileState]:
        sql = "SELECT record_id, path, version, stat, digest FROM working_copy"
        if record_ids is None:
            return {r[0]: FileState(*r) for r in self._conn().execute(sql)}
        ids = list(record_ids)
        found: dict[str, FileState] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self._conn().execute(f"{sql} WHERE record_id IN ({','.join('?' * len(chunk))})", chunk)
            found.update((r[0], FileState(*r)) for r in rows)
        return found

    def save_file_states(self, states: Iterable[FileState], removed: Iterable[str] = ()) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO working_copy (record_id, path, version, stat, digest)"
                " VALUES (?, ?, ?, ?, ?)",
                [(s.record_id, s.path, s.version, s.stat, s.digest) for s in states],
            )
            conn.executemany("DELETE FROM working_copy WHERE record_id = ?", [(r,) for r in removed])

    def current_versions(self) -> dict[str, tuple[int, bool, str]]:
        """record id → (version, deleted, collection), for the working-copy sync in one query."""
        return {
            r[0]: (r[1], bool(r[2]), r[3])
            for r in self._conn().execute("SELECT id, version, deleted, collection FROM records")
        }

    # ------------------------------------------------------------------ OAI-PMH listing
    def max_seq(self) -> int:
        return self._conn().execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]

    def integrity_problems(self) -> list[str]:
        """SQLite's own check of the database file (pages, indexes); empty when it is sound."""
        rows = [r[0] for r in self._conn().execute("PRAGMA quick_check")]
        return [] if rows == ["ok"] else [f"{self.path}: {r}" for r in rows]

    def earliest_datestamp(self) -> str | None:
        return self._conn().execute("SELECT min(datestamp) FROM records").fetchone()[0]

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
        """Records unchanged since ``bound_seq``, with their sets, keyset-paged as :meth:`list_items` is."""
        specs = "(SELECT group_concat(s.set_spec, ' ') FROM memberships s WHERE s.record_id = r.id)"
        cols = f"r.id, r.datestamp, r.deleted, r.collection, {specs}"
        if set_spec is None:
            source, ds, rid, extra = "records r", "r.datestamp", "r.id", ""
        else:
            source = "memberships m JOIN records r ON r.id = m.record_id"
            ds, rid, extra = "m.datestamp", "m.record_id", " AND m.set_spec = :set"
        sql = (
            f"SELECT {cols} FROM {source} WHERE ({ds}, {rid}) > (:lds, :lid) AND {ds} <= :until"
            f" AND r.seq <= :bound{extra} ORDER BY {ds}, {rid} LIMIT :n"
        )
        args = {"set": set_spec, "until": until, "bound": bound_seq, "n": limit, **_after(after, from_)}
        return [
            PageRow(r[0], r[1], bool(r[2]), r[3], sorted(r[4].split(" ")) if r[4] else [])
            for r in self._conn().execute(sql, args)
        ]

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
        """Stored items of records unchanged since ``bound_seq``, in (datestamp, id) order.

        One keyset seek in ``oai_items_by_key`` (or in the memberships' primary key for a set,
        joined to the items by key), then a row per record: the page costs the same at any depth.
        """
        args = {"fmt": fmt, "set": set_spec, "until": until, "bound": bound_seq, "n": limit}
        args.update(_after(after, from_))
        return self._conn().execute(_ITEMS_PAGE if set_spec is None else _SET_ITEMS_PAGE, args).fetchall()

    def get_item(self, record_id: str, fmt: str) -> ListItem | None:
        sql = "SELECT item, datestamp, record_id, deleted FROM oai_items WHERE record_id = ? AND format = ?"
        row = self._conn().execute(sql, (record_id, fmt)).fetchone()
        return ListItem(*row) if row else None

    def list_count(self, *, set_spec: str | None, from_: str, until: str) -> int:
        """Records (deleted included) of a set with a datestamp in [from_, until].

        Whole days come from the per-day counts and only the two edge days from the
        per-second ones, so the cost depends on the window's length in days, not on how
        many records it holds.
        """
        conn = self._conn()
        spec = set_spec or ""

        def seconds(lo: str, hi: str) -> int:
            return conn.execute(
                "SELECT coalesce(sum(n), 0) FROM second_counts WHERE set_spec = ? AND datestamp >= ?"
                " AND datestamp <= ?",
                (spec, lo, hi),
            ).fetchone()[0]

        lo_day, hi_day = from_[:10], until[:10]
        if lo_day == hi_day:
            return seconds(from_, until)
        total = seconds(from_, f"{lo_day}T23:59:59Z") if from_ else 0
        total += seconds(f"{hi_day}T00:00:00Z", until)
        total += conn.execute(
            "SELECT coalesce(sum(n), 0) FROM day_counts WHERE set_spec = ? AND day > ? AND day < ?",
            (spec, lo_day if from_ else "", hi_day),
        ).fetchone()[0]
        return total

    def versions_as_of(self, bound_seq: int) -> list[tuple[RecordState, Version]]:
        """Records changed since ``bound_seq`` that existed before it, with the version they had then.

        A harvest delivers these as they were when it began, so that an edit
        made during a harvest neither drops a record from it nor repeats one.
        """
        n = _RECORD_COLUMNS.count(",") + 1
        out = []
        for row in self._conn().execute(_VERSIONS_AS_OF, (bound_seq,)):
            old = row[n:]
            out.append((_record(row[:n]), Version(*old[:2], bytes(old[2]), *old[3:])))
        return out

    def set_names(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT spec, name FROM sets ORDER BY spec"))

    def changed_since(self, seq: int, limit: int = 1000) -> list[Changed]:
        """The records changed after ``seq`` as they are now, in change order.

        Derived stores (the RDF graph) follow the records with this: they remember the last
        sequence number they applied and ask for what came after it.
        """
        sql = (
            "SELECT r.id, r.collection, r.deleted, r.seq, v.xml, v.fulltext FROM records r JOIN versions v"
            " ON v.record_id = r.id AND v.version = r.version WHERE r.seq > ? ORDER BY r.seq LIMIT ?"
        )
        rows = self._conn().execute(sql, (seq, limit))
        return [Changed(r[0], r[1], bool(r[2]), r[3], bytes(r[4]), r[5]) for r in rows]


def _unwritable(exc: sqlite3.DatabaseError) -> str | None:
    """What an operator must fix, when SQLite's error is about the disk rather than the change."""
    message = str(exc).lower()
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_IOERR_WRITE", "SQLITE_IOERR_FSYNC"):
        return "writing to its disk failed (it may be full, over a quota or a file size limit, or failing)"
    if "full" in message:
        return "its disk is full (or the file may not grow: a quota, a file size limit)"
    if "readonly" in message or "read-only" in message:
        return "it is read-only (file permissions, a read-only mount or an immutable file)"
    if "disk i/o error" in message:
        return "the disk reported an I/O error"
    if "malformed" in message or "not a database" in message:
        return "the database file is damaged (run `repository check`; restore from a backup)"
    return None
