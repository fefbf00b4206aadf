"""Linked data: cool URIs for records, and their RDF documents chosen by content negotiation.

``/id/article/{id}`` names the article itself and answers ``303 See Other`` to a document
about it: the HTML record page, or ``/data/article/{id}.{ttl,jsonld,rdf,nt}`` (W3C "Cool URIs
for the Semantic Web"). The graph comes from :func:`repository.rdf.record_graph`, the one
mapping of a record to RDF.
"""

from __future__ import annotations

import json
import threading

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for
from rdflib import Graph

from ..mods import read_article
from ..rdf import PREFIXES, record_graph
from ..service import Deleted, Repository
from ..store import NotFound
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
    try:
        state, version = _repo().live(record_id)
    except NotFound:
        abort(404)
    except Deleted:
        abort(410)
    article = read_article(parse(version.xml).getroot())
    return record_graph(record_id, article, _repo().base_url, state.collection)


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
    try:
        node = ox.NamedNode(uri)
    except ValueError:  # not an IRI (a space, a NUL in the path): nothing is named by it
        abort(404)
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

    graph = _graph_store()

    def chunks():  # noqa: ANN202
        gz = zlib.compressobj(6, zlib.DEFLATED, 31)
        for data in graph.ntriples():
            yield gz.compress(data)
        yield gz.flush()

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
    sample = store.sample_id()
    if sample is not None:
        g.add((ds, VOID.exampleResource, URIRef(f"{base}/id/article/{sample}")))
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


# --------------------------------------------------------------------------- SPARQL 1.1 Protocol
EXAMPLES = [
    (
        "Articles per newspaper per year",
        """PREFIX schema: <http://schema.org/>
# count the articles of each year (a schema:PublicationVolume) of each paper, then name them
SELECT ?paper ?year ?articles WHERE {
  { SELECT ?volume (COUNT(?article) AS ?articles) WHERE { ?volume schema:hasPart ?article }
    GROUP BY ?volume }
  ?volume schema:datePublished ?year ; schema:isPartOf/schema:name ?paper .
} ORDER BY ?paper ?year""",
    ),
    (
        "Everything one journalist wrote",
        """PREFIX schema: <http://schema.org/>
SELECT ?article ?headline ?date WHERE {
  ?article schema:author/schema:name "吕丽"@zh-Hans ; schema:headline ?headline ; schema:datePublished ?date .
} ORDER BY DESC(?date)""",
    ),
    (
        "Articles mentioning a place",
        """PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX schema: <http://schema.org/>
# the first 100 articles whose place or title names it, then their headlines
SELECT ?article ?headline WHERE {
  { SELECT DISTINCT ?article WHERE {
      { ?article dcterms:spatial ?place } UNION { ?article dcterms:title ?place }
      FILTER (CONTAINS(STR(?place), "金普"))
    } LIMIT 100 }
  ?article schema:headline ?headline .
}""",
    ),
]


_SERVICE_LOCK = threading.Lock()


def _sparql_service():  # noqa: ANN202 - SparqlService, imported lazily
    from .sparql import Limits, SparqlService

    service = current_app.extensions.get("sparql")
    if service is None:
        with _SERVICE_LOCK:  # simultaneous first requests must share one pool and one snapshot folder
            service = current_app.extensions.get("sparql")
            if service is None:
                s = _repo().settings
                limits = Limits(
                    timeout=s.sparql_timeout, rows=s.sparql_rows, concurrency=s.sparql_concurrency
                )
                service = current_app.extensions["sparql"] = SparqlService(_graph_store(), limits)
    return service


def _cors(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Vary"] = "Accept"
    return response


def _sparql_error(status: int, message: str) -> Response:
    return _cors(Response(message + "\n", status=status, content_type="text/plain; charset=utf-8"))


@bp.route("/sparql", methods=["GET", "POST", "OPTIONS"])
def sparql() -> Response:
    """The SPARQL 1.1 Protocol query operation (GET, form POST, direct POST); CORS on this route only."""
    from .sparql import QueryError

    if request.method == "OPTIONS":
        return _cors(Response(status=204, headers={
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Accept",
            "Access-Control-Max-Age": "86400",
        }))  # fmt: skip
    defaults = request.args.getlist("default-graph-uri")
    named = request.args.getlist("named-graph-uri")
    if request.method == "GET":
        queries = request.args.getlist("query")
    elif request.mimetype == "application/x-www-form-urlencoded":
        queries = request.form.getlist("query")
        defaults += request.form.getlist("default-graph-uri")
        named += request.form.getlist("named-graph-uri")
    elif request.mimetype == "application/sparql-query":
        charset = request.mimetype_params.get("charset", "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            return _sparql_error(400, f"a direct query must be sent in UTF-8, not {charset}")
        try:
            queries = [request.get_data().decode("utf-8")]
        except UnicodeDecodeError:
            return _sparql_error(400, "the query is not valid UTF-8")
    else:
        return _sparql_error(
            415,
            "send a query as GET ?query=, as a form (application/x-www-form-urlencoded)"
            " or as application/sparql-query",
        )
    if not queries and request.method == "GET":
        return _cors(Response(_query_page(), content_type="text/html; charset=utf-8"))
    if len(queries) != 1:
        return _sparql_error(400, f"exactly one query is needed, {len(queries)} were given")
    accept = [mime for mime, quality in request.accept_mimetypes if quality > 0]
    try:
        media, body = _sparql_service().execute(
            queries[0], default_graphs=defaults, named_graphs=named, accept=accept, base_iri=request.base_url
        )
    except QueryError as exc:
        return _sparql_error(exc.status, exc.message)
    charset = (
        "; charset=utf-8" if media.startswith(("text/", "application/sparql", "application/json")) else ""
    )
    return _cors(Response(body, content_type=media + charset))


def _query_page() -> str:
    from markupsafe import escape

    examples = "".join(
        f'<li><a href="?query={escape(_quote(q))}">{escape(title)}</a><pre>{escape(q)}</pre></li>'
        for title, q in EXAMPLES
    )
    first = escape(EXAMPLES[0][1])
    return f"""<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>SPARQL · 大连图书馆</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:auto;padding:1rem;line-height:1.5}}
textarea{{width:100%;height:14rem;font-family:monospace}}pre{{background:#f4f4f4;padding:.5rem;overflow:auto}}</style>
</head><body><h1>SPARQL 1.1 <span lang="en">query service</span></h1>
<form method="post" action=""><label for="query">查询 <span lang="en">Query</span></label>
<textarea id="query" name="query">{first}</textarea>
<label for="format">格式 <span lang="en">results as</span></label>
<select id="format" onchange="this.form.setAttribute('data-accept', this.value)">
<option>application/sparql-results+json</option></select>
<button type="submit">运行 <span lang="en">Run</span></button></form>
<h2>示例 <span lang="en">Examples</span></h2><ul>{examples}</ul>
<p lang="en">Endpoint: <code>{escape(request.base_url)}</code> (GET <code>?query=</code>, POST form or
<code>application/sparql-query</code>). Results in SPARQL JSON, XML, CSV or TSV; graphs in Turtle,
N-Triples, RDF/XML or JSON-LD, by <code>Accept</code>. Limits: {_repo().settings.sparql_timeout:g} s,
{_repo().settings.sparql_rows:,} rows, {_repo().settings.sparql_concurrency} queries at once.</p>
</body></html>"""


def _quote(q: str) -> str:
    from urllib.parse import quote

    return quote(q, safe="")
