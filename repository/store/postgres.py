"""The store on PostgreSQL, for a library that outgrows one SQLite file.

It behaves as :mod:`repository.store.sqlite` does (that module is the reference): the
same tables, the same stale-version refusal, datestamps that never go backwards for a
record, the same keyset-paged OAI-PMH lists and per-second/per-day counts, and the
same change sequence that the derived stores follow. What differs is what several
processes writing to one server need:

* **One writer at a time.** A commit first takes ``LOCK TABLE records IN EXCLUSIVE
  MODE`` (readers are not blocked), then reads the highest change sequence number and
  the clock. So sequence numbers are handed out in commit order, as SQLite's single
  writer does: a follower that has seen number N can never later find a smaller one
  committed (``changed_since`` is gap-tolerant but must not go back).
* **Binary order.** Keys that are ordered or paged on (record ids, datestamps, set
  specs) are ``COLLATE "C"``, so they sort by bytes as SQLite's BINARY collation
  does, whatever locale the database was created with: a resumption token made on
  one store pages the same way on the other.
* **Bulk writes** go through ``COPY``; the rows a batch replaces are deleted with one
  statement per table.
* **Connections**: one per thread (waitress serves each request on one thread), in
  autocommit for reads, each write one explicit transaction. A forked child (an
  import worker) opens its own instead of sharing its parent's socket.

The schema lives in :data:`SCHEMA` with its version in the ``meta`` table; a store
made by newer code is refused, and one made by older code is brought up to date
when it is opened (under an advisory lock, so two processes starting at once do not
both create it). One database (or one schema, chosen by ``search_path`` in the URL)
holds one repository.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg

from . import sqlite as _sqlite
from .base import (
    HEADER,
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

#: 1: the tables of SQLite schema 2 (records, versions, renderings, sets, counts, OAI-PMH list items).
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS collections (
    code text COLLATE "C" PRIMARY KEY, position integer NOT NULL, kind text NOT NULL,
    names text NOT NULL, profile text
);
CREATE TABLE IF NOT EXISTS records (
    id text COLLATE "C" PRIMARY KEY,
    collection text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    datestamp text COLLATE "C" NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    digest text NOT NULL,
    created text NOT NULL,
    seq bigint NOT NULL,
    title text, date_issued text COLLATE "C", newspaper text, language text
);
CREATE INDEX IF NOT EXISTS records_by_datestamp ON records (datestamp, id);
CREATE INDEX IF NOT EXISTS records_by_collection ON records (collection, datestamp, id);
CREATE INDEX IF NOT EXISTS records_by_created ON records (created, id);
-- Unique: every change has its own number (the followers and harvest snapshots rely on it).
CREATE UNIQUE INDEX IF NOT EXISTS records_by_seq ON records (seq);
CREATE TABLE IF NOT EXISTS versions (
    record_id text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    xml bytea NOT NULL,
    fulltext text,
    digest text NOT NULL,
    created text NOT NULL,
    datestamp text NOT NULL,
    seq bigint NOT NULL,
    who text NOT NULL,
    why text NOT NULL,
    action text NOT NULL,
    PRIMARY KEY (record_id, version)
);
CREATE TABLE IF NOT EXISTS renderings (
    record_id text COLLATE "C" NOT NULL, format text COLLATE "C" NOT NULL, content bytea NOT NULL,
    PRIMARY KEY (record_id, format)
);
CREATE TABLE IF NOT EXISTS memberships (
    set_spec text COLLATE "C" NOT NULL, datestamp text COLLATE "C" NOT NULL,
    record_id text COLLATE "C" NOT NULL, PRIMARY KEY (set_spec, datestamp, record_id)
);
CREATE INDEX IF NOT EXISTS memberships_by_record ON memberships (record_id);
CREATE TABLE IF NOT EXISTS sets (spec text COLLATE "C" PRIMARY KEY, name text NOT NULL);
-- Records (deleted ones included) per set ('' = all) per datestamp second and per day: completeListSize.
CREATE TABLE IF NOT EXISTS second_counts (
    set_spec text COLLATE "C" NOT NULL, datestamp text COLLATE "C" NOT NULL, n bigint NOT NULL,
    PRIMARY KEY (set_spec, datestamp)
);
CREATE TABLE IF NOT EXISTS day_counts (
    set_spec text COLLATE "C" NOT NULL, day text COLLATE "C" NOT NULL, n bigint NOT NULL,
    PRIMARY KEY (set_spec, day)
);
-- The OAI-PMH list elements (store.base.list_items): per record its header (format '') and its
-- <record> in each format, rewritten by every change. A page is one seek in the primary key.
CREATE TABLE IF NOT EXISTS oai_items (
    format text COLLATE "C" NOT NULL, datestamp text COLLATE "C" NOT NULL,
    record_id text COLLATE "C" NOT NULL, seq bigint NOT NULL, deleted boolean NOT NULL, item bytea NOT NULL,
    PRIMARY KEY (format, datestamp, record_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS oai_items_by_record ON oai_items (record_id, format);
-- An item (1-8 kB) stays in its row uncompressed: a page of a harvest reads 100 rows, not 100 rows
-- and their TOAST entries, and decompresses nothing.
ALTER TABLE oai_items SET (toast_tuple_target = 8160);
CREATE TABLE IF NOT EXISTS working_copy (
    record_id text COLLATE "C" PRIMARY KEY, path text NOT NULL, version integer NOT NULL,
    stat text NOT NULL, digest text NOT NULL
);
"""

