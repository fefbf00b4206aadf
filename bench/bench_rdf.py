"""RDF benchmark: building the graph store and querying it, beside an rdflib in-memory Graph.

The linked-data design (``shared/reference/linked-data.md``) chose an embedded on-disk
Oxigraph store over an rdflib in-memory graph because loading millions of triples and
typical queries should be one to two orders of magnitude faster, at a fraction of the
memory. This benchmark checks that claim on the repository's own data and the
``/sparql`` target (p95 under 100 ms for the example queries at 100,000 records):

1. build (or reuse from ``bench/out/rdf-N/``) an instance of N synthetic articles with
   :mod:`oai_load` (fast: it **bypasses validation**, which ``bench_import.py`` measures),
   and add the stored RDF rendering the save path would have made (``RENDERERS["rdf"]``;
   ``oai_load`` stores only ``oai_dc``), written straight into the store's ``renderings``
   table in a process pool (timed; reused with the instance);
2. ``GraphStore(repo).rebuild()`` in a fresh process: time, records/s, CPU, peak RSS, quads,
   size on disk, and where the time goes (SQLite reads, the rest: parsing the stored RDF/XML
   and Oxigraph's bulk load); then µs per record of each step of rendering a record's RDF, as
   the save path does it now and as it did before (an rdflib ``Graph`` and its serializer);
3. the graph store's triples dumped as N-Triples (untimed), then loaded in fresh processes
   into an rdflib ``Graph`` (``parse(format="nt")``, the baseline) and, for scale, into a
   new pyoxigraph store with ``Store.bulk_load``: time and peak RSS of each;
4. p50/p95 latency (one warm-up, then ``--runs`` runs, interleaved) of the three
   ``repository.linkeddata.EXAMPLES`` queries, with the journalist and place replaced by
   values that exist in the generated data, plus a lookup by subject: directly on the store
   (``GraphStore.query``: ``use_default_graph_as_union``), through ``/sparql`` of
   ``create_app`` under waitress in a child process (SPARQL JSON, parsed), and on the rdflib
   Graph (``g.query``; a query slower than ``--rdflib-budget`` seconds runs fewer times);
5. a markdown report, ``bench/out/rdf.md``.

``repository/`` is copied at the start and every process imports the copy, because others
edit it while benchmarks run (as ``bench_oai.py`` does).

Usage (from the project root)::

    python bench/bench_rdf.py                 # N = 100,000 (about 2 million triples)
    python bench/bench_rdf.py --n 2000        # quick check (under a minute)
    python bench/bench_rdf.py --keep          # keep bench/out/rdf-N/ (the instance is reused next time)
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

for _p in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_p) not in sys.path:  # the project and bench/, before _common or oai_load add them in front
        sys.path.insert(0, str(_p))
from _common import check_snapshot, code_snapshot  # noqa: E402

SNAPSHOT_ENV = "BENCH_RDF_CODE"
CODE_DIR = code_snapshot(SNAPSHOT_ENV, "bench-rdf-code-", __name__ == "__main__")
import oai_load  # noqa: E402
from _common import (  # noqa: E402
    OUT,
    ServerChild,
    code_fingerprint,
    command_line,
    dir_size,
    environment,
    run_child,
    table,
)

SCRIPT = Path(__file__).resolve()
TARGET_MS = 100.0  # p95 of each example query at 100,000 records
EXTRA_RUNS = (
    10  # runs of the ‡ extras (a full scan costs seconds at 100,000 records; the default run is ~20 min)
)
#: The literals of the shipped examples, replaced by values that exist in the generated data.
EXAMPLE_JOURNALIST = '"吕丽"@zh-Hans'
EXAMPLE_PLACE = '"金普"'
NO_MATCH_PLACE = "不存在的地名"  # matches nothing: the place query must scan every title and place
PREFIXES = "PREFIX schema: <http://schema.org/>\nPREFIX dcterms: <http://purl.org/dc/terms/>\n"


# --------------------------------------------------------------------------- measuring a process


def status_mb(field_name: str, pid: int | str = "self") -> float:
    """A ``/proc/PID/status`` figure in MB (VmHWM: peak RSS since exec; RssAnon: own memory now)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class AnonPeak:
    """Samples this process's RssAnon every 50 ms: the kernel keeps no high-water mark of it.

    VmHWM counts file pages too (SQLite maps up to 256 MB of the record store, and the
    rebuild reads every record), so it cannot tell the graph's own memory from page cache.
    """

    def __init__(self, pid: int | str = "self", interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.peak = status_mb("RssAnon", pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.peak = max(self.peak, status_mb("RssAnon", self.pid))
            except OSError:
                return

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        with suppress(OSError):
            self.peak = max(self.peak, status_mb("RssAnon", self.pid))


def pct(samples: list[float], q: float) -> float:
    """Nearest-rank percentile in ms (p95 of 30 runs is the 29th fastest)."""
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))] * 1e3


def emit(result: dict) -> None:
    """A child's result: one JSON line, last on stdout (``Child.last_json`` reads it)."""
    print(json.dumps(result, ensure_ascii=False), flush=True)


# --------------------------------------------------------------------------- children: building


