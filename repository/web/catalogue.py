"""Reader-facing pages: the collections, their records, a record."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template

from .. import collections
from ..mods import read_article
from ..service import Deleted, Repository
from ..store import NotFound
from ..xmlio import parse

bp = Blueprint(
    "catalogue", __name__, static_folder="static", template_folder="templates", static_url_path="/static"
)

PER_COLLECTION = 50


def repo() -> Repository:
    return current_app.extensions["repository"]


@bp.get("/")
def home() -> str:
    store = repo().store
    counts = store.counts_by_collection()
    listing = [
        (c, counts.get(c.code, 0), store.recent(PER_COLLECTION, c.code) if counts.get(c.code) else [])
        for c in collections.collections()
    ]
    return render_template(
        "home.html", listing=listing, navigation=collections.navigation(), total=sum(counts.values())
    )


def _current(record_id: str):  # noqa: ANN202
    try:
        return repo().live(record_id)
    except NotFound:
        abort(404)
    except Deleted:
        abort(410)


@bp.get("/records/<record_id>")
def record(record_id: str) -> str:
    state, version = _current(record_id)
    article = read_article(parse(version.xml).getroot())
    coll = collections.get(state.collection)
    return render_template(
        "record.html", state=state, article=article, fulltext=version.fulltext, collection=coll
    )


@bp.get("/records/<record_id>/text")
def record_text(record_id: str) -> Response:
    _, version = _current(record_id)
    if version.fulltext is None:
        abort(404)
    return Response(version.fulltext, mimetype="text/plain")


@bp.get("/records/<record_id>.mods.xml")
def record_mods(record_id: str) -> Response:
    state, version = _current(record_id)
    return Response(version.xml, mimetype="application/mods+xml", headers={"ETag": f'"{state.version}"'})


@bp.get("/records/<record_id>.dc.xml")
def record_dc(record_id: str) -> Response:
    _current(record_id)
    return Response(repo().store.rendering(record_id, "oai_dc"), mimetype="application/xml")
