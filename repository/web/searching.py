"""Search: the results page with facets, year histogram, sorting and pages, and its Atom feed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Response, abort, current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from .. import collections
from ..search import analysis
from ..search.index import FACETS, SORTS, SearchRequest, SearchResult
from ..xmlio import xml_chars
from . import bp
from .i18n import current_language, record_text

PER_PAGE = 20
#: Deeper pages are refused: a reader refines the search; a crawler stops here.
MAX_PAGE = 50
SNIPPET = 90


def search_index():  # noqa: ANN201 - the SearchIndex, opened by the app factory
    index = current_app.extensions.get("search")
    if index is None:
        abort(503, description="the search index is not available in this process")
    g.search_behind = index.refresh()  # changes not searchable yet (shown as a notice)
    return index


@dataclass
class Parsed:
    request: SearchRequest
    page: int
    args: list[tuple[str, str]]  # the query's own parameters (no page, no lang), for links


def parse_args() -> Parsed:
    # Without the characters XML forbids: no record holds them, and echoed into the feed they break it.
    args = MultiDict((k, xml_chars(v)) for k, v in request.args.items(multi=True))
    text = (args.get("q") or "").strip()[:200]
    filters = {f: [v for v in args.getlist(f) if v.strip()][:5] for f in FACETS if args.getlist(f)}
    date_from = (args.get("from") or "").strip()[:10] or None
    date_to = (args.get("to") or "").strip()[:10] or None
    sort = args.get("sort") if args.get("sort") in SORTS else "relevance"
    try:
        page = max(1, int(args.get("page", "1")))
    except ValueError:
        page = 1
    own: list[tuple[str, str]] = []
    if text:
        own.append(("q", text))
    for f, values in filters.items():
        own += [(f, v) for v in values]
    if date_from:
        own.append(("from", date_from))
    if date_to:
        own.append(("to", date_to))
    if sort != "relevance":
        own.append(("sort", sort))
    req = SearchRequest(
        text=text,
        filters=filters,
        date_from=date_from,
        date_to=date_to,
        sort=sort,
        offset=(page - 1) * PER_PAGE,
        limit=PER_PAGE,
    )
    return Parsed(req, page, own)


def link(args: list[tuple[str, str]], endpoint: str = "catalogue.search", **extra: str) -> str:
    query = list(args) + [(k, v) for k, v in extra.items()]
    lang = request.args.get("lang")
    if lang:
        query.append(("lang", lang))
    base = url_for(endpoint)
    return f"{base}?{urlencode(query)}" if query else base


def highlight(text: str, words: list[str], limit: int | None = None) -> Markup:
    """``text`` (converted for the reader's script) with the query words marked, around the first match."""
    shown = record_text(text)
    spans = analysis.highlight_spans(shown, words) if words else []
    start, end = 0, len(shown)
    if limit is not None and len(shown) > limit:
        first = spans[0][0] if spans else 0
        start = max(0, first - limit // 3)
        end = min(len(shown), start + limit)
    out = [Markup("…") if start else Markup("")]
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(escape(shown[pos:s]))
        out.append(Markup("<mark>{}</mark>").format(shown[s:e]))
        pos = e
    out.append(escape(shown[pos:end]))
    if end < len(shown):
        out.append(Markup("…"))
    return Markup("").join(out)


def _hits(result: SearchResult) -> list[dict]:
    store = current_app.extensions["repository"].store
    rows = []
    for record_id, score in result.hits:
        state = store.get(record_id)
        if state is None or state.deleted:
            continue  # the index has not caught up with a deletion yet
        version = store.version(record_id)
        rows.append(
            {
                "state": state,
                "title": highlight(state.title or record_id, result.words),
                "snippet": highlight(version.fulltext or "", result.words, SNIPPET)
                if version.fulltext
                else "",
                "score": score,
            }
        )
    return rows


LANGUAGE_NAMES = {"zh-Hans": "Chinese (simplified)", "zh-Hant": "Chinese (traditional)", "zh": "Chinese",
                  "en": "English", "zh-Latn-pinyin": "Chinese (pinyin)"}  # fmt: skip


def facet_value_label(facet: str, value: str) -> str:
    """What a reader sees for a facet value: collections and languages by name, the rest as catalogued."""
    if facet == "collection":
        coll = collections.get(value)
        return coll.name(current_language()) if coll else value
    if facet == "language":
        return _(LANGUAGE_NAMES[value]) if value in LANGUAGE_NAMES else value
    return record_text(value)


FACET_LABELS = {
    "newspaper": "Newspaper",
    "author": "Author",
    "collection": "Collection",
    "language": "Language",
}


@bp.get("/search")
def search() -> str | tuple[str, int]:
    parsed = parse_args()
    if parsed.page > MAX_PAGE:
        message = _("Only the first %(n)d pages of results are shown; please refine the search.", n=MAX_PAGE)
        return render_template("message.html", title=_("Search"), message=message), 400
    index = search_index()
    behind = g.search_behind
    result = index.search(parsed.request)
    pages = min(MAX_PAGE, math.ceil(result.total / PER_PAGE)) if result.total else 0
    selected = [(f, v) for f, values in parsed.request.filters.items() for v in values]
    removal = {(f, v): link([(k, x) for k, x in parsed.args if (k, x) != (f, v)]) for f, v in selected}
    top = max((c for _, c in result.years), default=0)
    return render_template(
        "search.html",
        parsed=parsed,
        result=result,
        hits=_hits(result),
        pages=pages,
        max_page=MAX_PAGE,
        selected=selected,
        removal=removal,
        facet_labels=FACET_LABELS,
        years_top=top,
        link=link,
        label=facet_value_label,
        without_dates=[(k, v) for k, v in parsed.args if k not in ("from", "to")],
        behind=behind,
        indexed=len(index),
        feed_url=link(parsed.args, "catalogue.search_feed"),
        robots="noindex,follow" if selected or parsed.page > 1 or parsed.request.date_from else None,
    )


@bp.get("/search.atom")
def search_feed() -> Response:
    """The newest 50 matching records as Atom: a reader subscribes to a search."""
    parsed = parse_args()
    parsed.request.sort = "date_desc" if not parsed.request.text else parsed.request.sort
    parsed.request.limit, parsed.request.offset = 50, 0
    result = search_index().search(parsed.request, facets=False)
    store = current_app.extensions["repository"].store
    states = [s for s in (store.get(i) for i, _ in result.hits) if s is not None and not s.deleted]
    updated = max((s.datestamp for s in states), default=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    base = current_app.extensions["repository"].base_url
    query = urlencode(parsed.args)
    body = render_template(
        "feed.atom.xml",
        states=states,
        updated=updated,
        feed_id=f"{base}/search.atom?{query}",
        html_url=f"{base}/search?{query}",
        self_url=f"{base}/search.atom?{query}",
        base=base,
        title=parsed.request.text,
    )
    return Response(body, mimetype="application/atom+xml")
