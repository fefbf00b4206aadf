"""OAI-PMH benchmark: can a harvester take the whole repository, fast, at any size?

Aggregators harvest everything (``ListRecords`` from the first page to the last) and
judge a provider by whether that finishes. The provider answers from renderings stored at
save time with keyset-paged, signed resumption tokens, so a page should cost the same
wherever it is and the server's memory should not grow with the repository. This
benchmark checks those claims at N = 100,000 and 1,000,000 records:

1. build (or reuse from ``bench/out/oai-N/``) an instance of N synthetic articles with
   :mod:`oai_load` (fast: it **bypasses validation**, which ``bench_import.py`` measures);
2. page time by depth (5 pages at each of 11 evenly spaced offsets), then full harvests, page
   size 100, of ``oai_dc`` and ``mods``: in process (:meth:`Provider.respond` following tokens)
   and over HTTP (``create_app`` under waitress in a child process, one keep-alive
   ``http.client`` harvester parsing each page with lxml; at the smallest N also Sickle, and the
   same loop asking for gzip), with the server's peak memory; against a baseline (the ``oaipmh``
   package's ``BatchingServer`` over the same records in memory, harvested alternately with ours
   so that both meet the same load), a ceiling (the stored renderings joined straight from
   SQLite) and the provider's own floor (its stored list items joined). A harvest still running
   after ``--harvest-budget`` seconds stops and is reported as partial, the depth samples
   projecting the rest;
3. latency of page 1, page 2, page K (the last: 1,000 at 100k, 10,000 at 1M) and the page
   that ends the largest same-second datestamp group, in process and over HTTP, from tokens
   built with the instance's own key;
4. a markdown report (``bench/out/oai.md``, ``oai.json``) and, at 100k, a cProfile of the
   in-process harvest (``bench/out/oai-profile.txt``).

``repository/`` is copied at the start and imported from the copy by this process and every
server it starts, because others edit it while benchmarks run (see :func:`_code_snapshot`).

Usage (from the project root)::

    python bench/bench_oai.py                      # N = 100,000 and 1,000,000
    python bench/bench_oai.py --n 5000             # quick check (~20 s)
    python bench/bench_oai.py --n 100000 --keep    # keep bench/out/oai-100000/ for the next run

Instances are deleted at the end unless ``--keep``; a kept one is reused by the next run
with the same N and seed (``--rebuild`` forces a new load).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import http.client
import io
import json
import math
import os
import pstats
import re
import shutil
import sqlite3
import statistics
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

for _p in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_p) not in sys.path:  # the project and bench/, before _common or oai_load add them in front
        sys.path.insert(0, str(_p))
from _common import check_snapshot, code_snapshot  # noqa: E402

SNAPSHOT_ENV = "BENCH_OAI_CODE"
CODE_DIR = code_snapshot(SNAPSHOT_ENV, "bench-oai-code-", __name__ == "__main__")
import _database  # noqa: E402
import oai_load  # noqa: E402
from _common import (  # noqa: E402
    OUT,
    ServerChild,
    code_fingerprint,
    command_line,
    environment,
    table,
)
from lxml import etree  # noqa: E402

from repository.config import instance_secret  # noqa: E402
from repository.oai.provider import Provider  # noqa: E402
from repository.oai.tokens import Token, TokenCodec  # noqa: E402
from repository.service import Repository  # noqa: E402

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
PAGE = 100  # the repository's default page size (Settings.oai_page_size), which this measures
BASE_URL = "http://127.0.0.1:5000/oai"  # what in-process requests say they were sent to
STYLESHEET = "/oai/static/oai2.xsl"  # as the blueprint passes it, so in-process pages are the served ones
UNTIL = "9999-12-31T23:59:59Z"  # the provider's open upper bound (protocol.window)
SCRIPT = Path(__file__).resolve()
_TOKEN = re.compile(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>")

TARGET_HTTP = 20_000  # records/s over HTTP for oai_dc: a million records in under a minute
TARGET_RATIO = 10  # ours in process ÷ the oaipmh BatchingServer in process
BESIDE = "in process, oai_dc, beside the baseline"  # our harvest that the ratio target uses


# --------------------------------------------------------------------------- results


@dataclass
class Harvest:
    """One full (or first-K-pages) harvest: what it got and how long each page took."""

    name: str
    records: int
    seconds: float
    page_seconds: list[float] = field(default_factory=list, repr=False)
    peak_rss_mb: float | None = None  # the server's VmHWM: heap plus every mapped page of the database
    peak_anon_mb: float | None = None  # the server's peak RssAnon (sampled): its own memory, heap and stacks
    note: str = ""
    partial: bool = False  # stopped at the time budget (or after the first K records) before the end
    client_seconds: float = 0.0  # of ``seconds``, spent by the harvester parsing pages

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else float("nan")

    def depth_ms(self) -> tuple[float, float]:
        """Mean page time (ms) of the first and the last tenth of the pages: flat if paging is keyset."""
        p = self.page_seconds
        if len(p) < 10:
            return float("nan"), float("nan")
        k = len(p) // 10
        tail = p[-k - 1 : -1]  # the very last page is short and carries no new token
        return statistics.fmean(p[:k]) * 1e3, statistics.fmean(tail) * 1e3

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("page_seconds")
        first, last = self.depth_ms()
        d.update(rate=self.rate, pages=len(self.page_seconds), first_tenth_ms=first, last_tenth_ms=last)
        return d


@dataclass
class Latency:
    label: str
    where: str
    seconds: list[float]

    def pct(self, q: float) -> float:
        s = sorted(self.seconds)
        return s[min(len(s) - 1, math.ceil(q * len(s)) - 1)] * 1e3


# --------------------------------------------------------------------------- in process


def harvest_in_process(
    provider: Provider,
    prefix: str,
    *,
    verb: str = "ListRecords",
    budget: float | None = None,
) -> Harvest:
    """Follow resumption tokens through :meth:`Provider.respond`, as the endpoint would, to the end.

    Stops early after ``budget`` seconds (then the harvest is ``partial``), because a harvest whose
    page cost grows with depth would not finish in a benchmark's time at 1M.
    """
    pairs = [("verb", verb), ("metadataPrefix", prefix)]
    marker = b"<record>" if verb == "ListRecords" else b"<header"
    records = 0
    pages: list[float] = []
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        body = provider.respond(pairs, BASE_URL)
        pages.append(time.perf_counter() - t)
        if b"<error" in body[:2000]:
            raise RuntimeError(body[:2000].decode())
        records += body.count(marker)
        m = _TOKEN.search(body, max(0, len(body) - 2000))
        if m is None:
            break
        if budget and time.perf_counter() - t0 > budget:
            return Harvest(f"in process, {prefix}", records, time.perf_counter() - t0, pages, partial=True)
        pairs = [("verb", verb), ("resumptionToken", m.group(1).decode())]
    return Harvest(f"in process, {prefix}", records, time.perf_counter() - t0, pages)


def ceiling(db: Path) -> Harvest:
    """The least any provider must do: the stored oai_dc renderings, in datestamp order, joined by page."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    pages: list[float] = []
    records = 0
    t0 = time.perf_counter()
    cur = conn.execute(
        "SELECT x.content FROM records r JOIN renderings x ON x.record_id = r.id AND x.format = 'oai_dc'"
        " ORDER BY r.datestamp, r.id"
    )
    while True:
        t = time.perf_counter()
        rows = cur.fetchmany(PAGE)
        if not rows:
            break
        body = b"".join(r[0] for r in rows)
        records += len(rows)
        pages.append(time.perf_counter() - t)
        del body
    seconds = time.perf_counter() - t0
    conn.close()
    return Harvest("ceiling: SQLite rows joined, oai_dc", records, seconds, pages)


