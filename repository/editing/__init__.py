"""Cataloging in the browser: the record editor, history, diffs, reverts, deletion, new records,
uploads and the audit log.

One blueprint, its routes in modules by task: editing and making records (:mod:`.views`), a
record's versions (:mod:`.history`), uploading files (:mod:`.upload`) and the administrators'
audit log (:mod:`.admin`). Every change goes through :mod:`repository.edits` and so through the
repository's one save path, exactly as the REST API's do; pages only turn its outcomes into HTML
that keeps what the cataloger typed.
"""

from flask import Blueprint

bp = Blueprint(
    "editing",
    __name__,
    static_folder="static",
    template_folder="templates",
    static_url_path="/editing/static",
)

from . import admin, history, upload, views  # noqa: E402,F401  (they register routes on bp)
from .common import labels  # noqa: E402

bp.context_processor(labels)

__all__ = ["bp"]
