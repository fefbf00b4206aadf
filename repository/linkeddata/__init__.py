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
    mime, fmt = FORMATS[ext]
    g = _graph(record_id)
    if fmt == "json-ld":
        body = g.serialize(format="json-ld", context=CONTEXT["@context"], auto_compact=True).encode("utf-8")
    else:
        body = g.serialize(format=fmt, encoding="utf-8")
    response = Response(body, content_type=f"{mime}; charset=utf-8" if ext != "rdf" else mime)
    response.headers["Link"] = _alternates(record_id)
    response.headers["Vary"] = "Accept"
    return response


@bp.get("/ns/context.jsonld")
def context() -> Response:
    return Response(json.dumps(CONTEXT, indent=2), content_type="application/ld+json")
