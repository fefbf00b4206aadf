"""The WSGI application: one Flask app over one :class:`~repository.service.Repository`.

Each outer module (the catalogue, OAI-PMH, and those to come: linked data, editing)
contributes a blueprint; this factory composes them and none reaches into another.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from flask import Flask

from .linkeddata import bp as linkeddata_bp
from .oai import bp as oai_bp
from .service import Repository
from .web import bp as catalogue_bp


def create_app(repo: Repository | None = None, *, instance: Path | str | None = None) -> Flask:
    """Build the app over ``repo`` (or the instance folder named by ``REPOSITORY_INSTANCE``)."""
    if repo is None:
        from . import schemas

        schemas.ensure_installed()
        repo = Repository(instance or os.environ.get("REPOSITORY_INSTANCE", "instance"))
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024
    app.extensions["repository"] = repo
    app.register_blueprint(catalogue_bp)
    app.register_blueprint(oai_bp)
    app.register_blueprint(linkeddata_bp)
    _open_graph(app, repo)
    return app


def _open_graph(app: Flask, repo: Repository) -> None:
    """Open the RDF graph store, bring it up to date, and have every commit keep it so.

    One process can hold the store; a second app over the same instance (a test, a second
    server) runs without it and says so, rather than failing to start.
    """
    from .linkeddata.graph import GraphStore, GraphUnavailable

    try:
        graph = GraphStore(repo)
    except GraphUnavailable as exc:
        app.logger.warning("%s; serving without the graph store", exc)
        return
    # A large backlog (a first start after a bulk import) must not hold up the server.
    threading.Thread(target=graph.ensure_current, name="graph catch-up", daemon=True).start()
    repo.listeners.append(graph.listen)
    app.extensions["graph"] = graph