def items_floor(db: Path) -> Harvest:
    """The provider's own floor: its stored oai_dc list items in key order, one cursor, joined by page."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    pages: list[float] = []
    records = 0
    t0 = time.perf_counter()
    cur = conn.execute("SELECT item FROM oai_items WHERE format = 'oai_dc' ORDER BY datestamp, record_id")
    while True:
        t = time.perf_counter()
        rows = cur.fetchmany(PAGE)
        if not rows:
            break
        body = b"".join(r[0] for r in rows)
        records += len(rows)
        pages.append(time.perf_counter() - t)
        del body
    seconds = time.perf_counter() - t0
    conn.close()
    return Harvest("floor: the stored list items joined, oai_dc", records, seconds, pages)


# --------------------------------------------------------------------------- over HTTP


def serve(instance: Path, port: int) -> None:
    """The child process: ``create_app`` over the instance under waitress, as production would run it.

    Except that the derived stores (RDF graph, search index) are not followed: on a freshly loaded
    instance their first catch-up (minutes at 100,000 records, most of an hour at 1,000,000) would
    run in this process's background threads during the harvest and measure itself, not OAI-PMH
    (``bench_rdf.py`` and ``bench_search.py`` measure it). OAI-PMH reads neither.
    """
    import waitress

    from repository import app as app_module

    check_snapshot(CODE_DIR)
    app_module._follow = lambda *args: None
    repo = Repository(instance, settings=oai_load.settings())
    waitress.serve(app_module.create_app(repo), host="127.0.0.1", port=port, threads=4)


def fingerprint(package: Path) -> str:
    """sha256 of ``package``'s ``*.py``, as ``_common.code_fingerprint`` hashes the live ``repository/``."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package.parent)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


#: The code measured: the snapshot's (or the live code's when imported without one).
CODE = fingerprint(CODE_DIR / "repository") if CODE_DIR else code_fingerprint()
CODE_CHANGES: list[str] = []  # fingerprints the live repository/ took on during the run


