"""Who is asking: logging in and out, sessions, CSRF, roles, and the audit trail of the web.

:func:`init_app` wires it into the app; the rest is for views, the API and (later) the editor:

* :func:`current_user` — the :class:`~repository.accounts.User` of this request or None; also
  ``g.user`` in views and templates. A request proves who it is by an API token
  (``Authorization: Bearer …``) or by the session cookie set at ``/login``.
* :func:`login_required` — ``@login_required("cataloger")`` on a view: a browser without a
  session is sent to the login page, any other client gets 401; the wrong role gets 403.
* :func:`csrf_token` — the token every form carries as ``csrf_token`` (or a script as the
  ``X-CSRF-Token`` header). Every state-changing request that relies on the session cookie is
  checked (:func:`check_csrf`) before its view runs, so a new form is protected without a word;
  token-authenticated requests are not (a browser never adds that header by itself).
* :func:`audit` — one audit-log entry with the current user and client address.

Sessions: Flask's signed cookie carries only a random session id and the CSRF token; the session
itself lives in the accounts database (:meth:`~repository.accounts.Accounts.start_session`), so it
ends at logout, after ``SESSION_IDLE_SECONDS`` without a request, or when the password changes, and
a cookie copied before a logout is worthless after it. A login always starts a new session id and
a new CSRF token (no session fixation). The cookie is ``HttpOnly``, ``SameSite=Lax``, and
``Secure`` when the public base URL is https.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext, lazy_gettext, ngettext
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized

from .accounts import Accounts, LoginFailed, RateLimited, User, open_accounts
from .config import instance_secret
from .service import Repository

bp = Blueprint("auth", __name__, template_folder="web/templates")

SESSION_COOKIE = "repository_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: Blueprints whose POSTs change nothing and come from machines without a session (OAI-PMH
#: verbs and SPARQL queries may be POSTed): no CSRF token is asked of them.
CSRF_EXEMPT_BLUEPRINTS = {"oai", "linkeddata"}

CSRF_MESSAGE = lazy_gettext(
    "The form has expired or did not come from this site (CSRF token missing or wrong): "
    "reload the page and try again."
)

#: Longest password a login form accepts (hashing a megabyte would be a cheap way to load the server).
MAX_PASSWORD_CHARS = 1024

F = TypeVar("F", bound=Callable[..., Any])


def session_secret(instance: Path | str) -> bytes:
    """The key that signs session cookies: derived from the instance secret, not the secret itself.

    The instance secret also signs OAI-PMH resumption tokens; a separate derived key means a
    value signed for one purpose can never be passed off as the other.
    """
    return hmac.new(instance_secret(Path(instance)), b"repository session cookie", hashlib.sha256).digest()


def init_app(app: Flask, repo: Repository) -> None:
    """Open the accounts database and install the session, user and CSRF hooks on ``app``."""
    app.extensions["accounts"] = open_accounts(repo.instance)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=repo.base_url.lower().startswith("https://"),
    )
    app.before_request(_load_user)
    app.before_request(_protect)
    app.context_processor(lambda: {"current_user": g.get("user"), "csrf_token": csrf_token})


# ---------------------------------------------------------------------- public helpers
def accounts() -> Accounts:
    """The accounts database of the current app."""
    return current_app.extensions["accounts"]


def current_user() -> User | None:
    """The user this request is made by (token or session), or None."""
    return g.get("user")


def auth_method() -> str | None:
    """How the request authenticated: ``"token"``, ``"session"``, ``"bad-token"`` (wrong or
    revoked credentials were presented) or None (none presented)."""
    return g.get("auth")


def client_address() -> str:
    """The client's address as the WSGI server saw it.

    ``X-Forwarded-For`` is not trusted here (anyone can send it, and the rate limits would be
    bypassed); behind a reverse proxy, wrap the app in Werkzeug's ``ProxyFix`` with the number
    of proxies, and this becomes the real client.
    """
    return request.remote_addr or "-"


def csrf_token() -> str:
    """This session's CSRF token (made on first use, so pages without forms set no cookie)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """Refuse (400) a request that does not carry this session's CSRF token."""
    expected = session.get("csrf") if SESSION_COOKIE in request.cookies else None
    given = request.headers.get("X-CSRF-Token")
    if given is None and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        given = request.form.get("csrf_token")
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        abort(400, description=str(CSRF_MESSAGE))


def unauthorized(message: str = "login required") -> Unauthorized:
    """A 401 carrying ``WWW-Authenticate: Bearer`` (with ``error="invalid_token"`` for bad ones)."""
    params = {"realm": "repository"}
    if auth_method() == "bad-token":
        params["error"] = "invalid_token"
    return Unauthorized(description=message, www_authenticate=WWWAuthenticate("bearer", params))


def login_required(role: str | F = "reader") -> Callable[[F], F] | F:
    """Require a logged-in user with at least ``role`` (``@login_required`` alone means reader).

    A browser asking for a page without a session is redirected to the login page and back;
    anything else (a script, a form POST, a bad token) gets 401, and a user whose role is too
    weak gets 403.
    """
    if callable(role):
        return login_required("reader")(role)
    required: str = role

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            require(required)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def require(role: str) -> User:
    """The current user if they have at least ``role``; otherwise abort as :func:`login_required` does."""
    user = current_user()
    if user is None:
        wants_page = (
            request.method == "GET"
            and auth_method() is None
            and request.blueprint != "api"
            and (not request.accept_mimetypes or request.accept_mimetypes.quality("text/html") > 0)
        )
        if wants_page:
            abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?")), 303))
        raise unauthorized()
    if not user.has_role(role):
        raise Forbidden(description=f"this needs the {role} role; {user.name} is a {user.role}")
    return user


def audit(
    action: str,
    *,
    record_id: str | None = None,
    version: int | None = None,
    reason: str | None = None,
    detail: dict | None = None,
) -> None:
    """Write an audit-log entry for this request: who (the current user), from where, how."""
    user = current_user()
    accounts().audit(
        action,
        who=user.name if user else None,
        record_id=record_id,
        version=version,
        reason=reason,
        address=client_address(),
        detail={"via": auth_method(), **(detail or {})},
    )


def audit_records(
    action: str, records: list[tuple[str, int]], *, reason: str | None = None, detail: dict | None = None
) -> None:
    """:func:`audit` for a batch of (record id, version) changed together, in one transaction."""
    user = current_user()
    accounts().audit_records(
        action,
        records,
        who=user.name if user else None,
        reason=reason,
        address=client_address(),
        detail={"via": auth_method(), **(detail or {})},
    )


# ---------------------------------------------------------------------- hooks
def _load_user() -> None:
    g.user, g.auth = None, None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        user = accounts().user_by_token(credentials.strip()) if scheme.lower() == "bearer" else None
        g.user, g.auth = user, ("token" if user else "bad-token")
        return
    if SESSION_COOKIE not in request.cookies:
        return  # no session looked at: public pages stay free of cookies and "Vary: Cookie"
    sid = session.get("sid")
    if not sid:
        return
    user = accounts().session_user(sid)
    if user is None:
        session.pop("sid", None)  # ended, idle too long or too old: the cookie says so from now on
        return
    g.user, g.auth = user, "session"


def _protect() -> None:
    """CSRF: every unsafe request that could ride on the browser's cookie carries the token."""
    if request.method in SAFE_METHODS or request.endpoint is None:
        return
    if auth_method() == "token" or request.blueprint in CSRF_EXEMPT_BLUEPRINTS:
        return
    if request.blueprint == "api" and current_user() is None:
        return  # nothing rides on a cookie here: the API answers 401 itself
    check_csrf()


