"""Reader-facing pages: the collections, browsing, a record and its other forms."""

from __future__ import annotations

import json

from flask import Response, abort, current_app, g, render_template, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from .. import citations, collections
from ..mods import Article, read_article
from ..search.index import SearchRequest
from ..service import Deleted, Repository
from ..store import NotFound
from ..xmlio import parse
from . import bp
from .searching import link, search_index

RECENT = 10
BROWSABLE = {"newspaper": "Newspapers", "author": "Authors", "year": "Years", "collection": "Collections"}


def repo() -> Repository:
    return current_app.extensions["repository"]


@bp.get("/")
def home() -> str:
    store = repo().store
    counts = store.counts_by_collection()
    return render_template(
        "home.html",
        navigation=collections.navigation(),
        counts=counts,
        total=sum(counts.values()),
        recent=store.recent(RECENT),
    )


@bp.get("/collections/<code>")
def collection(code: str) -> Response:
    if collections.get(code) is None:
        abort(404)
    return current_app.redirect(link([("collection", code)], sort="date_desc"))


@bp.get("/browse/<facet>")
def browse(facet: str) -> str:
    """Every value of a facet with its count, each a search: browse by newspaper, author, date."""
    if facet not in BROWSABLE:
        abort(404)
    index = search_index()
    result = index.search(SearchRequest(limit=0, facet_size=1000))
    if facet == "year":
        values = [(str(y), c) for y, c in sorted(result.years, reverse=True)]
        targets = {v: link([("from", v), ("to", v)], sort="date_desc") for v, _ in values}
    else:
        values = result.facets.get(facet, [])
        targets = {v: link([(facet, v)], sort="date_desc") for v, _ in values}
    names = {c.code: c for c in collections.collections()}
    return render_template(
        "browse.html", facet=facet, label=_(BROWSABLE[facet]), values=values, targets=targets, names=names,
        facets=BROWSABLE,
    )  # fmt: skip


def _current(record_id: str):  # noqa: ANN202
    try:
        return repo().live(record_id)
    except NotFound:
        abort(404)
    except Deleted:
        page = render_template(
            "message.html",
            title=_("Record deleted"),
            message=_("Record %(id)s has been deleted from the catalogue.", id=record_id),
            history=url_for("editing.history", record_id=record_id) if g.get("user") else None,
        )
        abort(Response(page, status=410, mimetype="text/html"))


def _article(record_id: str):  # noqa: ANN202
    state, version = _current(record_id)
    article = read_article(parse(version.xml).getroot())
    if article.collection is None:
        article.collection = state.collection
    return state, version, article


def schema_org(article: Article, url: str) -> Markup:
    """schema.org JSON-LD for search engines, safe inside a ``<script>`` element."""
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "@id": url,
        "url": url,
        "headline": article.title,
        "inLanguage": article.language_tag,
        "datePublished": article.date_issued,
        "author": [
            {"@type": "Person" if n.type == "personal" else "Organization", "name": n.text}
            for n in article.creators
        ],
        "isPartOf": {"@type": "Periodical", "name": article.host.title} if article.host else None,
        "pageStart": article.host.page if article.host and article.host.page else None,
        "about": [s.topic or s.geographic for s in article.subjects if s.topic or s.geographic] or None,
        "abstract": article.abstract,
    }
    text = json.dumps({k: v for k, v in data.items() if v not in (None, [], "")}, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def highwire(article: Article, url: str) -> list[tuple[str, str]]:
    """Highwire Press ``citation_*`` tags: what Google Scholar and Zotero read from a page."""
    tags = [("citation_title", article.title)]
    tags += [("citation_author", n.text) for n in article.creators]
    if article.date_issued:
        tags.append(("citation_publication_date", article.date_issued.replace("-", "/")))
    if article.host:
        tags.append(("citation_journal_title", article.host.title))
        if article.host.page:
            tags.append(("citation_firstpage", article.host.page))
    if article.language_tag:
        tags.append(("citation_language", article.language_tag))
    tags.append(("citation_abstract_html_url", url))
    return tags


@bp.get("/records/<record_id>")
def record(record_id: str) -> str:
    state, version, article = _article(record_id)
    url = repo().record_url(record_id)
    return render_template(
        "record.html",
        state=state,
        article=article,
        fulltext=version.fulltext,
        collection=collections.get(state.collection),
        canonical=url,
        schema_org=schema_org(article, url),
        highwire=highwire(article, url),
        citations={style: citations.formatted(article, url, style) for style in citations.STYLES},
        exports=citations.EXPORTS,
    )


@bp.get("/records/<record_id>/cite.<fmt>")
def record_citation(record_id: str, fmt: str) -> Response:
    export = citations.EXPORTS.get(fmt)
    if export is None:
        abort(404)
    _, _, article = _article(record_id)
    body = export.render(article, record_id, repo().record_url(record_id))
    return Response(
        body,
        mimetype=export.mimetype,
        headers={"Content-Disposition": f'attachment; filename="{record_id}.{export.extension}"'},
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