#: Where the server has LZ4 (PostgreSQL 14 and later, built with it, as Debian's is): records and their
#: full text are compressed with it rather than the default pglz, several times faster to write.
LZ4 = """
ALTER TABLE versions ALTER COLUMN xml SET COMPRESSION lz4, ALTER COLUMN fulltext SET COMPRESSION lz4;
ALTER TABLE renderings ALTER COLUMN content SET COMPRESSION lz4;
"""

#: Every table with its columns in the order the SQLite store has them and its key (the order a
#: copy reads it in): what ``repository migrate`` copies and verifies, table by table.
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "meta": (("key", "value"), ("key",)),
    "collections": (("code", "position", "kind", "names", "profile"), ("code",)),
    "sets": (("spec", "name"), ("spec",)),
    "records": (
        (
            "id",
            "collection",
            "version",
            "datestamp",
            "deleted",
            "digest",
            "created",
            "seq",
            "title",
            "date_issued",
            "newspaper",
            "language",
        ),
        ("id",),
    ),  # fmt: skip
    "versions": (
        (
            "record_id",
            "version",
            "xml",
            "fulltext",
            "digest",
            "created",
            "datestamp",
            "seq",
            "who",
            "why",
            "action",
        ),
        ("record_id", "version"),
    ),  # fmt: skip
    "renderings": (("record_id", "format", "content"), ("record_id", "format")),
    "memberships": (("set_spec", "datestamp", "record_id"), ("set_spec", "datestamp", "record_id")),
    "second_counts": (("set_spec", "datestamp", "n"), ("set_spec", "datestamp")),
    "day_counts": (("set_spec", "day", "n"), ("set_spec", "day")),
    "oai_items": (
        ("format", "datestamp", "record_id", "seq", "deleted", "item"),
        ("format", "datestamp", "record_id"),
    ),
    "working_copy": (("record_id", "path", "version", "stat", "digest"), ("record_id",)),
}
#: Boolean columns (SQLite keeps them as 0/1).
BOOLEAN_COLUMNS = {("records", "deleted"), ("oai_items", "deleted")}

_RECORD_COLUMNS = (
    "id, collection, version, datestamp, deleted, digest, created,"
    " title, date_issued, newspaper, language, seq"
)
_VERSION_COLUMNS = "record_id, version, xml, fulltext, digest, created, who, why, action, datestamp, seq"

