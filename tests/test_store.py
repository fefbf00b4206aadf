"""The store and the save path: versions, stale saves, tombstones, restore, one transaction per batch."""

from __future__ import annotations

import pytest
from conftest import EXAMPLE

from repository.service import Repository
from repository.store import NotFound, SQLiteStore, StaleVersion, StoreError

RID = "media-2019-06-02-0001"


def _prepare(repo: Repository, title: str = "老码头的早市", text: str | None = "正文"):
    data = EXAMPLE.read_bytes().replace("老码头的早市".encode(), title.encode())
    return repo.prepare(data, record_id=RID, collection="media", fulltext=text, source="t.xml")


def test_store_is_wal_with_full_sync(repo) -> None:
    if not isinstance(repo.store, SQLiteStore):
        pytest.skip("SQLite's journal settings (this run's store is another)")
    conn = repo.store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_save_creates_version_datestamp_renderings_and_sets(repo) -> None:
    state = repo.save(_prepare(repo), 0, who="alice", why="first")
    assert (state.version, state.deleted, state.collection) == (1, False, "media")
    assert state.datestamp.endswith("Z") and len(state.datestamp) == 20
    v = repo.store.version(RID)
    assert (v.who, v.why, v.action, v.fulltext) == ("alice", "first", "create", "正文")
    assert b"<dc:title>" in repo.store.rendering(RID, "oai_dc")
    assert repo.store.sets_of(RID) == ["media", "media:dalianwanbao"]
    assert repo.store.get(RID).title == "老码头的早市: 一条街的四十年"


def test_a_save_naming_an_old_version_is_refused_and_changes_nothing(repo) -> None:
    repo.save(_prepare(repo), 0, who="a", why="1")
    repo.save(_prepare(repo, "第二版"), 1, who="a", why="2")
    with pytest.raises(StaleVersion) as err:
        repo.save(_prepare(repo, "迟到的修改"), 1, who="b", why="late")
    assert err.value.current == 2 and "version 2" in str(err.value)
    assert [v.why for v in repo.store.history(RID)] == ["1", "2"]
    assert repo.store.get(RID).title.startswith("第二版")


def test_creating_an_existing_record_is_refused(repo) -> None:
    repo.save(_prepare(repo), 0, who="a", why="1")
    with pytest.raises(StaleVersion):
        repo.save(_prepare(repo), 0, who="b", why="again")


def test_delete_is_a_tombstone_and_restore_a_new_version(repo) -> None:
    repo.save(_prepare(repo), 0, who="a", why="1")
    before = repo.store.get(RID)
    gone = repo.delete(RID, 1, who="a", why="duplicate")
    assert gone.deleted and gone.version == 2 and gone.datestamp >= before.datestamp
    assert repo.store.rendering(RID, "oai_dc") is None
    assert repo.store.sets_of(RID) == ["media", "media:dalianwanbao"]  # deleted headers stay in their sets
    assert repo.store.count("media") == 0
    with pytest.raises(StoreError):
        repo.delete(RID, who="a", why="again")
    back = repo.restore(RID, who="a", why="mistake")
    assert (back.version, back.deleted) == (3, False)
    assert [v.action for v in repo.store.history(RID)] == ["create", "delete", "restore"]
    assert repo.store.version(RID).xml == repo.store.version(RID, 1).xml
    assert repo.store.rendering(RID, "oai_dc") is not None


def test_restore_an_older_version_of_a_live_record(repo) -> None:
    repo.save(_prepare(repo), 0, who="a", why="1")
    repo.save(_prepare(repo, "改过的标题"), 1, who="a", why="2")
    state = repo.restore(RID, version=1, who="a", why="revert")
    assert state.version == 3 and state.title.startswith("老码头的早市")


def test_a_batch_is_one_transaction(repo) -> None:
    repo.save(_prepare(repo), 0, who="a", why="1")
    other = repo.prepare(
        EXAMPLE.read_bytes().replace(RID.encode(), b"media-other"),
        record_id="media-other",
        collection="media",
        source="o.xml",
    )
    with pytest.raises(StaleVersion):
        repo.commit([(other, 0), (_prepare(repo, "x"), 0)], who="a", why="batch")
    assert repo.store.get("media-other") is None  # the good half was not written either
    assert len(repo.store.history(RID)) == 1