class _TimedStore:
    """Wraps GraphStore's ``pyoxigraph.Store`` to time its calls (a native object takes no attributes)."""

    def __init__(self, store: object, clock: dict[str, float]):
        self._store, self._clock = store, clock

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr
        key = (
            f"Store.{name}" if name in ("bulk_extend", "extend", "load", "flush", "clear") else "Store, other"
        )

        def timed(*a: object, **k: object) -> object:
            t = time.perf_counter()
            try:
                return attr(*a, **k)
            finally:
                self._clock[key] = self._clock.get(key, 0.0) + time.perf_counter() - t

        return timed

    def __len__(self) -> int:
        return len(self._store)


def _timed(fn: Callable, clock: dict[str, float], key: str) -> Callable:
    def wrapper(*a: object, **k: object) -> object:
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            clock[key] = clock.get(key, 0.0) + time.perf_counter() - t

    return wrapper


#: The wrapped SQLite read that runs inside ``Store.bulk_extend`` (it pulls the quads from a generator).
NESTED = ("SQLite rendering",)


def child_build(instance: Path, sample: int) -> None:
    """``GraphStore(repo).rebuild()`` from nothing, with the time split by stage; then a per-record sample.

    The split wraps the store calls and the SQLite reads (a few ``perf_counter`` calls per record,
    far below the cost of a record), so the total is the real rebuild's.
    """
    from repository.linkeddata.graph import GraphStore
    from repository.service import Repository

    repo = Repository(instance, settings=oai_load.settings())
    rss_start = status_mb("VmRSS")
    clock: dict[str, float] = {}
    with AnonPeak() as anon:
        t0, cpu0 = time.perf_counter(), time.process_time()
        graph = GraphStore(repo)
        graph.store = _TimedStore(graph.store, clock)  # type: ignore[assignment]
        graph._set_synced = _timed(graph._set_synced, clock, "synced-seq file (fsync)")  # type: ignore[method-assign]
        repo.store.changed_since = _timed(repo.store.changed_since, clock, "SQLite changed_since")  # type: ignore[method-assign]
        repo.store.rendering = _timed(repo.store.rendering, clock, NESTED[0])  # type: ignore[method-assign]
        records = graph.rebuild()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        quads = len(graph)
        graph.store = graph.store._store  # type: ignore[attr-defined]
        graph.close()
    peak, anon_peak = status_mb("VmHWM"), anon.peak
    result = {
        "records": records,
        "seconds": seconds,
        "cpu": cpu,
        "quads": quads,
        "peak_mb": peak,
        "anon_peak_mb": anon_peak,
        "rss_start_mb": rss_start,
        "disk_bytes": dir_size(graph.path / "oxigraph"),
        "clock": clock,
        "stages": stage_sample(repo, sample),
    }
    repo.close()
    emit(result)


def stage_sample(repo: object, k: int) -> dict[str, float]:
    """µs per record of each step, over the first ``k`` records (warm: each step's caches filled first).

    ``record_triples`` + ``rdf_xml`` is the RDF renderer of the save path (``RENDERERS["rdf"]``);
    ``rdflib Graph`` + ``Graph.serialize`` is how the RDF was made before (``record_graph`` then
    rdflib's RDF/XML serializer); ``ox.parse`` + quads is what the graph store does per record.
    """
    import pyoxigraph as ox

    from repository.mods import read_article
    from repository.rdf import article_uri, rdf_xml, record_triples, to_graph
    from repository.xmlio import parse

    rows = repo.store.changed_since(0, k)  # type: ignore[attr-defined]
    base = repo.base_url  # type: ignore[attr-defined]
    steps = (
        "xmlio.parse", "read_article", "record_triples", "rdf_xml",
        "before: rdflib Graph", "before: Graph.serialize(xml)", "graph store: ox.parse + quads",
    )  # fmt: skip
    clock = dict.fromkeys(steps, 0.0)
    shared = ox.NamedNode(f"{base}/graph/shared")
    for rnd in range(2):  # the first round fills the caches (people, papers, issues), the second is timed
        for record_id, collection, _, _, xml, _ in rows:
            t0 = time.perf_counter()
            root = parse(xml, record_id).getroot()
            t1 = time.perf_counter()
            article = read_article(root)
            t2 = time.perf_counter()
            triples = record_triples(record_id, article, base, collection)
            t3 = time.perf_counter()
            data = rdf_xml(triples)
            t4 = time.perf_counter()
            g = to_graph(triples)
            t5 = time.perf_counter()
            g.serialize(format="xml", encoding="utf-8")
            t6 = time.perf_counter()
            own, subject = (
                ox.NamedNode(f"{base}/graph/{record_id}"),
                ox.NamedNode(article_uri(base, record_id)),
            )
            [ox.Quad(q.subject, q.predicate, q.object, own if q.subject == subject else shared)
             for q in ox.parse(data, ox.RdfFormat.RDF_XML)]  # fmt: skip
            t7 = time.perf_counter()
            if rnd:
                for key, dt in zip(
                    steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6), strict=True
                ):
                    clock[key] += dt
    return {key: v / max(1, len(rows)) * 1e6 for key, v in clock.items()} | {"records": len(rows)}


# ----------------------------------------------------------------------- children: the stored RDF renderings


