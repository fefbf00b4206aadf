"""Fast loading of N synthetic articles into a repository instance, for the OAI-PMH benchmark.

The OAI-PMH benchmark needs instances of 100,000 and 1,000,000 records, and what it
measures is reading them back out, not saving them (``bench_import.py`` measures the
save path). So this loader **bypasses the XSD and profile validation**: it builds each
record with :func:`repository.mods.build_mods` from ``generate.article`` (the same
articles ``generate.py`` writes), derives exactly what :meth:`Repository.prepare` would
store beside it (the ``oai_dc`` rendering from ``RENDERERS``, the set memberships from
:func:`repository.sets.sets_for`, the summary, the digest) and commits
:class:`repository.store.Change` objects through the store in transactions of 5,000.

Records are stored without their full text (``fulltext`` NULL): generating it is a third
of the generation cost, and no OAI-PMH response reads it.

Generation runs in a process pool (one worker per core) while the parent commits, with a
bounded number of chunks in flight so memory stays flat at any N.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "bench"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import generate  # noqa: E402
from lxml import etree  # noqa: E402

from repository import xmlio  # noqa: E402
from repository.config import Settings  # noqa: E402
from repository.crosswalk import dc_values  # noqa: E402
from repository.mods import Article, build_mods  # noqa: E402
from repository.service import RENDERERS, Derivation, Repository, digest_of  # noqa: E402
from repository.sets import sets_for  # noqa: E402
from repository.store import Change  # noqa: E402

BATCH = 5_000
COLLECTION = generate.COLLECTION
MARKER = "built.json"

#: One record as the parent commits it: id, stored MODS, oai_dc rendering, sets, summary, digest.
Payload = tuple[str, bytes, bytes, dict[str, str], dict[str, str | None], str]


def settings() -> Settings:
    """Fixed settings (not the environment's) so renderings name the generator's base URL."""
    return Settings(base_url=generate.BASE_URL)


def _no_text(rng: object, english: bool) -> str:
    return ""


def article(i: int, seed: int) -> Article:
    """Article ``i`` of ``seed`` without generating its full text.

    ``generate.article`` draws the full text last from the record's own generator, so
    skipping it cannot change the article; :func:`check_article_shortcut` verifies that.
    """
    full = generate._fulltext
    generate._fulltext = _no_text
    try:
        return generate.article(i, seed)[0]
    finally:
        generate._fulltext = full


def check_article_shortcut(seed: int) -> None:
    """Refuse to load if skipping the full text changed the articles (``generate.py`` may evolve)."""
    for i in (0, 1, 7, 12_345):
        if article(i, seed) != generate.article(i, seed)[0]:
            raise RuntimeError("generate.article changes when its full text is skipped: update oai_load.py")


def payload(i: int, seed: int) -> Payload:
    """What :meth:`Repository.prepare` would derive for article ``i``, minus validation."""
    a = article(i, seed)
    root = build_mods(a)
    etree.indent(root, space="  ")  # stored as the working-copy file would be: indented, declared
    xml = xmlio.to_bytes(root) + b"\n"
    record_id = a.identifier or ""
    url = f"{generate.BASE_URL}/records/{record_id}"
    dc = RENDERERS["oai_dc"](Derivation(record_id, COLLECTION, root, a, url, generate.BASE_URL))
    summary: dict[str, str | None] = {
        "title": a.title or None,
        "date_issued": a.date_issued,
        "newspaper": a.host.title if a.host else None,
        "language": a.language,
    }
    return record_id, xml, dc, sets_for(COLLECTION, a), summary, digest_of(xml, None)


def _payloads(args: tuple[int, int, int]) -> list[Payload]:
    start, stop, seed = args
    return [payload(i, seed) for i in range(start, stop)]


def dc_pairs(i: int, seed: int) -> tuple[str, list[tuple[str, str]]]:
    """(record id, Dublin Core (element, value) pairs) of article ``i``: the baseline server's metadata."""
    a = article(i, seed)
    record_id = a.identifier or ""
    return record_id, dc_values(build_mods(a), record_id, f"{generate.BASE_URL}/records/{record_id}")


def _dc_chunk(args: tuple[list[int], int]) -> list[tuple[str, list[tuple[str, str]]]]:
    indices, seed = args
    return [dc_pairs(i, seed) for i in indices]


def dc_for(indices: list[int], seed: int, workers: int | None = None) -> dict[str, list[tuple[str, str]]]:
    """Dublin Core pairs of many articles, in a process pool (it is as CPU-bound as loading)."""
    workers = workers or os.cpu_count() or 1
    chunks = [(indices[k : k + 2_000], seed) for k in range(0, len(indices), 2_000)]
    out: dict[str, list[tuple[str, str]]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for chunk in pool.map(_dc_chunk, chunks):
            out.update(chunk)
    return out


def _in_order(
    pool: ProcessPoolExecutor, ranges: list[tuple[int, int, int]], ahead: int
) -> Iterator[list[Payload]]:
    """Chunk results in order with at most ``ahead`` chunks in flight, so memory does not grow with N."""
    pending: list[Future[list[Payload]]] = []
    todo = iter(ranges)
    for r in todo:
        pending.append(pool.submit(_payloads, r))
        if len(pending) >= ahead:
            break
    while pending:
        done = pending.pop(0).result()
        nxt = next(todo, None)
        if nxt is not None:
            pending.append(pool.submit(_payloads, nxt))
        yield done


@dataclass
class Built:
    """A loaded instance and what loading it cost."""

    instance: Path
    n: int
    seed: int
    seconds: float
    reused: bool
    db_bytes: int

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else float("nan")


def load(
    instance: Path, n: int, seed: int, *, workers: int | None = None, progress: Callable[[str], None] = print
) -> float:
    """Load articles 0…n-1 into a fresh instance; the wall time in seconds."""
    check_article_shortcut(seed)
    workers = workers or os.cpu_count() or 1
    repo = Repository(instance, settings=settings())
    ranges = [(s, min(s + BATCH, n), seed) for s in range(0, n, BATCH)]
    t0 = time.perf_counter()
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for chunk in _in_order(pool, ranges, ahead=workers * 2):
                repo.store.commit(
                    [
                        Change(
                            record_id=rid,
                            collection=COLLECTION,
                            expected_version=0,
                            action="create",
                            xml=xml,
                            fulltext=None,
                            digest=digest,
                            who="bench",
                            why="OAI-PMH benchmark load",
                            renderings={"oai_dc": dc},
                            sets=sets,
                            summary=summary,
                        )
                        for rid, xml, dc, sets, summary, digest in chunk
                    ]
                )
                done += len(chunk)
                if done % 100_000 == 0 or done == n:
                    el = time.perf_counter() - t0
                    progress(f"  loaded {done:,}/{n:,} in {el:,.0f} s ({done / el:,.0f} records/s)")
    finally:
        repo.close()
    seconds = time.perf_counter() - t0
    # Fold the WAL into the database so every harvest starts from the same on-disk state.
    with sqlite3.connect(instance / "repository.sqlite3") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return seconds


def instance_for(
    root: Path, n: int, seed: int, *, rebuild: bool = False, progress: Callable[[str], None] = print
) -> Built:
    """The instance of ``n`` articles of ``seed`` under ``root``: reused if a complete one is there."""
    instance = root / "instance"
    marker = root / MARKER
    if not rebuild and marker.exists():
        info = json.loads(marker.read_text())
        if info.get("n") == n and info.get("seed") == seed and (instance / "repository.sqlite3").exists():
            progress(f"  reusing {instance} (built in {info['seconds']:,.0f} s)")
            return Built(instance, n, seed, info["seconds"], True, _db_bytes(instance))
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    seconds = load(instance, n, seed, progress=progress)
    marker.write_text(json.dumps({"n": n, "seed": seed, "seconds": seconds, "validation": "bypassed"}))
    return Built(instance, n, seed, seconds, False, _db_bytes(instance))


def _db_bytes(instance: Path) -> int:
    return sum(p.stat().st_size for p in instance.glob("repository.sqlite3*"))
