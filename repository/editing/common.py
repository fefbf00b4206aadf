"""What the editing pages share: the repository, form values as a cataloger typed them, reasons."""

from __future__ import annotations

from flask import Response, current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from ..edits import MAX_REASON_CHARS, one_line, shown_problems, whole_number
from ..service import Repository


def repo() -> Repository:
    return current_app.extensions["repository"]


def form_text(name: str) -> str:
    """A text area as typed: browsers send its line breaks as CRLF; the records use LF."""
    return request.form.get(name, "").replace("\r\n", "\n").replace("\r", "\n")


def form_int(name: str) -> int | None:
    return whole_number(request.form.get(name))


def reason(default: str | None = None) -> str | None:
    """The reason given with a change, on one line; None when it is required and missing."""
    why = one_line(request.form.get("why"))[:MAX_REASON_CHARS]
    return why or default


def page(template: str, status: int = 200, **context: object) -> Response:
    """An editing page: never cached (it shows a cataloger's work in progress)."""
    if context.get("problems"):
        context["problems"] = shown_problems(context["problems"])  # type: ignore[arg-type]
    response = Response(render_template(template, **context), status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def message(title: str, text: str, status: int, **context: object) -> Response:
    return page("editing/message.html", status, title=title, message=text, **context)


def reason_missing() -> Response:
    return message(_("A reason is required"), _("Say why in the reason field, then try again."), 400)


# ---------------------------------------------------------------------- labels the templates show
_FIELD_LABELS = {
    "identifier": lazy_gettext("Identifier"),
    "collection": lazy_gettext("Collection"),
    "title": lazy_gettext("Title"),
    "subtitle": lazy_gettext("Subtitle"),
    "names": lazy_gettext("Authors and roles"),
    "newspaper": lazy_gettext("Source"),
    "page": lazy_gettext("Page"),
    "date": lazy_gettext("Date"),
    "subjects": lazy_gettext("Subjects"),
    "places": lazy_gettext("Places"),
    "abstract": lazy_gettext("Abstract"),
}
_ROLE_LABELS = {
    "aut": lazy_gettext("author"),
    "pht": lazy_gettext("photographer"),
    "edt": lazy_gettext("editor"),
    "ctb": lazy_gettext("contributor"),
    "trl": lazy_gettext("translator"),
    "cre": lazy_gettext("creator"),
    "ill": lazy_gettext("illustrator"),
    "ive": lazy_gettext("interviewee"),
}
_NAME_TYPE_LABELS = {"personal": lazy_gettext("person"), "corporate": lazy_gettext("organisation")}
_ACTION_LABELS = {
    "create": lazy_gettext("created"),
    "update": lazy_gettext("edited"),
    "delete": lazy_gettext("deleted"),
    "restore": lazy_gettext("restored"),
}


def labels() -> dict[str, object]:
    """Template helpers that name fields, roles, kinds of name and changes in the page's language."""
    return {
        "field_label": lambda k: _FIELD_LABELS.get(k, k),
        "role_label": lambda k: f"{_ROLE_LABELS[k]} ({k})" if k in _ROLE_LABELS else k,
        "name_type_label": lambda k: _NAME_TYPE_LABELS.get(k, k),
        "action_label": lambda k: _ACTION_LABELS.get(k, k),
    }
