"""Storage: the narrow store interface and its implementations.

Which store an instance uses is configuration: a database URL, from the environment
(``REPOSITORY_DATABASE_URL``) or from the instance's own setting (the file
``database.url`` in the instance folder, which ``repository migrate --switch`` writes),
the environment first. Without one, the instance keeps its records in SQLite in its
folder. A URL is ``postgresql://…`` (PostgreSQL, needs the ``postgres`` extra) or
``sqlite:///PATH`` (a SQLite file elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..files import write_atomic
from .base import (
    Change,
    Changed,
    FileState,
    NotFound,
    PageRow,
    RecordState,
    StaleVersion,
    Store,
    StoreError,
    StoreUnavailable,
    Version,
)
from .sqlite import SQLiteStore, utc_now

__all__ = [
    "Change",
    "Changed",
    "FileState",
    "NotFound",
    "PageRow",
    "RecordState",
    "SQLiteStore",
    "StaleVersion",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "Version",
    "database_url",
    "open_store",
    "set_database_url",
    "store_at",
    "utc_now",
]

#: The environment variable naming the database, and the instance file that does when it is unset.
DATABASE_URL_ENV = "REPOSITORY_DATABASE_URL"
SETTING_FILE = "database.url"
#: Where an instance keeps its records when no database is configured.
SQLITE_FILE = "repository.sqlite3"


def database_url(instance: Path) -> str | None:
    """The database an instance is configured to use, or None for its own SQLite file."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    try:
        return (Path(instance) / SETTING_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def set_database_url(instance: Path, url: str | None) -> None:
    """Make an instance use ``url`` from now on (None: its own SQLite file again).

    Written to a temporary file and renamed, so a process opening the instance meanwhile
    reads the old setting or the new one, never half of one.
    """
    path = Path(instance) / SETTING_FILE
    if url is None:
        path.unlink(missing_ok=True)
        return
    write_atomic(path, (url + "\n").encode("utf-8"))


def store_at(url: str) -> Store:
    """The store a database URL names."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:  # psycopg is an optional dependency
            raise StoreError(
                f"the store is PostgreSQL ({DATABASE_URL_ENV} or {SETTING_FILE}),"
                " but psycopg is not installed: pip install 'dalian-repository[postgres]'"
            ) from exc
        return PostgresStore(url)
    if scheme == "sqlite":
        return SQLiteStore(unquote(urlsplit(url).path))
    raise StoreError(f"unknown database URL {url!r}: expected postgresql://… or sqlite:///PATH")


def open_store(instance: Path) -> Store:
    """The store of an instance: its configured database, or SQLite in its folder."""
    url = database_url(instance)
    return store_at(url) if url else SQLiteStore(Path(instance) / SQLITE_FILE)
