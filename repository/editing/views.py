"""Editing a record and making a new one: the XML and the form, one page, one save.

The page posts the XML editor's text, the form's fields and a hidden copy of the fields as they
were shown. Fields the cataloger changed are written into the XML (:func:`.fields.apply_fields`),
so the XML and the form can both be edited before one save; "Apply" does that without saving.
A save that is refused (invalid, or made to a version someone else has replaced) shows the page
again with the cataloger's text as it was sent: nothing typed is ever lost.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from lxml import etree

from .. import collections, edits, xmlio
from ..auth import audit_records, require
from ..service import Deleted, is_record_id
from ..store import NotFound, StaleVersion
from ..validation import Invalid, Problem
from . import bp
from .common import form_int, form_text, message, page, reason, repo
from .diff import field_changes, line_diff
from .fields import (
    MAX_ROWS,
    NAME_TYPES,
    ROLES,
    Fields,
    apply_fields,
    read_fields,
    serialize_like,
    suggest_identifier,
    template,
)


def _submitted_fields() -> Fields:
    """The form's fields as posted (name rows with an empty name are dropped), without the characters
    XML forbids (they could not be written into the record)."""

    def field(name: str) -> str:
        return xmlio.xml_chars(request.form.get(name, ""))

    def every(name: str) -> list[str]:
        return [xmlio.xml_chars(v) for v in request.form.getlist(name)]

    names = [
        (n, r if r in ROLES else "aut", t if t in NAME_TYPES else "personal")
        for n, r, t in zip(every("name"), every("role"), every("name_type"), strict=False)
        if n.strip()
    ][:MAX_ROWS]

    def lines(name: str) -> list[str]:
        return [v.strip() for v in xmlio.xml_chars(form_text(name)).split("\n") if v.strip()][:MAX_ROWS]

    return Fields(
        identifier=field("identifier").strip(),
        collection=field("collection").strip(),
        title=field("title"),
        subtitle=field("subtitle"),
        names=names,
        newspaper=field("newspaper"),
        page=field("page"),
        date=field("date"),
        subjects=lines("subjects"),
        places=lines("places"),
        abstract=xmlio.xml_chars(form_text("abstract")),
    )


def _shown_fields() -> Fields:
    """The fields as the page showed them (its hidden copy), to tell which ones the cataloger changed."""
    try:
        return Fields.from_dict(json.loads(request.form.get("shown", "")))
    except ValueError:
        return Fields()


def _merge(xml: str, shown: Fields, typed: Fields) -> tuple[str, Fields, list[Problem]]:
    """Write the changed fields into the XML: the text to show next, its fields, and what went wrong."""
    try:
        root = xmlio.parse(xml.encode("utf-8"), "XML").getroot()
    except xmlio.XMLInputError as exc:
        problem = Problem(exc.message, exc.line, None, "xml", "XML")
        if typed != shown:
            note = _("The XML has an error, so the form's changes could not be written into it yet.")
            return xml, typed, [problem, Problem(note, None, None, "form")]
        return xml, typed, [problem]
    if not apply_fields(root, shown, typed):
        return xml, read_fields(root), []
    return serialize_like(xml, root), read_fields(root), []


def _editor(
    *,
    status: int,
    mode: str,
    xml: str,
    fields: Fields,
    fulltext: str,
    record_id: str | None = None,
    version: int | None = None,
    problems: list[Problem] | None = None,
    stale: dict[str, Any] | None = None,
    why: str = "",
    shown: Fields | None = None,
) -> Response:
    """The editor page; ``shown`` is what the form's fields are compared with at the next save (by
    default the fields shown): a form change not yet written into the XML must stay a change."""
    return page(
        "editing/edit.html",
        status,
        mode=mode,
        record_id=record_id,
        version=version,
        xml=xml,
        fields=fields,
        shown=json.dumps((shown or fields).to_dict(), ensure_ascii=False),
        fulltext=fulltext,
        problems=problems or [],
        stale=stale,
        why=why,
        roles=ROLES,
        name_types=NAME_TYPES,
        collections=collections.collections(),
        blank_rows=max(2, 5 - len(fields.names)),
    )


# ---------------------------------------------------------------------- editing a record
@bp.get("/records/<record_id>/edit")
def edit(record_id: str) -> Response:
    require("cataloger")
    state, current = _live_or_abort(record_id)
    xml = edits.xml_text(current.xml)
    fields = read_fields(xmlio.parse(current.xml, record_id).getroot())
    return _editor(
        status=200,
        mode="edit",
        record_id=record_id,
        version=state.version,
        xml=xml,
        fields=fields,
        fulltext=current.fulltext or "",
    )


@bp.post("/records/<record_id>/edit")
def save(record_id: str) -> Response:
    user = require("cataloger")
    state, _current = _live_or_abort(record_id)
    version = form_int("version")
    if version is None:
        abort(400, description="the form does not say which version it edits")
    before = _shown_fields()
    xml, fields, problems = _merge(form_text("xml"), before, _submitted_fields())
    fulltext = form_text("fulltext")
    why = reason() or ""
    again = {
        "mode": "edit",
        "record_id": record_id,
        "xml": xml,
        "fields": fields,
        "fulltext": fulltext,
        "why": why,
    }
    if problems or request.form.get("action") == "apply":
        unwritten = before if problems else None  # the XML did not parse: the form's changes wait
        return _editor(
            status=422 if problems else 200, version=version, problems=problems, shown=unwritten, **again
        )
    stored = repo().store.version(record_id, version) if 1 <= version <= state.version else None
    try:
        saved = edits.update(
            repo(),
            record_id,
            _unless_retyped(xml, stored.xml if stored else None),
            version,
            fulltext=_text_unless_retyped(fulltext, stored.fulltext if stored else None),
            who=user.name,
            why=why or "edited in the browser",
        )
    except Invalid as exc:
        return _editor(status=422, version=version, problems=exc.problems, **again)
    except StaleVersion as exc:
        return _editor(status=409, version=exc.current, stale=_what_changed(record_id, exc), **again)
    if not saved.changed:
        flash(_("Nothing changed: no new version was made."))
    else:
        audit_records(
            "record-update", [(record_id, saved.state.version)], reason=why or None, detail={"page": "editor"}
        )
        flash(_("Saved as version %(v)d.", v=saved.state.version))
    return redirect(url_for("catalogue.record", record_id=record_id), 303)


def _unless_retyped(xml: str, stored: bytes | None) -> bytes:
    """The XML to save: the stored bytes when the text is theirs but for what a browser does to it.

    A text area gives back CRLF line breaks, and a record stored in another encoding comes back as
    UTF-8 text; neither is a change the cataloger made, so neither may make a new version.
    """
    if stored is not None and xml == edits.xml_text(stored).replace("\r\n", "\n").replace("\r", "\n"):
        return stored
    return xml.encode("utf-8")


def _text_unless_retyped(text: str, stored: str | None) -> str | None:
    """The full text to save: the stored one (line endings and all) when only the browser touched it."""
    if stored is not None and text == stored.replace("\r\n", "\n").replace("\r", "\n"):
        return stored
    return text if text.strip() else None


def _live_or_abort(record_id: str):  # noqa: ANN202 - (RecordState, Version)
    if not is_record_id(record_id):
        abort(404)
    try:
        state = edits.live_state(repo(), record_id)
    except NotFound:
        abort(404)
    except Deleted:
        abort(
            message(
                _("This record is deleted"),
                _("Restore it from its history before editing it."),
                410,
                history=url_for("editing.history", record_id=record_id),
            )
        )
    return state, repo().store.version(record_id)


def _what_changed(record_id: str, exc: StaleVersion) -> dict[str, Any]:
    """For a refused stale save: who saved since, and what their versions changed."""
    store = repo().store
    since = [v for v in store.history(record_id) if v.version > exc.expected]
    try:
        before = store.version(record_id, exc.expected)
    except NotFound:
        before = None
    after = store.version(record_id)
    return {
        "expected": exc.expected,
        "current": exc.current,
        "versions": since,
        "fields": field_changes(before.xml, after.xml) if before else [],
        "hunks": line_diff(edits.xml_text(before.xml), edits.xml_text(after.xml)) if before else [],
    }


# ---------------------------------------------------------------------- new records
@bp.get("/records/new")
def new() -> Response:
    require("cataloger")
    code = request.args.get("collection") or collections.MEDIA
    if collections.get(code) is None:
        abort(404)
    record_id = suggest_identifier(code)
    root = template(code, record_id, repo().base_url)
    xml = xmlio.to_bytes(root, pretty=True).decode("utf-8")
    return _editor(status=200, mode="new", xml=xml, fields=read_fields(root), fulltext="")


@bp.post("/records/new")
def create() -> Response:
    user = require("cataloger")
    before = _shown_fields()
    xml, fields, problems = _merge(form_text("xml"), before, _submitted_fields())
    fulltext = form_text("fulltext")
    why = reason() or ""
    again = {"mode": "new", "xml": xml, "fields": fields, "fulltext": fulltext, "why": why}
    if problems or request.form.get("action") == "apply":
        unwritten = before if problems else None  # the XML did not parse: the form's changes wait
        return _editor(status=422 if problems else 200, problems=problems, shown=unwritten, **again)
    data = xml.encode("utf-8")
    try:
        tree = edits.parse(data, "XML")
        if etree.QName(tree.getroot()).localname != "mods":
            raise Invalid([Problem(_("The editor makes one record: the XML must be one <mods> element."), 1)])
        prepared = edits.prepare_new(
            repo(), [(data, tree)], collection=None, fulltext=fulltext if fulltext.strip() else None
        )
        states = edits.create(repo(), prepared, who=user.name, why=why or "created in the browser")
    except Invalid as exc:
        return _editor(status=422, problems=exc.problems, **again)
    except edits.AlreadyExists as exc:
        problem = Problem(
            _("Record %(id)s already exists: choose another identifier.", id=exc.record_ids[0]),
            None,
            "recordIdentifier",
            "repository",
        )
        return _editor(status=409, problems=[problem], **again)
    state = states[0]
    audit_records("record-create", [(state.id, state.version)], reason=why or None, detail={"page": "editor"})
    flash(_("Record %(id)s created.", id=state.id))
    return redirect(url_for("catalogue.record", record_id=state.id), 303)