# One keyset seek per page on (datestamp, id) after the last key delivered; the first page starts
# after (from, ''), which every record with datestamp >= from follows.
_ITEMS_PAGE = (
    "SELECT i.item, i.datestamp, i.record_id, i.deleted FROM oai_items i"
    " WHERE i.format = %(fmt)s AND (i.datestamp, i.record_id) > (%(lds)s, %(lid)s)"
    " AND i.datestamp <= %(until)s AND i.seq <= %(bound)s ORDER BY i.datestamp, i.record_id LIMIT %(n)s"
)
# For a set, the same bounds on both sides of the join: the planner may merge-join the members with
# the items, and an items scan bounded only by format would read every item before the page.
_SET_ITEMS_PAGE = (
    "SELECT i.item, m.datestamp, m.record_id, i.deleted FROM memberships m JOIN oai_items i"
    " ON i.format = %(fmt)s AND i.datestamp = m.datestamp AND i.record_id = m.record_id"
    " WHERE m.set_spec = %(set)s AND (m.datestamp, m.record_id) > (%(lds)s, %(lid)s)"
    " AND (i.datestamp, i.record_id) > (%(lds)s, %(lid)s) AND m.datestamp <= %(until)s"
    " AND i.datestamp <= %(until)s AND i.seq <= %(bound)s ORDER BY m.datestamp, m.record_id LIMIT %(n)s"
)
_N_RECORD = _RECORD_COLUMNS.count(",") + 1
_VERSIONS_AS_OF = (
    "SELECT {r}, {v} FROM records r CROSS JOIN LATERAL (SELECT {w} FROM versions w"
    " WHERE w.record_id = r.id AND w.seq <= %(b)s ORDER BY w.version DESC LIMIT 1) v"
    " WHERE r.seq > %(b)s"
).format(
    r=", ".join(f"r.{c.strip()}" for c in _RECORD_COLUMNS.split(",")),
    v=", ".join(f"v.{c.strip()}" for c in _VERSION_COLUMNS.split(",")),
    w=_VERSION_COLUMNS,
)
#: Rows a generator reads at a time (records(), a migration), so that memory stays flat.
BATCH = 2000


def _after(after: tuple[str, str] | None, from_: str) -> dict[str, str]:
    """The keyset bound of a page: after the last key delivered, or for the first page after (from, '')."""
    lds, lid = after if after is not None and after[0] else (from_, "")
    return {"lds": lds, "lid": lid}


def _record(row: tuple) -> RecordState:
    return RecordState(*row[:4], bool(row[4]), *row[5:])


def _version(row: tuple) -> Version:
    return Version(row[0], row[1], bytes(row[2]), *row[3:])


