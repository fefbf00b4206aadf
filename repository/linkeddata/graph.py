"""The records' RDF in an embedded, on-disk Oxigraph store (pyoxigraph).

The graph is derived data. The triples naming each article live in a named graph of their
own, so a save replaces exactly them and a deletion clears them; what articles share
(newspapers, issues, people, collections) lives once in a shared graph, so that queries,
which see the union of all graphs as their default graph, never meet a triple twice.
Shared resources stay when the last article naming them goes; a rebuild tidies them.

It follows the record store by change sequence number (:mod:`repository.derived`) and
loads each record's RDF as the save path rendered and stored it (``RENDERERS["rdf"]``),
never mapping MODS again; only a record stored before that renderer existed is rendered
here. ``repository rdf rebuild`` recreates it from the records with Oxigraph's bulk loader.

Only one process can hold an Oxigraph store, so each server process keeps a replica of its
own: ``graph`` for the first, ``graph-2``, ``graph-3``… for the others (gunicorn workers).
A process takes the first replica no other process holds (:meth:`GraphStore.claim`), and
every replica follows the records by itself. ``repository rdf replicas N`` brings the first
up to date and copies it into the others with Oxigraph's backup (hard links, so cheap),
which ``repository serve --workers N`` runs before it starts the workers.
"""

from __future__ import annotations

import http.client
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pyoxigraph as ox

from .. import collections
from ..derived import Follower
from ..rdf import article_uri, collection_triples, rdf_xml
from ..service import Repository
from ..store import Changed

#: The stored rendering the graph is loaded from (RDF/XML; also the OAI-PMH ``rdf`` format).
RENDERING = "rdf"


class GraphUnavailable(RuntimeError):
    """The graph store cannot be opened (most often: another process has it open)."""


def replica_path(instance: Path, n: int) -> Path:
    """Where the ``n``-th graph replica (counted from 1) of an instance lives."""
    return Path(instance) / ("graph" if n == 1 else f"graph-{n}")