class Server(ServerChild):
    """A waitress child serving one instance; its peak RSS read from ``/proc`` (VmHWM)."""

    def __init__(self, instance: Path, log: Path):
        now = code_fingerprint()
        if now != CODE and now not in CODE_CHANGES:
            CODE_CHANGES.append(now)
            where = "servers still run the snapshot" if CODE_DIR else "servers run the NEW code"
            print(f"  note: the live repository/ changed during the run ({CODE} → {now}); {where}")
        super().__init__([str(SCRIPT), "--serve", str(instance)], log, "/oai?verb=Identify", timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oai"

    def status_mb(self, key: str) -> float:
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    @contextmanager
    def anon_peak(self, interval: float = 0.05) -> Iterator[list[float]]:
        """Sample RssAnon while the block runs; the peak is left in the yielded one-item list.

        VmHWM alone cannot tell heap growth from database pages: the store maps its file
        (``mmap_size``) in every connection, and mapped file pages count as resident. RssAnon
        is the part that is the process's own; the kernel keeps no high-water mark of it.
        """
        peak = [self.status_mb("RssAnon")]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(interval):
                try:
                    peak[0] = max(peak[0], self.status_mb("RssAnon"))
                except OSError:
                    return

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            yield peak
        finally:
            stop.set()
            t.join()
            peak[0] = max(peak[0], self.status_mb("RssAnon"))


@contextmanager
def server(instance: Path, log: Path) -> Iterator[Server]:
    s = Server(instance, log)
    try:
        yield s
    finally:
        s.stop()


def harvest_http(port: int, prefix: str, *, gzip: bool = False, budget: float | None = None) -> Harvest:
    """One harvester: a keep-alive connection, each page parsed with lxml for its records and its token."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Accept-Encoding": "gzip"} if gzip else {}
    query = urlencode({"verb": "ListRecords", "metadataPrefix": prefix})
    lr, rec, rt = f"{{{OAI_NS}}}ListRecords", f"{{{OAI_NS}}}record", f"{{{OAI_NS}}}resumptionToken"
    records = 0
    pages: list[float] = []
    client = 0.0
    partial = False
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        conn.request("GET", "/oai?" + query, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {body[:500]!r}")
        t_parse = time.perf_counter()
        if resp.getheader("Content-Encoding") == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        root = etree.fromstring(body)
        listing = root.find(lr)
        if listing is None:
            raise RuntimeError(body[:2000].decode())
        records += len(listing.findall(rec))
        token = listing.find(rt)
        now = time.perf_counter()
        client += now - t_parse
        pages.append(now - t)
        if token is None or not token.text:
            break
        if budget and now - t0 > budget:
            partial = True
            break
        query = urlencode({"verb": "ListRecords", "resumptionToken": token.text})
    conn.close()
    name = f"HTTP, {prefix}" + (", gzip" if gzip else "")
    return Harvest(name, records, time.perf_counter() - t0, pages, partial=partial, client_seconds=client)


def harvest_sickle(url: str, prefix: str) -> Harvest:
    """Sickle, a real harvester: a request per page (requests, gzip accepted), a Record object per record."""
    from sickle import Sickle

    records = 0
    t0 = time.perf_counter()
    for _ in Sickle(url).ListRecords(metadataPrefix=prefix):
        records += 1
    return Harvest(f"HTTP, {prefix}, Sickle 0.7", records, time.perf_counter() - t0)


def http_harvest(instance: Path, log: Path, run: Callable[[Server], Harvest]) -> Harvest:
    """A harvest against a fresh server, so its peak RSS is that harvest's alone."""
    with server(instance, log) as s:
        before = s.status_mb("VmRSS")
        with s.anon_peak() as anon:
            h = run(s)
        h.peak_rss_mb = s.status_mb("VmHWM")
        h.peak_anon_mb = anon[0]
        h.note = (h.note + f"; server RSS {before:.0f} MB at start").lstrip("; ")
    return h


# --------------------------------------------------------------------------- the oaipmh baseline


class ListOAI:
    """An ``oaipmh.interfaces.IBatchingOAI`` over a Python list of (header, metadata, about) tuples.

    The simplest provider one would write with the ``oaipmh`` package: its ``BatchingServer``
    turns a token into a cursor (an offset) and asks for ``records[cursor:cursor + batch]``.
    """

    def __init__(self, records: list, base_url: str, earliest: datetime):
        from oaipmh import common

        self.records = records
        self._identify = common.Identify(
            "Dalian Library (oaipmh baseline)",
            base_url,
            "2.0",
            ["repository@dalian-library.local"],
            earliest,
            "persistent",
            "YYYY-MM-DDThh:mm:ssZ",
            ["identity"],
        )

    def identify(self):
        return self._identify

    def listMetadataFormats(self, identifier: str | None = None) -> list[tuple[str, str, str]]:
        return [
            (
                "oai_dc",
                "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
                "http://www.openarchives.org/OAI/2.0/oai_dc/",
            )
        ]

    def _check(self, prefix: str) -> None:
        from oaipmh import error

        if prefix != "oai_dc":
            raise error.CannotDisseminateFormatError(prefix)

    # The oaipmh interface's own method and argument names (camelCase, ``set``).
    def listRecords(
        self,
        metadataPrefix: str,
        set: str | None = None,
        from_: datetime | None = None,
        until: datetime | None = None,
        cursor: int = 0,
        batch_size: int = 10,
    ) -> list:
        self._check(metadataPrefix)
        return self.records[cursor : cursor + batch_size]

    def listIdentifiers(
        self,
        metadataPrefix: str,
        set: str | None = None,
        from_: datetime | None = None,
        until: datetime | None = None,
        cursor: int = 0,
        batch_size: int = 10,
    ) -> list:
        self._check(metadataPrefix)
        return [h for h, _, _ in self.records[cursor : cursor + batch_size]]

    def listSets(self, cursor: int = 0, batch_size: int = 10) -> list:
        return []

    def getRecord(self, metadataPrefix: str, identifier: str):
        from oaipmh import error

        self._check(metadataPrefix)
        for r in self.records:
            if r[0].identifier() == identifier:
                return r
        raise error.IdDoesNotExistError(identifier)


def baseline_records(db: Path, seed: int, limit: int, prefix: str) -> list:
    """The first ``limit`` records in the order the repository serves them, as oaipmh tuples.

    Headers (identifier, datestamp, sets) come from the store; the metadata is the Dublin
    Core of the generated Article through the project's crosswalk (``crosswalk.dc_values``),
    so both servers send the same fields.
    """
    from oaipmh.common import Header, Metadata

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT id, datestamp FROM records ORDER BY datestamp, id LIMIT ?", (limit,)
    ).fetchall()
    sets: dict[str, list[str]] = {}
    for k in range(0, len(rows), 500):
        ids = [rid for rid, _ in rows[k : k + 500]]
        marks = ",".join("?" * len(ids))
        for rid, spec in conn.execute(
            f"SELECT record_id, set_spec FROM memberships WHERE record_id IN ({marks}) ORDER BY set_spec", ids
        ):
            sets.setdefault(rid, []).append(spec)
    conn.close()
    dc = oai_load.dc_for([int(rid.rsplit("-", 1)[1]) for rid, _ in rows], seed)
    out = []
    for rid, stamp in rows:
        fields: dict[str, list[str]] = {}
        for name, value in dc[rid]:
            fields.setdefault(name, []).append(value)
        header = Header(
            None, prefix + rid, datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"), sets.get(rid, []), False
        )
        out.append((header, Metadata(None, fields), None))
    return out


