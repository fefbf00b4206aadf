"""SPARQL 1.1 queries with limits that hold: a time limit, a row limit, a bound on concurrency.

pyoxigraph has no query timeout, and a query running in a thread cannot be stopped: it
keeps a core busy after the client has given up. So queries run in a small pool of worker
processes; one that exceeds the time limit is killed and replaced. Workers read a
checkpoint of the graph store (:meth:`pyoxigraph.Store.backup`, hard links, cheap) taken
when the graph has changed, never the live store, which only its one writer may open.

Every limit is decided before a byte of the result is sent: a worker reads the solutions
of its one evaluation of the query, stopping at the row limit + 1, and only then
serialises them, so a stopped query gets an error status and message, never a 200 with
a truncated body.
"""

from __future__ import annotations

import multiprocessing
import re
import shutil
import threading
from dataclasses import dataclass
from itertools import accumulate
from multiprocessing.connection import Connection
from pathlib import Path

from .graph import GraphStore

#: result media type → (pyoxigraph format name, kind) for SELECT/ASK results and graphs.
RESULT_TYPES = {
    "application/sparql-results+json": ("JSON", "results"),
    "application/json": ("JSON", "results"),
    "application/sparql-results+xml": ("XML", "results"),
    "application/xml": ("XML", "results"),
    "text/csv": ("CSV", "results"),
    "text/tab-separated-values": ("TSV", "results"),
}
GRAPH_TYPES = {
    "text/turtle": "TURTLE",
    "application/n-triples": "N_TRIPLES",
    "application/rdf+xml": "RDF_XML",
    "application/ld+json": "JSON_LD",
}


class QueryError(Exception):
    """A query refused or stopped: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0
    rows: int = 10_000
    concurrency: int = 2


#: Oxigraph runs ``SERVICE <url>`` by fetching the URL, and has no switch to turn that off: a query
#: could make the server request any address it can reach (a request forgery against the library's
#: network). Federated queries are refused before they reach a worker. Oxigraph matches keywords
#: case-insensitively with no word boundary (``SERVICESILENT<…>``, ``SERVICE:x``, ``.SERVICE``), and
#: telling a keyword from a string or an IRI needs the whole grammar (``?x<'a>'`` is an IRI to one
#: tokenizer and a comparison to another), so the word itself is refused wherever it appears,
#: after the codepoint escapes (``\u0053``) the SPARQL grammar allows are decoded.
_SERVICE = re.compile(r"service", re.IGNORECASE | re.ASCII)
_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def _decoded(query: str) -> str:
    def char(m: re.Match) -> str:
        code = int(m.group(1) or m.group(2), 16)
        return chr(code) if code <= 0x10FFFF else m.group(0)

    return _CODEPOINT.sub(char, query)


#: Oxigraph's parser recurses once per level of nesting, and a few thousand levels (``((((…``,
#: ``{{{{…``, ``!!!!…``) overflow the worker's stack and kill it. No real query nests this deep.
MAX_NESTING = 256
_DEPTH = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
_NOT_BRACKET = re.compile(r"[^()\[\]{}]+")
_NEGATIONS = re.compile(rf"(?:!\s*){{{MAX_NESTING + 1}}}")


def refuse_federation(query: str) -> None:
    """Raise a 400 :class:`QueryError` for a query that could name a remote SERVICE."""
    if _SERVICE.search(_decoded(query)):
        raise QueryError(
            400,
            "federated queries (SERVICE) are not allowed: this endpoint does not fetch from other "
            "servers, and refuses every query in which the word SERVICE appears (even in a string or IRI)",
        )


def refuse_deep_nesting(query: str) -> None:
    """Raise a 400 :class:`QueryError` for a query nested deeper than :data:`MAX_NESTING` levels.

    Brackets inside strings count as well: a false alarm needs hundreds of unbalanced ones.
    """
    brackets = _NOT_BRACKET.sub("", query)
    deepest = max(accumulate(map(_DEPTH.__getitem__, brackets)), default=0)
    if deepest > MAX_NESTING or _NEGATIONS.search(query):
        raise QueryError(400, f"the query is nested more than {MAX_NESTING} levels deep")


# --------------------------------------------------------------------------- the worker process
def _worker(conn: Connection) -> None:  # pragma: no cover - runs in a child process
    import pyoxigraph as ox

    stores: dict[str, ox.Store] = {}
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", *_run(ox, stores, **task)))
        except QueryError as exc:
            conn.send(("error", exc.status, exc.message))
        except SyntaxError as exc:
            conn.send(("error", 400, f"query syntax error: {exc}"))
        except Exception as exc:  # noqa: BLE001 - the worker must answer, whatever happened
            conn.send(("error", 500, f"query failed: {exc}"))


def _run(
    ox,
    stores: dict,
    *,
    snapshot: str,
    query: str,
    default_graphs: list[str],
    named_graphs: list[str],
    accept: list[str],
    rows: int,
    base_iri: str,
):  # noqa: ANN001, ANN202
    store = stores.get(snapshot)
    if store is None:
        stores.clear()  # an older snapshot is not needed any more
        store = stores[snapshot] = ox.Store.read_only(snapshot)
    kwargs: dict = {"base_iri": base_iri}
    if default_graphs or named_graphs:
        try:
            kwargs["default_graph"] = [ox.NamedNode(g) for g in default_graphs] or ox.DefaultGraph()
            kwargs["named_graphs"] = [ox.NamedNode(g) for g in named_graphs]
        except ValueError as exc:
            raise QueryError(400, f"default-graph-uri and named-graph-uri must be IRIs: {exc}") from None
    else:
        kwargs["use_default_graph_as_union"] = True
    result = store.query(query, **kwargs)
    if isinstance(result, ox.QueryBoolean):
        media = _choose(
            accept,
            [
                "application/sparql-results+json",
                "application/sparql-results+xml",
                "application/json",
                "application/xml",
            ],
        )
        return media, result.serialize(format=getattr(ox.QueryResultsFormat, RESULT_TYPES[media][0]))
    if isinstance(result, ox.QuerySolutions):
        media = _choose(accept, list(RESULT_TYPES))
        return media, _solutions(ox, result, rows, RESULT_TYPES[media][0])
    triples = []
    for t in result:
        triples.append(t)
        if len(triples) > rows:
            raise QueryError(413, f"the result has more than {rows:,} triples; add a LIMIT")
    media = _choose(accept, list(GRAPH_TYPES))
    return media, ox.serialize(triples, format=getattr(ox.RdfFormat, GRAPH_TYPES[media]))


def _solutions(ox, result, rows: int, fmt: str) -> bytes:  # noqa: ANN001 - pyoxigraph, lazily imported
    """SELECT solutions in ``fmt``, read once: more than ``rows`` is an error, not a cut answer.

    pyoxigraph serialises only a live result, which cannot be counted first without running
    the query twice; so the solutions are read (up to ``rows`` + 1) as SPARQL TSV, where every
    term is written in N-Triples syntax and nothing is lost, and that is parsed back and
    serialised in the format asked for.
    """
    variables = result.variables
    lines = ["\t".join(map(str, variables))]
    for count, solution in enumerate(result, 1):
        if count > rows:
            raise QueryError(413, f"the result has more than {rows:,} rows; add a LIMIT")
        lines.append("\t".join("" if term is None else str(term) for term in solution))  # in variable order
    read = ox.parse_query_results("\n".join(lines) + "\n", ox.QueryResultsFormat.TSV)
    return read.serialize(format=getattr(ox.QueryResultsFormat, fmt))


def _choose(accept: list[str], offered: list[str]) -> str:
    """The first offered type the client accepts (``accept`` is in the client's preference order)."""
    for wanted in accept:
        if wanted in offered:
            return wanted
        if wanted in ("*/*", "") or wanted.endswith("/*"):
            prefix = wanted[:-1] if wanted.endswith("/*") else ""
            for o in offered:
                if o.startswith(prefix):
                    return o
    if accept and not any(a in ("*/*", "") for a in accept):
        raise QueryError(406, f"none of the accepted types ({', '.join(accept)}) fits this result")
    return offered[0]


# --------------------------------------------------------------------------- the pool
class _Worker:
    def __init__(self, ctx: multiprocessing.context.BaseContext):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child,), daemon=True, name="sparql worker")
        self.process.start()
        child.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


