"""`repository migrate`: SQLite → PostgreSQL → SQLite loses nothing; a bad copy is caught.

Needs a PostgreSQL server (``REPOSITORY_TEST_DATABASE``); skips without one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import TEST_DATABASE, with_schema
from factory import article, record_id
from test_store_postgres import Clock, everything, history_of_changes, open_repo, sqlite_url

from repository import migrate as migration
from repository.cli import main
from repository.service import Repository
from repository.store import database_url, store_at
from repository.store import sqlite as sqlite_store


def run(instance: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--instance", str(instance), "--user", "tester", *args])


def tables(repo: Repository) -> dict[str, list[tuple]]:
    """Every row of every table the stores share, as plain values, in key order."""
    store = migration._tables(repo.store)
    store.begin_snapshot()
    try:
        return {t: [tuple(map(migration._plain, row)) for row in store.rows(t)] for t in migration.COPIED}
    finally:
        store.end_snapshot()
        store.close()


def test_sqlite_to_postgres_and_back_keeps_every_record_version_datestamp_and_tombstone(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "utc_now", Clock())
    lite = open_repo(tmp_path / "lite", sqlite_url(tmp_path / "lite"))
    history_of_changes(lite)
    before, rows_before = everything(lite), tables(lite)
    lite.close()

    # SQLite → PostgreSQL, and the instance switched to it
    result = run(tmp_path / "lite", "migrate", "--to", pg_url, "--switch")
    assert result.exit_code == 0, result.output
    assert "versions" in result.output and "DIFFERENT" not in result.output
    assert database_url(tmp_path / "lite") == pg_url
    on_pg = Repository(tmp_path / "lite", base_url="http://repo.test")
    assert type(on_pg.store).__name__ == "PostgresStore"
    assert everything(on_pg) == before
    assert tables(on_pg) == rows_before
    on_pg.close()

    # PostgreSQL → a new SQLite instance
    result = run(tmp_path / "lite", "migrate", "--to", str(tmp_path / "back"))
    assert result.exit_code == 0, result.output
    back = open_repo(tmp_path / "back", sqlite_url(tmp_path / "back"))
    assert everything(back) == before
    assert tables(back) == rows_before
    history = back.store.history(record_id(4))
    assert [(v.action, v.who, v.why) for v in history] == [
        ("create", "t", "new 4"),
        ("delete", "b", "duplicate"),
    ]
    back.close()

    # work goes on where it stopped: the next change number, datestamps that do not go back
    on_pg = Repository(tmp_path / "lite", base_url="http://repo.test")
    top = on_pg.store.max_seq()
    state = on_pg.save(on_pg.prepare(article(20), source="t"), 0, who="t", why="after the move")
    assert state.seq == top + 1 and on_pg.store.changed_since(top)[0].id == record_id(20)
    on_pg.close()


def test_migrate_refuses_a_target_that_holds_records(tmp_path: Path, pg_url: str) -> None:
    a = open_repo(tmp_path / "a", sqlite_url(tmp_path / "a"))
    a.save(a.prepare(article(1), source="t"), 0, who="t", why="t")
    a.close()
    assert run(tmp_path / "a", "migrate", "--to", pg_url).exit_code == 0
    again = run(tmp_path / "a", "migrate", "--to", pg_url)
    assert again.exit_code != 0 and "already holds 1 records" in again.output
    assert run(tmp_path / "a", "migrate", "--to", str(tmp_path / "a")).exit_code != 0  # onto itself


def test_a_copy_that_lost_a_row_is_reported_and_not_switched_to(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = open_repo(tmp_path / "a", sqlite_url(tmp_path / "a"))
    for i in range(3):
        a.save(a.prepare(article(i), source="t"), 0, who="t", why="t")
    a.save(a.prepare(article(1, title="第二版"), source="t"), 1, who="t", why="t")
    a.close()
    append = migration._PostgresTables.append

    def lossy(self, table: str, rows: list[tuple]) -> None:  # noqa: ANN001
        append(self, table, rows[:-1] if table == "versions" else rows)

    monkeypatch.setattr(migration._PostgresTables, "append", lossy)
    result = run(tmp_path / "a", "migrate", "--to", pg_url, "--switch")
    assert result.exit_code == 1
    assert "versions" in result.output and "DIFFERENT (3 rows)" in result.output
    assert database_url(tmp_path / "a") == sqlite_url(tmp_path / "a")  # still on its own store


def test_the_migration_knows_every_table_and_column_of_both_stores(tmp_path: Path) -> None:
    """A table or column added to a store's schema and not to ``TABLES`` would not be migrated."""
    from repository.store import SQLiteStore

    lite = SQLiteStore(tmp_path / "s.sqlite3")
    conn = lite._conn()
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    columns = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in names}
    columns["oai_items"].remove("n")  # SQLite's rowid, not data
    schema = {t: tuple(c) for t, c in columns.items()}
    lite.close()
    assert schema == {t: columns for t, (columns, _key) in migration.TABLES.items()}
    if TEST_DATABASE:
        import psycopg

        with psycopg.connect(TEST_DATABASE, autocommit=True) as pg:
            pg.execute("CREATE SCHEMA IF NOT EXISTS migration_check")
            url = with_schema(TEST_DATABASE, "migration_check")
            try:
                store_at(url).close()
                rows = pg.execute(
                    "SELECT table_name, column_name FROM information_schema.columns"
                    " WHERE table_schema = 'migration_check' ORDER BY table_name, ordinal_position"
                ).fetchall()
            finally:
                pg.execute("DROP SCHEMA migration_check CASCADE")
        found: dict[str, tuple[str, ...]] = {}
        for table, column in rows:
            found[table] = (*found.get(table, ()), column)
        assert found == {t: columns for t, (columns, _key) in migration.TABLES.items()}
