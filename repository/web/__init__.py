"""The catalogue for readers and librarians (server-rendered pages).

One blueprint, its routes in modules by what they serve: the collections and record
pages (:mod:`.catalogue`), search and its feeds (:mod:`.searching`), and what
crawlers read (:mod:`.crawlers`).
"""

from flask import Blueprint

bp = Blueprint(
    "catalogue", __name__, static_folder="static", template_folder="templates", static_url_path="/static"
)

from . import catalogue, crawlers, searching  # noqa: E402,F401  (they register routes on bp)

__all__ = ["bp"]
