"""Shared fixtures: the ../shared material, a fresh repository instance per test."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import pytest

from repository import schemas, service, store
from repository.service import Repository

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SAMPLES = SHARED / "corpus" / "mods-samples"
SEED = SHARED / "seed" / "000_84144a84b4249b75.txt"
EXAMPLE = SHARED / "reference" / "mods-article-example.xml"
DATA = Path(__file__).resolve().parent / "data"
INVALID_SAMPLE = "fsu_example_modsCollection.xml"

#: A PostgreSQL server the tests may use (``.ci/postgres run`` sets it); without one, the tests that
#: need PostgreSQL skip. With ``REPOSITORY_TEST_STORE=postgres`` as well, every repository instance a
#: test opens keeps its records there instead of in SQLite: the whole suite runs against PostgreSQL.
TEST_DATABASE = os.environ.get("REPOSITORY_TEST_DATABASE", "").strip()
TEST_STORE = os.environ.get("REPOSITORY_TEST_STORE", "sqlite").strip().lower()
NO_POSTGRES = (
    "no PostgreSQL server configured: set REPOSITORY_TEST_DATABASE=postgresql://... (.ci/postgres run)"
)

#: The browser fixtures (headless Chromium, a live server) for every module that wants them: tests/browser.py.
pytest_plugins = ("browser",)


def pytest_configure(config: pytest.Config) -> None:
    if not SHARED.is_dir():
        raise pytest.UsageError(f"the tests read ../shared (expected at {SHARED})")
    try:
        schemas.ensure_installed()
    except schemas.SchemasMissing:
        schemas.install(SHARED / "schemas", log=lambda _m: None)
    if TEST_STORE not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"REPOSITORY_TEST_STORE is sqlite or postgres, not {TEST_STORE!r}")
    if TEST_STORE == "postgres":
        if not TEST_DATABASE:
            raise pytest.UsageError(f"REPOSITORY_TEST_STORE=postgres, but {NO_POSTGRES}")
        instances = PostgresInstances(TEST_DATABASE)
        config.add_cleanup(instances.drop)
        config.stash[INSTANCES] = instances
        # Every Repository opens its store through this (service imported the name).
        service.open_store = store.open_store = instances.open_store


class PostgresInstances:
    """A database for the session on the test server, and a schema in it for each instance a test opens.

    An instance folder with no database setting gets a new schema and a setting naming it
    (``database.url``), so reopening the folder, in this process or in a ``repository``
    subprocess, finds the same records, and two instances in one test stay apart. A folder
    in which a subprocess already made a SQLite store keeps it. What a test opens is closed,
    and the schemas it made dropped, after it; what module- and session-scoped fixtures open
    stays until the database is dropped at the end of the session.
    """

    def __init__(self, server: str):
        import psycopg

        self.server = server
        self.name = f"repository_test_{os.getpid()}_{secrets.token_hex(3)}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        self.url = with_database(server, self.name)
        self.admin = psycopg.connect(self.url, autocommit=True)
        self.open_instance_store = store.open_store
        self.session: list = []  # (store, schema made for it or None)
        self.test: list | None = None  # the same, while a test runs
        self.counter = 0

    def open_store(self, instance: Path) -> store.Store:
        instance = Path(instance)
        schema = None
        if store.database_url(instance) is None and not (instance / store.SQLITE_FILE).exists():
            self.counter += 1
            schema = f"t{self.counter}"
            self.admin.execute(f"CREATE SCHEMA {schema}")
            store.set_database_url(instance, with_schema(self.url, schema))
        opened = self.open_instance_store(instance)
        (self.session if self.test is None else self.test).append((opened, schema))
        return opened

    def end_test(self) -> None:
        opened, self.test = self.test or [], None
        for st, schema in opened:
            st.close()
            if schema:
                self.admin.execute(f"DROP SCHEMA {schema} CASCADE")

    def drop(self) -> None:
        import psycopg

        for st, _schema in self.session:
            st.close()
        self.admin.close()
        with psycopg.connect(self.server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


INSTANCES = pytest.StashKey[PostgresInstances]()


def with_database(url: str, name: str) -> str:
    """``url`` (postgresql://…) naming the database ``name`` instead."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def with_schema(url: str, schema: str) -> str:
    """``url`` with the tables it opens in ``schema`` (libpq's ``options``: the session's search_path)."""
    parts = urlsplit(url)
    query = "&".join(
        q for q in (parts.query, urlencode({"options": f"-c search_path={schema}"}, quote_via=quote)) if q
    )
    return urlunsplit(parts._replace(query=query))


@pytest.fixture(autouse=True)
def _postgres_instances(request: pytest.FixtureRequest) -> Iterator[None]:
    """In a PostgreSQL run, what a test opened is closed and its schemas dropped after it."""
    instances = request.config.stash.get(INSTANCES, None)
    if instances is None:
        yield
        return
    instances.test = []
    yield
    instances.end_test()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty PostgreSQL database on the test server (dropped after the test); skips without one."""
    if not TEST_DATABASE:
        pytest.skip(NO_POSTGRES)
    import psycopg

    name = f"repository_t_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(TEST_DATABASE, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(TEST_DATABASE, name)
    finally:
        with psycopg.connect(TEST_DATABASE, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    r = Repository(tmp_path / "instance", base_url="http://repo.test")
    yield r
    r.close()


def valid_samples() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("*.xml") if p.name != INVALID_SAMPLE)
