"""The WSGI application: one Flask app over one :class:`~repository.service.Repository`.

Each outer module (the catalogue, OAI-PMH, and those to come: linked data, editing)
contributes a blueprint; this factory composes them and none reaches into another.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from .api import bp as api_bp
from .auth import bp as auth_bp
from .auth import init_app as init_auth
from .auth import session_secret
from .editing import bp as editing_bp
from .linkeddata import bp as linkeddata_bp
from .oai import bp as oai_bp
from .service import Repository
from .serving import init_app as init_serving
from .store import StoreUnavailable
from .web import bp as catalogue_bp
from .web import i18n
from .workingcopy import WorkingCopy


def create_app(
    repo: Repository | None = None,
    *,
    instance: Path | str | None = None,
    records: Path | str | None = None,
    lead: bool = False,
) -> Flask:
    """Build the app over ``repo`` (or the instance folder named by ``REPOSITORY_INSTANCE``).

    ``records`` (or ``REPOSITORY_RECORDS``) is the catalogers' working copy: when given, every
    change saved through the app is written to its file there as well. With ``lead`` (a
    server), one process applies every change to the shared search index as it is committed,
    keeping its writer open (:meth:`repository.derived.Follower.lead`).
    """
    if repo is None:
        from . import schemas

        schemas.ensure_installed()
        repo = Repository(instance or os.environ.get("REPOSITORY_INSTANCE", "instance"))
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024
    app.extensions["repository"] = repo
    init_serving(app)  # first: the request id and timing wrap everything else
    i18n.init_app(app, repo.instance)
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(oai_bp)
    app.register_blueprint(linkeddata_bp)
    # Accounts, sessions and the API: the cookie key is derived from the instance secret, so every
    # worker over one instance shares it and sessions survive a restart.
    app.secret_key = session_secret(repo.instance)
    init_auth(app, repo)
    app.register_blueprint(auth_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(editing_bp)
    app.register_error_handler(StoreUnavailable, _unavailable)
    _follow(app, repo, "graph", _graph_store)
    _follow(app, repo, "search", _search_index, lead=lead)
    records = records or os.environ.get("REPOSITORY_RECORDS")
    if records:
        _follow(app, repo, "working copy", lambda r: WorkingCopy(r, Path(records)))
    return app


def _unavailable(exc: StoreUnavailable):  # noqa: ANN202 - a Flask response
    """A save the store cannot take now (its disk is full, it is read-only): 503, said plainly.

    The reason names the condition (full, read-only, unreachable), never the store's location.
    The API answers its own JSON form of this before it gets here.
    """
    from flask import current_app, render_template
    from flask_babel import gettext as _

    current_app.logger.error("%s", exc)
    page = render_template(
        "message.html",
        title=_("The repository cannot save changes now"),
        message=_("%(reason)s. Nothing of this change was saved; please try again later.", reason=exc.reason),
    )
    return page, 503, {"Retry-After": "60"}


def _follow(app: Flask, repo: Repository, name: str, opener, *, lead: bool = False) -> None:  # noqa: ANN001
    """Open a derived store (graph, search index), catch it up, and have every commit keep it so.

    A store one process can hold (the graph) may be held by another (a test, a second
    server): the app then runs without it and says so, rather than failing to start.
    """
    try:
        follower = opener(repo)
    except RuntimeError as exc:
        app.logger.warning("%s; serving without the %s", exc, name)
        return
    # A large backlog (a first start after a bulk import) must not hold up the server.
    if lead:
        follower.lead()
    else:
        follower.follow_in_background()
    repo.listeners.append(follower.listen)
    app.extensions[name] = follower


def _graph_store(repo: Repository):  # noqa: ANN202 - imported lazily: pyoxigraph loads a native store
    from .linkeddata.graph import GraphStore

    return GraphStore.claim(repo)


def _search_index(repo: Repository):  # noqa: ANN202 - imported lazily: tantivy loads a native index
    from .search.index import SearchIndex

    return SearchIndex(repo)