def _render_chunk(args: tuple[str, list[tuple[str, str, bytes]]]) -> list[tuple[str, str, bytes]]:
    from repository.mods import read_article
    from repository.service import RENDERERS, Derivation
    from repository.xmlio import parse

    base, rows = args
    out = []
    for record_id, collection, xml in rows:
        root = parse(xml, record_id).getroot()
        d = Derivation(record_id, collection, root, read_article(root), f"{base}/records/{record_id}", base)
        out.append((record_id, "rdf", RENDERERS["rdf"](d)))
    return out


def add_rdf_renderings(instance: Path, workers: int | None = None) -> dict:
    """Store ``RENDERERS["rdf"]`` of every live record, as the save path would have (idempotent).

    ``oai_load`` bypasses the save path and stores only ``oai_dc``; the RDF renderer runs here in
    a process pool and its output goes straight into the ``renderings`` table (a bench shortcut:
    the store has no call to add a rendering to an existing version).
    """
    import sqlite3
    from concurrent.futures import ProcessPoolExecutor

    base = oai_load.settings().base_url
    db = sqlite3.connect(instance / "repository.sqlite3")
    rows = db.execute(
        "SELECT r.id, r.collection, v.xml FROM records r JOIN versions v ON v.record_id = r.id"
        " AND v.version = r.version WHERE r.deleted = 0 ORDER BY r.seq"
    ).fetchall()
    t0 = time.perf_counter()
    chunks = [
        (base, [(a, b, bytes(c)) for a, b, c in rows[k : k + 2_000]]) for k in range(0, len(rows), 2_000)
    ]
    done = 0
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        for out in pool.map(_render_chunk, chunks):
            db.executemany(
                "INSERT OR REPLACE INTO renderings (record_id, format, content) VALUES (?, ?, ?)", out
            )
            db.commit()
            done += len(out)
    seconds = time.perf_counter() - t0
    db.close()
    return {"records": done, "seconds": seconds, "workers": workers or os.cpu_count() or 1}


# --------------------------------------------------------------------------- children: dump and parameters