def harvest_baseline(records: list, *, depth_probe: bool) -> tuple[Harvest, dict[str, float]]:
    """Harvest the oaipmh BatchingServer in process to the end of ``records``; optionally probe depth."""
    from oaipmh.metadata import MetadataRegistry
    from oaipmh.server import BatchingServer, encodeResumptionToken, oai_dc_writer

    registry = MetadataRegistry()
    registry.registerWriter("oai_dc", oai_dc_writer)
    earliest = records[0][0].datestamp()
    server = BatchingServer(ListOAI(records, BASE_URL, earliest), registry, resumption_batch_size=PAGE)
    request: dict[str, str] = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
    count = 0
    pages: list[float] = []
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        body = server.handleRequest(request)
        pages.append(time.perf_counter() - t)
        if b"<error" in body[:2000]:
            raise RuntimeError(body[:2000].decode())
        count += body.count(b"<record>")
        m = _TOKEN.search(body, max(0, len(body) - 2000))  # as for ours: the token ends the page
        if m is None:
            break
        request = {"verb": "ListRecords", "resumptionToken": m.group(1).decode()}
    harvest = Harvest("oaipmh BatchingServer, in process, oai_dc", count, time.perf_counter() - t0, pages)
    probes: dict[str, float] = {}
    if depth_probe and len(records) > 2 * PAGE:
        # The same server asked directly for a deep page with its own offset token.
        for cursor in (PAGE, len(records) - PAGE):
            tok = encodeResumptionToken({"metadataPrefix": "oai_dc"}, cursor)
            req = {"verb": "ListRecords", "resumptionToken": tok}
            times = []
            for _ in range(20):
                t = time.perf_counter()
                server.handleRequest(req)
                times.append(time.perf_counter() - t)
            probes[f"page {cursor // PAGE + 1}"] = statistics.median(times) * 1e3
    return harvest, probes


# --------------------------------------------------------------------------- latency


