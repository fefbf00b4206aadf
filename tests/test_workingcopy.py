"""records/ as the catalogers' working copy: sync in both directions, never overwrite, never lose."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import EXAMPLE

from repository import workingcopy
from repository.workingcopy import sync

RID = "media-2019-06-02-0001"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "records"
    (root / "media").mkdir(parents=True)
    (root / "media" / f"{RID}.xml").write_bytes(EXAMPLE.read_bytes())
    (root / "media" / f"{RID}.txt").write_text("全文。", encoding="utf-8")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    data = path.read_bytes()
    assert old.encode() in data
    path.write_bytes(data.replace(old.encode(), new.encode()))
    st = path.stat()  # make sure the mtime moves even on coarse clocks
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_new_files_are_loaded_with_their_full_text(repo, tree: Path) -> None:
    report = sync(repo, tree)
    assert report.created == [RID] and not report.failed
    assert repo.store.version(RID).fulltext == "全文。"
    assert repo.store.version(RID).xml == EXAMPLE.read_bytes()


def test_an_unchanged_tree_is_not_read_again(repo, tree: Path, monkeypatch) -> None:
    sync(repo, tree)

    def fail(*_a, **_k):  # pragma: no cover - reaching it fails the test
        raise AssertionError("an unchanged file was read")

    monkeypatch.setattr(workingcopy, "_read", fail)
    report = sync(repo, tree)
    assert report.unchanged == 1 and not report.created and not report.updated and not report.written


def test_an_edited_file_becomes_a_new_version(repo, tree: Path) -> None:
    sync(repo, tree)
    _edit(tree / "media" / f"{RID}.xml", "老码头的早市", "老码头的晚市")
    report = sync(repo, tree, who="cataloger")
    assert report.updated == [RID]
    v = repo.store.version(RID)
    assert v.version == 2 and v.who == "cataloger" and "老码头的晚市".encode() in v.xml


def test_an_edited_full_text_becomes_a_new_version(repo, tree: Path) -> None:
    sync(repo, tree)
    _edit(tree / "media" / f"{RID}.txt", "全文", "更正后的全文")
    assert sync(repo, tree).updated == [RID]
    assert repo.store.version(RID).fulltext == "更正后的全文。"


def test_an_invalid_edit_is_refused_with_file_and_line_and_the_file_is_kept(repo, tree: Path) -> None:
    sync(repo, tree)
    path = tree / "media" / f"{RID}.xml"
    _edit(path, 'keyDate="yes">2019-06-02', 'keyDate="yes">2019-13-02')
    edited = path.read_bytes()
    report = sync(repo, tree)
    assert report.failed and report.problems[0].source == f"media/{RID}.xml"
    assert report.problems[0].line == 24
    assert path.read_bytes() == edited  # the cataloger's text is not lost
    assert repo.store.get(RID).version == 1


def test_store_side_changes_are_written_back(repo, tree: Path) -> None:
    sync(repo, tree)
    data = repo.store.version(RID).xml.replace("老码头的早市".encode(), "码头".encode())
    repo.save(
        repo.prepare(data, record_id=RID, collection="media", fulltext="新", source="editor"),
        1,
        who="web",
        why="edit",
    )
    report = sync(repo, tree)
    assert report.written == [f"media/{RID}.xml"]
    assert (tree / "media" / f"{RID}.xml").read_bytes() == data
    assert (tree / "media" / f"{RID}.txt").read_text(encoding="utf-8") == "新"
    assert not list((tree / "media").glob(".*tmp"))  # no temporary files left behind
    assert sync(repo, tree).unchanged == 1


def test_a_file_edited_while_the_store_changed_is_a_conflict_and_not_overwritten(repo, tree: Path) -> None:
    sync(repo, tree)
    data = repo.store.version(RID).xml.replace("老码头的早市".encode(), "网页上的修改".encode())
    repo.save(
        repo.prepare(data, record_id=RID, collection="media", source="editor"), 1, who="web", why="edit"
    )
    path = tree / "media" / f"{RID}.xml"
    _edit(path, "老码头的早市", "文件里的修改")
    mine = path.read_bytes()
    report = sync(repo, tree)
    assert len(report.conflicts) == 1 and "changed in the store" in report.conflicts[0]
    assert path.read_bytes() == mine
    assert repo.store.get(RID).version == 2 and "网页上的修改".encode() in repo.store.version(RID).xml


def test_a_removed_file_deletes_nothing_unless_asked(repo, tree: Path) -> None:
    sync(repo, tree)
    (tree / "media" / f"{RID}.xml").unlink()
    report = sync(repo, tree)
    assert report.missing == [f"media/{RID}.xml"] and not repo.store.get(RID).deleted
    report = sync(repo, tree, delete=True)
    assert report.deleted == [f"media/{RID}.xml"] and repo.store.get(RID).deleted


def test_a_deletion_in_the_store_removes_the_file_and_a_restore_brings_it_back(repo, tree: Path) -> None:
    sync(repo, tree)
    repo.delete(RID, who="web", why="dup")
    assert sync(repo, tree).removed_files == [f"media/{RID}.xml"]
    assert not (tree / "media" / f"{RID}.xml").exists()
    repo.restore(RID, who="web", why="oops")
    assert sync(repo, tree).written == [f"media/{RID}.xml"]
    assert (tree / "media" / f"{RID}.xml").read_bytes() == EXAMPLE.read_bytes()


def test_unknown_folders_are_reported(repo, tree: Path) -> None:
    (tree / "not-a-collection").mkdir()
    report = sync(repo, tree)
    assert any("not a collection" in p.message for p in report.problems)


def test_a_fresh_instance_adopts_an_existing_working_copy(repo, tree: Path, tmp_path: Path) -> None:
    sync(repo, tree)
    from repository.service import Repository

    other = Repository(tmp_path / "second")
    assert sync(other, tree).created == [RID]
    other.close()


def test_a_full_text_that_is_not_utf8_is_reported_not_fatal(repo, tree: Path) -> None:
    (tree / "media" / f"{RID}.txt").write_bytes("全文".encode("gb18030"))
    report = sync(repo, tree)
    assert report.failed and report.problems[0].source == f"media/{RID}.xml"
    assert "cannot read" in report.problems[0].message
    assert repo.store.get(RID) is None


def test_full_text_line_endings_are_kept(repo, tree: Path) -> None:
    (tree / "media" / f"{RID}.txt").write_bytes("第一行\r\n第二行\r\n".encode())
    sync(repo, tree)
    assert repo.store.version(RID).fulltext == "第一行\r\n第二行\r\n"


def test_a_running_server_writes_every_saved_change_to_the_working_copy(repo, tree: Path) -> None:
    """Changes made through the app (browser, API) reach records/ at once, by the same rule as sync."""
    sync(repo, tree)
    follower = workingcopy.WorkingCopy(repo, tree)
    repo.listeners.append(follower.listen)
    path = tree / "media" / f"{RID}.xml"

    state = repo.store.get(RID)
    edited = EXAMPLE.read_bytes().replace("老码头的早市".encode(), "老码头的夜市".encode())
    repo.save(repo.prepare(edited, fulltext="新的全文。"), state.version, who="wang", why="browser edit")
    assert path.read_bytes() == edited and path.with_suffix(".txt").read_text("utf-8") == "新的全文。"
    assert sync(repo, tree).written == []  # the file states are current: nothing left for sync to do

    repo.delete(RID, who="wang", why="duplicate")
    assert not path.exists() and not path.with_suffix(".txt").exists()
    repo.restore(RID, who="wang", why="not a duplicate")
    assert path.read_bytes() == edited

    # a file the cataloger is editing by hand is never overwritten: sync reports the conflict
    _edit(path, "老码头的夜市", "老码头的晨市")
    by_hand = path.read_bytes()
    state = repo.store.get(RID)
    repo.save(
        repo.prepare(edited.replace("夜市".encode(), "集市".encode())), state.version, who="li", why="x"
    )
    assert path.read_bytes() == by_hand
    assert any(RID in c for c in sync(repo, tree).conflicts)


def test_the_working_copy_follower_catches_up_after_a_restart(repo, tree: Path) -> None:
    sync(repo, tree)
    state = repo.store.get(RID)
    edited = EXAMPLE.read_bytes().replace("老码头的早市".encode(), "老码头的新市".encode())
    repo.save(repo.prepare(edited), state.version, who="api", why="saved while no server followed")
    assert workingcopy.WorkingCopy(repo, tree).catch_up() >= 1
    assert (tree / "media" / f"{RID}.xml").read_bytes() == edited