def child_dump(instance: Path, nt_path: Path, n: int, seed: int) -> None:
    """Write every triple of the graph store as N-Triples and pick the query parameters from the data.

    The journalist is the person named as author of the most articles (zh-Hans name), the place
    the most frequent ``dcterms:spatial`` value, the subject the middle record's article URI.
    """
    import pyoxigraph as ox

    from repository.linkeddata.graph import GraphStore
    from repository.rdf import article_uri
    from repository.service import Repository

    repo = Repository(instance, settings=oai_load.settings())
    graph = GraphStore(repo)
    t0 = time.perf_counter()
    with open(nt_path, "wb") as fh:
        ox.serialize((q.triple for q in graph.store), fh, ox.RdfFormat.N_TRIPLES)
    with open(nt_path.with_suffix(".nq"), "wb") as fh:  # the same quads, in their named graphs
        ox.serialize(graph.store, fh, ox.RdfFormat.N_QUADS)
    seconds = time.perf_counter() - t0
    lines = 0
    with open(nt_path, "rb") as fh:
        for _ in fh:
            lines += 1
    person = next(
        iter(
            graph.query(
                PREFIXES + "SELECT ?name (COUNT(DISTINCT ?a) AS ?n) WHERE { ?a schema:author ?p . "
                '?p a schema:Person ; schema:name ?name . FILTER (langMatches(lang(?name), "zh-Hans")) } '
                "GROUP BY ?name ORDER BY DESC(?n) ?name LIMIT 1"
            )
        )
    )
    agency = next(
        iter(
            graph.query(
                PREFIXES + "SELECT ?name (COUNT(DISTINCT ?a) AS ?n) WHERE { ?a schema:author ?p . "
                "?p a schema:Organization ; schema:name ?name } "
                "GROUP BY ?name ORDER BY DESC(?n) ?name LIMIT 1"
            )
        ),
        None,
    )
    place = next(
        iter(
            graph.query(
                PREFIXES + "SELECT ?place (COUNT(*) AS ?n) WHERE { ?a dcterms:spatial ?place } "
                "GROUP BY ?place ORDER BY DESC(?n) ?place LIMIT 1"
            )
        )
    )
    middle = oai_load.article(n // 2, seed).identifier or ""
    graph.close()
    repo.close()
    emit(
        {
            "seconds": seconds,
            "lines": lines,
            "bytes": nt_path.stat().st_size,
            "journalist": person["name"].value,
            "journalist_articles": int(person["n"].value),
            "agency": agency["name"].value if agency else None,
            "agency_articles": int(agency["n"].value) if agency else 0,
            "place": place["place"].value,
            "place_articles": int(place["n"].value),
            "subject": article_uri(repo.base_url, middle).toPython(),
        }
    )


# --------------------------------------------------------------------------- the queries


def queries(params: dict) -> dict[str, str]:
    """The three shipped examples with the data's journalist and place, a lookup by subject, and extras.

    Fails loudly if the examples no longer contain the literals replaced here.
    """
    from repository.linkeddata import EXAMPLES

    (t1, q1), (t2, q2), (t3, q3) = EXAMPLES
    if EXAMPLE_JOURNALIST not in q2 or EXAMPLE_PLACE not in q3:
        raise RuntimeError("the EXAMPLES changed: update EXAMPLE_JOURNALIST / EXAMPLE_PLACE in bench_rdf.py")
    journalist = json.dumps(params["journalist"], ensure_ascii=False) + "@zh-Hans"
    out = {
        t1: q1,
        t2: q2.replace(EXAMPLE_JOURNALIST, journalist),
        t3: q3.replace(EXAMPLE_PLACE, json.dumps(params["place"], ensure_ascii=False)),
        "Lookup by subject": f"SELECT ?p ?o WHERE {{ <{params['subject']}> ?p ?o }}",
    }
    extras = {}
    if params.get("agency"):  # the busiest "author": an agency byline, hundreds of articles
        agency = json.dumps(params["agency"], ensure_ascii=False) + "@zh-Hans"
        extras[f"{t2} (agency {params['agency']}) ‡"] = q2.replace(EXAMPLE_JOURNALIST, agency)
    extras[f"{t3} (no match: full scan) ‡"] = q3.replace(EXAMPLE_PLACE, json.dumps(NO_MATCH_PLACE))
    return out | extras


def is_extra(label: str) -> bool:
    """A ‡ query: informative, outside the target, timed fewer times (``EXTRA_RUNS``)."""
    return label.endswith("‡")


def is_target(label: str) -> bool:
    """The target covers the three shipped examples (not the lookup, not the ‡ extras)."""
    return not is_extra(label) and label != "Lookup by subject"


# --------------------------------------------------------------------------- children: querying


def child_oxigraph(instance: Path, qfile: Path, runs: int) -> None:
    """Each query once to warm up, then ``runs`` rounds of all of them (interleaved: drift hits all alike)."""
    from repository.linkeddata.graph import GraphStore
    from repository.service import Repository

    qs: dict[str, str] = json.loads(qfile.read_text())
    repo = Repository(instance, settings=oai_load.settings())
    t = time.perf_counter()
    graph = GraphStore(repo)
    open_s = time.perf_counter() - t
    times: dict[str, list[float]] = {k: [] for k in qs}
    rows: dict[str, int] = {}
    first: dict[str, float] = {}
    for r in range(runs + 1):
        for label, q in qs.items():
            t = time.perf_counter()
            if r > EXTRA_RUNS and is_extra(label):
                continue
            got = [tuple(s) for s in graph.query(q)]  # every value of every solution, as Python objects
            dt = time.perf_counter() - t
            if r == 0:
                first[label], rows[label] = dt, len(got)
            else:
                times[label].append(dt)
    graph.close()
    repo.close()
    emit({"open_s": open_s, "times": times, "rows": rows, "first": first, "peak_mb": status_mb("VmHWM")})


def child_rdflib(nt_path: Path, qfile: Path, runs: int, budget: float) -> None:
    """Parse the N-Triples into an rdflib Graph (timed, peak RSS), then time the queries on it.

    A query is run once to warm up; if that took longer than ``budget`` seconds it is the only
    sample; otherwise up to ``runs`` runs fit in ``budget`` seconds (at least 3).
    """
    from rdflib import Graph

    qs: dict[str, str] = json.loads(qfile.read_text())
    rss_start = status_mb("VmRSS")
    with AnonPeak() as anon:
        t0, cpu0 = time.perf_counter(), time.process_time()
        g = Graph()
        g.parse(str(nt_path), format="nt")
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    result: dict = {
        "seconds": seconds,
        "cpu": cpu,
        "triples": len(g),
        "peak_mb": status_mb("VmHWM"),
        "anon_peak_mb": anon.peak,
        "rss_start_mb": rss_start,
        "times": {},
        "rows": {},
        "first": {},
        "notes": {},
    }
    print(f"  rdflib: parsed {len(g):,} triples in {seconds:,.1f} s", file=sys.stderr, flush=True)
    for label, q in qs.items():
        t = time.perf_counter()
        got = list(g.query(q))
        warm = time.perf_counter() - t
        result["first"][label], result["rows"][label] = warm, len(got)
        cap = EXTRA_RUNS if is_extra(label) else runs
        if warm > budget:
            samples, note = [warm], f"1 run (the warm-up: {warm:,.0f} s > {budget:g} s)"
        else:
            n = min(cap, max(3, int(budget / max(warm, 1e-6))))
            samples = []
            for _ in range(n):
                t = time.perf_counter()
                list(g.query(q))
                samples.append(time.perf_counter() - t)
            note = "" if n == cap else f"{n} runs (budget {budget:g} s)"
        result["times"][label], result["notes"][label] = samples, note
        print(
            f"  rdflib: {label}: {len(samples)} run(s), median {pct(samples, 0.5):,.0f} ms",
            file=sys.stderr,
            flush=True,
        )
    result["peak_after_queries_mb"] = status_mb("VmHWM")
    emit(result)


def child_oxbulk(nt_path: Path, dest: Path) -> None:
    """The same triples (``.nt``) or quads (``.nq``) into a new on-disk pyoxigraph store (``bulk_load``).

    Storage alone, no mapping: the triples go to the default graph (three indexes), the quads to
    the graph store's named graphs (six indexes), which is what ``GraphStore.rebuild`` writes.
    """
    import pyoxigraph as ox

    fmt = ox.RdfFormat.N_QUADS if nt_path.suffix == ".nq" else ox.RdfFormat.N_TRIPLES
    with AnonPeak() as anon:
        t0, cpu0 = time.perf_counter(), time.process_time()
        store = ox.Store(str(dest))
        store.bulk_load(path=str(nt_path), format=fmt)
        store.flush()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    emit(
        {
            "seconds": seconds,
            "cpu": cpu,
            "triples": len(store),
            "peak_mb": status_mb("VmHWM"),
            "anon_peak_mb": anon.peak,
            "disk_bytes": dir_size(dest),
        }
    )


def child_search(instance: Path) -> None:
    """Bring the instance's search index up to date, as a server that has run a while has it."""
    from repository.search.index import SearchIndex
    from repository.service import Repository

    repo = Repository(instance, settings=oai_load.settings())
    t0 = time.perf_counter()
    records = SearchIndex(repo).catch_up()
    emit({"records": records, "seconds": time.perf_counter() - t0})


def child_serve(instance: Path, port: int) -> None:
    """``create_app`` over the instance under waitress, as production runs it (its graph store included)."""
    import waitress

    from repository.app import create_app
    from repository.service import Repository

    repo = Repository(instance, settings=oai_load.settings())
    waitress.serve(create_app(repo), host="127.0.0.1", port=port, threads=4)


# --------------------------------------------------------------------------- the HTTP endpoint


@dataclass
class Server:
    """A waitress child serving the instance; its pid, for ``/proc`` figures of it and its SPARQL workers."""

    proc: subprocess.Popen
    port: int

    def worker_pids(self) -> list[int]:
        pids: list[int] = []
        task = Path(f"/proc/{self.proc.pid}/task")
        for t in task.iterdir():
            with suppress(OSError):
                pids += [int(p) for p in (t / "children").read_text().split()]
        return pids


@contextmanager
def server(instance: Path, log: Path) -> Iterator[Server]:
    # the probe is the query page: the app is up, no query run yet
    child = ServerChild([str(SCRIPT), "--child", "serve", "--instance", str(instance)], log, "/sparql")
    try:
        yield Server(child.proc, child.port)
    finally:
        child.stop()


def sparql_get(conn: http.client.HTTPConnection, query: str) -> int:
    """One GET /sparql for SPARQL JSON, read and parsed as a client would; the number of rows."""
    conn.request(
        "GET", "/sparql?" + urlencode({"query": query}), headers={"Accept": "application/sparql-results+json"}
    )
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"/sparql answered {resp.status}: {body[:500].decode('utf-8', 'replace')}")
    return len(json.loads(body)["results"]["bindings"])


