"""Accounts: who may change records, how they prove it, and what they did.

Kept in their own SQLite database, ``accounts.sqlite3`` in the instance folder, apart from the
record store: the store holds the library's data and is copied, exported and rebuilt; password
hashes, tokens and login attempts must not travel with it. WAL mode and ``synchronous=FULL`` as in
the store, so the web server's threads, several server processes and the CLI share it, and what it
records (a lockout, a revoked token, an audit entry) holds across restarts and workers.

Choices, and why:

* **Passwords** are hashed with scrypt through Werkzeug's ``generate_password_hash`` (N=2**15, r=8,
  p=1: 32 MiB and ~0.1 s a hash on this hardware). scrypt is memory-hard, as ``safety.md`` asks;
  Werkzeug ships with Flask and scrypt with OpenSSL (``hashlib.scrypt``), so this adds no compiled
  dependency, where argon2-cffi would add one for a comparable guarantee. Hashes carry their method
  and parameters, so stronger ones later apply to each account at its next login (see
  :meth:`Accounts.authenticate`).
* **Roles** are ordered, reader < cataloger < administrator: a check asks for "at least" a role,
  so there is one question to get right rather than a matrix.
* **API tokens** are 256 random bits, shown once and stored as their SHA-256. A slow hash is not
  needed for a secret with that much entropy, and a fast one lets each request find its token by
  an index lookup. Each is revocable on its own.
* **Login rate limiting** counts failures per account and per client address over a sliding
  window, in this database (so a restart or a second worker does not reset it). While either limit
  is reached the password is not even checked, so guesses during a lockout teach nothing. The
  per-address limit is higher because a library's catalogers often share one outgoing address.
* **Sessions** are kept here too (:meth:`Accounts.start_session`): the browser's cookie holds only a
  random id, so a logout, a password change or an idle timeout ends a session on the server, which
  a signed-cookie-only session cannot do.
* **The audit log** records every change made through the web or the API and every account event,
  with the client address. Record versions already carry who, when and why; the audit log adds who
  logged in, failed to, was given a role or a token, and from where.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

FILENAME = "accounts.sqlite3"

#: The roles, weakest first; a role includes every role before it.
ROLES = ("reader", "cataloger", "administrator")

#: Failed logins counted over this many seconds …
FAILURE_WINDOW = 15 * 60
#: … at most this many for one account …
MAX_FAILURES_PER_ACCOUNT = 5
#: … and this many from one client address (catalogers of one library share an address).
MAX_FAILURES_PER_ADDRESS = 20

#: A session ends after this long without a request …
SESSION_IDLE_SECONDS = 60 * 60
#: … and in any case this long after login.
SESSION_MAX_SECONDS = 12 * 60 * 60
#: ``last_seen`` is written at most this often per session (not on every request).
SESSION_TOUCH_SECONDS = 60

MIN_PASSWORD_LENGTH = 10
PASSWORD_METHOD = "scrypt"
TOKEN_PREFIX = "dlr_"

_NAME = re.compile(r"^[\w][\w.@-]{0,63}\Z")

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,          -- the name folded for lookup (NFKC, casefold)
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created TEXT NOT NULL,
    password_changed TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    digest TEXT NOT NULL UNIQUE,       -- sha256 of the token; the token itself is never stored
    label TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    last_used TEXT,
    revoked TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,           -- sha256 of the session id held by the browser
    user_id INTEGER NOT NULL REFERENCES users (id),
    started REAL NOT NULL,
    last_seen REAL NOT NULL,
    address TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS login_failures (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_account ON login_failures (account, at);
CREATE INDEX IF NOT EXISTS login_failures_by_address ON login_failures (address, at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    who TEXT,
    action TEXT NOT NULL,
    record_id TEXT,
    version INTEGER,
    reason TEXT,
    address TEXT,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_record ON audit (record_id, id);
"""


