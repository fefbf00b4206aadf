"""The web application: one Flask app over one :class:`~repository.service.Repository`.

Modules around the core (catalogue, OAI-PMH, linked data, editing) each add a
blueprint here; none reaches into another's internals.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from ..service import Repository
from .catalogue import bp as catalogue_bp


def create_app(repo: Repository | None = None, *, instance: Path | str | None = None) -> Flask:
    """Build the app over ``repo`` (or the instance folder named by ``REPOSITORY_INSTANCE``)."""
    if repo is None:
        from .. import schemas

        schemas.ensure_installed()
        repo = Repository(instance or os.environ.get("REPOSITORY_INSTANCE", "instance"))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024
    app.extensions["repository"] = repo
    app.register_blueprint(catalogue_bp)
    return app
