"""Is every record whole? The check to run after a crash, a full disk, a kill or a restore.

The save path writes a record's row, its new version, its renderings and its OAI-PMH list
items in one transaction, so they are always found together; this reads them all back
and says what is not: a gap in the versions, bytes that do not match their digest, a
missing rendering or list item, a list item whose header disagrees with the record. It
reads through the store interface, so it checks SQLite and PostgreSQL alike, and it adds
what the database itself finds (SQLite's ``quick_check``).
"""

from __future__ import annotations

from collections.abc import Callable

from .service import RENDERERS, Repository, digest_of
from .store.base import HEADER, STORED_FORMAT


def check(repo: Repository, *, progress: Callable[[int], None] | None = None) -> list[str]:
    """Every problem found, as a sentence naming the record (empty: the store is whole)."""
    store = repo.store
    problems = list(store.integrity_problems())
    formats = [HEADER, STORED_FORMAT, *RENDERERS]
    for state in store.records(include_deleted=True):
        problems += _record_problems(store, state)
        for fmt in formats:
            item = store.get_item(state.id, fmt)
            what = f"{state.id}: the OAI-PMH {'header' if fmt == HEADER else fmt} item"
            if item is None:
                problems.append(f"{what} is missing")
            elif item.datestamp != state.datestamp or bool(item.deleted) != state.deleted:
                problems.append(f"{what} disagrees with the record (datestamp or deletion)")
        if progress:
            progress(1)
    return problems


def _record_problems(store, state) -> list[str]:  # noqa: ANN001 - a Store and a RecordState
    history = store.history(state.id)
    numbers = [v.version for v in history]
    if numbers != list(range(1, state.version + 1)):
        return [f"{state.id}: its versions are {numbers}, but the record is at version {state.version}"]
    problems = [
        f"{state.id}: version {v.version} does not match its digest"
        for v in history
        if digest_of(v.xml, v.fulltext) != v.digest
    ]
    if history[-1].digest != state.digest:
        problems.append(f"{state.id}: the record's digest is not its current version's")
    if not state.deleted:
        problems += [
            f"{state.id}: the {fmt} rendering is missing"
            for fmt in RENDERERS
            if store.rendering(state.id, fmt) is None
        ]
    return problems
