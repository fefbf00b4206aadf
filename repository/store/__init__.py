"""Storage: the narrow store interface and its implementations."""

from pathlib import Path

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
    "Version",
    "open_store",
    "utc_now",
]


def open_store(instance: Path) -> SQLiteStore:
    """The store of an instance folder (SQLite now; a database URL will choose PostgreSQL)."""
    return SQLiteStore(Path(instance) / "repository.sqlite3")