def http_latency(instance: Path, qs: dict[str, str], runs: int, log: Path) -> dict:
    """The queries through ``/sparql`` of a fresh server: the cold first request, then as in process."""
    with server(instance, log) as s:
        rss_before = status_mb("VmRSS", s.proc.pid)
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=120)
        times: dict[str, list[float]] = {k: [] for k in qs}
        rows: dict[str, int] = {}
        first: dict[str, float] = {}
        for r in range(runs + 1):
            for label, q in qs.items():
                if r > EXTRA_RUNS and is_extra(label):
                    continue
                t = time.perf_counter()
                got = sparql_get(conn, q)
                dt = time.perf_counter() - t
                if r == 0:
                    first[label], rows[label] = dt, got
                else:
                    times[label].append(dt)
        conn.close()
        workers = {}
        for pid in s.worker_pids():
            with suppress(OSError):
                workers[pid] = status_mb("VmHWM", pid)
        return {
            "times": times,
            "rows": rows,
            "first": first,
            "server_rss_start_mb": rss_before,
            "server_peak_mb": status_mb("VmHWM", s.proc.pid),
            "worker_peaks_mb": sorted(workers.values(), reverse=True),
        }


# --------------------------------------------------------------------------- the driver


@dataclass
class Run:
    """Everything one run measured, for the report."""

    n: int
    built: oai_load.Built
    renderings: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)
    dump: dict = field(default_factory=dict)
    oxbulk: dict = field(default_factory=dict)
    oxbulk_nq: dict = field(default_factory=dict)
    rdflib: dict = field(default_factory=dict)
    ox: dict = field(default_factory=dict)
    http: dict = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)


def child(args: list[str]) -> dict:
    """Run this script in a child mode in a fresh interpreter; its JSON result (and its wall/CPU time)."""
    c = run_child([sys.executable, str(SCRIPT), "--child", *args])
    result = c.last_json()
    result["child_wall_s"], result["child_cpu_s"] = c.seconds, c.cpu_seconds
    return result


