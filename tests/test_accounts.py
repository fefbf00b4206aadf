"""Accounts: password hashing, roles, API tokens, login rate limiting, the audit log, the CLI."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from repository import accounts as acc
from repository.accounts import AccountError, Accounts, LoginFailed, RateLimited, open_accounts
from repository.cli import main

PASSWORD = "correct horse battery"


class Clock:
    """A clock the test moves by hand (rate-limit windows and session timeouts)."""

    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(acc, "now", c)
    return c


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    a = open_accounts(tmp_path / "instance")
    yield a
    a.close()


def _rows(a: Accounts, sql: str) -> list[tuple]:
    with sqlite3.connect(a.path) as conn:
        return conn.execute(sql).fetchall()


def test_passwords_are_stored_as_scrypt_hashes_and_checked(accounts: Accounts) -> None:
    accounts.add_user("wang", PASSWORD, "cataloger")
    [(stored,)] = _rows(accounts, "SELECT password_hash FROM users")
    assert stored.startswith("scrypt:32768:8:1$") and PASSWORD not in stored
    assert accounts.authenticate("wang", PASSWORD).name == "wang"
    assert accounts.authenticate("WANG", PASSWORD).name == "wang"  # names are case-insensitive
    with pytest.raises(LoginFailed):
        accounts.authenticate("wang", PASSWORD + "!")
    with pytest.raises(LoginFailed):
        accounts.authenticate("nobody", PASSWORD)
    # the database is WAL, like the record store
    assert _rows(accounts, "PRAGMA journal_mode") == [("wal",)]


def test_weaker_hashes_are_upgraded_at_login(accounts: Accounts) -> None:
    from werkzeug.security import generate_password_hash

    accounts.add_user("li", PASSWORD)
    with sqlite3.connect(accounts.path) as conn:
        conn.execute("UPDATE users SET password_hash = ?", (generate_password_hash(PASSWORD, "pbkdf2"),))
    accounts.authenticate("li", PASSWORD)
    [(stored,)] = _rows(accounts, "SELECT password_hash FROM users")
    assert stored.startswith("scrypt:")


def test_names_passwords_and_roles_are_checked(accounts: Accounts) -> None:
    accounts.add_user("zhang", PASSWORD)
    for name, password, role in [
        ("Zhang", PASSWORD, "reader"),  # taken (case-insensitively)
        ("has space", PASSWORD, "reader"),
        ("", PASSWORD, "reader"),
        ("chen", "short", "reader"),
        ("chenchenchen", "chenchenchen", "reader"),  # password = name
        ("chen", PASSWORD, "superuser"),
    ]:
        with pytest.raises(AccountError):
            accounts.add_user(name, password, role)
    assert [u.name for u in accounts.users()] == ["zhang"]


def test_roles_are_ordered(accounts: Accounts) -> None:
    reader = accounts.add_user("r", PASSWORD, "reader")
    cataloger = accounts.add_user("c", PASSWORD, "cataloger")
    admin = accounts.add_user("a", PASSWORD, "administrator")
    assert reader.has_role("reader") and not reader.has_role("cataloger")
    assert cataloger.has_role("reader") and cataloger.has_role("cataloger")
    assert not cataloger.has_role("administrator")
    assert admin.has_role("cataloger") and admin.has_role("administrator")
    assert not admin.has_role("root")
    assert accounts.set_role("r", "cataloger").has_role("cataloger")
    assert accounts.get("r").role == "cataloger"


def test_tokens_are_random_stored_hashed_and_revocable(accounts: Accounts) -> None:
    accounts.add_user("wang", PASSWORD, "cataloger")
    accounts.add_user("li", PASSWORD, "reader")
    t1 = accounts.create_token("wang", "batch")
    t2 = accounts.create_token("wang")
    assert t1 != t2 and t1.startswith("dlr_") and len(t1) > 40
    stored = [r[0] for r in _rows(accounts, "SELECT digest FROM tokens")]
    assert t1 not in stored and t2 not in stored and len(stored[0]) == 64
    assert accounts.user_by_token(t1).name == "wang"
    assert accounts.user_by_token(t1[:-1] + "x") is None
    assert accounts.user_by_token("") is None
    [info1, _] = accounts.tokens("wang")
    assert info1.label == "batch" and info1.last_used is not None
    with pytest.raises(AccountError):
        accounts.revoke_token(info1.id, name="li")  # not li's token
    accounts.revoke_token(info1.id, name="wang")
    assert accounts.user_by_token(t1) is None
    assert accounts.user_by_token(t2).name == "wang"  # the other token still works


def test_failed_logins_are_rate_limited_per_account(accounts: Accounts, clock: Clock) -> None:
    accounts.add_user("wang", PASSWORD)
    for _ in range(acc.MAX_FAILURES_PER_ACCOUNT):
        with pytest.raises(LoginFailed):
            accounts.authenticate("wang", "wrong password", "10.0.0.1")
        clock.t += 10
    # the right password is not even checked while the account is locked, from any address
    with pytest.raises(RateLimited) as exc:
        accounts.authenticate("wang", PASSWORD, "10.0.0.2")
    assert 0 < exc.value.retry_after <= acc.FAILURE_WINDOW
    # a new Accounts over the same file (a restart, another worker) still knows
    again = Accounts(accounts.path)
    with pytest.raises(RateLimited):
        again.authenticate("wang", PASSWORD, "10.0.0.3")
    # other accounts are not affected
    accounts.add_user("li", PASSWORD)
    assert accounts.authenticate("li", PASSWORD, "10.0.0.2").name == "li"
    clock.t += acc.FAILURE_WINDOW
    assert accounts.authenticate("wang", PASSWORD, "10.0.0.1").name == "wang"
    # a success clears the account's failures
    with pytest.raises(LoginFailed):
        accounts.authenticate("wang", "wrong password", "10.0.0.1")
    assert len(_rows(accounts, "SELECT * FROM login_failures WHERE account = 'wang'")) == 1


def test_failed_logins_are_rate_limited_per_address(
    accounts: Accounts, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(acc, "MAX_FAILURES_PER_ADDRESS", 8)  # each failure costs a real scrypt hash
    accounts.add_user("wang", PASSWORD)
    for i in range(acc.MAX_FAILURES_PER_ADDRESS):  # spraying many names from one address
        with pytest.raises(LoginFailed):
            accounts.authenticate(f"guess{i}", "wrong password", "10.6.6.6")
    with pytest.raises(RateLimited):
        accounts.authenticate("wang", PASSWORD, "10.6.6.6")
    assert accounts.authenticate("wang", PASSWORD, "10.0.0.1").name == "wang"


def test_sessions_expire_when_idle_and_end_with_a_password_change(accounts: Accounts, clock: Clock) -> None:
    user = accounts.add_user("wang", PASSWORD)
    sid = accounts.start_session(user)
    assert accounts.session_user(sid).name == "wang"
    clock.t += acc.SESSION_IDLE_SECONDS - 5
    assert accounts.session_user(sid) is not None  # activity keeps it alive …
    clock.t += acc.SESSION_IDLE_SECONDS - 5
    assert accounts.session_user(sid) is not None
    clock.t += acc.SESSION_IDLE_SECONDS + 1  # … idleness ends it
    assert accounts.session_user(sid) is None
    sid = accounts.start_session(user)
    accounts.set_password("wang", PASSWORD + " new")
    assert accounts.session_user(sid) is None
    sid = accounts.start_session(user)
    accounts.end_session(sid)
    assert accounts.session_user(sid) is None
    assert _rows(accounts, "SELECT count(*) FROM sessions") == [(0,)]


def test_audit_log_records_account_events(accounts: Accounts) -> None:
    accounts.add_user("wang", PASSWORD, "reader", by="cli:root")
    accounts.set_role("wang", "cataloger", by="cli:root")
    accounts.create_token("wang", "batch", by="cli:root")
    accounts.authenticate("wang", PASSWORD, "192.0.2.7")
    with pytest.raises(LoginFailed):
        accounts.authenticate("wang", "nope nope nope", "192.0.2.8")
    accounts.audit("record-update", who="wang", record_id="r1", version=3, reason="typo", address="192.0.2.7")
    log = accounts.audit_log()
    assert [e.action for e in log] == [
        "record-update",
        "login-failed",
        "login",
        "token-create",
        "role-change",
        "user-add",
    ]
    update, failed, login, token, role, added = log
    assert (update.who, update.record_id, update.version, update.reason, update.address) == (
        "wang",
        "r1",
        3,
        "typo",
        "192.0.2.7",
    )
    assert failed.address == "192.0.2.8" and login.address == "192.0.2.7" and login.who == "wang"
    assert role.detail == {"user": "wang", "from": "reader", "to": "cataloger"} and role.who == "cli:root"
    assert token.detail["label"] == "batch" and added.detail == {"user": "wang", "role": "reader"}
    assert [e.action for e in accounts.audit_log(record_id="r1")] == ["record-update"]


# ---------------------------------------------------------------------- the CLI
def _run(instance: Path, *args: str, input: str | None = None):  # noqa: A002, ANN202
    return CliRunner().invoke(main, ["--instance", str(instance), *args], input=input)


def test_cli_user_commands(tmp_path: Path) -> None:
    inst = tmp_path / "inst"
    result = _run(inst, "user", "add", "wang", "--role", "cataloger", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "added wang (cataloger)" in result.output
    # the prompt asks twice; a mismatch is asked again, never stored
    result = _run(inst, "user", "add", "li", input=f"{PASSWORD}\nsomething else\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0 and "added li (reader)" in result.output
    result = _run(inst, "user", "add", "wang", "--password-stdin", input=f"{PASSWORD}\n")
    assert result.exit_code == 1 and "already" in result.output
    result = _run(inst, "user", "add", "zhao", "--password-stdin", input="short\n")
    assert result.exit_code == 1 and "at least" in result.output

    result = _run(inst, "user", "token", "wang", "--label", "nightly")
    assert result.exit_code == 0
    token = result.stdout.strip().splitlines()[-1]
    a = open_accounts(inst)
    assert a.user_by_token(token).name == "wang"
    listed = _run(inst, "user", "tokens", "wang").output
    assert "nightly" in listed and token not in listed

    assert _run(inst, "user", "role", "li", "administrator").exit_code == 0
    assert a.get("li").role == "administrator"
    assert _run(inst, "user", "role", "li", "god").exit_code == 2  # not a role: a usage error

    assert (
        _run(inst, "user", "passwd", "wang", "--password-stdin", input="a new long password\n").exit_code == 0
    )
    assert a.authenticate("wang", "a new long password").name == "wang"
    assert _run(inst, "user", "passwd", "nobody", "--password-stdin", input=f"{PASSWORD}\n").exit_code == 1

    users = _run(inst, "user", "list").output
    assert "wang" in users and "cataloger" in users and "li" in users and "administrator" in users

    token_id = a.tokens("wang")[0].id
    assert _run(inst, "user", "revoke", "wang", str(token_id)).exit_code == 0
    assert a.user_by_token(token) is None

    by_cli = [e for e in a.audit_log() if e.action != "login"]  # the authenticate() above logged in
    assert [e.action for e in by_cli] == [
        "token-revoke",
        "password-change",
        "role-change",
        "token-create",
        "user-add",
        "user-add",
    ]
    assert all(e.who.startswith("cli:") for e in by_cli)
    assert "role-change" in _run(inst, "user", "audit").output
    a.close()