def test_missing_versions_and_records(repo) -> None:
    with pytest.raises(NotFound):
        repo.store.version("nope")
    repo.save(_prepare(repo), 0, who="a", why="1")
    with pytest.raises(NotFound):
        repo.store.version(RID, 9)


def test_collections_are_stored(repo) -> None:
    rows = repo.store.collection_rows()
    assert len(rows) == 21 and rows[0]["code"] == "encyclopedia"
    media = next(r for r in rows if r["code"] == "media")
    assert media["names"]["zh-Hant"] == "媒體上的大連專題數據庫" and media["profile"] == "article"


def test_two_instances_side_by_side_do_not_share_anything(tmp_path) -> None:
    a = Repository(tmp_path / "a")
    b = Repository(tmp_path / "b")
    a.save(a.prepare(EXAMPLE.read_bytes(), collection="media", source="x"), 0, who="t", why="t")
    assert a.store.count() == 1 and b.store.count() == 0
    a.close()
    b.close()


def test_list_counts_match_the_records_through_edits_deletes_and_restores(tmp_path, monkeypatch) -> None:
    """completeListSize comes from per-second and per-day counts; they must equal a count of rows."""
    import itertools

    from factory import article, record_id

    from repository.store import sqlite as sqlite_store

    stamps = itertools.count()
    monkeypatch.setattr(
        sqlite_store, "utc_now", lambda: f"2024-01-{1 + next(stamps) // 5:02d}T{next(stamps) % 24:02d}:00:00Z"
    )
    repo = Repository(tmp_path / "inst")
    papers = ["大连晚报", "大连日报", "半岛晨报"]
    for i in range(12):
        repo.save(repo.prepare(article(i, newspaper=papers[i % 3]), source="t"), 0, who="t", why="t")
    repo.save(repo.prepare(article(3, newspaper="辽宁日报"), source="t"), 1, who="t", why="move paper")
    repo.delete(record_id(4), who="t", why="t")
    repo.delete(record_id(5), who="t", why="t")
    repo.restore(record_id(5), who="t", why="t")
    windows = [
        ("", "9999-12-31T23:59:59Z"),
        ("2024-01-02", "2024-01-04T23:59:59Z"),
        ("2024-01-03T05:00:00Z", "2024-01-03T20:00:00Z"),
        ("2024-01-01T00:00:00Z", "2024-01-09T00:00:00Z"),
    ]
    specs = [None, "media", "media:dalianwanbao", "media:liaoningribao", "old-photos"]
    for (lo, hi), spec in itertools.product(windows, specs):
        # what a harvest of the window lists, counted row by row (any store)
        expected = len(
            repo.store.list_page(
                set_spec=spec, from_=lo, until=hi, bound_seq=repo.store.max_seq(), after=None, limit=1000
            )
        )
        assert repo.store.list_count(set_spec=spec, from_=lo, until=hi) == expected, (lo, hi, spec)
    assert repo.store.list_count(set_spec=None, from_="", until="9999-12-31T23:59:59Z") == 12
    repo.close()


# ------------------------------------------------------------------------------ OAI-PMH list items
def _stored_items(repo: Repository, record_id: str) -> dict[str, object]:
    from repository.service import RENDERERS
    from repository.store.base import HEADER, STORED_FORMAT

    return {fmt: repo.store.get_item(record_id, fmt) for fmt in (HEADER, STORED_FORMAT, *RENDERERS)}


def test_list_items_follow_every_change_of_a_header(repo) -> None:
    """Each save rewrites the record's stored <header> and <record> elements in every format."""
    from repository.store.base import HEADER, STORED_FORMAT
    from repository.xmlio import strip_declaration

    def check(state) -> None:
        specs = "".join(f"<setSpec>{s}</setSpec>" for s in repo.store.sets_of(RID)).encode()
        head = f"{RID}</identifier><datestamp>{state.datestamp}</datestamp>".encode() + specs + b"</header>"
        for fmt, row in _stored_items(repo, RID).items():
            assert row is not None, fmt
            assert (row.datestamp, row.id, bool(row.deleted)) == (state.datestamp, RID, state.deleted), fmt
            if fmt == HEADER:
                assert row.item == head
            elif state.deleted:
                assert row.item == head + b"</record>", fmt
            else:
                content = (
                    strip_declaration(repo.store.version(RID).xml)
                    if fmt == STORED_FORMAT
                    else repo.store.rendering(RID, fmt)
                )
                assert row.item == head + b"<metadata>" + content + b"</metadata></record>", fmt
            listed = repo.store.list_items(
                fmt=fmt, set_spec=None, from_="", until="9999-12-31T23:59:59Z",
                bound_seq=repo.store.max_seq(), after=None, limit=10,
            )  # fmt: skip
            assert [tuple(r) for r in listed] == [tuple(row)], fmt

    check(repo.save(_prepare(repo), 0, who="a", why="create"))
    check(repo.save(_prepare(repo, "第二版"), 1, who="a", why="edit"))
    moved = EXAMPLE.read_bytes().replace("大连晚报".encode(), "辽宁日报".encode())
    prepared = repo.prepare(moved, record_id=RID, collection="media", source="t.xml")
    check(repo.save(prepared, 2, who="a", why="another newspaper: a set change"))
    assert repo.store.sets_of(RID) == ["media", "media:liaoningribao"]
    check(repo.delete(RID, who="a", why="withdrawn"))
    check(repo.restore(RID, who="a", why="back"))