# ---------------------------------------------------------------------- views
def _safe_next(value: str | None) -> str | None:
    """A local path to go back to after login; anything pointing elsewhere is dropped (open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return None
    return value


def _login_page(status: int, error: str | None = None, name: str = "") -> Response:
    page = render_template(
        "auth/login.html", error=error, name=name, next=_safe_next(request.values.get("next"))
    )
    response = Response(page, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """The login form; a right password starts a new session (new id, new CSRF token)."""
    if request.method == "GET":
        return _login_page(200)
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    if not name or not password or len(password) > MAX_PASSWORD_CHARS or len(name) > 64:
        return _login_page(400, gettext("Enter your name and password."), name)
    try:
        user = accounts().authenticate(name, password, client_address())
    except RateLimited as exc:
        minutes = (exc.retry_after + 59) // 60
        response = _login_page(
            429,
            ngettext(
                "Too many failed logins: try again in %(num)d minute.",
                "Too many failed logins: try again in %(num)d minutes.",
                minutes,
            ),
            name,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except LoginFailed:
        return _login_page(401, gettext("Wrong name or password."), name)
    old = session.get("sid")
    if old:
        accounts().end_session(old)
    session.clear()
    session["sid"] = accounts().start_session(user, client_address())
    session["csrf"] = secrets.token_urlsafe(32)
    return redirect(_safe_next(request.form.get("next")) or url_for("catalogue.home"), 303)


@bp.post("/logout")
def logout() -> Response:
    """End the session on the server and forget it in the browser."""
    sid = session.get("sid")
    if sid:
        if current_user() is not None:
            audit("logout")
        accounts().end_session(sid)
    session.clear()
    return redirect(url_for("catalogue.home"), 303)
