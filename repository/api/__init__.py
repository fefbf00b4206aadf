"""The REST API at ``/api``: records for batch tools and scripts.

Reading a current record is public, as it is in the catalogue and over OAI-PMH; a record's history
and old versions need an account (reader); every write needs a cataloger. A client proves who it is
with an API token (``Authorization: Bearer …``, made by ``repository user token NAME``); a browser
may use its session cookie instead, and then sends the CSRF token as ``X-CSRF-Token``.

Optimistic locking, as ``safety.md`` asks: every read answers with the record's version as its
``ETag``, and every write must name the version it was made to in ``If-Match``. A write without
it is refused with 428, one made to an older version with 412 (and the current ``ETag``), and in
neither case is anything stored. Two catalogers never silently overwrite each other.

Every write goes through :class:`~repository.service.Repository` (``prepare`` → ``commit``,
``delete``, ``restore``), so the API validates exactly as import, sync and the editor do, and every
listener (the graph store, the search index) follows. Each change is also written to the audit log
with the client's address.

Errors are JSON, ``{"error": "...", "problems": [{"line", "element", "message", "rule"}, ...]}``.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException

from .. import edits, xmlio
from ..auth import audit_records, auth_method, require, unauthorized
from ..service import Repository, is_record_id
from ..store import NotFound, RecordState, StaleVersion, StoreError, StoreUnavailable, Version
from ..validation import Invalid, Problem

bp = Blueprint("api", __name__, url_prefix="/api")

XML_TYPES = ("application/mods+xml", "application/xml", "text/xml")
JSON_TYPE = "application/json"
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000

#: ``since`` as a date: YYYY-MM-DD, or a date and time (UTC when no offset is given).
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_UNSET: Any = object()


class ApiError(Exception):
    """An answer other than success: status, message, the problems found, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        problems: Iterable[Problem] = (),
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(message)
        self.status, self.message = status, message
        self.problems = edits.shown_problems(list(problems))
        self.headers = headers or {}
        self.extra = extra


@dataclass
class Body:
    """What a write sent: the XML, and from a JSON body the full text and reason if given."""

    xml: bytes
    fulltext: Any = _UNSET  # str | None when given
    why: str | None = None
    version: int | None = None


# ---------------------------------------------------------------------- answers
def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    return Response(body, status=status, mimetype=JSON_TYPE, headers=headers)


def _problem(p: Problem) -> dict:
    return {"line": p.line, "element": p.element, "message": p.message, "rule": p.rule, "source": p.source}


def error_response(
    status: int,
    message: str,
    problems: Iterable[Problem] = (),
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    return _json({"error": message, "problems": [_problem(p) for p in problems], **extra}, status, headers)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.problems, exc.headers, **exc.extra)


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response | HTTPException:
    """Under /api every error is JSON (404 and 405 are found before the blueprint is known)."""
    if not request.path.startswith(bp.url_prefix + "/") and request.path != bp.url_prefix:
        return exc
    if exc.code is None or exc.code < 400:
        return exc
    headers = {
        k: v
        for k, v in exc.get_response().headers.items()
        if k.lower() not in ("content-type", "content-length")
    }
    message = exc.description or exc.name
    if exc.code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"the request body is larger than the limit of {limit:,} bytes" if limit else message
    return error_response(exc.code, message, headers=headers)


@bp.errorhandler(StoreUnavailable)
def _unavailable(exc: StoreUnavailable) -> Response:
    current_app.logger.error("API: %s", exc)
    message = f"the repository cannot save changes now: {exc.reason}; nothing was saved"
    return error_response(503, message, headers={"Retry-After": "60"})


@bp.errorhandler(sqlite3.OperationalError)
def _busy(exc: sqlite3.OperationalError) -> Response:
    current_app.logger.warning("API: database busy: %s", exc)
    return error_response(503, "the database is busy; try again", headers={"Retry-After": "5"})


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)  # type: ignore[return-value]
    current_app.logger.exception("API: unexpected error")
    return error_response(500, "internal error (logged for the administrators)")


