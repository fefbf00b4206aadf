"""The audit log, for administrators: every change, login and account action, newest first."""

from __future__ import annotations

from flask import Response, request

from .. import edits
from ..auth import accounts, require
from . import bp
from .common import page

PAGE_SIZE = 100


@bp.get("/admin/audit")
def audit_log() -> Response:
    """Filter by ``who``, ``record`` and ``action``; ``before`` (an entry number) pages back."""
    require("administrator")

    def arg(name: str) -> str | None:
        value = request.args.get(name, "").strip()
        return value[:200] or None

    before = arg("before")
    entries = accounts().audit_log(
        limit=PAGE_SIZE + 1,
        who=arg("who"),
        record_id=arg("record"),
        action=arg("action"),
        before=edits.whole_number(before, edits.MAX_SEQ),
    )
    more = len(entries) > PAGE_SIZE
    entries = entries[:PAGE_SIZE]
    filters = {k: v for k in ("who", "record", "action") if (v := arg(k))}
    return page(
        "editing/audit.html",
        entries=entries,
        filters=filters,
        older={**filters, "before": entries[-1].id} if more else None,
    )
