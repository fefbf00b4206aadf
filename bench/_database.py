"""The benchmarks' ``--database URL``: the same runs with the records in PostgreSQL instead of SQLite.

An instance uses a database when its setting (``database.url``) names one, exactly as in
production; these helpers start each run from an empty database and report its size and
its durability settings (a figure beside SQLite's ``synchronous=FULL`` means something only
with ``fsync`` and ``synchronous_commit`` on: ``.ci/postgres start --durable``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import _common  # noqa: F401 - puts the project on sys.path

from repository.store import SQLiteStore, set_database_url, store_at


def fresh(url: str) -> None:
    """Drop the store's tables from the database, so that the run starts from nothing."""
    import psycopg

    from repository.store.postgres import TABLES

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")


def use(instance: Path, url: str) -> None:
    """An empty database for an instance about to be created: the instance's records go there."""
    fresh(url)
    set_database_url(instance, url)


def detach(instance: Path) -> None:
    """The instance back on its own SQLite file."""
    set_database_url(instance, None)


def copy_into(instance: Path, url: str, log: Callable[[str], None] = print) -> float:
    """Copy an instance's SQLite store into the empty database (``repository migrate``) and switch the
    instance to it: the same records, datestamps and sequence numbers. Returns the seconds it took."""
    from repository.migrate import migrate

    fresh(url)
    source, target = SQLiteStore(Path(instance) / "repository.sqlite3"), store_at(url)
    try:
        report = migrate(source, target)
    finally:
        source.close()
        target.close()
    if not report.ok:
        raise RuntimeError(f"the copy into {url} is not identical to the SQLite store")
    set_database_url(instance, url)
    log(f"  copied into PostgreSQL in {report.seconds:,.0f} s; {describe(url)}")
    return report.seconds


def size_bytes(url: str) -> int:
    """The store's tables with their indexes and TOAST, on disk."""
    import psycopg

    from repository.store.postgres import TABLES

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " WHERE c.relname = ANY(%s) AND c.relkind = 'r' AND pg_table_is_visible(c.oid)",
            (list(TABLES),),
        ).fetchone()
    return int(row[0])


def describe(url: str) -> str:
    """The server and the settings a write benchmark depends on."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers")
        }
    return f"PostgreSQL {version} (" + ", ".join(f"{k}={v}" for k, v in settings.items()) + ")"
