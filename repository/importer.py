"""Bulk import: legacy pages and MODS files into the store, through the one save path.

Records are committed in batches, each batch one transaction: a run killed at
any point leaves every record fully in or fully out, and because identifiers
are derived from the content (legacy pages) or carried by the record (MODS),
running the same import again adds what is missing and changes nothing else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import legacy, xmlio
from .mods import build_mods, read_article
from .service import Prepared, Repository
from .store import NotFound
from .validation import Invalid, Problem

BATCH = 500


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.problems)


def iter_inputs(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, folders walked in name order (``.txt`` pages, ``.xml`` MODS)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not p.name.startswith(".")
                and (
                    p.suffix.lower() == ".xml"
                    or (p.suffix.lower() == ".txt" and not p.with_suffix(".xml").exists())
                )
            )
        else:
            yield path


def _is_xml(data: bytes) -> bool:
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head == b"<"


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


def prepare_legacy(repo: Repository, data: bytes, source: str) -> Prepared:
    """A legacy page as a validated article record of the 媒体上的大连 collection."""
    try:
        page = legacy.parse_page(data, source)
    except legacy.LegacyPageError as exc:
        raise Invalid([Problem(exc.message, exc.line, None, "legacy", source)]) from None
    record_id = legacy.record_id_for(page)
    created = _today()
    # Re-importing keeps the record's creation date, so an unchanged page is an unchanged record.
    with contextlib.suppress(NotFound):
        previous = read_article(xmlio.parse(repo.store.version(record_id).xml).getroot())
        created = previous.record_created or created
    article = legacy.to_article(page, record_id=record_id, base_url=repo.base_url, created=created)
    xml = xmlio.to_bytes(build_mods(article), pretty=True)
    prepared = repo.prepare(
        xml, record_id=record_id, collection="media", fulltext=page.fulltext, source=source
    )
    return prepared


def prepare_file(repo: Repository, path: Path, collection: str | None = None) -> list[Prepared]:
    """The records of one input file (a legacy page, a MODS record or a ``modsCollection``)."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Invalid([Problem(f"cannot read: {exc.strerror}", None, None, "io", source)]) from None
    if not _is_xml(data):
        return [prepare_legacy(repo, data, source)]
    docs = repo.split(data, source)
    # A single record may carry its full text beside it, as records/ does (<id>.xml + <id>.txt).
    beside = path.with_suffix(".txt")
    fulltext = beside.read_text(encoding="utf-8") if len(docs) == 1 and beside.is_file() else None
    prepared = []
    problems: list[Problem] = []
    for i, doc in enumerate(docs, 1):
        where = source if len(docs) == 1 else f"{source} (record {i})"
        fallback_id = path.stem if len(docs) == 1 else None
        try:
            prepared.append(_prepare_mods(repo, doc, where, collection, fallback_id, fulltext))
        except Invalid as exc:
            problems += exc.problems
    if problems:
        raise Invalid(problems)
    return prepared


def _prepare_mods(
    repo: Repository,
    doc: bytes,
    source: str,
    collection: str | None,
    fallback_id: str | None,
    fulltext: str | None,
) -> Prepared:
    try:
        return repo.prepare(doc, collection=collection, fulltext=fulltext, source=source)
    except Invalid as exc:
        # A foreign record without a usable local identifier is filed under its file name.
        if not fallback_id or any(p.rule != "record-id" for p in exc.problems):
            raise
    return repo.prepare(doc, record_id=fallback_id, collection=collection, fulltext=fulltext, source=source)


def import_paths(
    repo: Repository,
    paths: Iterable[Path],
    *,
    collection: str | None = None,
    who: str = "import",
    why: str = "imported",
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    batch: list[tuple[Prepared, int]] = []

    def flush() -> None:
        if not batch:
            return
        states = repo.commit(batch, who=who, why=why)
        for (p, expected), _ in zip(batch, states, strict=True):
            (report.updated if expected else report.created).append(p.record_id)
        batch.clear()

    pending_ids: set[str] = set()
    for path in iter_inputs(paths):
        try:
            records = prepare_file(repo, path, collection)
        except Invalid as exc:
            report.problems += exc.problems
            records = []
        for p in records:
            if p.record_id in pending_ids:
                flush()
                pending_ids.clear()
            state = repo.store.get(p.record_id)
            if state is not None and not state.deleted and state.digest == p.digest:
                report.unchanged.append(p.record_id)
                continue
            if state is not None and state.deleted:
                report.problems.append(
                    Problem(
                        f"record {p.record_id} was deleted; restore it instead of importing it again",
                        None,
                        None,
                        "repository",
                        str(path),
                    )
                )
                continue
            batch.append((p, state.version if state else 0))
            pending_ids.add(p.record_id)
            if len(batch) >= BATCH:
                flush()
                pending_ids.clear()
        if progress:
            progress(1)
    flush()
    return report
