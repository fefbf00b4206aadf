"""The WSGI application: one Flask app over one :class:`~repository.service.Repository`.

Each outer module (the catalogue, OAI-PMH, and those to come: linked data, editing)
contributes a blueprint; this factory composes them and none reaches into another.
"""

from __future__ import annotations

import os
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
    return app
