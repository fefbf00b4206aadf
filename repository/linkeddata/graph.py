"""The records' RDF in an embedded, on-disk Oxigraph store (pyoxigraph).

The graph is derived data. The triples about each article live in a named graph of their
own, so a save replaces exactly them and a deletion clears them; what articles share
(newspapers, issues, people, collections) lives once in a shared graph, so that queries,
which see the union of all graphs as their default graph, never meet a triple twice.
Shared resources stay when the last article naming them goes; a rebuild tidies them.

It follows the record store by change sequence number (:mod:`repository.derived`);
``repository rdf rebuild`` recreates it from the records.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pyoxigraph as ox

from ..derived import Follower
from ..mods import read_article
from ..rdf import article_uri, collection_graph, record_graph, to_ntriples
from ..service import Repository
from ..store import Changed
from ..xmlio import parse


class GraphUnavailable(RuntimeError):
    """The graph store cannot be opened (most often: another process has it open)."""


class GraphStore(Follower):
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
        for change in batch:
            name = self.graph_name(change.id)
            if self.store.contains_named_graph(name):
                self.store.remove_graph(name)
            if not change.deleted:
                own, shared = self._ntriples(change.id, change.collection, change.xml)
                self.store.load(own, ox.RdfFormat.N_TRIPLES, to_graph=name)
                self.store.load(shared, ox.RdfFormat.N_TRIPLES, to_graph=self.shared)
        self.store.flush()

    def clear(self) -> None:
        self.store.clear()

    def _ntriples(self, record_id: str, collection: str, xml: bytes) -> tuple[bytes, bytes]:
        """The record's triples as N-Triples: (about the article itself, about what it shares)."""
        article = read_article(parse(xml, record_id).getroot())
        if article.collection is None:
            article.collection = collection
        subject = f"<{article_uri(self.repo.base_url, record_id)}> ".encode()
        own, shared = [], []
        for line in to_ntriples(record_graph(record_id, article, self.repo.base_url)).splitlines(
            keepends=True
        ):
            (own if line.startswith(subject) else shared).append(line)
        return b"".join(own), b"".join(shared)

    def _load_collections(self) -> None:
        """The collections exist as resources even before they hold a record."""
        from .. import collections

        for c in collections.collections():
            data = to_ntriples(collection_graph(c.code, self.repo.base_url))
            self.store.load(data, ox.RdfFormat.N_TRIPLES, to_graph=self.shared)

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
