"""Uploading files: MODS records, ``modsCollection`` files and the library's legacy pages.

An upload is one change: every record of every file is validated first, and either all of them
are stored or none is, with each problem named by file, record and line. Files are read the way
``repository import`` reads them (:func:`repository.importer.prepare_data`), so a file that
imports from the command line uploads the same.
"""

from __future__ import annotations

from flask import Response, request
from flask_babel import gettext as _

from .. import collections, edits
from ..auth import audit_records, require
from ..importer import prepare_data
from ..service import Prepared
from ..validation import Invalid, Problem
from . import bp
from .common import page, reason, repo

#: Files one upload may carry (the request body is limited too, by MAX_CONTENT_LENGTH).
MAX_FILES = 500


def _form(status: int = 200, **context: object) -> Response:
    return page("editing/upload.html", status, collections=collections.collections(), **context)


@bp.get("/upload")
def upload_form() -> Response:
    require("cataloger")
    return _form()


@bp.post("/upload")
def upload() -> Response:
    user = require("cataloger")
    files = [f for f in request.files.getlist("files") if f.filename]
    why = reason() or ""
    collection = request.form.get("collection") or None
    if collection is not None and collections.get(collection) is None:
        collection = None
    if not files:
        return _form(
            400, problems=[Problem(_("Choose at least one file to upload."), rule="upload")], why=why
        )
    if len(files) > MAX_FILES:
        text = _("At most %(n)d files can be uploaded at once.", n=MAX_FILES)
        return _form(400, problems=[Problem(text, rule="upload")], why=why)
    prepared: list[Prepared] = []
    problems: list[Problem] = []
    for f in files:
        name = f.filename or "file"
        try:
            prepared += prepare_data(repo(), f.read(), name, collection=collection, stem=_stem(name))
        except Invalid as exc:
            problems += exc.problems
        except ValueError as exc:  # a legacy page that cannot become a record (no date, …)
            problems.append(Problem(str(exc), rule="legacy", source=name))
    try:
        if problems:
            raise Invalid(problems)
        states = edits.create(repo(), prepared, who=user.name, why=why or "uploaded in the browser")
    except Invalid as exc:
        return _form(422, problems=exc.problems, why=why, files=[f.filename for f in files])
    except edits.AlreadyExists as exc:
        existing = [
            Problem(_("Record %(id)s already exists: edit it instead.", id=i), rule="repository", source=i)
            for i in exc.record_ids
        ]
        return _form(409, problems=existing, why=why, files=[f.filename for f in files])
    audit_records("record-create", [(s.id, s.version) for s in states], reason=why or None)
    return _form(201, created=states)


def _stem(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base
