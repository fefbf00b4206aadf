"""A record's versions: the history, one version, the diff of any two, revert, delete and restore.

Reading the history needs an account (it shows who did what); changing anything needs a
cataloger. Revert and restore make a *new* version from an old one (the history only grows), and
each of these forms names the version it was made to, so a change someone else made in the
meantime is never silently undone.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from .. import edits
from ..auth import audit_records, require
from ..service import is_record_id
from ..store import NotFound, RecordState, StaleVersion, StoreError, Version
from ..validation import Invalid
from . import bp
from .common import form_int, message, page, reason, reason_missing, repo
from .diff import field_changes, line_diff


def _state(record_id: str) -> RecordState:
    state = repo().store.get(record_id) if is_record_id(record_id) else None
    if state is None:
        abort(404)
    return state


def _version(record_id: str, number: int | None) -> Version:
    if number is not None and number > edits.MAX_VERSION:
        abort(404)
    try:
        return repo().store.version(record_id, number)
    except NotFound:
        abort(404)


@bp.get("/records/<record_id>/history")
def history(record_id: str) -> Response:
    require("reader")
    state = _state(record_id)
    versions = list(reversed(repo().store.history(record_id)))
    return page("editing/history.html", state=state, versions=versions)


@bp.get("/records/<record_id>/versions/<int:number>")
def version(record_id: str, number: int) -> Response:
    require("reader")
    state = _state(record_id)
    v = _version(record_id, number)
    return page("editing/version.html", state=state, v=v, xml=edits.xml_text(v.xml))


@bp.get("/records/<record_id>/diff")
def diff(record_id: str) -> Response:
    """``?a=&b=`` (version numbers; by default the one before the current and the current)."""
    require("reader")
    state = _state(record_id)

    def number(name: str, default: int) -> int:
        found = edits.whole_number(request.args.get(name))
        return default if found is None else found

    b = number("b", state.version)
    a = number("a", max(1, b - 1))
    old, new = _version(record_id, a), _version(record_id, b)
    return page(
        "editing/diff.html",
        state=state,
        old=old,
        new=new,
        fields=field_changes(old.xml, new.xml),
        hunks=line_diff(edits.xml_text(old.xml), edits.xml_text(new.xml)),
        text_hunks=line_diff(old.fulltext or "", new.fulltext or ""),
        versions=repo().store.history(record_id),
    )


def _change_refused(record_id: str, exc: Exception, status: int) -> Response:
    link = url_for("editing.history", record_id=record_id)
    if isinstance(exc, StaleVersion):
        text = _(
            "The record was changed (it is now at version %(current)d) since this page showed version "
            "%(expected)d. Nothing was changed: look at its history and try again.",
            current=exc.current,
            expected=exc.expected,
        )
        return message(_("Someone else changed this record"), text, 409, history=link)
    if isinstance(exc, Invalid):
        problems = "; ".join(str(p) for p in exc.problems[:5])
        text = _("That version no longer passes validation, so nothing was changed: %(p)s", p=problems)
        return message(_("Not valid"), text, 422, history=link)
    return message(_("Not done"), str(exc), status, history=link)


def _change(
    record_id: str,
    action: str,
    make: Callable[[str, int, str], RecordState],
    done: Callable[[int], str],
    *,
    back_to: str = "editing.history",
    detail: dict | None = None,
    complete: bool = True,
) -> Response:
    """What every history form does: a cataloger, the version the page showed, a reason, one change.

    ``make(who, expected_version, why)`` makes the change; ``done(new_version)`` says so.
    """
    user = require("cataloger")
    _state(record_id)
    expected, why = form_int("version"), reason()
    if expected is None or not complete:
        abort(400, description="the form names no version")
    if not why:
        return reason_missing()
    try:
        new = make(user.name, expected, why)
    except (StaleVersion, Invalid, StoreError) as exc:
        return _change_refused(record_id, exc, 409)
    audit_records(action, [(record_id, new.version)], reason=why, detail=detail)
    flash(done(new.version))
    return redirect(url_for(back_to, record_id=record_id), 303)


@bp.post("/records/<record_id>/revert")
def revert(record_id: str) -> Response:
    """Bring back an old version as the newest one."""
    target = form_int("target")
    return _change(
        record_id,
        "record-revert",
        lambda who, expected, why: repo().restore(record_id, target, expected, who=who, why=why),
        lambda v: _("Version %(t)d is back, as version %(v)d.", t=target, v=v),
        detail={"restored": target},
        complete=target is not None,
    )


@bp.post("/records/<record_id>/delete")
def delete(record_id: str) -> Response:
    """Tombstone a record: harvesters are told it is deleted; it can be restored."""
    return _change(
        record_id,
        "record-delete",
        lambda who, expected, why: repo().delete(record_id, expected, who=who, why=why),
        lambda v: _("Record %(id)s deleted (version %(v)d). It can be restored here.", id=record_id, v=v),
    )


@bp.post("/records/<record_id>/restore")
def restore(record_id: str) -> Response:
    """Bring a deleted record back as it was before deletion."""
    return _change(
        record_id,
        "record-restore",
        lambda who, expected, why: repo().restore(record_id, None, expected, who=who, why=why),
        lambda v: _("Record %(id)s restored (version %(v)d).", id=record_id, v=v),
        back_to="catalogue.record",
    )
