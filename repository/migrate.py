"""Moving a repository's records from one store to another (SQLite ⇄ PostgreSQL) without loss.

A store's tables are its records: the current state, every version with who, when, why
and digest, the renderings, set memberships and names, the datestamp counts, the OAI-PMH
list items, the working-copy file states and the collections. The migration copies each
table row for row (not through the save path, which would give every record a new
version, datestamp and sequence number), so after it the target answers every question
exactly as the source did: the same datestamps for harvesters, the same change sequence
numbers for the search index and the graph that follow it, the same resumption tokens.

The source is read in one snapshot (a read transaction held for the whole copy), so a
server may keep running; what is committed after the snapshot is not copied, and the
report says so. The target must hold no records. Rows are written in batches, one
transaction each. At the end both stores are read again table by table in key order:
row counts and a SHA-256 of every table's rows must be equal, and every version's bytes
must still match the digest it was saved with.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from .service import digest_of
from .store import SQLITE_FILE, SQLiteStore, Store, StoreError
from .store.postgres import TABLES, copy_rows

#: Rows written per transaction.
BATCH = 2000
#: The tables copied: every table but ``meta``, which says what each store's own schema version is.
COPIED = [t for t in TABLES if t != "meta"]


@dataclass
class TableReport:
    name: str
    rows: int = 0
    source_sha256: str = ""
    target_rows: int = 0
    target_sha256: str = ""

    @property
    def ok(self) -> bool:
        return self.rows == self.target_rows and self.source_sha256 == self.target_sha256


@dataclass
class Report:
    tables: list[TableReport] = field(default_factory=list)
    bad_digests: list[tuple[str, int]] = field(default_factory=list)  # (record id, version)
    snapshot_seq: int = 0
    source_seq_after: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables) and not self.bad_digests

    @property
    def missed_changes(self) -> int:
        """Changes the source committed after the copy's snapshot (not in the target)."""
        return self.source_seq_after - self.snapshot_seq


def target_url(target: str) -> str:
    """A migration target as a database URL: a URL as it is; a folder (an instance) or file as SQLite."""
    if "://" in target:
        return target
    path = Path(target).expanduser().resolve()
    if path.is_dir() or not path.suffix:
        path = path / SQLITE_FILE
    return f"sqlite://{path}"


def same_store(a: Store, b: Store) -> bool:
    """Whether two opened stores are one database (a migration onto itself would empty it)."""
    if isinstance(a, SQLiteStore) and isinstance(b, SQLiteStore):
        return a.path.resolve() == b.path.resolve()
    return getattr(a, "url", None) is not None and getattr(a, "url", None) == getattr(b, "url", None)


def _plain(value: object) -> object:
    """A value as both stores can compare it: 0/1 for booleans, bytes for binary."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


class _Tables:
    """Table-level access to a store's database over a connection of the migration's own: rows read in
    key order inside one snapshot (``begin_snapshot``/``end_snapshot``), rows appended in batches."""

    conn: sqlite3.Connection | psycopg.Connection

    def count(self, table: str) -> int:
        return self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def max_seq(self) -> int:
        """The highest change sequence number (in the snapshot, while one is open)."""
        return self.conn.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0]

    def finish(self) -> None:
        """After a copy into this store: whatever makes it fast to query (statistics)."""

    def close(self) -> None:
        self.conn.close()


def _select(table: str) -> str:
    columns, key = TABLES[table]
    return f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(key)}"


class _SQLiteTables(_Tables):
    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA busy_timeout=30000")

    def begin_snapshot(self) -> None:
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT count(*) FROM meta").fetchone()  # the snapshot starts at the first read

    def end_snapshot(self) -> None:
        self.conn.execute("COMMIT")

    def rows(self, table: str) -> Iterator[tuple]:
        cursor = self.conn.execute(_select(table))
        while batch := cursor.fetchmany(BATCH):
            yield from batch

    def clear(self, tables: list[str]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        for table in tables:
            self.conn.execute(f"DELETE FROM {table}")
        self.conn.execute("COMMIT")

    def append(self, table: str, rows: list[tuple]) -> None:
        columns = TABLES[table][0]
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise


class _PostgresTables(_Tables):
    def __init__(self, url: str):
        self.conn = psycopg.connect(url, autocommit=True)

    def begin_snapshot(self) -> None:
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self.conn.execute("SELECT 1").fetchone()  # the snapshot starts at the first statement

    def end_snapshot(self) -> None:
        self.conn.execute("COMMIT")

    def rows(self, table: str) -> Iterator[tuple]:
        # A server-side cursor, so that a table of a million versions streams in batches.
        with self.conn.cursor(name=f"migrate_{table}", binary=True) as cursor:
            cursor.itersize = BATCH
            cursor.execute(_select(table))
            yield from cursor

    def clear(self, tables: list[str]) -> None:
        with self.conn.transaction():
            for table in tables:
                self.conn.execute(f"DELETE FROM {table}")

    def append(self, table: str, rows: list[tuple]) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            copy_rows(cur, table, rows)

    def finish(self) -> None:
        self.conn.execute("ANALYZE")


def _tables(store: Store) -> _Tables:
    """Table access to a store's own database (a connection of the migration's, not the store's)."""
    if isinstance(store, SQLiteStore):
        return _SQLiteTables(store.path)
    url = getattr(store, "url", None)
    if url is None:
        raise StoreError(f"cannot migrate from or to a {type(store).__name__}")
    return _PostgresTables(url)


