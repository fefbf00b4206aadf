"""``records/``: the catalogers' working copy, one MODS file per record.

Layout: ``records/<collection>/<id>.xml`` with the full text beside it as
``<id>.txt``. :func:`sync` reconciles the folder and the store in both
directions. The store remembers, per record, the version and the size and
mtime of the files when they last matched; so an unchanged tree costs one
directory scan and no parsing, and a file edited while its record also changed
in the store is reported as a conflict and never overwritten.

A running server keeps the folder current by itself: :class:`WorkingCopy` follows the store
(as the search index and the graph do) and writes each change made in the browser or over the
API to its file at once, by the same rule: a file a cataloger has edited since it was written
is left alone, for the next :func:`sync` to report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import collections, xmlio
from .derived import Follower
from .files import fsync_dir, write_atomic
from .service import Prepared, Repository, digest_of
from .store import Changed, FileState, StaleVersion
from .validation import Invalid, Problem

BATCH = 500


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # store → files
    removed_files: list[str] = field(default_factory=list)  # files of records deleted in the store
    deleted: list[str] = field(default_factory=list)  # records deleted because their file was removed
    missing: list[str] = field(default_factory=list)  # files removed, records kept (no --delete)
    conflicts: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unchanged: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.problems or self.conflicts)


@dataclass
class _File:
    record_id: str
    collection: str
    xml_path: Path
    txt_path: Path
    stat: str


def _stat_signature(xml: os.stat_result, txt: os.stat_result | None) -> str:
    t = f"{txt.st_mtime_ns}:{txt.st_size}" if txt else "-"
    return f"{xml.st_mtime_ns}:{xml.st_size}:{t}"


def scan(root: Path, report: SyncReport) -> Iterator[_File]:
    """Every record file under ``root``; unknown folders and bad names are reported, not guessed at."""
    if not root.is_dir():
        return
    for coll_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if not coll_dir.is_dir() or coll_dir.name.startswith("."):
            continue
        if collections.get(coll_dir.name) is None:
            report.problems.append(
                Problem(
                    f"folder {coll_dir.name!r} is not a collection code",
                    source=str(coll_dir),
                    rule="repository",
                )
            )
            continue
        with os.scandir(coll_dir) as entries:
            names = {e.name: e for e in entries}
        for name in sorted(names):
            if not name.endswith(".xml") or name.startswith("."):
                continue
            entry = names[name]
            record_id = name[:-4]
            txt_entry = names.get(record_id + ".txt")
            yield _File(
                record_id,
                coll_dir.name,
                Path(entry.path),
                coll_dir / (record_id + ".txt"),
                _stat_signature(entry.stat(), txt_entry.stat() if txt_entry else None),
            )


def _remove(path: Path) -> None:
    if path.exists():
        path.unlink()
        fsync_dir(path.parent)


def _read(f: _File) -> tuple[bytes, str | None]:
    xml = f.xml_path.read_bytes()
    fulltext = f.txt_path.read_bytes().decode("utf-8") if f.txt_path.exists() else None
    # As Repository.prepare stores it, so an unchanged file compares equal to its stored version.
    return xml, None if fulltext is None else xmlio.xml_chars(fulltext)


def _current_stat(f: _File) -> str:
    txt = f.txt_path.stat() if f.txt_path.exists() else None
    return _stat_signature(f.xml_path.stat(), txt)


def sync(
    repo: Repository,
    root: Path,
    *,
    delete: bool = False,
    who: str = "sync",
    progress: Callable[[int], None] | None = None,
) -> SyncReport:
    """Bring edited files in as new versions and write store-side changes back to files."""
    store = repo.store
    report = SyncReport()
    states = store.file_states()
    current = store.current_versions()
    seen: set[str] = set()
    new_states: list[FileState] = []
    pending: list[tuple[Prepared, int, _File, str]] = []  # prepared, expected, file, kind
    conflicted: set[str] = set()

    def flush() -> None:
        _commit_pending(repo, pending, report, new_states, conflicted, who)
        pending.clear()

    for f in scan(root, report):
        seen.add(f.record_id)
        if progress:
            progress(1)
        st = states.get(f.record_id)
        cur = current.get(f.record_id)
        if st and st.stat == f.stat:
            if cur and cur[0] == st.version:
                report.unchanged += 1
            continue  # unchanged file; a newer store version is written back below
        try:
            xml, fulltext = _read(f)
        except (OSError, UnicodeDecodeError) as exc:
            why = f"{exc.reason} at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else exc.strerror
            report.problems.append(
                Problem(f"cannot read the record's files: {why}", source=_rel(f), rule="io")
            )
            continue
        digest = digest_of(xml, fulltext)
        if st and digest == st.digest:
            new_states.append(FileState(f.record_id, st.path, st.version, f.stat, digest))
            if cur and cur[0] == st.version:
                report.unchanged += 1
            continue
        if cur is not None and st is None:
            # A file this instance has not seen, for a record it has: adopt it if equal.
            if store.get(f.record_id).digest == digest:
                new_states.append(FileState(f.record_id, _rel(f), cur[0], f.stat, digest))
                continue
            report.conflicts.append(f"{_rel(f)}: the store already has a different record {f.record_id}")
            conflicted.add(f.record_id)
            continue
        if cur is not None and st is not None and (cur[0] != st.version or cur[1]):
            report.conflicts.append(
                f"{_rel(f)}: edited here, but record {f.record_id} also changed in the store "
                f"(file from version {st.version}, store at version {cur[0]}"
                f"{', deleted' if cur[1] else ''}); "
                "the file was left as it is: merge by hand, then sync again"
            )
            conflicted.add(f.record_id)
            continue
        try:
            prepared = repo.prepare(
                xml, record_id=f.record_id, collection=f.collection, fulltext=fulltext, source=_rel(f)
            )
        except Invalid as exc:
            report.problems.extend(exc.problems)
            continue
        expected = cur[0] if cur else 0
        pending.append((prepared, expected, f, "updated" if cur else "created"))
        if len(pending) >= BATCH:
            flush()
    flush()

    removed: list[str] = []
    for record_id, (version, deleted, collection) in current.items():
        if record_id in conflicted:
            continue
        st = states.get(record_id)
        on_disk = record_id in seen
        if deleted:
            if on_disk and st and st.version < version:
                f = _paths(root, collection, record_id)
                if _current_stat(f) == st.stat:
                    _remove(f.xml_path)
                    _remove(f.txt_path)
                    removed.append(record_id)
                    report.removed_files.append(_rel(f))
            elif not on_disk and st:
                removed.append(record_id)
            continue
        if on_disk and (st is None or st.version >= version):
            continue
        if not on_disk and st is not None and st.version >= version:
            if delete:
                try:
                    repo.delete(record_id, version, who=who, why="its file was removed from the working copy")
                except StaleVersion as exc:
                    report.conflicts.append(str(exc))
                    continue
                removed.append(record_id)
                report.deleted.append(st.path)
            else:
                report.missing.append(st.path)
            continue
        if on_disk:
            f = _paths(root, collection, record_id)
            if st is not None and _current_stat(f) != st.stat:
                continue  # handled above as a conflict or an edit
        written = _write_back(repo, root, record_id, collection)
        new_states.append(written)
        report.written.append(written.path)
        old = states.get(record_id)
        if old and old.path != written.path:  # the record moved to another collection
            _remove(root / old.path)
            _remove((root / old.path).with_suffix(".txt"))
    store.save_file_states(new_states, removed)
    return report


def _commit_pending(
    repo: Repository,
    pending: list[tuple[Prepared, int, _File, str]],
    report: SyncReport,
    new_states: list[FileState],
    conflicted: set[str],
    who: str,
) -> None:
    if not pending:
        return
    try:
        states = repo.commit([(p, e) for p, e, _, _ in pending], who=who, why="edited in the working copy")
        done = list(zip(pending, states, strict=True))
    except StaleVersion:
        # Someone saved one of these records since the scan: commit the rest one by one.
        done = []
        for item in pending:
            try:
                done.append((item, repo.save(item[0], item[1], who=who, why="edited in the working copy")))
            except StaleVersion as exc:
                report.conflicts.append(f"{item[2].xml_path}: {exc}")
                conflicted.add(item[0].record_id)
    for (prepared, _, f, kind), state in done:
        getattr(report, kind).append(prepared.record_id)
        new_states.append(
            FileState(
                prepared.record_id,
                _rel(f),
                state.version,
                f.stat,
                prepared.digest,
            )
        )


def _paths(root: Path, collection: str, record_id: str) -> _File:
    folder = root / collection
    return _File(record_id, collection, folder / f"{record_id}.xml", folder / f"{record_id}.txt", "")


def _rel(f: _File) -> str:
    """The file's path inside the working copy, as reports and the stored file state name it."""
    return f"{f.collection}/{f.record_id}.xml"