def test_a_store_made_before_list_items_derives_them_when_opened(tmp_path) -> None:
    """Schema 1 had no oai_items: opening such a store builds them, equal to what saves would have stored."""
    from factory import article, record_id

    repo = Repository(tmp_path / "inst")
    if not isinstance(repo.store, SQLiteStore):
        pytest.skip("the SQLite store's own migration")
    for i in range(4):
        repo.save(repo.prepare(article(i), source="t"), 0, who="t", why="t")
    repo.save(repo.prepare(article(1, newspaper="辽宁日报"), source="t"), 1, who="t", why="t")
    repo.delete(record_id(2), who="t", why="t")
    query = "SELECT format, datestamp, record_id, seq, deleted, item FROM oai_items ORDER BY 1, 2, 3"
    conn = repo.store._conn()
    saved = conn.execute(query).fetchall()
    assert len({r[0] for r in saved}) >= 3 and any(r[4] for r in saved)
    conn.execute("DROP TABLE oai_items")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    repo.close()

    reopened = Repository(tmp_path / "inst")
    conn = reopened.store._conn()
    assert conn.execute(query).fetchall() == saved
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    reopened.close()


def test_a_store_from_newer_code_is_refused(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    store._conn().execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    store.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteStore(tmp_path / "s.sqlite3")


def test_list_pages_seek_by_key_at_any_depth(repo) -> None:
    """Each page is an index seek after the last key, never a scan from the window's start or a sort."""
    if not isinstance(repo.store, SQLiteStore):
        pytest.skip("SQLite's query plans")
    from repository.store import sqlite as sqlite_store

    args = {"fmt": "oai_dc", "set": "media", "until": "9", "bound": 1, "n": 101, "lds": "a", "lid": "b"}
    conn = repo.store._conn()
    plans = {
        name: [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, args)]
        for name, sql in (("all", sqlite_store._ITEMS_PAGE), ("set", sqlite_store._SET_ITEMS_PAGE))
    }
    assert plans["all"] == [
        "SEARCH i USING INDEX oai_items_by_key (format=? AND (datestamp,record_id)>(?,?) AND datestamp<?)"
    ]
    # a set's members in key order, each item found by its key (not by a range of the window)
    assert plans["set"][0].startswith(
        "SEARCH m USING PRIMARY KEY (set_spec=? AND (datestamp,record_id)>(?,?)"
    )
    assert plans["set"][1].startswith(
        "SEARCH i USING INDEX oai_items_by_key (format=? AND datestamp=? AND record_id=?"
    )
    assert len(plans["set"]) == 2


def test_recent_additions_are_the_records_catalogued_last_whatever_their_date(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory import article, record_id

    from repository.store import sqlite as sqlite_store

    days = iter(range(1, 29))
    monkeypatch.setattr(sqlite_store, "utc_now", lambda: f"2025-02-{next(days):02d}T08:00:00Z")
    for i, issued in enumerate(["2024-05-01", "1998-03-02", "2023-07-09", "2001-01-01"]):
        repo.save(repo.prepare(article(i, date=issued), source="t"), 0, who="t", why="new")
    state = repo.store.get(record_id(0))
    repo.save(repo.prepare(article(0, title="改过"), source="t"), state.version, who="t", why="edit")
    repo.delete(record_id(2), who="t", why="duplicate")
    # catalogued last, first; an edit does not make an addition; a deleted record is not shown
    assert [s.id for s in repo.store.recent(10)] == [record_id(3), record_id(1), record_id(0)]