@bp.before_request
def _credentials() -> None:
    """Wrong or revoked credentials are refused even where none are needed, so a script notices."""
    if auth_method() == "bad-token":
        raise unauthorized("the API token is wrong or revoked")


# ---------------------------------------------------------------------- helpers
def _repo() -> Repository:
    return current_app.extensions["repository"]


def etag(version: int) -> str:
    return f'"{version}"'


def _record_url(record_id: str) -> str:
    return url_for("api.get_record", record_id=record_id, _external=True)


def _state(record_id: str, *, live: bool = True) -> RecordState:
    """The record's current state: 404 if there is none, 410 if ``live`` and it is a tombstone."""
    state = _repo().store.get(record_id) if is_record_id(record_id) else None
    if state is None:
        raise ApiError(404, f"record {record_id} does not exist")
    if live and state.deleted:
        raise ApiError(
            410,
            f"record {record_id} is deleted; restore it with POST "
            f"{url_for('api.restore', record_id=record_id)}",
            headers={"ETag": etag(state.version)},
            version=state.version,
        )
    return state


def _if_match(state: RecordState) -> int:
    """The version named in ``If-Match``: 428 when absent, 412 when it is not the current one."""
    if "If-Match" not in request.headers:
        raise ApiError(
            428,
            "If-Match is required: send the ETag of the version you changed (GET the record first)",
            headers={"ETag": etag(state.version)},
        )
    tags = request.if_match
    strong = tags.as_set()
    expected = edits.whole_number(next(iter(strong))) if len(strong) == 1 else None
    if tags.star_tag or expected is None:
        raise ApiError(
            428 if tags.star_tag else 400,
            'If-Match must name exactly one version, as its ETag says (e.g. If-Match: "3")',
            headers={"ETag": etag(state.version)},
        )
    if expected != state.version:
        raise _stale(state.id, expected, state.version)
    return expected


def _stale(record_id: str, expected: int, current: int) -> ApiError:
    return ApiError(
        412,
        f"record {record_id} is at version {current}, but the change was made to version {expected}: "
        "reload it and apply your change again",
        headers={"ETag": etag(current)},
        version=current,
    )


def _text_header(name: str) -> str | None:
    """A header that may carry non-ASCII text: percent-encoded UTF-8, or raw UTF-8 bytes."""
    value = request.headers.get(name)
    if value is None:
        return None
    with contextlib.suppress(UnicodeError):
        value = value.encode("latin-1").decode("utf-8")
    return unquote(value)


def _reason(body_why: str | None, default: str | None) -> str:
    why = body_why if body_why is not None else _text_header("X-Reason")
    if why is None:
        why = request.args.get("reason")
    why = edits.one_line(why)
    if not why:
        if default is None:
            raise ApiError(400, "a reason is required: send it as X-Reason (or 'why' in a JSON body)")
        return default
    if len(why) > edits.MAX_REASON_CHARS:
        raise ApiError(400, f"the reason is longer than {edits.MAX_REASON_CHARS} characters")
    return why


def _read_body(*, required: bool = True) -> Body | None:
    """The request body as a :class:`Body`: MODS XML, or JSON ``{xml, fulltext, why}``."""
    length = request.content_length
    if not required and not length and not request.headers.get("Transfer-Encoding"):
        return None
    mimetype = request.mimetype
    if mimetype not in (*XML_TYPES, JSON_TYPE):
        raise ApiError(
            415,
            f"send MODS XML ({', '.join(XML_TYPES)}) or JSON ({JSON_TYPE}), "
            f"not {mimetype or 'no Content-Type'}",
        )
    data = request.get_data(cache=True)  # 413 from MAX_CONTENT_LENGTH is raised here
    body = Body(data) if mimetype in XML_TYPES else _json_body(data, required=required)
    if len(body.xml) > xmlio.MAX_DOCUMENT_BYTES:
        raise ApiError(
            413, f"the document is {len(body.xml):,} bytes; the limit is {xmlio.MAX_DOCUMENT_BYTES:,}"
        )
    if required and not body.xml.strip():
        raise ApiError(400, "the request has no record in it")
    return body