def _digest_rows(rows: Iterator[tuple], digest: hashlib._Hash) -> Iterator[tuple]:
    """Pass rows through, adding each (as plain values) to ``digest``."""
    for row in rows:
        plain = tuple(_plain(v) for v in row)
        digest.update(repr(plain).encode("utf-8"))
        yield plain


def migrate(source: Store, target: Store, *, log: Callable[[str], None] = lambda _m: None) -> Report:
    """Copy every table of ``source`` into the empty ``target`` and verify the copy (see the module)."""
    started = time.monotonic()
    src, dst = _tables(source), _tables(target)
    report = Report()
    try:
        if dst.count("records"):
            raise StoreError(
                f"the target already holds {dst.count('records')} records: migrate copies into an empty store"
            )
        dst.clear(COPIED)  # collections or file states a fresh store may have been given
        src.begin_snapshot()
        try:
            report.snapshot_seq = src.max_seq()
            for table in COPIED:
                entry = TableReport(table)
                digest = hashlib.sha256()
                batch: list[tuple] = []
                for row in _digest_rows(src.rows(table), digest):
                    batch.append(row)
                    if len(batch) >= BATCH:
                        dst.append(table, batch)
                        entry.rows += len(batch)
                        batch = []
                if batch:
                    dst.append(table, batch)
                    entry.rows += len(batch)
                entry.source_sha256 = digest.hexdigest()
                report.tables.append(entry)
                log(f"copied {table}: {entry.rows} rows")
        finally:
            src.end_snapshot()
        dst.finish()
        report.source_seq_after = source.max_seq()
        _verify(dst, report, log)
    finally:
        src.close()
        dst.close()
    report.seconds = time.monotonic() - started
    return report


def _verify(dst: _Tables, report: Report, log: Callable[[str], None]) -> None:
    """Read the target back: row counts, a digest of each table, and every version against its digest."""
    found, report.bad_digests = _digests(dst, [t.name for t in report.tables])
    for entry in report.tables:
        entry.target_rows, entry.target_sha256 = found[entry.name]
        log(f"verified {entry.name}: {entry.target_rows} rows, {'same' if entry.ok else 'DIFFERENT'}")


def table_digests(store: Store) -> tuple[dict[str, tuple[int, str]], list[tuple[str, int]]]:
    """Each table's row count and SHA-256 as a migration computes them, and the versions whose
    bytes do not match the digest they were saved with (record id, version)."""
    tables = _tables(store)
    try:
        return _digests(tables, COPIED)
    finally:
        tables.close()


def _digests(store: _Tables, names: list[str]) -> tuple[dict[str, tuple[int, str]], list[tuple[str, int]]]:
    columns = TABLES["versions"][0]
    at = {name: columns.index(name) for name in ("record_id", "version", "xml", "fulltext", "digest")}
    found: dict[str, tuple[int, str]] = {}
    bad: list[tuple[str, int]] = []
    store.begin_snapshot()
    try:
        for name in names:
            digest = hashlib.sha256()
            n = 0
            for row in _digest_rows(store.rows(name), digest):
                n += 1
                if name == "versions" and not _matches(row, at):
                    bad.append((row[at["record_id"]], row[at["version"]]))
            found[name] = (n, digest.hexdigest())
    finally:
        store.end_snapshot()
    return found, bad


def _matches(row: tuple, at: dict[str, int]) -> bool:
    """Whether a version row's bytes match its digest (a damaged row, of any type, does not)."""
    try:
        return digest_of(row[at["xml"]], row[at["fulltext"]]) == row[at["digest"]]
    except (TypeError, ValueError, AttributeError):
        return False