class SparqlService:
    def __init__(self, graph: GraphStore, limits: Limits):
        self.graph = graph
        self.limits = limits
        self._ctx = multiprocessing.get_context("spawn")  # no fork from a threaded server
        self._idle = [_Worker(self._ctx) for _ in range(limits.concurrency)]
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(limits.concurrency)
        self._snapshot: tuple[int, Path] | None = None
        self._snapshots = graph.path / "snapshots"

    def snapshot(self) -> Path:
        """A checkpoint of the graph as it is now (a new one only when the graph has changed)."""
        self.graph.ensure_current()
        with self._lock:
            seq = self.graph.synced_seq()
            if self._snapshot is None or self._snapshot[0] != seq:
                self._snapshots.mkdir(exist_ok=True)
                taken = [p.name.split("-")[1] for p in self._snapshots.iterdir() if p.name.count("-") == 1]
                n = 1 + max((int(t) for t in taken if t.isdigit()), default=0)
                path = self._snapshots / f"{seq}-{n}"
                self.graph.store.backup(str(path))
                for old in self._snapshots.iterdir():
                    if old != path and (self._snapshot is None or old != self._snapshot[1]):
                        shutil.rmtree(old, ignore_errors=True)  # workers still reading keep open files
                self._snapshot = (seq, path)
            return self._snapshot[1]

    def execute(
        self,
        query: str,
        *,
        default_graphs: list[str] = (),
        named_graphs: list[str] = (),
        accept: list[str] = (),
        base_iri: str = "",
    ) -> tuple[str, bytes]:
        refuse_federation(query)
        refuse_deep_nesting(query)
        try:
            snapshot = str(self.snapshot())
        except (OSError, RuntimeError) as exc:
            raise QueryError(503, f"the graph is not ready to be queried: {exc}") from None
        if not self._slots.acquire(timeout=1.0):
            raise QueryError(503, f"{self.limits.concurrency} queries are running already; try again shortly")
        try:
            with self._lock:
                worker = self._idle.pop()
            task = {
                "snapshot": snapshot,
                "query": query,
                "default_graphs": list(default_graphs),
                "named_graphs": list(named_graphs),
                "accept": list(accept),
                "rows": self.limits.rows,
                "base_iri": base_iri or None,
            }
            worker.conn.send(task)
            if not worker.conn.poll(self.limits.timeout):
                worker.kill()
                worker = _Worker(self._ctx)
                raise QueryError(503, f"the query ran longer than the limit of {self.limits.timeout:g} s")
            answer = worker.conn.recv()
        except (EOFError, BrokenPipeError, OSError):
            worker.kill()
            worker = _Worker(self._ctx)
            raise QueryError(500, "the query worker stopped; the query was not answered") from None
        finally:
            with self._lock:
                self._idle.append(worker)
            self._slots.release()
        if answer[0] == "error":
            raise QueryError(answer[1], answer[2])
        return answer[1], answer[2]

    def close(self) -> None:
        for w in self._idle:
            w.kill()