def _json_body(data: bytes, *, required: bool) -> Body:
    try:
        obj = json.loads(data)
    except ValueError:
        raise ApiError(400, "the body is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ApiError(400, 'the JSON body must be an object: {"xml": ..., "fulltext": ..., "why": ...}')
    xml = obj.get("xml")
    if xml is None and not required:
        xml = ""
    if not isinstance(xml, str):
        raise ApiError(400, "'xml' must be the MODS record as a string")
    body = Body(xml.encode("utf-8"))
    if "fulltext" in obj:
        if obj["fulltext"] is not None and not isinstance(obj["fulltext"], str):
            raise ApiError(400, "'fulltext' must be a string or null")
        body.fulltext = obj["fulltext"]
    why = obj.get("why")
    if why is not None and not isinstance(why, str):
        raise ApiError(400, "'why' must be a string")
    body.why = why
    version = obj.get("version")
    if version is not None and (
        not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= edits.MAX_VERSION
    ):
        raise ApiError(400, "'version' must be a positive integer")
    body.version = version
    return body


def _refused(exc: Invalid) -> ApiError:
    """400 for what is not acceptable XML at all (malformed, a DOCTYPE), 422 for an invalid record."""
    if all(p.rule == "xml" for p in exc.problems):
        return ApiError(400, "the body is not acceptable XML; nothing was stored", exc.problems)
    return ApiError(422, "the record is not valid; nothing was stored", exc.problems)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match([*XML_TYPES, JSON_TYPE], default=XML_TYPES[0])
    return best == JSON_TYPE


def _summary(state: RecordState) -> dict:
    return {
        "id": state.id,
        "version": state.version,
        "datestamp": state.datestamp,
        "deleted": state.deleted,
        "collection": state.collection,
        "url": _record_url(state.id),
    }


def _version_json(record_id: str, v: Version) -> dict:
    return {
        "version": v.version,
        "action": v.action,
        "deleted": v.action == "delete",
        "created": v.created,
        "datestamp": v.datestamp,
        "who": v.who,
        "why": v.why,
        "digest": v.digest,
        "url": url_for("api.get_version", record_id=record_id, version=v.version, _external=True),
    }


def _written(state: RecordState, status: int = 200) -> Response:
    return _json(_summary(state), status, {"ETag": etag(state.version)})


# ---------------------------------------------------------------------- reading
@bp.get("/records/<record_id>")
def get_record(record_id: str) -> Response:
    """The current record: MODS XML (default) or JSON, with its version as the ETag."""
    state = _state(record_id)
    v = _repo().store.version(record_id)
    tag = etag(v.version)
    headers = {"ETag": tag, "Vary": "Accept, Authorization, Cookie", "Cache-Control": "no-cache"}
    if request.if_none_match.contains(str(v.version)):
        return Response(status=304, headers=headers)
    if _wants_json():
        data = {
            **_summary(state),
            "version": v.version,
            "datestamp": v.datestamp,
            "title": state.title,
            "xml": edits.xml_text(v.xml),
            "fulltext": v.fulltext,
        }
        return _json(data, headers=headers)
    return Response(v.xml, mimetype="application/mods+xml", headers=headers)


@bp.get("/records/<record_id>/versions")
def versions(record_id: str) -> Response:
    """Every version of a record, with who, when and why (needs an account)."""
    require("reader")
    state = _state(record_id, live=False)
    history = _repo().store.history(record_id)
    return _json(
        {**_summary(state), "versions": [_version_json(record_id, v) for v in history]},
        headers={"ETag": etag(state.version)},
    )


@bp.get("/records/<record_id>/versions/<int:version>")
def get_version(record_id: str, version: int) -> Response:
    """One version as it was saved (needs an account): MODS XML or JSON."""
    require("reader")
    _state(record_id, live=False)
    try:
        if version > edits.MAX_VERSION:
            raise NotFound(record_id)
        v = _repo().store.version(record_id, version)
    except NotFound:
        raise ApiError(404, f"version {version} of record {record_id} does not exist") from None
    headers = {"X-Record-Version": str(v.version)}
    if _wants_json():
        return _json(
            {
                "id": record_id,
                **_version_json(record_id, v),
                "xml": edits.xml_text(v.xml),
                "fulltext": v.fulltext,
            },
            headers=headers,
        )
    return Response(v.xml, mimetype="application/mods+xml", headers=headers)


@bp.get("/changes")
def changes() -> Response:
    """Records changed since a change sequence number or a date, oldest change first, paged.

    ``since`` is a sequence number (each answer says the latest, ``last_seq``: keep it and ask
    for ``since=<last_seq>`` next time) or a date (``2024-05-01``, ``2024-05-01T08:00:00Z``).
    Each record appears once, in its current state; ``next`` is the URL of the next page.
    """
    store = _repo().store
    since = request.args.get("since", "0").strip()
    limit = _limit()
    last_seq = store.max_seq()
    items: list[dict] = []
    next_args: dict[str, str] | None = None
    if since.isascii() and since.isdigit():
        seq = edits.whole_number(since, edits.MAX_SEQ)
        if seq is None:
            raise ApiError(400, f"since is out of range: {since[:40]}")
        rows = store.changed_since(seq, limit)
        for row in rows:  # (id, collection, deleted, seq, …)
            state = store.get(row[0])
            if state is not None:
                items.append(_change(state))
        if len(rows) == limit:
            next_args = {"since": str(rows[-1][3])}
    else:
        stamp = _datestamp(since)
        after = _cursor(request.args.get("after"))
        page = store.list_page(
            set_spec=None,
            from_=stamp,
            until="9999-12-31T23:59:59Z",
            bound_seq=last_seq,
            after=after,
            limit=limit,
        )
        for row in page:
            state = store.get(row.id)
            if state is not None:
                items.append(_change(state))
        if len(page) == limit:
            next_args = {"since": since, "after": f"{page[-1].datestamp}/{page[-1].id}"}
    next_url = None
    if next_args is not None:
        next_url = url_for("api.changes", **next_args, limit=str(limit), _external=True)
    return _json(
        {"since": since, "last_seq": last_seq, "count": len(items), "changes": items, "next": next_url}
    )


def _change(state: RecordState) -> dict:
    return {**_summary(state), "seq": state.seq, "title": state.title}


def _limit() -> int:
    limit = edits.whole_number(request.args.get("limit", str(DEFAULT_LIMIT)), MAX_LIMIT)
    if not limit:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return limit


def _datestamp(value: str) -> str:
    """An ISO date or date-time as the store's datestamps are written (UTC, to the second)."""
    try:
        if _DATE.match(value):
            moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(value)
            moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that moves year 1 or 9999 out of range
        raise ApiError(
            400, f"since must be a change sequence number or an ISO date or date-time, not {value!r}"
        ) from None
    if not 1 <= moment.year <= 9998:
        raise ApiError(400, f"since is out of range: {value!r}")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cursor(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    stamp, _, rid = value.partition("/")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", stamp) or not is_record_id(rid):
        raise ApiError(400, "after is not a cursor this API gave out (use the 'next' URL as it is)")
    return stamp, rid


# ---------------------------------------------------------------------- writing
@bp.put("/records/<record_id>")
def put_record(record_id: str) -> Response:
    """Replace a record with a new version (If-Match required; the full text is kept unless sent)."""
    user = require("cataloger")
    state = _state(record_id)
    expected = _if_match(state)
    body = _read_body()
    assert body is not None
    why = _reason(body.why, "updated through the API")
    fulltext = edits.KEEP if body.fulltext is _UNSET else body.fulltext
    try:
        saved = edits.update(
            _repo(), record_id, body.xml, expected, fulltext=fulltext, who=user.name, why=why
        )
    except Invalid as exc:
        raise _refused(exc) from None
    except StaleVersion as exc:
        raise _stale(record_id, exc.expected, exc.current) from None
    if not saved.changed:
        return _json(
            {**_summary(saved.state), "unchanged": True}, headers={"ETag": etag(saved.state.version)}
        )
    audit_records("record-update", [(saved.state.id, saved.state.version)], reason=why)
    return _written(saved.state)


@bp.post("/records")
def create_records() -> Response:
    """New records: one MODS record, or every member of a modsCollection, all or none."""
    user = require("cataloger")
    body = _read_body()
    assert body is not None
    why = _reason(body.why, "created through the API")
    collection = request.args.get("collection") or None
    repo = _repo()
    try:
        members = repo.split(body.xml, "body")
    except Invalid as exc:
        raise _refused(exc) from None
    if not members:
        raise ApiError(422, "the modsCollection holds no records; nothing was stored")
    if len(members) > 1 and body.fulltext not in (_UNSET, None):
        raise ApiError(400, "a full text can be sent with one record only, not with a modsCollection")
    fulltext = None if body.fulltext is _UNSET else body.fulltext
    try:
        prepared = edits.prepare_new(repo, members, collection=collection, fulltext=fulltext)
        states = edits.create(repo, prepared, who=user.name, why=why)
    except Invalid as exc:
        raise _refused(exc) from None
    except edits.AlreadyExists as exc:
        raise _exists(exc.record_ids) from None
    audit_records("record-create", [(s.id, s.version) for s in states], reason=why)
    headers = {"ETag": etag(states[0].version)} if len(states) == 1 else {}
    headers["Location"] = _record_url(states[0].id)
    return _json({"created": [_summary(s) for s in states]}, 201, headers)


def _exists(ids: list[str]) -> ApiError:
    return ApiError(
        409,
        f"{len(ids)} of the records already exist (change them with PUT); nothing was stored",
        [Problem(f"record {i} already exists", rule="repository", source=i) for i in ids],
        existing=ids,
    )


@bp.delete("/records/<record_id>")
def delete_record(record_id: str) -> Response:
    """Tombstone a record (If-Match and a reason required); it can be restored."""
    user = require("cataloger")
    state = _state(record_id)
    expected = _if_match(state)
    body = _read_body(required=False)
    why = _reason(body.why if body else None, None)
    try:
        new = _repo().delete(record_id, expected, who=user.name, why=why)
    except StaleVersion as exc:
        raise _stale(record_id, exc.expected, exc.current) from None
    except StoreError as exc:
        raise ApiError(409, str(exc)) from None
    audit_records("record-delete", [(new.id, new.version)], reason=why)
    return _written(new)


@bp.post("/records/<record_id>/restore")
def restore(record_id: str) -> Response:
    """Undelete a record, or bring back an old ``version``, as a new version (If-Match required)."""
    user = require("cataloger")
    state = _state(record_id, live=False)
    expected = _if_match(state)
    body = _read_body(required=False)
    version = body.version if body else None
    if version is None and request.args.get("version"):
        version = edits.whole_number(request.args["version"])
        if not version:
            raise ApiError(400, "version must be a positive whole number")
    why = _reason(body.why if body else None, "restored through the API")
    try:
        new = _repo().restore(record_id, version, expected, who=user.name, why=why)
    except Invalid as exc:
        which = f"version {version}" if version else "the version to restore"
        raise ApiError(422, f"{which} no longer validates; nothing was stored", exc.problems) from None
    except StaleVersion as exc:
        raise _stale(record_id, exc.expected, exc.current) from None
    except NotFound:
        raise ApiError(404, f"version {version} of record {record_id} does not exist") from None
    except StoreError as exc:
        raise ApiError(409, str(exc)) from None
    audit_records("record-restore", [(new.id, new.version)], reason=why, detail={"restored": version})
    return _written(new)
