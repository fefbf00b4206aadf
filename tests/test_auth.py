"""Logging in and out in the browser: session cookies, CSRF, roles, rate limiting."""

from __future__ import annotations

import re

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from repository import accounts as acc
from repository.app import create_app
from repository.auth import SESSION_COOKIE, audit, csrf_token, current_user, login_required
from repository.service import Repository

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def _app(repo: Repository) -> Flask:
    """The real app, plus two views of the kind the editor will add: one page and one form."""
    app = create_app(repo)

    @login_required("cataloger")
    def edit() -> str:
        if request.method == "POST":
            audit("record-update", record_id="r1", version=2, reason="test")
            return "saved"
        return f"editing as {current_user().name} <input name=csrf_token value={csrf_token()}>"

    app.add_url_rule("/test-edit", "test_edit", edit, methods=["GET", "POST"])
    app.extensions["accounts"].add_user("wang", PASSWORD, "cataloger")
    app.extensions["accounts"].add_user("reader", PASSWORD, "reader")
    return app


def _token(html: str) -> str:
    return re.search(r'name="?csrf_token"? value="?([^" >]+)', html).group(1)


def _login(client: FlaskClient, name: str = "wang", password: str = PASSWORD, **extra: str):  # noqa: ANN202
    token = _token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"name": name, "password": password, "csrf_token": token, **extra})


def _set_cookie(response) -> str:  # noqa: ANN001
    cookies = [v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith(SESSION_COOKIE)]
    assert cookies, response.headers
    return cookies[-1]


def test_login_and_logout(repo: Repository) -> None:
    client = _app(repo).test_client()
    page = client.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    home = client.get("/").get_data(as_text=True)
    assert "/login" in home and "wang" not in home

    response = _login(client)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    home = client.get("/").get_data(as_text=True)
    assert "wang" in home and "/logout" in home  # the header shows who is logged in
    assert client.get("/test-edit").get_data(as_text=True).startswith("editing as wang")

    with client.session_transaction() as sess:
        sid = sess["sid"]
    token = _token(client.get("/").get_data(as_text=True))
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert "wang" not in client.get("/").get_data(as_text=True)
    # the old session id is dead on the server too: a copied cookie is worthless after logout
    assert repo_accounts(client).session_user(sid) is None
    with client.session_transaction() as sess:
        sess["sid"] = sid
    assert client.get("/test-edit").status_code == 303  # back to the login page


def repo_accounts(client: FlaskClient) -> acc.Accounts:
    return client.application.extensions["accounts"]


