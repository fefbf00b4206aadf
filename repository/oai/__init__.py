"""OAI-PMH 2.0 at ``/oai``: the blueprint around :class:`~repository.oai.provider.Provider`."""

from __future__ import annotations

import gzip

from flask import Blueprint, Response, current_app, request, url_for

from .provider import FORMATS, Provider

bp = Blueprint("oai", __name__, static_folder="static", static_url_path="/oai/static")

__all__ = ["FORMATS", "Provider", "bp"]


def current_provider() -> Provider:
    p = current_app.extensions.get("oai")
    if p is None:
        p = current_app.extensions["oai"] = Provider(
            current_app.extensions["repository"], stylesheet_url=url_for("oai.static", filename="oai2.xsl")
        )
    return p


@bp.route("/oai", methods=["GET", "POST"])
def endpoint() -> Response:
    pairs = list((request.form if request.method == "POST" else request.args).items(multi=True))
    body = current_provider().respond(pairs, request.base_url)
    headers = {"Vary": "Accept-Encoding"}
    if request.accept_encodings.quality("gzip") > 0 and len(body) > 1024:
        body = gzip.compress(body, compresslevel=5)
        headers["Content-Encoding"] = "gzip"
    return Response(body, status=200, content_type="text/xml; charset=UTF-8", headers=headers)