def run(args: argparse.Namespace) -> Run:
    n = args.n
    say = print
    root = OUT / f"rdf-{n}"
    say(f"## N = {n:,}  (load average {os.getloadavg()[0]:.2f})")
    built = oai_load.instance_for(root, n, args.seed, rebuild=args.rebuild, progress=say)
    say(
        f"  instance: {built.db_bytes / 1e9:.2f} GB;"
        f" load {built.seconds:,.0f} s ({built.rate:,.0f} records/s)"
    )
    r = Run(n, built)
    instance = built.instance
    marker = root / "rdf-renderings.json"
    if marker.exists():
        r.renderings = json.loads(marker.read_text()) | {"reused": True}
    else:
        say("  storing each record's RDF rendering (RENDERERS['rdf'], as the save path would) …")
        r.renderings = add_rdf_renderings(instance)
        marker.write_text(json.dumps(r.renderings))
    rr = r.renderings
    say(f"  RDF renderings: {rr['records']:,} in {rr['seconds']:,.1f} s ({rr['workers']} processes)")
    shutil.rmtree(instance / "graph", ignore_errors=True)  # rebuild from nothing, not clear() of an old one

    say("  building the graph store (GraphStore.rebuild) in a fresh process …")
    r.build = child(["build", "--instance", str(instance), "--sample", str(min(n, 2_000))])
    b = r.build
    say(
        f"  rebuild: {b['records']:,} records, {b['quads']:,} quads in {b['seconds']:,.1f} s "
        f"({b['records'] / b['seconds']:,.0f} records/s), peak RSS {b['peak_mb']:,.0f} MB"
    )

    nt_path = root / "graph.nt"
    r.dump = child(
        ["dump", "--instance", str(instance), "--nt", str(nt_path), "--n", str(n), "--seed", str(args.seed)]
    )
    d = r.dump
    say(
        f"  dumped {d['lines']:,} triples ({d['bytes'] / 1e6:,.0f} MB) in {d['seconds']:,.1f} s; journalist "
        f"{d['journalist']} ({d['journalist_articles']} articles), place {d['place']} ({d['place_articles']})"
    )
    r.queries = queries(d)
    qfile = root / "queries.json"
    qfile.write_text(json.dumps(r.queries, ensure_ascii=False, indent=1))

    say("  pyoxigraph bulk_load of the same N-Triples …")
    bulk_dir = root / "bulk-store"
    shutil.rmtree(bulk_dir, ignore_errors=True)
    r.oxbulk = child(["oxbulk", "--nt", str(nt_path), "--dest", str(bulk_dir)])
    shutil.rmtree(bulk_dir, ignore_errors=True)
    say(f"  bulk_load: {r.oxbulk['seconds']:,.1f} s, peak RSS {r.oxbulk['peak_mb']:,.0f} MB")
    nq_path = nt_path.with_suffix(".nq")
    r.oxbulk_nq = child(["oxbulk", "--nt", str(nq_path), "--dest", str(bulk_dir)])
    shutil.rmtree(bulk_dir, ignore_errors=True)
    nq_path.unlink(missing_ok=True)
    say(f"  bulk_load (N-Quads): {r.oxbulk_nq['seconds']:,.1f} s, peak RSS {r.oxbulk_nq['peak_mb']:,.0f} MB")

    say(f"  queries on the store ({args.runs} runs each) …")
    r.ox = child(["oxigraph", "--instance", str(instance), "--queries", str(qfile), "--runs", str(args.runs)])
    # The server keeps every derived store current: bring the search index up to date first, or
    # it indexes the whole instance in a background thread while /sparql is timed (untimed here).
    search = child(["search", "--instance", str(instance)])
    say(f"  search index brought up to date first: {search['records']:,} records, {search['seconds']:,.0f} s")
    say(f"  queries through /sparql ({args.runs} runs each) …")
    r.http = http_latency(instance, r.queries, args.runs, OUT / f"rdf-server-{n}.log")
    say("  rdflib: parse, then queries …")
    r.rdflib = child(
        [
            "rdflib",
            "--nt",
            str(nt_path),
            "--queries",
            str(qfile),
            "--runs",
            str(args.runs),
            "--budget",
            str(args.rdflib_budget),
        ]
    )
    say(f"  rdflib parse: {r.rdflib['seconds']:,.1f} s, peak RSS {r.rdflib['peak_mb']:,.0f} MB")
    nt_path.unlink(missing_ok=True)
    return r


def mb(v: float) -> str:
    return f"{v:,.0f} MB"


