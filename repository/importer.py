"""Bulk import: legacy pages and MODS files into the store, through the one save path.

Records are committed in batches, each batch one transaction: a run killed at
any point leaves every record fully in or fully out, and because identifiers
are derived from the content (legacy pages) or carried by the record (MODS),
running the same import again adds what is missing and changes nothing else.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import legacy, xmlio
from .config import Settings
from .mods import build_mods, read_article
from .service import Prepared, Repository, identifier_of, is_record_id
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
    """Files as given; folders walked in path order for legacy pages (``.txt``) and MODS (``.xml``).

    Hidden files and folders are skipped, and a ``.txt`` beside an ``.xml`` of the same name is
    that record's full text, not a page of its own.
    """
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from _walk(path)
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")


def _walk(folder: Path) -> Iterator[Path]:
    """A folder's inputs in name order, files and subfolders together, one folder listed at a time.

    Only the names of the folder being walked are held, so a million-record ``records/`` costs
    its largest folder's name list, not a Path per file for the whole tree.
    """
    with os.scandir(folder) as it:
        entries = sorted(((e.name, e.is_dir(follow_symlinks=False)) for e in it), key=lambda e: e[0])
    present = {name for name, _ in entries}
    for name, is_dir in entries:
        if name.startswith("."):
            continue
        if is_dir:
            yield from _walk(folder / name)
            continue
        stem, dot, suffix = name.rpartition(".")
        suffix = suffix.lower() if dot else ""
        if suffix == "xml" or (suffix == "txt" and (stem + ".xml") not in present):
            yield folder / name


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
    # A single record may carry its full text beside it, as records/ does (<id>.xml + <id>.txt).
    beside = path.with_suffix(".txt")
    try:
        fulltext = beside.read_bytes().decode("utf-8") if beside.is_file() else None
    except UnicodeDecodeError as exc:
        raise Invalid(
            [
                Problem(
                    f"the full text is not UTF-8 ({exc.reason} at byte {exc.start})",
                    None,
                    None,
                    "io",
                    str(beside),
                )
            ]
        ) from None
    return prepare_data(repo, data, source, collection=collection, fulltext=fulltext, stem=path.stem)


def prepare_data(
    repo: Repository,
    data: bytes,
    source: str,
    *,
    collection: str | None = None,
    fulltext: str | None = None,
    stem: str | None = None,
) -> list[Prepared]:
    """The records of one input (a legacy page, a MODS record or a ``modsCollection``), all or none.

    ``fulltext`` goes with a single record only; ``stem`` (the file's name) identifies a single
    foreign record that has no usable identifier of its own.
    """
    if not _is_xml(data):
        return [prepare_legacy(repo, data, source)]
    docs = repo.split(data, source)
    prepared = []
    problems: list[Problem] = []
    for i, (doc, tree) in enumerate(docs, 1):
        where = source if len(docs) == 1 else f"{source} (record {i})"
        own = identifier_of(tree.getroot())
        record_id = own if own and is_record_id(own) else (stem if len(docs) == 1 else None)
        try:
            prepared.append(
                repo.prepare(
                    doc,
                    record_id=record_id,
                    collection=collection,
                    fulltext=fulltext if len(docs) == 1 else None,
                    source=where,
                    tree=tree,
                )
            )
        except Invalid as exc:
            problems += exc.problems
    if problems:
        raise Invalid(problems)
    return prepared


def _prepared_files(
    repo: Repository, files: Iterator[Path], collection: str | None, workers: int
) -> Iterator[tuple[Path, list[Prepared], list[Problem]]]:
    """Each input file with its prepared records or its problems, in input order.

    Preparing (parse, validate, render) is the CPU-bound part of an import and is
    independent per file, so with ``workers`` > 1 it runs in that many processes while
    this one commits; at most a few chunks are in flight, so memory stays flat.
    """
    if workers <= 1:
        for path in files:
            yield path, *_prepare_one(repo, path, collection)
        return
    ctx = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_worker_init, initargs=(repo.instance, repo.settings)
    ) as pool:
        in_flight: deque = deque()
        chunks = _chunks(files, CHUNK)
        for chunk in itertools.islice(chunks, workers * 2):
            in_flight.append(pool.submit(_worker_prepare, chunk, collection))
        while in_flight:
            done = in_flight.popleft().result()
            nxt = next(chunks, None)
            if nxt is not None:
                in_flight.append(pool.submit(_worker_prepare, nxt, collection))
            yield from done


CHUNK = 128


def _chunks(items: Iterator[Path], size: int) -> Iterator[list[Path]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _prepare_one(
    repo: Repository, path: Path, collection: str | None
) -> tuple[list[Prepared], list[Problem]]:
    try:
        return prepare_file(repo, path, collection), []
    except Invalid as exc:
        return [], exc.problems


_worker_repo: Repository | None = None


def _worker_init(instance: Path, settings: Settings) -> None:
    global _worker_repo
    _worker_repo = Repository(instance, settings=settings, read_only=True)


def _worker_prepare(
    chunk: list[Path], collection: str | None
) -> list[tuple[Path, list[Prepared], list[Problem]]]:
    assert _worker_repo is not None
    out = []
    for path in chunk:
        records, problems = _prepare_one(_worker_repo, path, collection)
        for p in records:
            p.article = None  # the committing process does not need the view: do not pickle it
        out.append((path, records, problems))
    return out


def default_workers() -> int:
    """One preparing process per core (the committing process mostly waits for them); none on one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores if cores > 1 else 0


def import_paths(
    repo: Repository,
    paths: Iterable[Path],
    *,
    collection: str | None = None,
    who: str = "import",
    why: str = "imported",
    progress: Callable[[int], None] | None = None,
    workers: int = 0,
) -> ImportReport:
    """Import files and folders; with ``workers`` > 1, records are prepared in parallel processes."""
    report = ImportReport()
    batch: list[tuple[Prepared, int]] = []
    pending_ids: set[str] = set()

    def flush() -> None:
        if not batch:
            return
        states = repo.commit(batch, who=who, why=why)
        for (p, expected), _ in zip(batch, states, strict=True):
            (report.updated if expected else report.created).append(p.record_id)
        batch.clear()
        pending_ids.clear()

    for path, records, problems in _prepared_files(repo, iter_inputs(paths), collection, workers):
        report.problems += problems
        for p in records:
            if p.record_id in pending_ids:
                flush()
            state = repo.store.get(p.record_id)
            if state is not None and not state.deleted and state.digest == p.digest:
                report.unchanged.append(p.record_id)
                continue
            if state is not None and state.deleted:
                message = f"record {p.record_id} was deleted; restore it instead of importing it again"
                report.problems.append(Problem(message, None, None, "repository", str(path)))
                continue
            batch.append((p, state.version if state else 0))
            pending_ids.add(p.record_id)
            if len(batch) >= BATCH:
                flush()
        if progress:
            progress(1)
    flush()
    return report
