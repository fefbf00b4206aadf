"""Linked data: cool URIs for records, and their RDF documents chosen by content negotiation.

``/id/article/{id}`` names the article itself and answers ``303 See Other`` to a document
about it: the HTML record page, or ``/data/article/{id}.{ttl,jsonld,rdf,nt}`` (W3C "Cool URIs
for the Semantic Web"). The graph comes from :func:`repository.rdf.record_graph`, the one
mapping of a record to RDF.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from rdflib import Graph

from ..mods import read_article
from ..rdf import PREFIXES, record_graph
from ..service import Repository, is_record_id
from ..xmlio import parse

bp = Blueprint("linkeddata", __name__)

#: extension → (media type, rdflib format)
FORMATS = {
    "ttl": ("text/turtle", "turtle"),
    "jsonld": ("application/ld+json", "json-ld"),
    "rdf": ("application/rdf+xml", "xml"),
    "nt": ("application/n-triples", "nt"),
}
_BY_TYPE = {mime: ext for ext, (mime, _) in FORMATS.items()}

#: The JSON-LD context the repository publishes at /ns/context.jsonld and uses in its documents.
CONTEXT = {"@context": dict(PREFIXES)}


def _repo() -> Repository:
    return current_app.extensions["repository"]


def _graph(record_id: str) -> Graph:
    if not is_record_id(record_id):
        abort(404)
    state = _repo().store.get(record_id)
    if state is None:
        abort(404)
    if state.deleted:
        abort(410)
    version = _repo().store.version(record_id)
    article = read_article(parse(version.xml).getroot())
    if article.collection is None:
        article.collection = state.collection
    return record_graph(record_id, article, _repo().base_url)


def _alternates(record_id: str) -> str:
    links = [
        f'<{url_for("linkeddata.document", record_id=record_id, ext=ext)}>; rel="alternate"; type="{mime}"'
        for ext, (mime, _) in FORMATS.items()
    ]
    links.append(f'<{url_for("catalogue.record", record_id=record_id)}>; rel="alternate"; type="text/html"')
    return ", ".join(links)


@bp.get("/id/article/<record_id>")
def article(record_id: str) -> Response:
    """303 to the document the client asked for (HTML unless it prefers an RDF type)."""
    _graph(record_id)  # 404/410 before redirecting
    offered = ["text/html", *_BY_TYPE]
    best = request.accept_mimetypes.best_match(offered, default="text/html")
    if best == "text/html" or best is None:
        target = url_for("catalogue.record", record_id=record_id)
    else:
        target = url_for("linkeddata.document", record_id=record_id, ext=_BY_TYPE[best])
    response = redirect(target, code=303)
    response.headers["Vary"] = "Accept"
    response.headers["Link"] = _alternates(record_id)
    return response


@bp.get("/data/article/<record_id>.<ext>")
def document(record_id: str, ext: str) -> Response:
    if ext not in FORMATS:
        abort(404)
    response = _serialize(_graph(record_id), ext)
    response.headers["Link"] = _alternates(record_id)
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/ns/context.jsonld")
def context() -> Response:
    return Response(json.dumps(CONTEXT, indent=2), content_type="application/ld+json")


# --------------------------------------------------------------------------- shared resources
#: Resources the articles share, described from the graph store: what is said about them,
#: and what points at them (so a newspaper's document lists its articles).
RESOURCE_KINDS = ("periodical", "agent", "collection")


def _graph_store():  # noqa: ANN202 - GraphStore, imported lazily (native library)
    graph = current_app.extensions.get("graph")
    if graph is None:
        abort(503, "the graph store is not available in this process")
    graph.ensure_current()
    return graph


def _describe(uri: str) -> Graph:
    import pyoxigraph as ox

    store = _graph_store().store
    node = ox.NamedNode(uri)
    g = Graph()
    for prefix, ns in PREFIXES.items():
        g.bind(prefix, ns)
    lines = [f"{q.subject} {q.predicate} {q.object} .\n" for q in store.quads_for_pattern(node, None, None)]
    lines += [f"{q.subject} {q.predicate} {q.object} .\n" for q in store.quads_for_pattern(None, None, node)]
    if not lines:
        abort(404)
    g.parse(data="".join(dict.fromkeys(lines)), format="nt")
    return g


def _serialize(g: Graph, ext: str) -> Response:
    mime, fmt = FORMATS[ext]
    if fmt == "json-ld":
        body = g.serialize(format="json-ld", context=CONTEXT["@context"], auto_compact=True).encode("utf-8")
    else:
        body = g.serialize(format=fmt, encoding="utf-8")
    return Response(body, content_type=f"{mime}; charset=utf-8" if ext != "rdf" else mime)


@bp.get("/id/<kind>/<path:rest>")
def resource(kind: str, rest: str) -> Response:
    """303 to the RDF document about a newspaper, issue, person or collection (Turtle unless asked)."""
    if kind not in RESOURCE_KINDS:
        abort(404)
    _describe(f"{_repo().base_url}/id/{kind}/{rest}")
    best = request.accept_mimetypes.best_match(list(_BY_TYPE), default="text/turtle") or "text/turtle"
    response = redirect(
        url_for("linkeddata.resource_document", kind=kind, rest=rest, ext=_BY_TYPE[best]), 303
    )
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/data/<kind>/<path:rest>.<ext>")
def resource_document(kind: str, rest: str, ext: str) -> Response:
    if kind not in RESOURCE_KINDS or ext not in FORMATS:
        abort(404)
    response = _serialize(_describe(f"{_repo().base_url}/id/{kind}/{rest}"), ext)
    links = [
        (url_for("linkeddata.resource_document", kind=kind, rest=rest, ext=e), m)
        for e, (m, _) in FORMATS.items()
    ]
    response.headers["Link"] = ", ".join(f'<{u}>; rel="alternate"; type="{m}"' for u, m in links)
    return response


# --------------------------------------------------------------------------- dump and VoID
@bp.get("/data/dump.nt.gz")
def dump() -> Response:
    """The whole graph as gzipped N-Triples, streamed (never held in memory whole)."""
    import zlib

    store = _graph_store().store

    def chunks():  # noqa: ANN202
        gz = zlib.compressobj(6, zlib.DEFLATED, 31)
        buffer = []
        for i, q in enumerate(store.quads_for_pattern(None, None, None), 1):
            buffer.append(f"{q.subject} {q.predicate} {q.object} .\n")
            if i % 5000 == 0:
                yield gz.compress("".join(buffer).encode("utf-8"))
                buffer.clear()
        yield gz.compress("".join(buffer).encode("utf-8")) + gz.flush()

    return Response(
        chunks(),
        content_type="application/n-triples",
        headers={"Content-Encoding": "gzip", "Content-Disposition": 'attachment; filename="dump.nt.gz"'},
    )


@bp.get("/.well-known/void")
def void() -> Response:
    """The VoID description of the dataset (Turtle by default, any of the four RDF syntaxes by Accept)."""
    from rdflib import RDF, Literal, Namespace, URIRef
    from rdflib.namespace import DCTERMS, XSD

    from .. import collections

    VOID = Namespace("http://rdfs.org/ns/void#")
    base = _repo().base_url
    graph = _graph_store()
    store = _repo().store
    g = Graph()
    g.bind("void", VOID)
    g.bind("dcterms", DCTERMS)
    ds = URIRef(f"{base}/.well-known/void#dataset")
    g.add((ds, RDF.type, VOID.Dataset))
    g.add((ds, DCTERMS.title, Literal("大连图书馆地方文献", lang="zh-Hans")))
    g.add((ds, DCTERMS.title, Literal("Dalian Library local documents", lang="en")))
    g.add((ds, DCTERMS.publisher, Literal("大连图书馆", lang="zh-Hans")))
    g.add((ds, DCTERMS.license, URIRef(_repo().settings.data_license)))
    g.add((ds, VOID.uriSpace, Literal(f"{base}/id/")))
    g.add((ds, VOID.dataDump, URIRef(f"{base}/data/dump.nt.gz")))
    g.add((ds, VOID.sparqlEndpoint, URIRef(f"{base}/sparql")))
    for ns in ("http://purl.org/dc/terms/", "http://schema.org/", "http://purl.org/dc/dcmitype/"):
        g.add((ds, VOID.vocabulary, URIRef(ns)))
    g.add((ds, VOID.triples, Literal(len(graph), datatype=XSD.integer)))
    sample = next(iter(store.records()), None)
    if sample is not None:
        g.add((ds, VOID.exampleResource, URIRef(f"{base}/id/article/{sample.id}")))
    counts = store.counts_by_collection()
    for c in collections.collections():
        subset = URIRef(f"{base}/.well-known/void#{c.code}")
        g.add((ds, VOID.subset, subset))
        g.add((subset, RDF.type, VOID.Dataset))
        for tag in collections.LANGUAGES:
            g.add((subset, DCTERMS.title, Literal(c.name(tag), lang=tag)))
        g.add((subset, DCTERMS.source, URIRef(f"{base}/id/collection/{c.code}")))
        g.add((subset, VOID.entities, Literal(counts.get(c.code, 0), datatype=XSD.integer)))
    best = request.accept_mimetypes.best_match(list(_BY_TYPE), default="text/turtle") or "text/turtle"
    response = _serialize(g, _BY_TYPE[best])
    response.headers["Vary"] = "Accept"
    return response