class GraphStore(Follower):
    @classmethod
    def claim(cls, repo: Repository, replicas: int | None = None) -> GraphStore:
        """The first of the instance's graph replicas that no other process holds."""
        count = replicas or repo.settings.graph_replicas
        for n in range(1, count + 1):
            try:
                return cls(repo, replica_path(repo.instance, n))
            except GraphUnavailable:
                continue
        raise GraphUnavailable(
            f"all {count} graph replicas of {repo.instance} are held by other processes"
            " (REPOSITORY_GRAPH_REPLICAS sets how many there may be)"
        )

    def copy_to(self, path: Path) -> None:
        """Make ``path`` a replica of this graph as it is now (replacing what is there)."""
        with self.exclusive():
            self.store.flush()
            if path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True)
            self.store.backup(str(path / "oxigraph"))
            (path / "synced-seq").write_text(str(self.synced_seq()))

    def __init__(self, repo: Repository, path: Path | None = None):
        super().__init__(repo, Path(path or repo.instance / "graph"))
        try:
            self.store = ox.Store(str(self.path / "oxigraph"))
        except OSError as exc:
            raise GraphUnavailable(
                f"cannot open the graph store {self.path}: {exc}"
                " (is `repository serve` running on this instance?)"
            ) from None
        self.shared = ox.NamedNode(f"{repo.base_url}/graph/shared")

    def graph_name(self, record_id: str) -> ox.NamedNode:
        return ox.NamedNode(f"{self.repo.base_url}/graph/{record_id}")

    # ------------------------------------------------------------------ following the records
    def start(self) -> None:
        self._load_collections()

    def apply(self, batch: list[Changed]) -> None:
        quads: list[ox.Quad] = []
        for change, data in self._renderings(batch):
            name = self.graph_name(change.id)
            if self.store.contains_named_graph(name):
                self.store.remove_graph(name)
            if data is not None:
                quads += self._quads(change.id, data)
        self.store.extend(quads)
        self.store.flush()

    def clear(self) -> None:
        self.store.clear()

    def rebuild(self) -> int:
        """Recreate the graph from the stored renderings with Oxigraph's bulk loader, then catch up.

        The bulk load counts as applied up to the store's sequence number when it began, so
        whatever is committed meanwhile (and may or may not be in what it read) is applied
        again afterwards by :meth:`catch_up`, which replaces the record's graph.
        """
        with self.exclusive():
            self.clear()
            self._set_synced(0)
            self.start()
            bound = self.repo.store.max_seq()
            done = 0

            def quads() -> Iterator[ox.Quad]:
                nonlocal done
                shared: set[ox.Triple] = set()  # each once: the loader's cost is per quad given
                for state in self.repo.store.records():  # the live ones
                    yield from self._quads(state.id, self._rendering(state.id, state.collection), shared)
                    done += 1

            self.store.bulk_extend(quads())
            self.store.flush()
            self._set_synced(bound)
            return done + self.catch_up()

    def _renderings(self, batch: list[Changed]) -> Iterator[tuple[Changed, bytes | None]]:
        """Each change with its stored RDF/XML (None for a deletion)."""
        for c in batch:
            yield c, None if c.deleted else self._rendering(c.id, c.collection, c.xml)

    def _rendering(self, record_id: str, collection: str, xml: bytes | None = None) -> bytes:
        """The record's stored RDF/XML, or its MODS rendered now where that cannot serve.

        That is a record saved before the RDF renderer existed, or one whose rendering names
        the article under another base URL (the setting changed since): its triples would not
        find their way into the article's own graph.
        """
        data = self.repo.store.rendering(record_id, RENDERING)
        if data is None or f'"{article_uri(self.repo.base_url, record_id)}"'.encode() not in data:
            xml = self.repo.store.version(record_id).xml if xml is None else xml
            data = self.repo.render(record_id, collection, xml, RENDERING)
        return data

    def _quads(self, record_id: str, data: bytes, seen: set[ox.Triple] | None = None) -> Iterator[ox.Quad]:
        """A record's triples: those naming the article into its own graph, the rest into the shared one.

        With ``seen``, a shared triple already in it is left out (and each new one added).
        """
        article = ox.NamedNode(article_uri(self.repo.base_url, record_id))
        own = self.graph_name(record_id)
        for q in ox.parse(data, ox.RdfFormat.RDF_XML):
            if q.subject == article or q.object == article:  # (its year's schema:hasPart names it)
                yield ox.Quad(q.subject, q.predicate, q.object, own)
            elif seen is None or (t := q.triple) not in seen:
                if seen is not None:
                    seen.add(t)
                yield ox.Quad(q.subject, q.predicate, q.object, self.shared)

    def _load_collections(self) -> None:
        """The collections exist as resources even before they hold a record."""
        for c in collections.collections():
            data = rdf_xml(collection_triples(c.code, self.repo.base_url))
            self.store.load(data, ox.RdfFormat.RDF_XML, to_graph=self.shared)

    # ------------------------------------------------------------------ beyond one machine
    def ntriples(self, chunk: int = 5000) -> Iterator[bytes]:
        """The whole graph as N-Triples, in chunks (each triple once: shared ones are stored once)."""
        lines = []
        for q in self.store.quads_for_pattern(None, None, None):
            lines.append(f"{q.subject} {q.predicate} {q.object} .\n")
            if len(lines) >= chunk:
                yield "".join(lines).encode("utf-8")
                lines.clear()
        yield "".join(lines).encode("utf-8")

    def push(self, url: str, graph: str | None = None, timeout: float = 600) -> int:
        """Replace a graph of an external SPARQL 1.1 Graph Store with this one (HTTP PUT, streamed).

        ``url`` is the store's Graph Store Protocol endpoint (Oxigraph: ``http://host:7878/store``);
        the triples go to ``graph`` or, without one, to the default graph. Returns the HTTP status.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s) URL")
        target = urlencode({"graph": graph}) if graph else "default"
        path = f"{parts.path or '/'}?{parts.query + '&' if parts.query else ''}{target}"
        cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(parts.netloc, timeout=timeout)
        try:
            conn.request("PUT", path, body=self.ntriples(), encode_chunked=True,
                         headers={"Content-Type": "application/n-triples"})  # fmt: skip
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status >= 300:
            raise OSError(
                f"the graph store answered {response.status}: {body[:300].decode('utf-8', 'replace')}"
            )
        return response.status

    # ------------------------------------------------------------------ reading
    def query(self, sparql: str):  # noqa: ANN201 - pyoxigraph's result types
        return self.store.query(sparql, use_default_graph_as_union=True)

    def __len__(self) -> int:
        return len(self.store)

    def close(self) -> None:
        self.store.flush()
        del self.store