def token_at(repo: Repository, db: Path, offset: int, prefix: str = "oai_dc") -> str:
    """The resumption token of a page starting at record ``offset`` (0-based), as the provider builds it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    after = conn.execute(
        "SELECT datestamp, id FROM records ORDER BY datestamp, id LIMIT 1 OFFSET ?", (offset - 1,)
    ).fetchone()
    conn.close()
    codec = TokenCodec(instance_secret(repo.instance), repo.settings.oai_token_hours)
    total = repo.store.list_count(set_spec=None, from_="", until=UNTIL)
    bound = repo.store.max_seq()
    token = Token(
        "ListRecords", prefix, None, "", UNTIL, bound, tuple(after), offset, total, codec.new_expiry()
    )
    return codec.encode(token)


def datestamp_groups(db: Path) -> tuple[int, int, int]:
    """(distinct datestamps, size of the largest group sharing one, offset of that group's first record).

    Records saved in the same second share a datestamp, and keyset paging orders them by id
    within it; the latency test probes the page at the end of the largest such group.
    """
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    groups = conn.execute(
        "SELECT datestamp, count(*) FROM records GROUP BY datestamp ORDER BY datestamp"
    ).fetchall()
    conn.close()
    start = biggest = big_start = 0
    for _, size in groups:
        if size > biggest:
            biggest, big_start = size, start
        start += size
    return len(groups), biggest, big_start


def harvested_token(provider: Provider, page: int) -> str:
    """The token a ListRecords harvest really received for ``page``, via quick ListIdentifiers pages.

    Used at small N to check that :func:`token_for_page` builds the token the provider issues
    (same ``after`` key and cursor; the expiry differs).
    """
    pairs = [("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc")]
    for _ in range(page - 1):
        body = provider.respond(pairs, BASE_URL)
        m = _TOKEN.search(body)
        assert m is not None
        pairs = [("verb", "ListIdentifiers"), ("resumptionToken", m.group(1).decode())]
    return pairs[1][1]


def latency(
    provider: Provider, port: int | None, requests: dict[str, list[tuple[str, str]]], *, repeat: int
) -> list[Latency]:
    """Time ``repeat`` requests of each page, interleaved so that drift hits every page alike."""
    out: dict[str, list[float]] = {k: [] for k in requests}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60) if port else None
    for warm in range(repeat + 3):
        for label, pairs in requests.items():
            t = time.perf_counter()
            if conn is None:
                body = provider.respond(pairs, BASE_URL)
            else:
                conn.request("GET", "/oai?" + urlencode(pairs))
                resp = conn.getresponse()
                body = resp.read()
                assert resp.status == 200
            elapsed = time.perf_counter() - t
            if b"<error" in body[:2000]:
                raise RuntimeError(body[:2000].decode())
            if warm >= 3:
                out[label].append(elapsed)
    if conn:
        conn.close()
    where = "HTTP" if port else "in process"
    return [Latency(label, where, s) for label, s in out.items()]


def fetch_in_process(provider: Provider) -> Callable[[list[tuple[str, str]]], bytes]:
    return lambda pairs: provider.respond(pairs, BASE_URL)


def fetch_http(conn: http.client.HTTPConnection) -> Callable[[list[tuple[str, str]]], bytes]:
    """A request over a keep-alive connection, parsed with lxml as the harvester does."""

    def fetch(pairs: list[tuple[str, str]]) -> bytes:
        conn.request("GET", "/oai?" + urlencode(pairs))
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}")
        etree.fromstring(body)
        return body

    return fetch


def depth_profile(
    fetch: Callable[[list[tuple[str, str]]], bytes],
    tokens: Callable[[int], str],
    n: int,
    *,
    samples: int = 11,
    pages: int = 5,
) -> list[tuple[int, float]]:
    """(record offset, median ms per page) at evenly spaced depths, ``pages`` consecutive pages each.

    The mean over evenly spaced depths times the number of pages projects a full harvest's
    time where one would not finish within the benchmark (page cost that grows with depth).
    """
    out = []
    span = max(0, n - pages * PAGE)
    for j in range(samples):
        offset = (round(j * span / (samples - 1)) // PAGE) * PAGE
        if offset == 0:
            pairs = [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")]
        else:
            pairs = [("verb", "ListRecords"), ("resumptionToken", tokens(offset))]
        times = []
        for _ in range(pages):
            t = time.perf_counter()
            body = fetch(pairs)
            times.append(time.perf_counter() - t)
            m = _TOKEN.search(body, max(0, len(body) - 2000))
            if m is None:
                break
            pairs = [("verb", "ListRecords"), ("resumptionToken", m.group(1).decode())]
        out.append((offset, statistics.median(times) * 1e3))
    return out


def projected(profile: list[tuple[int, float]], n: int) -> float:
    """Seconds for a full harvest: the mean sampled page time times the number of pages."""
    return statistics.fmean(ms for _, ms in profile) / 1e3 * math.ceil(n / PAGE)


def offset_probe(db: Path, pages: list[int]) -> dict[int, float]:
    """What one page's query costs with OFFSET paging over this store (the oaipmh model on a database), ms."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    out = {}
    for page in pages:
        times = []
        for _ in range(5):
            t = time.perf_counter()
            conn.execute(
                "SELECT id, datestamp FROM records ORDER BY datestamp, id LIMIT ? OFFSET ?",
                (PAGE + 1, (page - 1) * PAGE),
            ).fetchall()
            times.append(time.perf_counter() - t)
        out[page] = statistics.median(times) * 1e3
    conn.close()
    return out


# --------------------------------------------------------------------------- one N


def fmt_int(v: float) -> str:
    return f"{v:,.0f}"


def profile_harvest(provider: Provider, path: Path) -> str:
    """cProfile of one in-process oai_dc harvest; the top 15 entries by cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    h = harvest_in_process(provider, "oai_dc")
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("cumulative").print_stats(15)
    stats.sort_stats("tottime").print_stats(15)
    text = (
        f"cProfile: in-process oai_dc harvest of {h.records:,} records"
        f" ({h.seconds:.1f} s under the profiler)\n\n"
    )
    path.write_text(text + buf.getvalue())
    return text + buf.getvalue()


def run_n(n: int, args: argparse.Namespace, smallest: bool) -> dict:
    """Everything for one N; returns the figures (also printed as they come)."""
    say = print
    say(f"\n## N = {n:,}  (load average {os.getloadavg()[0]:.2f})")
    root = OUT / f"oai-{n}"
    _database.detach(root / "instance")  # a cached instance is SQLite's, whatever an earlier run did
    built = oai_load.instance_for(root, n, args.seed, rebuild=args.rebuild, progress=say)
    say(
        f"  instance: {built.db_bytes / 1e9:.2f} GB;"
        f" load {built.seconds:,.0f} s ({built.rate:,.0f} records/s)"
    )
    db = built.instance / "repository.sqlite3"
    if args.database:  # the same records copied into PostgreSQL, which the instance then opens
        _database.copy_into(built.instance, args.database, log=say)
    log = OUT / f"oai-server-{n}.log"
    log.unlink(missing_ok=True)
    repo = Repository(built.instance, settings=oai_load.settings())
    provider = Provider(repo, stylesheet_url=STYLESHEET)
    result: dict = {"n": n, "load": asdict(built) | {"instance": str(built.instance), "rate": built.rate}}
    harvests: list[Harvest] = []

    def add(h: Harvest) -> None:
        if h.records != n and not h.partial:
            raise RuntimeError(f"{h.name}: harvested {h.records:,} records of {n:,}")
        notes = [h.note] if h.note else []
        if h.partial and "first" not in h.note:
            notes.insert(0, f"stopped at the {args.harvest_budget:g} s budget")
        if h.client_seconds:
            notes.append(f"client parse {h.client_seconds:.1f} s")
        h.note = "; ".join(notes)
        harvests.append(h)
        first, last = h.depth_ms()
        depth = f"; pages {first:.2f} → {last:.2f} ms (first → last tenth)" if not math.isnan(first) else ""
        rss = (
            f"; server peak RSS {h.peak_rss_mb:.0f} MB (anonymous {h.peak_anon_mb:.0f} MB)"
            if h.peak_rss_mb
            else ""
        )
        say(f"  {h.name}: {h.records:,} records in {h.seconds:,.1f} s = {h.rate:,.0f}/s{depth}{rss}")

    def tokens(offset: int) -> str:
        return token_at(repo, db, offset)

    # page time by depth first: it tells whether full harvests will finish
    depth_in = depth_profile(fetch_in_process(provider), tokens, n)
    say("  ms/page by depth, in process: " + ", ".join(f"{o:,}: {ms:.1f}" for o, ms in depth_in))
    budget = args.harvest_budget
    # 2a, 2d: in process, and the ceiling
    for prefix in ("oai_dc", "mods"):
        add(harvest_in_process(provider, prefix, budget=budget))
    add(ceiling(db))
    add(items_floor(db))
    # 2b: over HTTP, a fresh server per harvest so each peak RSS is its own
    for prefix in ("oai_dc", "mods"):
        add(http_harvest(built.instance, log, lambda s, p=prefix: harvest_http(s.port, p, budget=budget)))
    if smallest:
        add(http_harvest(built.instance, log, lambda s: harvest_http(s.port, "oai_dc", gzip=True)))
        add(http_harvest(built.instance, log, lambda s: harvest_sickle(s.url, "oai_dc")))

    # 3: latency of page 1 (the initial request), page 2, page K (the last) and the page that ends the
    # largest same-second group, in process and over HTTP
    k = math.ceil(n / PAGE)
    token_k = token_at(repo, db, (k - 1) * PAGE)
    token_2 = token_at(repo, db, PAGE)
    distinct, biggest, big_start = datestamp_groups(db)
    say(f"  {distinct:,} distinct datestamps; the largest group: {biggest:,} records")
    deep = big_start + biggest - PAGE
    if n <= 200_000:  # check the built token against the one a harvest really gets
        real = provider.tokens.decode(harvested_token(provider, k), "ListIdentifiers")
        made = provider.tokens.decode(token_k, "ListRecords")
        assert (real.after, real.cursor, real.total, real.bound) == (
            made.after,
            made.cursor,
            made.total,
            made.bound,
        )
    body = provider.respond([("verb", "ListRecords"), ("resumptionToken", token_k)], BASE_URL)
    assert body.count(b"<record>") == n - (k - 1) * PAGE and f'cursor="{(k - 1) * PAGE}"'.encode() in body
    requests = {
        "page 1 (initial request)": [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")],
        "page 2": [("verb", "ListRecords"), ("resumptionToken", token_2)],
        f"page {k:,} (last)": [("verb", "ListRecords"), ("resumptionToken", token_k)],
    }
    if deep > PAGE:
        requests[f"records {deep + 1:,}–{deep + PAGE:,} (end of a {biggest:,}-record same-second group)"] = [
            ("verb", "ListRecords"),
            ("resumptionToken", token_at(repo, db, deep)),
        ]
    lat = latency(provider, None, requests, repeat=args.requests)
    with server(built.instance, log) as s:
        lat += latency(provider, s.port, requests, repeat=args.requests)
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
        depth_http = depth_profile(fetch_http(conn), tokens, n)
        conn.close()
    say("  ms/page by depth, HTTP: " + ", ".join(f"{o:,}: {ms:.1f}" for o, ms in depth_http))
    for x in lat:
        say(f"  latency {x.where}, {x.label}: p50 {x.pct(0.5):.2f} ms, p95 {x.pct(0.95):.2f} ms")
    offsets = offset_probe(db, [1, 2, k])
    say(
        "  OFFSET query over this store: " + ", ".join(f"page {p:,} {ms:.2f} ms" for p, ms in offsets.items())
    )

    # 2c: the oaipmh baseline, in memory; everything at ≤ --baseline-full, else the first records
    # (its records are built in this process's memory). Ours, in full, is harvested again beside it,
    # the two alternating, so that both meet the same load on the shared machine; the ratio target
    # compares these two rows (the best of --pairs runs each).
    limit = n if n <= args.baseline_full else args.baseline_first
    records = baseline_records(db, args.seed, limit, provider.prefix)
    base, probes = harvest_baseline(records, depth_probe=True)
    ours = harvest_in_process(provider, "oai_dc")
    for _ in range(args.pairs - 1):
        base = max(base, harvest_baseline(records, depth_probe=False)[0], key=lambda h: h.rate)
        ours = max(ours, harvest_in_process(provider, "oai_dc"), key=lambda h: h.rate)
    del records
    ours.name = BESIDE
    ours.note = base.note = f"best of {args.pairs}, alternating"
    if limit < n:
        base.note += f"; its first {limit:,} records"
        base.partial = True
    add(ours)
    add(base)
    if probes:
        say("  oaipmh page time at depth: " + ", ".join(f"{k_} {ms:.2f} ms" for k_, ms in probes.items()))

    if args.profile_n == n:
        text = profile_harvest(provider, OUT / "oai-profile.txt")
        result["profile"] = text
        say("  profile written to bench/out/oai-profile.txt")
    repo.close()
    result.update(
        harvests=[h.summary() for h in harvests],
        latency=[
            {"label": x.label, "where": x.where, "p50_ms": x.pct(0.5), "p95_ms": x.pct(0.95)} for x in lat
        ],
        offset_query_ms={str(p): ms for p, ms in offsets.items()},
        baseline_depth_ms=probes,
        last_page=k,
        datestamps={"distinct": distinct, "largest_group": biggest},
        depth=[(o, a, b) for (o, a), (_, b) in zip(depth_in, depth_http, strict=True)],
        projected={"in process": projected(depth_in, n), "HTTP": projected(depth_http, n)},
        loadavg=os.getloadavg(),
    )
    _database.detach(built.instance)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


def report_n(r: dict) -> str:
    n = r["n"]
    load = r["load"]
    rows = [
        [
            "load (validation bypassed" + (", reused from cache" if load["reused"] else "") + ")",
            fmt_int(n),
            f"{load['seconds']:,.1f}",
            fmt_int(load["rate"]),
            "",
            "",
            "",
        ]
    ]
    for h in r["harvests"]:
        depth = (
            f"{h['first_tenth_ms']:.2f} → {h['last_tenth_ms']:.2f}"
            if not math.isnan(h["first_tenth_ms"])
            else ""
        )
        rss = f"{h['peak_anon_mb']:.0f} / {h['peak_rss_mb']:.0f}" if h["peak_rss_mb"] else ""
        rows.append(
            [
                h["name"],
                fmt_int(h["records"]),
                f"{h['seconds']:,.1f}",
                fmt_int(h["rate"]),
                depth,
                rss,
                h["note"],
            ]
        )
    out = [
        f"### N = {n:,}",
        "",
        "Load average (1, 5, 15 min) when this N finished: "
        + ", ".join(f"{x:.2f}" for x in r["loadavg"])
        + " (2 CPUs: anything above ~2 means other work shared them).",
        "",
        table(
            [
                "",
                "records",
                "s",
                "records/s",
                "ms/page first → last tenth",
                "server peak MB: anon / VmHWM",
                "note",
            ],
            rows,
        ),
        "",
    ]
    lat: dict[str, dict[str, tuple[float, float]]] = {}
    for x in r["latency"]:
        lat.setdefault(x["label"], {})[x["where"]] = (x["p50_ms"], x["p95_ms"])
    lrows = []
    for label, by in lat.items():
        ip, hp = by.get("in process", (math.nan, math.nan)), by.get("HTTP", (math.nan, math.nan))
        lrows.append([label, f"{ip[0]:.2f}", f"{ip[1]:.2f}", f"{hp[0]:.2f}", f"{hp[1]:.2f}"])
    out += [
        f"Latency of single ListRecords oai_dc pages ({x_count(r)} requests each, interleaved), ms:",
        "",
        table(["", "in process p50", "p95", "HTTP p50", "p95"], lrows),
        "",
        "Page time by depth: 5 consecutive ListRecords oai_dc pages (median) starting at each record offset, "
        "in process and over HTTP (the harvester's lxml parse included); the mean times the number of pages "
        "projects a full harvest.",
        "",
        table(
            ["starting at record", "in process ms/page", "HTTP ms/page"],
            [[f"{o:,}", f"{a:.2f}", f"{b:.2f}"] for o, a, b in r["depth"]],
        ),
        "",
        "Projected full oai_dc harvest: "
        + "; ".join(f"{w} {sec:,.1f} s ({n / sec:,.0f} records/s)" for w, sec in r["projected"].items())
        + ".",
        "",
        f"{r['datestamps']['distinct']:,} distinct datestamps; the largest group sharing one has "
        f"{r['datestamps']['largest_group']:,} records (one datestamp per second of loading).",
        "",
        "For comparison, the page query with OFFSET paging over this store (what an offset-token "
        "provider on a database pays): "
        + ", ".join(f"page {int(p):,}: {ms:.2f} ms" for p, ms in r["offset_query_ms"].items())
        + ".",
    ]
    if r["baseline_depth_ms"]:
        out.append(
            "The oaipmh BatchingServer asked directly for a page by its offset token (median of 20): "
            + ", ".join(f"{k}: {ms:.2f} ms" for k, ms in r["baseline_depth_ms"].items())
            + "."
        )
    return "\n".join(out) + "\n"


def x_count(r: dict) -> int:
    return r.get("requests", 50)


def summary(results: list[dict]) -> str:
    def find(r: dict, name: str) -> dict | None:
        return next((h for h in r["harvests"] if h["name"] == name), None)

    rows = []
    for r in results:
        n = r["n"]
        http_dc = find(r, "HTTP, oai_dc")
        base = find(r, "oaipmh BatchingServer, in process, oai_dc")
        beside = next((h for h in r["harvests"] if h["name"].startswith(BESIDE)), None)
        if http_dc:
            rate = http_dc["rate"]
            measured = f"{rate:,.0f}/s"
            if http_dc["partial"]:  # the harvest stopped at its budget: judge by the projection
                rate = n / r["projected"]["HTTP"]
                first = f"{http_dc['rate']:,.0f}/s over the first {http_dc['records']:,}"
                measured = f"{rate:,.0f}/s projected ({first})"
            ok = rate >= TARGET_HTTP
            rows.append([f"HTTP oai_dc ≥ {TARGET_HTTP:,}/s", f"{n:,}", measured, "yes" if ok else "NO"])
        if base and beside:
            ratio = beside["rate"] / base["rate"]
            theirs = f"its first {base['records']:,}" if base["partial"] else "all"
            rows.append(
                [
                    f"in process ≥ {TARGET_RATIO}× oaipmh (back to back; ours all, oaipmh {theirs})",
                    f"{n:,}",
                    f"{ratio:.1f}× ({beside['rate']:,.0f} vs {base['rate']:,.0f}/s)",
                    "yes" if ratio >= TARGET_RATIO else "NO",
                ]
            )
        lat = {(x["label"].split(" (")[0], x["where"]): x for x in r["latency"]}
        last = f"page {r['last_page']:,}"
        for where in ("in process", "HTTP"):
            p2, pk = lat.get(("page 2", where)), lat.get((last, where))
            deep = next(
                (x for (label, w), x in lat.items() if w == where and label.startswith("records ")), None
            )
            if p2 and deep:
                diff = deep["p50_ms"] / p2["p50_ms"]
                rows.append(
                    [
                        f"end of largest datestamp group = page 2 ({where}, p50)",
                        f"{n:,}",
                        f"{deep['p50_ms']:.2f} vs {p2['p50_ms']:.2f} ms",
                        "yes" if 0.8 <= diff <= 1.25 else "NO",
                    ]
                )
            p1 = lat.get(("page 1", where))
            if p1 and pk:
                diff = pk["p50_ms"] / p1["p50_ms"]
                rows.append(
                    [
                        f"{last} = page 1 ({where}, p50)",
                        f"{n:,}",
                        f"{pk['p50_ms']:.2f} vs {p1['p50_ms']:.2f} ms",
                        "yes" if 0.8 <= diff <= 1.25 else "NO",
                    ]
                )
            if p2 and pk:
                diff = pk["p50_ms"] / p2["p50_ms"]
                ok = 0.8 <= diff <= 1.25
                rows.append(
                    [
                        f"{last} = page 2 ({where}, p50)",
                        f"{n:,}",
                        f"{pk['p50_ms']:.2f} vs {p2['p50_ms']:.2f} ms",
                        "yes" if ok else "NO",
                    ]
                )
    for key, what in (("peak_anon_mb", "anonymous RSS"), ("peak_rss_mb", "VmHWM incl. mapped DB")):
        peaks = [(r["n"], h[key]) for r in results if (h := find(r, "HTTP, oai_dc")) and h[key]]
        if len(peaks) >= 2:
            lo, hi = peaks[0][1], peaks[-1][1]
            ok = hi <= lo * 1.15 + 10
            rows.append(
                [
                    f"server peak {what} flat in N (oai_dc harvest)",
                    " → ".join(f"{n:,}" for n, _ in peaks),
                    " → ".join(f"{p:,.0f} MB" for _, p in peaks),
                    "yes" if ok else "NO",
                ]
            )
    return table(["target", "N", "measured", "met"], rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--n",
        action="append",
        default=None,
        help="record counts, repeatable or comma-separated (default 100000,1000000)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rebuild", action="store_true", help="load the instances again even if cached")
    ap.add_argument("--keep", action="store_true", help="keep bench/out/oai-N/ (reused by the next run)")
    ap.add_argument("--requests", type=int, default=50, help="requests per page in the latency test")
    ap.add_argument(
        "--baseline-full",
        type=int,
        default=100_000,
        metavar="N",
        help="harvest the whole oaipmh baseline up to this N",
    )
    ap.add_argument(
        "--baseline-first",
        type=int,
        default=2_000,
        metavar="K",
        help="above it, harvest only its first K records",
    )
    ap.add_argument(
        "--pairs",
        type=int,
        default=3,
        metavar="K",
        help="harvests of ours and of the baseline, alternating, for the ratio (the best of each)",
    )
    ap.add_argument(
        "--profile-n",
        type=int,
        default=100_000,
        metavar="N",
        help="cProfile the in-process harvest at this N (0: never)",
    )
    ap.add_argument(
        "--harvest-budget",
        type=float,
        default=120,
        metavar="S",
        help="stop a full harvest after S seconds (reported as partial; the depth samples project the rest)",
    )
    ap.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help="harvest from this PostgreSQL database (the instance's records are copied into it first)",
    )
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    try:
        return run(args)
    finally:
        if CODE_DIR is not None:
            shutil.rmtree(CODE_DIR, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    """The benchmark proper (``main`` without the server mode and the snapshot's cleanup)."""
    check_snapshot(CODE_DIR)
    ns = sorted({int(x.replace("_", "")) for v in (args.n or ["100000,1000000"]) for x in v.split(",") if x})
    OUT.mkdir(parents=True, exist_ok=True)
    cmd = command_line()
    measured = f"; measured: repository/ {CODE}" + (" (a copy taken at the start)" if CODE_DIR else "")
    print(f"# OAI-PMH benchmark\n\n`{cmd}`\n\n{environment()}{measured}")
    started = time.perf_counter()
    results = []
    for n in ns:
        r = run_n(n, args, smallest=n == ns[0])
        r["requests"] = args.requests
        results.append(r)
    total = time.perf_counter() - started
    text = "\n".join(
        [
            "# OAI-PMH benchmark",
            "",
            f"Command: `{cmd}` ({total / 60:.1f} min)",
            "",
            environment() + measured,
            "",
            "Instances are loaded by `bench/oai_load.py`, which **bypasses XSD and profile validation** "
            "(records built with `build_mods`, the oai_dc rendering, sets and summary derived as "
            "`Repository.prepare` does, committed through `store.commit` 5,000 at a time; no full text). "
            "The import benchmark measures the validated path. Page size 100. One harvester at a time. "
            "Server: `create_app` under waitress (threads=4) in a child process, a fresh one per harvest, "
            "without the RDF graph's and search index's followers (their first catch-up of a freshly loaded "
            "instance would run beside the harvest); "
            "its peak memory is given as anonymous RSS (sampled every 50 ms: heap, stacks) and VmHWM "
            "(which also counts every page of the database file the store has mapped). "
            "Sickle and the gzip row send `Accept-Encoding: gzip`, so the server compresses those pages.",
            "",
            *(
                [
                    f"Note: the live `repository/` changed during this run (to {', '.join(CODE_CHANGES)}); "
                    + (
                        f"every figure here is of the snapshot {CODE} taken at the start."
                        if CODE_DIR
                        else "HTTP servers started after the change ran the new code."
                    ),
                    "",
                ]
                if CODE_CHANGES
                else []
            ),
            *(report_n(r) for r in results),
            "### Targets",
            "",
            summary(results),
            "",
        ]
    )
    name = "oai-postgres" if args.database else "oai"
    if args.database:
        text = f"Store: {_database.describe(args.database)}\n\n{text}"
    (OUT / f"{name}.md").write_text(text)
    (OUT / f"{name}.json").write_text(
        json.dumps(
            {"command": cmd, "results": [{k: v for k, v in r.items() if k != "profile"} for r in results]},
            indent=1,
            default=str,
        )
    )
    print("\n" + text)
    for r in results:
        if "profile" in r:
            print(r["profile"])
    print(f"written: {OUT / f'{name}.md'}, {OUT / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