class PostgresStore:
    """The :class:`~repository.store.base.Store` on PostgreSQL (one connection per thread)."""

    def __init__(self, url: str):
        self.url = url
        self._local = threading.local()
        self._pid = os.getpid()
        self._connections: list[psycopg.Connection] = []
        self._inherited: list[psycopg.Connection] = []  # a forked child's copies of its parent's
        self._lock = threading.Lock()
        self._known_sets: dict[str, str] | None = None
        conn = self._conn()
        with conn.transaction():
            # Two processes opening a new database at once must not both create the tables.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('repository schema ' || current_schema()))")
            self._migrate(conn)

    def _migrate(self, conn: psycopg.Connection) -> None:
        """Create what is missing and record the schema version (inside the caller's transaction)."""
        exists = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
        version = 0
        if exists:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"the store at {self.safe_url} has schema version {version};"
                f" this code knows up to {SCHEMA_VERSION}"
            )
        if version == SCHEMA_VERSION:
            return
        conn.execute(SCHEMA)
        lz4 = "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        if conn.execute(lz4).fetchone()[0]:
            conn.execute(LZ4)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )

    @property
    def safe_url(self) -> str:
        """The URL without a password, for messages."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":…@", 1)))

    # ------------------------------------------------------------------ plumbing
    def _conn(self) -> psycopg.Connection:
        if os.getpid() != self._pid:
            # A forked child must not talk over (or close) the sockets it inherited: they are its
            # parent's sessions. Keep them referenced so they are never finalised here.
            with self._lock:
                self._inherited += self._connections
                self._connections = []
                self._local = threading.local()
                self._pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            try:
                conn = psycopg.connect(self.url, autocommit=True)
            except psycopg.Error as exc:
                raise StoreError(f"cannot open the store at {self.safe_url}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._connections = [c for c in self._connections if not c.closed]
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection this store opened, in every thread.

        Another thread (a background catch-up) may be mid-query on one of them: psycopg's
        ``close`` frees the libpq session without waiting, which crashes or hangs that thread.
        Closing under the connection's own lock waits for the query. That thread's next read is
        asked again on a new session (:meth:`_read`); a write under way fails whole.
        """
        with self._lock:
            connections, self._connections = self._connections, []
            self._local = threading.local()
        for conn in connections:
            with conn.lock:
                conn.close()

    # ------------------------------------------------------------------ writing
    def commit(self, changes: list[Change]) -> list[RecordState]:
        if not changes:
            return []
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                # The one-writer lock: sequence numbers and datestamps are taken after it, so they
                # follow commit order. Readers (ACCESS SHARE) are not blocked. A writer waits for it
                # as long as a SQLite writer waits for its database (busy_timeout), then gives up.
                cur.execute("SET LOCAL lock_timeout = '30s'")
                cur.execute("LOCK TABLE records IN EXCLUSIVE MODE")
                states = self._apply_all(cur, changes, _sqlite.utc_now())
        except BaseException as exc:
            self._known_sets = None  # the rolled-back transaction may have added some
            if why := _unwritable(exc):
                raise StoreUnavailable(str(self.safe_url), why) from exc
            raise
        return states

    def _apply_all(self, cur: psycopg.Cursor, changes: list[Change], now: str) -> list[RecordState]:
        """Apply a batch: check every expected version, then write each table with one statement.

        As in the SQLite store, a batch naming a record twice is applied one change at a time,
        each seeing the one before.
        """
        ids = [c.record_id for c in changes]
        if len(set(ids)) != len(ids):
            states = []
            for c in changes:
                states += self._apply_all(cur, [c], now)
            return states
        current = {
            rid: (version, created, datestamp)
            for rid, version, created, datestamp in cur.execute(
                "SELECT id, version, created, datestamp FROM records WHERE id = ANY(%s)", (ids,)
            )
        }
        updated = list(current)
        old_sets: dict[str, list[str]] = defaultdict(list)
        old_formats: dict[str, list[str]] = defaultdict(list)
        if updated:
            for rid, spec in cur.execute(
                "SELECT record_id, set_spec FROM memberships WHERE record_id = ANY(%s)", (updated,)
            ):
                old_sets[rid].append(spec)
            for rid, fmt in cur.execute(
                "SELECT record_id, format FROM oai_items WHERE record_id = ANY(%s)", (updated,)
            ):
                old_formats[rid].append(fmt)
        seq = cur.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]
        versions, records, renderings, members, items, states = [], [], [], [], [], []
        moved: list[tuple[str, str]] = []  # (datestamp, record id) of deleted records' memberships
        replaced: list[str] = []  # live records whose memberships are rewritten
        counts: Counter[tuple[str, str]] = Counter()  # (set spec, datestamp) → change in records
        for c in changes:
            seq += 1
            version, created, previous = current.get(c.record_id, (0, now, now))
            if version != c.expected_version:
                raise StaleVersion(c.record_id, c.expected_version, version)
            # A datestamp never goes backwards for a record, even if the clock does.
            datestamp = max(now, previous)
            deleted = c.action == "delete"
            versions.append(
                (c.record_id, version + 1, c.xml, c.fulltext, c.digest, now, datestamp, seq,
                 c.who, c.why, c.action)
            )  # fmt: skip
            s = c.summary
            state = RecordState(
                c.record_id, c.collection, version + 1, datestamp, deleted, c.digest, created,
                s.get("title"), s.get("date_issued"), s.get("newspaper"), s.get("language"), seq,
            )  # fmt: skip
            states.append(state)
            records.append(
                (state.id, state.collection, state.version, state.datestamp, state.deleted, state.digest,
                 state.created, state.seq, state.title, state.date_issued, state.newspaper, state.language)
            )  # fmt: skip
            if version:
                for spec in ("", *old_sets[c.record_id]):
                    counts[(spec, previous)] -= 1
            sets = old_sets[c.record_id] if deleted else list(c.sets)
            for spec in ("", *sets):
                counts[(spec, datestamp)] += 1
            renderings += [(c.record_id, fmt, content) for fmt, content in c.renderings.items()]
            # A deleted record keeps an item in each format it was disseminated in: its deleted header.
            metadata: dict[str, bytes | None] = (
                dict.fromkeys(f for f in old_formats[c.record_id] if f != HEADER)
                if deleted
                else dict(disseminations(c.xml, c.renderings))
            )
            items += [
                (fmt, datestamp, c.record_id, seq, deleted, item)
                for fmt, item in list_items(c.record_id, datestamp, sets, metadata).items()
            ]
            if deleted:
                # A deleted record keeps its set memberships: OAI-PMH serves its deleted header
                # in the sets it belonged to, for ever.
                moved.append((datestamp, c.record_id))
            else:
                if version:
                    replaced.append(c.record_id)
                members += [(spec, datestamp, c.record_id) for spec in c.sets]
                self._save_set_names(cur, c.sets)
        if updated:
            for table, column in (("records", "id"), ("renderings", "record_id"), ("oai_items", "record_id")):
                cur.execute(f"DELETE FROM {table} WHERE {column} = ANY(%s)", (updated,))
        if replaced:
            cur.execute("DELETE FROM memberships WHERE record_id = ANY(%s)", (replaced,))
        if moved:
            cur.executemany("UPDATE memberships SET datestamp = %s WHERE record_id = %s", moved)
        items.sort()  # by (format, datestamp, id): a harvest of one format then reads adjacent rows
        for table, rows in (
            ("versions", versions),
            ("records", records),
            ("renderings", renderings),
            ("memberships", members),
            ("oai_items", items),
        ):
            if rows:
                copy_rows(cur, table, rows)
        self._count(cur, counts)
        return states

    @staticmethod
    def _count(cur: psycopg.Cursor, counts: Counter[tuple[str, str]]) -> None:
        days: Counter[tuple[str, str]] = Counter()
        for (spec, stamp), n in counts.items():
            days[(spec, stamp[:10])] += n
        seconds = sorted((spec, stamp, n) for (spec, stamp), n in counts.items() if n)
        if seconds:
            cur.executemany(
                "INSERT INTO second_counts (set_spec, datestamp, n) VALUES (%s, %s, %s)"
                " ON CONFLICT (set_spec, datestamp) DO UPDATE SET n = second_counts.n + excluded.n",
                seconds,
            )
        whole_days = sorted((spec, day, n) for (spec, day), n in days.items() if n)
        if whole_days:
            cur.executemany(
                "INSERT INTO day_counts (set_spec, day, n) VALUES (%s, %s, %s)"
                " ON CONFLICT (set_spec, day) DO UPDATE SET n = day_counts.n + excluded.n",
                whole_days,
            )

    def _save_set_names(self, cur: psycopg.Cursor, sets: dict[str, str]) -> None:
        if self._known_sets is None:
            self._known_sets = dict(cur.execute("SELECT spec, name FROM sets").fetchall())
        new_sets = [(spec, name) for spec, name in sets.items() if self._known_sets.get(spec) != name]
        if new_sets:
            cur.executemany(
                "INSERT INTO sets (spec, name) VALUES (%s, %s)"
                " ON CONFLICT (spec) DO UPDATE SET name = excluded.name",
                new_sets,
            )
            self._known_sets.update(new_sets)

    def save_collections(self, rows: Iterable[dict]) -> None:
        values = [
            (
                r["code"],
                r["position"],
                r["kind"],
                json.dumps(r["names"], ensure_ascii=False),
                r.get("profile"),
            )
            for r in rows
        ]
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO collections (code, position, kind, names, profile) VALUES (%s, %s, %s, %s, %s)"
                " ON CONFLICT (code) DO UPDATE SET position = excluded.position, kind = excluded.kind,"
                " names = excluded.names, profile = excluded.profile",
                sorted(values),
            )

    # ------------------------------------------------------------------ reading
    def _one(self, sql: str, args: object = None, *, binary: bool = False) -> tuple | None:
        return self._read(sql, args, binary).fetchone()

    def _all(self, sql: str, args: object = None, *, binary: bool = False) -> list[tuple]:
        return self._read(sql, args, binary).fetchall()

    def _read(self, sql: str, args: object, binary: bool) -> psycopg.Cursor:
        """A read, asked again once on a new session when the old one was lost (a server restart,
        a failover, an idle timeout) or closed by :meth:`close` from another thread: a read can be
        repeated, and the reader never sees the loss."""
        conn = self._conn()
        try:
            return conn.execute(sql, args, binary=binary)
        except psycopg.OperationalError:
            if not (conn.broken or conn.closed):
                raise
        return self._conn().execute(sql, args, binary=binary)

    def get(self, record_id: str) -> RecordState | None:
        row = self._one(f"SELECT {_RECORD_COLUMNS} FROM records WHERE id = %s", (record_id,))
        return _record(row) if row else None

    def version(self, record_id: str, version: int | None = None) -> Version:
        if version is None:
            row = self._one(
                f"SELECT {_VERSION_COLUMNS} FROM versions"
                " WHERE record_id = %(id)s AND version = (SELECT version FROM records WHERE id = %(id)s)",
                {"id": record_id},
                binary=True,
            )
        else:
            row = self._one(
                f"SELECT {_VERSION_COLUMNS} FROM versions WHERE record_id = %s AND version = %s",
                (record_id, version),
                binary=True,
            )
        if row is None:
            raise NotFound(record_id, version)
        return _version(row)

    def history(self, record_id: str) -> list[Version]:
        rows = self._all(
            f"SELECT {_VERSION_COLUMNS} FROM versions WHERE record_id = %s ORDER BY version",
            (record_id,),
            binary=True,
        )
        return [_version(r) for r in rows]

    def rendering(self, record_id: str, fmt: str) -> bytes | None:
        row = self._one(
            "SELECT content FROM renderings WHERE record_id = %s AND format = %s",
            (record_id, fmt),
            binary=True,
        )
        return bytes(row[0]) if row else None

    def records(
        self, collection: str | None = None, *, include_deleted: bool = False
    ) -> Iterator[RecordState]:
        """Records in id order, read a batch at a time by id (no transaction held open between batches)."""
        where = ["id > %(after)s"]
        if collection:
            where.append("collection = %(collection)s")
        if not include_deleted:
            where.append("NOT deleted")
        sql = f"SELECT {_RECORD_COLUMNS} FROM records WHERE {' AND '.join(where)} ORDER BY id LIMIT {BATCH}"
        args = {"after": "", "collection": collection}
        while rows := self._all(sql, args):
            yield from (_record(r) for r in rows)
            args["after"] = rows[-1][0]

    def recent(self, limit: int = 20, collection: str | None = None) -> list[RecordState]:
        sql = f"SELECT {_RECORD_COLUMNS} FROM records WHERE NOT deleted"
        if collection:
            sql += " AND collection = %(collection)s"
        sql += " ORDER BY created DESC, id DESC LIMIT %(n)s"  # catalogued last, first
        return [_record(r) for r in self._all(sql, {"collection": collection, "n": limit})]

    def live_page(self, offset: int, limit: int) -> list[tuple[str, str]]:
        """(id, datestamp) of live records in id order, a page at a time (sitemaps)."""
        rows = self._all(
            "SELECT id, datestamp FROM records WHERE NOT deleted ORDER BY id LIMIT %s OFFSET %s",
            (limit, offset),
        )
        return [tuple(r) for r in rows]

    def live_count(self) -> int:
        return self._one("SELECT count(*) FROM records WHERE NOT deleted")[0]

    def sample_id(self) -> str | None:
        row = self._one("SELECT id FROM records WHERE NOT deleted ORDER BY id LIMIT 1")
        return row[0] if row else None

    def count(self, collection: str | None = None) -> int:
        if collection:
            return self._one(
                "SELECT count(*) FROM records WHERE NOT deleted AND collection = %s", (collection,)
            )[0]
        return self.live_count()

    def counts_by_collection(self) -> dict[str, int]:
        return dict(
            self._all("SELECT collection, count(*) FROM records WHERE NOT deleted GROUP BY collection")
        )

    def sets_of(self, record_id: str) -> list[str]:
        rows = self._all(
            "SELECT set_spec FROM memberships WHERE record_id = %s ORDER BY set_spec", (record_id,)
        )
        return [r[0] for r in rows]

    def collection_rows(self) -> list[dict]:
        return [
            {"code": r[0], "position": r[1], "kind": r[2], "names": json.loads(r[3]), "profile": r[4]}
            for r in self._all(
                "SELECT code, position, kind, names, profile FROM collections ORDER BY position"
            )
        ]

    # ------------------------------------------------------------------ working copy
    def file_states(self, record_ids: Iterable[str] | None = None) -> dict[str, FileState]:
        sql = "SELECT record_id, path, version, stat, digest FROM working_copy"
        if record_ids is None:
            return {r[0]: FileState(*r) for r in self._all(sql)}
        ids = list(record_ids)
        found: dict[str, FileState] = {}
        for i in range(0, len(ids), 10_000):
            rows = self._all(f"{sql} WHERE record_id = ANY(%s)", (ids[i : i + 10_000],))
            found.update((r[0], FileState(*r)) for r in rows)
        return found

    def save_file_states(self, states: Iterable[FileState], removed: Iterable[str] = ()) -> None:
        rows = sorted((s.record_id, s.path, s.version, s.stat, s.digest) for s in states)
        gone = list(removed)
        conn = self._conn()
        with conn.transaction(), conn.cursor() as cur:
            if rows:
                cur.executemany(
                    "INSERT INTO working_copy (record_id, path, version, stat, digest)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (record_id) DO UPDATE SET path = excluded.path,"
                    " version = excluded.version,"
                    " stat = excluded.stat, digest = excluded.digest",
                    rows,
                )
            if gone:
                cur.execute("DELETE FROM working_copy WHERE record_id = ANY(%s)", (gone,))

    def current_versions(self) -> dict[str, tuple[int, bool, str]]:
        """record id → (version, deleted, collection), for the working-copy sync in one query."""
        return {
            r[0]: (r[1], r[2], r[3])
            for r in self._all("SELECT id, version, deleted, collection FROM records")
        }

    # ------------------------------------------------------------------ OAI-PMH listing
    def max_seq(self) -> int:
        return self._one("SELECT coalesce(max(seq), 0) FROM records")[0]

    def integrity_problems(self) -> list[str]:
        """Nothing to add: the server checks its own pages (``data_checksums``, ``amcheck``)."""
        return []

    def earliest_datestamp(self) -> str | None:
        return self._one("SELECT min(datestamp) FROM records")[0]

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
        specs = "(SELECT string_agg(s.set_spec, ' ') FROM memberships s WHERE s.record_id = r.id)"
        cols = f"r.id, r.datestamp, r.deleted, r.collection, {specs}"
        if set_spec is None:
            source, ds, rid, extra = "records r", "r.datestamp", "r.id", ""
        else:
            source = "memberships m JOIN records r ON r.id = m.record_id"
            ds, rid, extra = "m.datestamp", "m.record_id", " AND m.set_spec = %(set)s"
        sql = (
            f"SELECT {cols} FROM {source} WHERE ({ds}, {rid}) > (%(lds)s, %(lid)s) AND {ds} <= %(until)s"
            f" AND r.seq <= %(bound)s{extra} ORDER BY {ds}, {rid} LIMIT %(n)s"
        )
        args = {"set": set_spec, "until": until, "bound": bound_seq, "n": limit, **_after(after, from_)}
        return [
            PageRow(r[0], r[1], r[2], r[3], sorted(r[4].split(" ")) if r[4] else [])
            for r in self._all(sql, args)
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

        One keyset seek in the items' primary key (or the memberships' for a set, joined to the
        items by key): the page costs the same at any depth. Rows come in binary (no hex bytea).
        """
        args = {"fmt": fmt, "set": set_spec, "until": until, "bound": bound_seq, "n": limit}
        args.update(_after(after, from_))
        return self._all(_ITEMS_PAGE if set_spec is None else _SET_ITEMS_PAGE, args, binary=True)

    def get_item(self, record_id: str, fmt: str) -> ListItem | None:
        sql = "SELECT item, datestamp, record_id, deleted FROM oai_items WHERE record_id = %s AND format = %s"
        row = self._one(sql, (record_id, fmt), binary=True)
        return ListItem(*row) if row else None

    def list_count(self, *, set_spec: str | None, from_: str, until: str) -> int:
        """Records (deleted included) of a set with a datestamp in [from_, until], from the counts.

        Whole days come from the per-day counts and only the two edge days from the per-second
        ones, as in the SQLite store; one statement, so one snapshot.
        """
        lo_day, hi_day = from_[:10], until[:10]
        seconds = (
            "(SELECT coalesce(sum(n), 0) FROM second_counts WHERE set_spec = %(spec)s"
            " AND datestamp >= {lo} AND datestamp <= {hi})"
        )
        if lo_day == hi_day:
            sql = "SELECT " + seconds.format(lo="%(from)s", hi="%(until)s")
        else:
            sql = (
                "SELECT "
                + (seconds.format(lo="%(from)s", hi="%(lo_end)s") + " + " if from_ else "")
                + seconds.format(lo="%(hi_start)s", hi="%(until)s")
                + " + (SELECT coalesce(sum(n), 0) FROM day_counts WHERE set_spec = %(spec)s"
                " AND day > %(lo_day)s AND day < %(hi_day)s)"
            )
        args = {
            "spec": set_spec or "",
            "from": from_,
            "until": until,
            "lo_end": f"{lo_day}T23:59:59Z",
            "hi_start": f"{hi_day}T00:00:00Z",
            "lo_day": lo_day if from_ else "",
            "hi_day": hi_day,
        }
        return int(self._one(sql, args)[0])

    def versions_as_of(self, bound_seq: int) -> list[tuple[RecordState, Version]]:
        """Records changed since ``bound_seq`` that existed before it, with the version they had then.

        Asked on every page of a harvest, usually to hear of none. Written as a lateral lookup (the
        last version at or before the bound, by the version key) so that its plan is the same
        whatever the bound: a prepared generic plan, no planning per page, and no join that would
        read every version when a few records did change.
        """
        rows = self._all(_VERSIONS_AS_OF, {"b": bound_seq}, binary=True)
        return [(_record(row[:_N_RECORD]), _version(row[_N_RECORD:])) for row in rows]

    def set_names(self) -> dict[str, str]:
        return dict(self._all("SELECT spec, name FROM sets ORDER BY spec"))

    def changed_since(self, seq: int, limit: int = 1000) -> list[Changed]:
        """The records changed after ``seq`` as they are now, in change order (what followers read)."""
        sql = (
            "SELECT r.id, r.collection, r.deleted, r.seq, v.xml, v.fulltext FROM records r JOIN versions v"
            " ON v.record_id = r.id AND v.version = r.version WHERE r.seq > %s ORDER BY r.seq LIMIT %s"
        )
        return [
            Changed(r[0], r[1], r[2], r[3], bytes(r[4]), r[5])
            for r in self._all(sql, (seq, limit), binary=True)
        ]


def copy_rows(cur: psycopg.Cursor, table: str, rows: Iterable[tuple]) -> None:
    """Append rows (all of :data:`TABLES`' columns, in its order) to a table with one binary ``COPY``.

    What a bulk import's batch and a migration write with: one stream instead of a statement per
    row, and bytes as they are (a text ``COPY`` would send every byte of XML as two hex digits).
    """
    columns, _key = TABLES[table]
    flags = [(table, c) in BOOLEAN_COLUMNS for c in columns]
    types = _column_types(cur, table)
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row([bool(v) if flag else v for v, flag in zip(row, flags, strict=True)])


_TYPES: dict[str, list[str]] = {}


def _column_types(cur: psycopg.Cursor, table: str) -> list[str]:
    """The types of a table's columns in :data:`TABLES`' order, as the database declares them."""
    if table not in _TYPES:
        declared = dict(
            cur.execute(
                "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                (table,),
            ).fetchall()
        )
        _TYPES[table] = [declared[c] for c in TABLES[table][0]]
    return _TYPES[table]


def _unwritable(exc: BaseException) -> str | None:
    """What an operator must fix, when the server's error is about the server rather than the change."""
    if isinstance(exc, psycopg.errors.DiskFull):
        return "the database server's disk is full"
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        return "the database is read-only (a standby, or default_transaction_read_only)"
    if isinstance(exc, psycopg.OperationalError):
        return f"the database server cannot be reached ({str(exc).strip().splitlines()[0]})"
    return None
