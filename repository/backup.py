"""Backups a library can trust: consistent while the server runs, verified when restored.

A backup is a folder that is itself a repository instance on SQLite, whatever store the
instance uses: ``repository.sqlite3`` (the store, copied by :func:`repository.migrate.migrate`
inside one read snapshot, so what concurrent saves do is either wholly in it or wholly
after it), ``accounts.sqlite3`` (copied with SQLite's online backup, equally consistent),
``secret.key`` (so sessions and API tokens stay valid after a restore) and ``backup.json``:
when, from what, up to which change, and each table's row count and SHA-256.

The folder is written under a ``.partial`` name and renamed when complete, so a backup
killed half-way is never mistaken for one. A restore copies into an empty store (SQLite
or PostgreSQL, as the instance is configured), then checks every table against the
manifest and every version against its digest; the search index and the graphs, which
are derived, are dropped so that they rebuild from the restored records.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .accounts import FILENAME as ACCOUNTS_FILE
from .files import fsync_dir, write_atomic
from .migrate import Report, migrate, table_digests
from .store import SQLITE_FILE, SQLiteStore, Store, StoreError

MANIFEST = "backup.json"
SECRET = "secret.key"
FORMAT = 1
#: What an instance folder holds that is derived from the records (rebuilt after a restore).
DERIVED = ("search", "graph", "graph-*")


class BackupError(StoreError):
    """A backup could not be made or restored; what is named is what went wrong."""


@dataclass
class Outcome:
    report: Report
    manifest: dict
    path: Path


def backup(
    instance: Path, source: Store, destination: Path, *, log: Callable[[str], None] = lambda _m: None
) -> Outcome:
    """Copy the instance (its store as ``source`` sees it, its accounts and key) into ``destination``."""
    instance, destination = Path(instance), Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise BackupError(f"{destination} already exists: a backup goes into a new folder")
    partial = destination.with_name(destination.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # what an interrupted backup left
    partial.mkdir(parents=True)
    with closing(SQLiteStore(partial / SQLITE_FILE)) as target:
        report = migrate(source, target, log=log)
    if not report.ok:
        raise BackupError(f"the copy in {partial} does not match the store; it is left there for inspection")
    accounts = instance / ACCOUNTS_FILE
    if accounts.exists():
        _copy_sqlite(accounts, partial / ACCOUNTS_FILE)
    _copy_secret(instance, partial)
    manifest = {
        "format": FORMAT,
        "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "instance": str(instance.resolve()),
        "store": type(source).__name__,
        "snapshot_seq": report.snapshot_seq,
        "changes_after_snapshot": report.missed_changes,
        "accounts": accounts.exists(),
        "tables": {t.name: {"rows": t.rows, "sha256": t.source_sha256} for t in report.tables},
    }
    write_atomic(partial / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n")
    _fsync_databases(partial)
    if destination.exists():
        destination.rmdir()  # empty (checked above)
    os.replace(partial, destination)
    return Outcome(report, manifest, destination)


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path} is not a backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path / MANIFEST} cannot be read: {exc}") from None
    if manifest.get("format") != FORMAT or not (Path(path) / SQLITE_FILE).exists():
        found = manifest.get("format")
        raise BackupError(f"{path} is not a backup this version can restore (format {found!r})")
    return manifest


def verify(path: Path) -> dict:
    """Check a backup against its manifest (every table, every version's digest); its manifest if sound.

    Run before a restore writes anything, so a damaged backup leaves the target untouched.
    """
    manifest = read_manifest(path)
    with closing(SQLiteStore(Path(path) / SQLITE_FILE)) as stored:
        found, bad = table_digests(stored)
    differing = [
        name
        for name, (rows, sha) in found.items()
        if manifest["tables"].get(name) != {"rows": rows, "sha256": sha}
    ]
    if differing or bad:
        what = ", ".join(differing) + (f"; {len(bad)} versions fail their digest" if bad else "")
        raise BackupError(f"the backup in {path} has changed since it was made: {what}")
    return manifest


def restore(
    source: Path, instance: Path, target: Store, *, log: Callable[[str], None] = lambda _m: None
) -> Outcome:
    """Copy the backup at ``source`` into the instance, whose store ``target`` must hold no records."""
    source, instance = Path(source), Path(instance)
    manifest = verify(source)
    with closing(SQLiteStore(source / SQLITE_FILE)) as stored:
        report = migrate(stored, target, log=log)
    if not report.ok:
        raise BackupError(f"the restored store does not match the backup in {source}")
    if manifest.get("accounts"):
        _copy_sqlite(source / ACCOUNTS_FILE, instance / ACCOUNTS_FILE)
    _copy_secret(source, instance)
    for pattern in DERIVED:
        for path in instance.glob(pattern):
            if path.is_dir():
                shutil.rmtree(path)
                log(f"dropped {path.name} (derived: it is rebuilt from the restored records)")
    return Outcome(report, manifest, instance)


def _copy_sqlite(source: Path, destination: Path) -> None:
    """A consistent copy of a live SQLite database (its online backup), replacing ``destination``."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{destination}{suffix}").unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(destination)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _copy_secret(source: Path, destination: Path) -> None:
    """The key that signs sessions, readable by its owner alone."""
    if (source / SECRET).exists():
        write_atomic(destination / SECRET, (source / SECRET).read_bytes(), mode=0o600)


def _fsync_databases(folder: Path) -> None:
    """The copied databases on disk before the folder is renamed into place."""
    for path in folder.glob("*.sqlite3"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    fsync_dir(folder)
