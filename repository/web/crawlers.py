"""What crawlers read: robots rules and sitemaps.

Crawlers get every record page (through the sitemaps) and the browse pages, and are
kept off search results, whose facet permutations are endless; the machine
interfaces have their own clients.
"""

from __future__ import annotations

from flask import Response, abort, current_app, render_template

from . import bp

PER_SITEMAP = 50_000  # the sitemaps.org limit
#: More sitemaps than any catalogue will need (5 billion records): a larger number is no page, and
#: would overflow the database's integers.
MAX_SITEMAPS = 100_000


def _base() -> str:
    return current_app.extensions["repository"].base_url


@bp.get("/robots.txt")
def robots() -> Response:
    lines = [
        "User-agent: *",
        "Disallow: /search",
        "Disallow: /search.atom",
        "Disallow: /sparql",
        "Disallow: /oai",
        "Disallow: /api/",
        "Disallow: /login",
        "Disallow: /*?*lang=",
        "Allow: /",
        "",
        f"Sitemap: {_base()}/sitemap.xml",
        "",
    ]
    return Response("\n".join(lines), mimetype="text/plain")


@bp.get("/sitemap.xml")
def sitemap_index() -> Response:
    store = current_app.extensions["repository"].store
    count = max(1, -(-store.live_count() // PER_SITEMAP))
    body = render_template("sitemap-index.xml", base=_base(), parts=range(1, count + 1))
    return Response(body, mimetype="application/xml")


@bp.get("/sitemap-<int:part>.xml")
def sitemap(part: int) -> Response:
    store = current_app.extensions["repository"].store
    if not 1 <= part <= MAX_SITEMAPS:
        abort(404)
    rows = store.live_page((part - 1) * PER_SITEMAP, PER_SITEMAP)
    if not rows and part > 1:
        abort(404)
    body = render_template("sitemap.xml", base=_base(), rows=rows)
    return Response(body, mimetype="application/xml")