def report(r: Run, cmd: str, minutes: float, code: str) -> str:
    b, d, x, q, rl = r.build, r.dump, r.oxbulk, r.oxbulk_nq, r.rdflib
    n = r.n
    build_rows = [
        ["time", *(f"{c['seconds']:,.1f} s" for c in (b, q, x, rl))],
        [
            "rate",
            f"{b['records'] / b['seconds']:,.0f} records/s ({b['quads'] / b['seconds']:,.0f} quads/s)",
            f"{q['triples'] / q['seconds']:,.0f} quads/s",
            f"{x['triples'] / x['seconds']:,.0f} triples/s",
            f"{rl['triples'] / rl['seconds']:,.0f} triples/s",
        ],
        ["CPU ÷ wall", *(f"{c['cpu'] / c['seconds']:.0%}" for c in (b, q, x, rl))],
        ["peak RSS (VmHWM)", *(mb(c["peak_mb"]) for c in (b, q, x, rl))],
        ["peak anonymous RSS (sampled)", *(mb(c["anon_peak_mb"]) for c in (b, q, x, rl))],
        [
            "triples",
            f"{b['quads']:,} quads (len(store))",
            f"{q['triples']:,} quads",
            f"{x['triples']:,}",
            f"{rl['triples']:,} (len(g))",
        ],
        [
            "on disk",
            f"{b['disk_bytes'] / 1e6:,.0f} MB",
            f"{q['disk_bytes'] / 1e6:,.0f} MB",
            f"{x['disk_bytes'] / 1e6:,.0f} MB",
            f"(N-Triples file {d['bytes'] / 1e6:,.0f} MB)",
        ],
    ]
    build_table = table(
        [
            f"N = {n:,}",
            "graph store: GraphStore.rebuild() (stored RDF/XML → pyoxigraph bulk_extend)",
            "pyoxigraph Store.bulk_load(N-Quads: the same named graphs)",
            "pyoxigraph Store.bulk_load(N-Triples: default graph)",
            "rdflib Graph().parse(N-Triples)",
        ],
        build_rows,
    )
    clock = dict(b["clock"])
    nested = sum(clock.get(k, 0.0) for k in NESTED)
    if "Store.bulk_extend" in clock:  # the SQLite reads happen inside it: show the rest on its own
        clock["Store.bulk_extend (listing the records, parsing the RDF/XML, the quads, the bulk load)"] = (
            clock.pop("Store.bulk_extend") - nested
        )
    accounted = sum(clock.values())
    split = "; ".join(
        f"{k} {v:,.1f} s ({v / b['seconds']:.0%})" for k, v in sorted(clock.items(), key=lambda kv: -kv[1])
    )
    st = b["stages"]
    stage_line = ", ".join(f"{k} {v:,.0f} µs" for k, v in st.items() if k != "records")
    renderer = st["record_triples"] + st["rdf_xml"]
    rr = r.renderings
    renderings_line = (
        f"The instance's RDF renderings ({rr['records']:,}, what the save path stores) were "
        + ("reused from an earlier run" if rr.get("reused") else "made for this run")
        + f": {rr['seconds']:,.1f} s in {rr['workers']} processes, parse and read included."
    )

    qrows = []
    for label in r.queries:
        ox_t, h_t, rd_t = r.ox["times"][label], r.http["times"][label], rl["times"][label]
        counts = {r.ox["rows"][label], r.http["rows"][label], rl["rows"][label]}
        rows_cell = (
            f"{r.ox['rows'][label]:,}"
            if len(counts) == 1
            else (
                f"**differ**: ox {r.ox['rows'][label]}, http {r.http['rows'][label]},"
                f" rdflib {rl['rows'][label]}"
            )
        )
        ratio = pct(rd_t, 0.5) / pct(ox_t, 0.5) if pct(ox_t, 0.5) else float("nan")
        qrows.append(
            [
                label,
                rows_cell,
                f"{pct(ox_t, 0.5):,.1f}",
                f"{pct(ox_t, 0.95):,.1f}",
                f"{pct(h_t, 0.5):,.1f}",
                f"{pct(h_t, 0.95):,.1f}",
                f"{pct(rd_t, 0.5):,.0f}",
                f"{pct(rd_t, 0.95):,.0f}",
                rl["notes"][label] or f"{len(rd_t)} runs",
                f"{ratio:,.0f}×",
            ]
        )
    query_table = table(
        [
            "query",
            "rows",
            "pyoxigraph p50",
            "p95",
            "/sparql p50",
            "p95",
            "rdflib p50",
            "p95",
            "rdflib runs",
            "rdflib ÷ pyoxigraph (p50)",
        ],
        qrows,
    )
    targets = [lbl for lbl in r.queries if is_target(lbl)]
    worst_ox = max(pct(r.ox["times"][lbl], 0.95) for lbl in targets)
    worst_http = max(pct(r.http["times"][lbl], 0.95) for lbl in targets)
    slowest_http = max(targets, key=lambda lbl: pct(r.http["times"][lbl], 0.95))
    verdict = "met" if worst_http < TARGET_MS else "**NOT met**"
    scale = "" if n == 100_000 else f" (measured at N = {n:,}; the target is for N = 100,000)"
    target_line = (
        f"Target: p95 < {TARGET_MS:.0f} ms for the three example queries at N = {n:,}{scale}: "
        f"through /sparql the slowest p95 is {worst_http:,.1f} ms ({slowest_http}): {verdict}; "
        f"directly on the store {worst_ox:,.1f} ms: {'met' if worst_ox < TARGET_MS else '**NOT met**'}."
    )
    h = r.http
    cold = max(h["first"].values())
    first_label = next(iter(r.queries))
    workers = ", ".join(mb(v) for v in h["worker_peaks_mb"]) or "n/a"
    reuse = "reused" if r.built.reused else "built"
    lines = [
        "# RDF graph store benchmark",
        "",
        f"Command: `{cmd}` ({minutes:.1f} min)",
        "",
        f"{environment()}; measured: repository/ {code}"
        + (" (a copy taken at the start)" if CODE_DIR else ""),
        "",
        f"Instance: {n:,} synthetic articles {reuse} by `bench/oai_load.py` (**validation bypassed**; "
        f"{r.built.db_bytes / 1e9:.2f} GB of SQLite). Each measurement runs in a fresh process. "
        "Peak RSS is the process's own VmHWM (it also counts the SQLite pages the rebuild maps); "
        "anonymous RSS, sampled every 50 ms, is its own heap.",
        "",
        "## Building the graph",
        "",
        build_table,
        "",
        f"The rebuild's time by stage (wrapped calls; {accounted / b['seconds']:.0%} of the wall time "
        f"accounted): {split}.",
        "",
        f"Per record, over the first {st['records']:,} records (warm caches): {stage_line}. The save "
        f"path's RDF renderer (`record_triples` + `rdf_xml`) costs {renderer:,.0f} µs a record; "
        f"building an rdflib Graph of the same triples and serialising it would cost "
        f"{st['before: rdflib Graph'] + st['before: Graph.serialize(xml)']:,.0f} µs. The rebuild took "
        f"{b['seconds'] / max(1, b['records']) * 1e6:,.0f} µs/record in all.",
        "",
        renderings_line,
        "",
        f"The N-Triples dump ({d['lines']:,} lines, {d['bytes'] / 1e6:,.0f} MB) took {d['seconds']:,.1f} s "
        "and is not part of any figure above; rdflib's `len(g)` counts distinct triples, the store's "
        "`len` quads (one named graph per article plus the shared graph).",
        "",
        "## Query latency (ms)",
        "",
        f"Parameters taken from the data: journalist **{d['journalist']}** (the person named as author of "
        f"the most articles: {d['journalist_articles']}), place **{d['place']}** (the most frequent "
        f"`dcterms:spatial`: {d['place_articles']:,} articles), subject `<{d['subject']}>` (the middle "
        f"record). One warm-up, then {len(next(iter(r.ox['times'].values())))} runs of each query "
        f"(‡: {EXTRA_RUNS}), "
        "interleaved. pyoxigraph: `GraphStore.query` (`store.query(q, use_default_graph_as_union=True)`), "
        "every solution turned into Python values. /sparql: `create_app` under waitress (threads=4) in a "
        "child process, GET with `Accept: application/sparql-results+json` over one keep-alive "
        "connection, body parsed with `json.loads`. rdflib: `list(g.query(q))` on the in-memory Graph. "
        "‡ = extra, outside the target: the busiest author (an agency byline) and a place that matches "
        "nothing (the `LIMIT 100` cannot stop the scan early).",
        "",
        query_table,
        "",
        target_line,
        "",
        f"/sparql, first request of a fresh server: {h['first'][first_label] * 1e3:,.0f} ms "
        f"({first_label}; it takes the store checkpoint and starts a worker's store), slowest first "
        f"request {cold * 1e3:,.0f} ms. Server RSS {mb(h['server_rss_start_mb'])} at start, peak "
        f"{mb(h['server_peak_mb'])}; its child processes' (SPARQL workers') peak RSS: {workers}. "
        f"pyoxigraph store opened in {r.ox['open_s'] * 1e3:,.0f} ms; "
        f"the query process peaked at {mb(r.ox['peak_mb'])}. "
        f"rdflib's process peaked at {mb(rl['peak_after_queries_mb'])} after its queries.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--n", type=int, default=100_000, help="articles (default 100,000: about 2 million triples)"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=30, help="timed runs of each query after one warm-up")
    ap.add_argument(
        "--rdflib-budget",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds of timed runs per rdflib query (a query slower than S runs once)",
    )
    ap.add_argument("--rebuild", action="store_true", help="load the instance again even if a kept one fits")
    ap.add_argument(
        "--keep", action="store_true", help="keep bench/out/rdf-N/ (the instance is reused next time)"
    )
    # child modes (this script in a fresh interpreter)
    ap.add_argument(
        "--child",
        choices=["build", "dump", "oxbulk", "oxigraph", "rdflib", "search", "serve"],
        help=argparse.SUPPRESS,
    )
    ap.add_argument("--instance", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--nt", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--dest", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--queries", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--sample", type=int, default=2_000, help=argparse.SUPPRESS)
    ap.add_argument("--budget", type=float, default=60.0, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        check_snapshot(CODE_DIR)
        match args.child:
            case "build":
                child_build(args.instance, args.sample)
            case "dump":
                child_dump(args.instance, args.nt, args.n, args.seed)
            case "oxbulk":
                child_oxbulk(args.nt, args.dest)
            case "oxigraph":
                child_oxigraph(args.instance, args.queries, args.runs)
            case "rdflib":
                child_rdflib(args.nt, args.queries, args.runs, args.budget)
            case "search":
                child_search(args.instance)
            case "serve":
                child_serve(args.instance, args.port)
        return 0
    try:
        return drive(args)
    finally:
        if CODE_DIR is not None:
            shutil.rmtree(CODE_DIR, ignore_errors=True)


def drive(args: argparse.Namespace) -> int:
    """The benchmark proper: run, report, clean up."""
    check_snapshot(CODE_DIR)
    OUT.mkdir(parents=True, exist_ok=True)
    code = fingerprint(CODE_DIR / "repository") if CODE_DIR else code_fingerprint()
    cmd = command_line()
    print(f"# RDF graph store benchmark\n\n`{cmd}`\n")
    started = time.perf_counter()
    root = OUT / f"rdf-{args.n}"
    try:
        r = run(args)
        text = report(r, cmd, (time.perf_counter() - started) / 60, code)
        live = code_fingerprint()
        if live != code:
            text += (
                f"\nNote: the live `repository/` changed during this run (to {live}); every figure here "
                f"is of the copy {code} taken at the start.\n"
            )
        (OUT / "rdf.md").write_text(text, encoding="utf-8")
        print("\n" + text)
        print(f"written: {OUT / 'rdf.md'}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def fingerprint(package: Path) -> str:
    """sha256 of ``package``'s ``*.py``, as ``_common.code_fingerprint`` hashes the live ``repository/``."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package.parent)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


if __name__ == "__main__":
    sys.exit(main())