def test_wrong_password_and_unknown_user_are_refused_alike(repo: Repository) -> None:
    client = _app(repo).test_client()
    wrong = _login(client, password="not the password")
    unknown = _login(client, name="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.get_data(as_text=True)
    # in the reader's language: traditional script, English
    token = _token(client.get("/login?lang=zh-Hant").get_data(as_text=True))
    form = {"name": "wang", "password": "not it", "csrf_token": token}
    assert "使用者名稱或密碼錯誤" in client.post("/login?lang=zh-Hant", data=form).get_data(as_text=True)
    assert "Wrong name or password" in client.post("/login?lang=en", data=form).get_data(as_text=True)
    assert wrong.get_data(as_text=True).replace("wang", "X") == unknown.get_data(as_text=True).replace(
        "nobody", "X"
    )
    with client.session_transaction() as sess:
        assert "sid" not in sess
    actions = [e.action for e in repo_accounts(client).audit_log()]
    assert actions[:2] == ["login-failed", "login-failed"]


def test_session_cookie_flags(repo: Repository, tmp_path) -> None:  # noqa: ANN001
    cookie = _set_cookie(_login(_app(repo).test_client()))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie

    secure_repo = Repository(tmp_path / "tls", base_url="https://repo.example")
    try:
        client = _app(secure_repo).test_client()
        token = _token(client.get("/login", base_url="https://repo.example").get_data(as_text=True))
        response = client.post(
            "/login",
            data={"name": "wang", "password": PASSWORD, "csrf_token": token},
            base_url="https://repo.example",
        )
        cookie = _set_cookie(response)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        secure_repo.close()


def test_public_pages_set_no_cookie(repo: Repository) -> None:
    client = _app(repo).test_client()
    for path in ("/", "/oai?verb=Identify"):
        response = client.get(path)
        assert "Set-Cookie" not in response.headers, path
        assert "Cookie" not in response.headers.get("Vary", ""), path


def test_login_rotates_the_session(repo: Repository) -> None:
    client = _app(repo).test_client()
    client.get("/login")
    with client.session_transaction() as sess:
        before = dict(sess)
    _login(client)
    with client.session_transaction() as sess:
        first = dict(sess)
    assert "sid" in first and first["csrf"] != before["csrf"]
    _login(client)  # logging in again: a new id, and the old one ended
    with client.session_transaction() as sess:
        second = dict(sess)
    assert second["sid"] != first["sid"] and second["csrf"] != first["csrf"]
    assert repo_accounts(client).session_user(first["sid"]) is None
    assert repo_accounts(client).session_user(second["sid"]).name == "wang"


def test_a_form_post_without_the_csrf_token_is_refused(repo: Repository) -> None:
    client = _app(repo).test_client()
    # the login form itself (login CSRF)
    client.get("/login")
    response = client.post("/login", data={"name": "wang", "password": PASSWORD})
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    with client.session_transaction() as sess:
        assert "sid" not in sess

    _login(client)
    no_token = client.post("/test-edit", data={"title": "x"})
    wrong_token = client.post("/test-edit", data={"title": "x", "csrf_token": "forged"})
    assert no_token.status_code == wrong_token.status_code == 400
    assert "CSRF" in no_token.get_data(as_text=True)
    # the logout form too: a forged logout does not log the user out
    assert client.post("/logout").status_code == 400
    assert client.get("/test-edit").status_code == 200
    assert not [e for e in repo_accounts(client).audit_log() if e.action == "record-update"]

    token = _token(client.get("/test-edit").get_data(as_text=True))
    assert client.post("/test-edit", data={"csrf_token": token}).get_data(as_text=True) == "saved"
    assert client.post("/test-edit", headers={"X-CSRF-Token": token}).status_code == 200
    [entry] = repo_accounts(client).audit_log(action="record-update")[-1:]
    assert entry.who == "wang" and entry.address == "127.0.0.1" and entry.detail["via"] == "session"


def test_machine_protocols_need_no_csrf_token(repo: Repository) -> None:
    client = _app(repo).test_client()
    _login(client)
    response = client.post("/oai", data={"verb": "Identify"})
    assert response.status_code == 200 and b"<Identify>" in response.data


def test_roles_and_redirects(repo: Repository) -> None:
    client = _app(repo).test_client()
    response = client.get("/test-edit?x=1")
    assert response.status_code == 303 and response.headers["Location"].startswith("/login?next=")
    # after logging in the user goes back where they were
    response = _login(client, name="reader", next="/test-edit?x=1")
    assert response.headers["Location"] == "/test-edit?x=1"
    assert client.get("/test-edit").status_code == 403  # a reader may not edit
    # a "next" pointing to another site is ignored
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = _login(client, next=evil)
        assert response.headers["Location"] == "/", evil


def test_logins_are_rate_limited(repo: Repository) -> None:
    client = _app(repo).test_client()
    for _ in range(acc.MAX_FAILURES_PER_ACCOUNT):
        assert _login(client, password="a wrong password").status_code == 401
    response = _login(client)  # even the right password, while locked
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= acc.FAILURE_WINDOW
    assert "登录失败次数过多" in response.get_data(as_text=True)
    with client.session_transaction() as sess:
        assert "sid" not in sess
    assert repo_accounts(client).audit_log(limit=1)[0].action == "login-throttled"


def test_idle_sessions_expire(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(acc, "now", clock)
    client = _app(repo).test_client()
    _login(client)
    clock.t += acc.SESSION_IDLE_SECONDS / 2
    assert client.get("/test-edit").status_code == 200
    clock.t += acc.SESSION_IDLE_SECONDS + 1
    assert client.get("/test-edit").status_code == 303  # to the login page
    with client.session_transaction() as sess:
        assert "sid" not in sess


def test_secret_key_is_derived_and_stable(repo: Repository) -> None:
    from repository.config import instance_secret

    a, b = create_app(repo), create_app(repo)
    assert a.secret_key == b.secret_key and len(a.secret_key) == 32
    assert a.secret_key != instance_secret(repo.instance)  # not the key that signs OAI tokens
