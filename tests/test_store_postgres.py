"""The PostgreSQL store: the same answers as the SQLite store, and safe with several writers at once.

Needs a PostgreSQL server (``REPOSITORY_TEST_DATABASE``, which ``.ci/postgres run`` sets); skips
without one. The rest of the suite runs against PostgreSQL too with ``REPOSITORY_TEST_STORE=postgres``.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import EXAMPLE, TEST_DATABASE, with_database
from factory import EXAMPLE_ID, article, record_id

from repository.service import Repository
from repository.store import StaleVersion, set_database_url
from repository.store import sqlite as sqlite_store
from repository.store.base import HEADER, FileState

PAPERS = ["大连晚报", "大连日报", "半岛晨报"]
FAR = "9999-12-31T23:59:59Z"
WINDOWS = [
    ("", FAR),
    ("2024-01-02", "2024-01-04T23:59:59Z"),
    ("2024-01-03T05:00:00Z", "2024-01-03T20:00:00Z"),
]


def open_repo(instance: Path, url: str) -> Repository:
    set_database_url(instance, url)
    return Repository(instance, base_url="http://repo.test")


def sqlite_url(instance: Path) -> str:
    return f"sqlite://{instance.resolve() / 'repository.sqlite3'}"


class Clock:
    """A store clock that moves an hour or so per save and once goes back (datestamps must not)."""

    def __init__(self) -> None:
        self.ticks = itertools.count()

    def __call__(self) -> str:
        t = next(self.ticks)
        if t == 20:
            t = 3  # the clock jumps back
        return f"2024-01-{1 + t // 6:02d}T{(t * 5) % 24:02d}:00:00Z"


def history_of_changes(repo: Repository) -> None:
    """Creates, edits, a move to another newspaper, deletes, restores and one batch: what stores see."""
    for i in range(10):
        repo.save(repo.prepare(article(i, newspaper=PAPERS[i % 3]), source="t"), 0, who="t", why=f"new {i}")
    repo.save(repo.prepare(article(3, newspaper="辽宁日报"), source="t"), 1, who="a", why="move paper")
    repo.delete(record_id(4), who="b", why="duplicate")
    repo.delete(record_id(5), who="b", why="wrong")
    repo.restore(record_id(5), who="c", why="mistake")
    repo.save(repo.prepare(article(6, title="改过"), source="t"), 1, who="a", why="title")
    repo.restore(record_id(6), version=1, who="a", why="revert")
    batch = [(repo.prepare(article(i, newspaper=PAPERS[(i + 1) % 3]), source="t"), 0) for i in range(10, 14)]
    repo.commit(batch, who="import", why="batch")
    repo.store.save_file_states(
        [FileState(record_id(i), f"media/{record_id(i)}.xml", 1, f"{i}:{i}", f"d{i}") for i in range(3)],
        removed=[record_id(9)],
    )


def everything(repo: Repository) -> dict:
    """Every answer the store interface gives about the records, in plain values."""
    st = repo.store
    ids = [record_id(i) for i in range(14)]
    out: dict = {
        "get": [st.get(i) for i in ids],
        "history": [st.history(i) for i in ids],
        "renderings": [st.rendering(i, f) for i in ids for f in ("oai_dc", "rdf")],
        "records": list(st.records(include_deleted=True)),
        "live": list(st.records("media")),
        "counts": (st.count(), st.count("media"), st.live_count(), st.counts_by_collection()),
        "live_page": [tuple(r) for r in st.live_page(2, 5)],
        "sample": st.sample_id(),
        "sets_of": [st.sets_of(i) for i in ids],
        "recent": st.recent(5),
        "collections": st.collection_rows(),
        "set_names": st.set_names(),
        "seq": (st.max_seq(), st.earliest_datestamp()),
        "current": st.current_versions(),
        "file_states": st.file_states(),
        "some_file_states": st.file_states([record_id(1), "nope"]),
        "as_of": [st.versions_as_of(b) for b in range(st.max_seq() + 1)],
        "changed": [st.changed_since(s, 4) for s in range(st.max_seq() + 1)],
        "items": [(st.get_item(i, f), st.get_item(i, HEADER)) for i in ids for f in ("mods", "oai_dc")],
    }
    specs = [None, "media", "media:dalianwanbao", "media:liaoningribao", "old-photos"]
    for (lo, hi), spec in itertools.product(WINDOWS, specs):
        out[("count", lo, spec)] = st.list_count(set_spec=spec, from_=lo, until=hi)
        for bound in (st.max_seq(), 9):
            out[("page", lo, spec, bound)] = st.list_page(
                set_spec=spec, from_=lo, until=hi, bound_seq=bound, after=None, limit=100
            )
            for fmt in (HEADER, "oai_dc", "mods"):
                pages, after = [], None
                while page := st.list_items(
                    fmt=fmt, set_spec=spec, from_=lo, until=hi, bound_seq=bound, after=after, limit=3
                ):
                    pages.append([(bytes(r[0]), r[1], r[2], bool(r[3])) for r in page])
                    after = (page[-1][1], page[-1][2])
                out[("items", lo, spec, bound, fmt)] = pages
    return out


def test_postgres_answers_exactly_as_sqlite_through_edits_deletes_restores_and_batches(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = []
    for name, url in (("lite", sqlite_url(tmp_path / "lite")), ("pg", pg_url)):
        monkeypatch.setattr(sqlite_store, "utc_now", Clock())  # the same clock, from the start, for each
        repo = open_repo(tmp_path / name, url)
        history_of_changes(repo)
        answers.append(everything(repo))
        repo.close()
    lite, pg = answers
    assert type(pg) is dict and lite.keys() == pg.keys()
    for key in lite:
        assert pg[key] == lite[key], key
    # and the clock that went back moved no datestamp back
    for versions in pg["history"]:
        stamps = [v.datestamp for v in versions]
        assert stamps == sorted(stamps)


def test_concurrent_writers_get_every_change_number_once_in_commit_order(tmp_path: Path, pg_url: str) -> None:
    """Writers in several threads (a connection each) commit at once; a follower reading as they go
    must never find a change number below one it has already seen appear later."""
    repo = open_repo(tmp_path / "inst", pg_url)
    prepared = [repo.prepare(article(i), source="t") for i in range(60)]
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    stop = threading.Event()
    seen: list[tuple[int, set[int]]] = []  # (highest number seen, every number at or below it then)

    def write(k: int) -> None:
        try:
            start.wait()
            for p in prepared[k::3]:
                repo.store.commit([_change(p)])
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    def follow() -> None:
        start.wait()
        while not stop.is_set():
            changed = repo.store.changed_since(0, 1000)
            if changed:
                top = changed[-1].seq
                seen.append((top, {c.seq for c in changed}))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(3)] + [
        threading.Thread(target=follow)
    ]
    for t in threads:
        t.start()
    for t in threads[:3]:
        t.join()
    stop.set()
    threads[3].join()
    assert not errors
    final = {c.seq for c in repo.store.changed_since(0, 1000)}
    assert final == set(range(1, 61))
    for top, then in seen:
        assert {s for s in final if s <= top} == then, f"a change below {top} appeared after it was seen"
    repo.close()


def _change(p):  # noqa: ANN001, ANN202 - a Prepared → the store's Change for a new record
    from repository.store import Change

    return Change(
        p.record_id, p.collection, 0, "create", p.xml, p.fulltext, p.digest, "t", "t",
        p.renderings, p.sets, p.summary,
    )  # fmt: skip


def test_two_catalogers_saving_at_once_one_wins_the_other_is_stale(tmp_path: Path, pg_url: str) -> None:
    first = open_repo(tmp_path / "a", pg_url)
    second = Repository(tmp_path / "a", base_url="http://repo.test")  # another process, in effect
    first.save(first.prepare(article(1), source="t"), 0, who="t", why="t")
    edits = [r.prepare(article(1, title=f"第{n}版"), source="t") for n, r in enumerate((first, second))]
    start = threading.Barrier(2)
    outcome: list[object] = [None, None]

    def save(n: int, r: Repository) -> None:
        start.wait()
        try:
            outcome[n] = r.save(edits[n], 1, who=f"cataloger {n}", why="edit").version
        except StaleVersion as exc:
            outcome[n] = exc

    threads = [threading.Thread(target=save, args=(n, r)) for n, r in enumerate((first, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(type(o).__name__ for o in outcome) == ["StaleVersion", "int"]
    assert [v.version for v in first.store.history(record_id(1))] == [1, 2]
    first.close()
    second.close()


def test_record_ids_page_in_byte_order_whatever_the_database_collation(tmp_path: Path, pg_url: str) -> None:
    """Keyset paging and resumption tokens assume SQLite's byte order; a database made with a
    linguistic (ICU) collation would sort '_' before '-' and 'a' before 'B'."""
    import psycopg

    name = urlsplit(pg_url).path.lstrip("/") + "_icu"
    with psycopg.connect(TEST_DATABASE, autocommit=True) as conn:
        try:
            conn.execute(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                " LOCALE 'C.UTF-8'"
            )
        except psycopg.Error as exc:
            pytest.skip(f"this server cannot make an ICU database: {exc}")
    try:
        repo = open_repo(tmp_path / "inst", with_database(pg_url, name))
        ids = ["media-B", "media-a", "media.z", "media_x", "media-0"]
        for rid in ids:
            xml = EXAMPLE.read_bytes().replace(EXAMPLE_ID.encode(), rid.encode())
            repo.save(repo.prepare(xml, collection="media", source="t"), 0, who="t", why="t")
        walked, after = [], None
        stamp = repo.store.get(ids[0]).datestamp
        while page := repo.store.list_items(
            fmt=HEADER, set_spec=None, from_=stamp, until=stamp, bound_seq=99, after=after, limit=1
        ):
            walked.append(page[0][2])
            after = (page[0][1], page[0][2])
        if len({repo.store.get(i).datestamp for i in ids}) == 1:  # saved within one second
            assert walked == sorted(ids, key=str.encode)
        assert [r.id for r in repo.store.records()] == sorted(ids, key=str.encode)
        repo.close()
    finally:
        with psycopg.connect(TEST_DATABASE, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_instance_setting_and_the_environment_choose_the_store(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repository.store import open_store

    inst = tmp_path / "inst"
    set_database_url(inst, pg_url)
    assert type(open_store(inst)).__name__ == "PostgresStore"
    monkeypatch.setenv("REPOSITORY_DATABASE_URL", sqlite_url(tmp_path / "other"))
    chosen = open_store(inst)
    assert (
        type(chosen).__name__ == "SQLiteStore"
        and chosen.path == tmp_path.resolve() / "other/repository.sqlite3"
    )
    monkeypatch.delenv("REPOSITORY_DATABASE_URL")
    set_database_url(inst, None)
    assert not (inst / "database.url").exists()


def test_a_store_made_by_newer_code_is_refused(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    from repository.store import StoreError, store_at

    store_at(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        store_at(pg_url)


def test_list_pages_seek_by_key_at_any_depth(tmp_path: Path, pg_url: str) -> None:
    """A page is an index seek after the last key delivered, for the whole repository and for a set,
    never a scan from the start of the format (which would make page 10,000 cost more than page 1)."""
    from repository.store.postgres import _ITEMS_PAGE, _SET_ITEMS_PAGE

    repo = open_repo(tmp_path / "inst", pg_url)
    repo.commit([(repo.prepare(article(i), source="t"), 0) for i in range(30)], who="t", why="t")
    conn = repo.store._conn()
    args = {"fmt": "oai_dc", "set": "media", "until": FAR, "bound": 99, "n": 101, "lds": "2", "lid": "m"}
    with conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")  # a table this small would otherwise be read whole
        conn.execute("SET LOCAL enable_sort = off")
        conn.execute(
            "SET LOCAL enable_nestloop = off"
        )  # the join a large set gets: members merged with items
        for sql in (_ITEMS_PAGE, _SET_ITEMS_PAGE):
            plan = [row[0] for row in conn.execute("EXPLAIN " + sql, args)]
            assert not any("Sort" in line or "Seq Scan" in line for line in plan), plan
            ranges = [line for line in plan if "Index Cond" in line and "record_id = " not in line]
            assert ranges and all("ROW(datestamp, record_id) > ROW(" in line for line in ranges), plan
    repo.close()


CLOSE_WHILE_READING = """
import sys, threading, time
from repository.store import store_at

store = store_at(sys.argv[1])
stop = threading.Event()
failed = []

def read():
    while not stop.is_set():
        try:
            store.max_seq()
        except Exception as exc:
            failed.append(repr(exc))

readers = [threading.Thread(target=read) for _ in range(4)]
for t in readers:
    t.start()
for _ in range(400):
    time.sleep(0.003)
    store.close()
stop.set()
for t in readers:
    t.join()
store.close()
print(len(failed), failed[:3])
"""


def test_closing_the_store_while_other_threads_read_does_not_crash(pg_url: str) -> None:
    """A background catch-up may be mid-query when the app closes the store: the close must wait
    for that query rather than free the session under it (libpq then crashes or hangs the process),
    and the reader's next query goes on in a new session without an error."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CLOSE_WHILE_READING, pg_url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0 []"