def now() -> float:
    """The clock (seconds since the epoch); tests replace it to move through time."""
    return time.time()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def name_key(name: str) -> str:
    """The form a login name is looked up by: ``Wang`` and ``wang`` are one account."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


def role_at_least(role: str, required: str) -> bool:
    """Whether ``role`` includes ``required`` (an unknown role includes nothing)."""
    if role not in ROLES or required not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(required)


class AccountError(Exception):
    """A request about accounts that was refused; nothing was changed."""


class LoginFailed(AccountError):
    """Wrong name or password (which of the two is deliberately not said)."""

    def __init__(self) -> None:
        super().__init__("wrong name or password")


class RateLimited(AccountError):
    """Too many failed logins for this account or from this address; try again later."""

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"too many failed logins; try again in {self.retry_after} seconds")


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    created: str

    def has_role(self, required: str) -> bool:
        return role_at_least(self.role, required)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    label: str
    created: str
    last_used: str | None
    revoked: str | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    who: str | None
    action: str
    record_id: str | None
    version: int | None
    reason: str | None
    address: str | None
    detail: dict


class Accounts:
    """The accounts database of one instance (one SQLite connection per thread)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._dummy_hash: str | None = None
        self._conn().executescript(SCHEMA)  # idempotent; executescript runs its own transaction

    # ------------------------------------------------------------------ plumbing
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (IMMEDIATE) so that check-then-write holds."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ------------------------------------------------------------------ users
    def add_user(self, name: str, password: str, role: str = "reader", *, by: str | None = None) -> User:
        """Create an account; :class:`AccountError` if the name is taken or unusable."""
        name = unicodedata.normalize("NFKC", name).strip()
        if not _NAME.match(name):
            raise AccountError(
                f"{name!r} is not a usable login name: 1–64 letters, digits, '.', '_', '@' or '-'"
            )
        _check_role(role)
        _check_password(password, name)
        stamp = _iso(now())
        try:
            with self._write() as conn:
                cur = conn.execute(
                    "INSERT INTO users (name, key, password_hash, role, created, password_changed)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (name, name_key(name), _hash(password), role, stamp, stamp),
                )
                user = User(cur.lastrowid, name, role, stamp)
                self._audit(conn, "user-add", who=by, detail={"user": name, "role": role})
        except sqlite3.IntegrityError:
            raise AccountError(f"there is already an account {name!r}") from None
        return user

    def get(self, name: str) -> User | None:
        row = (
            self._conn()
            .execute("SELECT id, name, role, created FROM users WHERE key = ?", (name_key(name),))
            .fetchone()
        )
        return User(*row) if row else None

    def user_by_id(self, user_id: int) -> User | None:
        row = (
            self._conn()
            .execute("SELECT id, name, role, created FROM users WHERE id = ?", (user_id,))
            .fetchone()
        )
        return User(*row) if row else None

    def users(self) -> list[User]:
        return [
            User(*r) for r in self._conn().execute("SELECT id, name, role, created FROM users ORDER BY key")
        ]

    def _require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise AccountError(f"there is no account {name!r}")
        return user

    def set_role(self, name: str, role: str, *, by: str | None = None) -> User:
        _check_role(role)
        user = self._require(name)
        with self._write() as conn:
            conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, user.id))
            self._audit(
                conn, "role-change", who=by, detail={"user": user.name, "from": user.role, "to": role}
            )
        return User(user.id, user.name, role, user.created)

    def set_password(self, name: str, password: str, *, by: str | None = None) -> None:
        """Change a password and end the account's sessions (a stolen session dies with the old password)."""
        user = self._require(name)
        _check_password(password, user.name)
        with self._write() as conn:
            conn.execute(
                "UPDATE users SET password_hash = ?, password_changed = ? WHERE id = ?",
                (_hash(password), _iso(now()), user.id),
            )
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
            conn.execute("DELETE FROM login_failures WHERE account = ?", (name_key(user.name),))
            self._audit(conn, "password-change", who=by, detail={"user": user.name})

    # ------------------------------------------------------------------ logging in
    def authenticate(self, name: str, password: str, address: str | None = None) -> User:
        """The account, if the password is right and neither rate limit is reached.

        Raises :class:`RateLimited` (password not checked) or :class:`LoginFailed`; every outcome
        is in the audit log. An unknown name costs the same hash as a known one, so timing does not
        tell which names exist.
        """
        key, addr, t = name_key(name), address or "-", now()
        since = t - FAILURE_WINDOW
        # The attempt is counted before the password is checked, in the transaction that reads the
        # counts: parallel guesses are serialised here and cannot all slip under the limit.
        retry_after = None
        with self._write() as w:
            w.execute("DELETE FROM login_failures WHERE at <= ?", (since,))
            for column, value, limit in (
                ("account", key, MAX_FAILURES_PER_ACCOUNT),
                ("address", addr, MAX_FAILURES_PER_ADDRESS),
            ):
                count, oldest = w.execute(
                    f"SELECT count(*), min(at) FROM login_failures WHERE {column} = ? AND at > ?",
                    (value, since),
                ).fetchone()
                if count >= limit:
                    retry_after = oldest + FAILURE_WINDOW - t
                    break
            if retry_after is not None:
                self._audit(w, "login-throttled", who=name[:64], address=address)
            else:
                w.execute(
                    "INSERT INTO login_failures (account, address, at) VALUES (?, ?, ?)", (key, addr, t)
                )
        if retry_after is not None:
            raise RateLimited(retry_after)
        row = (
            self._conn()
            .execute("SELECT id, name, role, created, password_hash FROM users WHERE key = ?", (key,))
            .fetchone()
        )
        stored = row[4] if row else self._dummy()
        if not (check_password_hash(stored, password) and row is not None):
            self.audit("login-failed", who=name[:64], address=address)
            raise LoginFailed
        user = User(*row[:4])
        with self._write() as w:
            w.execute("DELETE FROM login_failures WHERE account = ?", (key,))
            if not stored.startswith(f"{PASSWORD_METHOD}:{_PARAMS}$"):
                w.execute("UPDATE users SET password_hash = ? WHERE id = ?", (_hash(password), user.id))
            self._audit(w, "login", who=user.name, address=address)
        return user

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = _hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    # ------------------------------------------------------------------ sessions
    def start_session(self, user: User, address: str | None = None) -> str:
        """A new session id for ``user`` (a fresh one at every login: ids are never reused)."""
        sid = secrets.token_urlsafe(32)
        t = now()
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE last_seen < ? OR started < ?",
                         (t - SESSION_IDLE_SECONDS, t - SESSION_MAX_SECONDS))  # fmt: skip
            conn.execute(
                "INSERT INTO sessions (digest, user_id, started, last_seen, address) VALUES (?, ?, ?, ?, ?)",
                (_sha256(sid), user.id, t, t, address),
            )
        return sid

    def session_user(self, sid: str) -> User | None:
        """The user of a live session, or None when it is unknown, idle too long or too old."""
        digest, t = _sha256(sid), now()
        conn = self._conn()
        row = conn.execute(
            "SELECT u.id, u.name, u.role, u.created, s.started, s.last_seen FROM sessions s"
            " JOIN users u ON u.id = s.user_id WHERE s.digest = ?",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        started, last_seen = row[4], row[5]
        if t - last_seen > SESSION_IDLE_SECONDS or t - started > SESSION_MAX_SECONDS:
            self.end_session(sid)
            return None
        if t - last_seen > SESSION_TOUCH_SECONDS:
            with self._write() as w:
                w.execute("UPDATE sessions SET last_seen = ? WHERE digest = ?", (t, digest))
        return User(*row[:4])

    def end_session(self, sid: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE digest = ?", (_sha256(sid),))

    # ------------------------------------------------------------------ API tokens
    def create_token(self, name: str, label: str = "", *, by: str | None = None) -> str:
        """A new API token for the account: returned this once, stored only as its hash."""
        user = self._require(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO tokens (user_id, digest, label, created) VALUES (?, ?, ?, ?)",
                (user.id, _sha256(token), label, _iso(now())),
            )
            self._audit(
                conn,
                "token-create",
                who=by,
                detail={"user": user.name, "token": cur.lastrowid, "label": label},
            )
        return token

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        sql = (
            "SELECT t.id, u.name, t.label, t.created, t.last_used, t.revoked FROM tokens t"
            " JOIN users u ON u.id = t.user_id"
        )
        args: tuple = ()
        if name is not None:
            sql += " WHERE u.key = ?"
            args = (name_key(name),)
        return [TokenInfo(*r) for r in self._conn().execute(sql + " ORDER BY t.id", args)]

    def revoke_token(self, token_id: int, *, name: str | None = None, by: str | None = None) -> None:
        """Revoke one token (of account ``name``, when given, so a typo cannot revoke someone else's)."""
        sql = "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL"
        args: tuple = (_iso(now()), token_id)
        if name is not None:
            sql += " AND user_id = (SELECT id FROM users WHERE key = ?)"
            args += (name_key(name),)
        with self._write() as conn:
            if conn.execute(sql, args).rowcount == 0:
                raise AccountError(f"there is no active token {token_id}" + (f" of {name!r}" if name else ""))
            self._audit(conn, "token-revoke", who=by, detail={"token": token_id})

    def user_by_token(self, token: str) -> User | None:
        """The account a token belongs to, or None for an unknown or revoked token."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = _sha256(token)
        row = (
            self._conn()
            .execute(
                "SELECT u.id, u.name, u.role, u.created, t.id, t.last_used, t.digest FROM tokens t"
                " JOIN users u ON u.id = t.user_id WHERE t.digest = ? AND t.revoked IS NULL",
                (digest,),
            )
            .fetchone()
        )
        if row is None or not hmac.compare_digest(row[6], digest):
            return None
        stamp = _iso(now())
        if row[5] is None or row[5][:16] != stamp[:16]:  # at most one write a minute per token
            with self._write() as conn:
                conn.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (stamp, row[4]))
        return User(*row[:4])

    # ------------------------------------------------------------------ audit log
    def audit(
        self,
        action: str,
        *,
        who: str | None = None,
        record_id: str | None = None,
        version: int | None = None,
        reason: str | None = None,
        address: str | None = None,
        detail: dict | None = None,
    ) -> None:
        """Append one entry to the audit log (its own transaction)."""
        self.audit_records(
            action, [(record_id, version)], who=who, reason=reason, address=address, detail=detail
        )

    def audit_records(
        self,
        action: str,
        records: list[tuple[str | None, int | None]],
        *,
        who: str | None = None,
        reason: str | None = None,
        address: str | None = None,
        detail: dict | None = None,
    ) -> None:
        """One entry per (record id, version), in one transaction: a batch upload of a thousand
        records costs one fsync here, not a thousand."""
        with self._write() as conn:
            for record_id, version in records:
                self._audit(conn, action, who=who, record_id=record_id, version=version, reason=reason,
                            address=address, detail=detail)  # fmt: skip

    @staticmethod
    def _audit(
        conn: sqlite3.Connection,
        action: str,
        *,
        who: str | None = None,
        record_id: str | None = None,
        version: int | None = None,
        reason: str | None = None,
        address: str | None = None,
        detail: dict | None = None,
    ) -> None:
        conn.execute(
            "INSERT INTO audit (at, who, action, record_id, version, reason, address, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _iso(now()),
                who,
                action,
                record_id,
                version,
                reason,
                address,
                json.dumps(detail, ensure_ascii=False) if detail else None,
            ),
        )

    def audit_log(
        self,
        *,
        limit: int = 100,
        record_id: str | None = None,
        action: str | None = None,
        who: str | None = None,
        before: int | None = None,
    ) -> list[AuditEntry]:
        """The latest entries first; ``before`` (an entry id) pages back through older ones."""
        where, args = [], []
        for column, value in (("record_id", record_id), ("action", action), ("who", who)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        sql = "SELECT id, at, who, action, record_id, version, reason, address, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        return [
            AuditEntry(*r[:8], json.loads(r[8]) if r[8] else {})
            for r in self._conn().execute(sql, (*args, limit))
        ]


_PARAMS = "32768:8:1"


def _hash(password: str) -> str:
    return generate_password_hash(password, method=f"{PASSWORD_METHOD}:{_PARAMS}")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")


def _check_password(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if name_key(password) == name_key(name):
        raise AccountError("the password must not be the login name")


def open_accounts(instance: Path | str) -> Accounts:
    """The accounts database of an instance folder (created on first use)."""
    return Accounts(Path(instance) / FILENAME)