def _write_back(repo: Repository, root: Path, record_id: str, collection: str) -> FileState:
    version = repo.store.version(record_id)
    f = _paths(root, collection, record_id)
    write_atomic(f.xml_path, version.xml)
    if version.fulltext is not None:
        write_atomic(f.txt_path, version.fulltext.encode("utf-8"))
    else:
        _remove(f.txt_path)
    return FileState(record_id, _rel(f), version.version, _current_stat(f), version.digest)


class WorkingCopy(Follower):
    """``records/`` as a follower of the store: every committed change written to its files."""

    def __init__(self, repo: Repository, root: Path):
        super().__init__(repo, repo.instance / "working-copy")
        self.root = Path(root)

    def clear(self) -> None:
        """Nothing to empty: a rebuild rewrites whatever differs from the store."""

    def apply(self, batch: list[Changed]) -> None:
        store = self.repo.store
        states = store.file_states([c.id for c in batch])
        written: list[FileState] = []
        removed: list[str] = []
        for change in batch:
            current = store.get(change.id)
            st = states.get(change.id)
            if current is None or (st is not None and st.version >= current.version):
                continue  # already on disk as it is in the store (written by sync or earlier)
            f = _paths(self.root, change.collection, change.id)
            if f.xml_path.exists() and (st is None or _current_stat(f) != st.stat):
                continue  # edited by hand (or never written by us): sync reports the conflict
            if change.deleted:
                _remove(f.xml_path)
                _remove(f.txt_path)
                removed.append(change.id)
                continue
            written.append(_write_back(self.repo, self.root, change.id, change.collection))
            if st is not None and st.path != written[-1].path:  # moved to another collection
                _remove(self.root / st.path)
                _remove((self.root / st.path).with_suffix(".txt"))
        store.save_file_states(written, removed)
