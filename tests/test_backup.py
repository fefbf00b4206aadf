"""`repository backup create / verify / restore`: a consistent copy while saves go on, restored
with every record, version, datestamp and tombstone, the accounts and the key; damage is caught
before anything is written.

In the PostgreSQL run the instances are on PostgreSQL, so a backup of a PostgreSQL store (a
SQLite folder) is restored into PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from factory import article, record_id
from test_store_postgres import everything, history_of_changes

from repository.accounts import FILENAME, Accounts
from repository.cli import main
from repository.config import instance_secret
from repository.service import Repository

PASSWORD = "correct horse battery staple"


def run(instance: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--instance", str(instance), "--user", "tester", *args])


def test_a_restored_backup_has_every_record_version_account_and_the_key(
    repo: Repository, tmp_path: Path
) -> None:
    history_of_changes(repo)
    accounts = Accounts(repo.instance / FILENAME)
    accounts.add_user("wang", PASSWORD, "cataloger")
    token = accounts.create_token("wang")
    key = instance_secret(repo.instance)  # signs sessions: they stay valid after a restore
    before = everything(repo)

    made = run(repo.instance, "backup", "create", str(tmp_path / "backup"))
    assert made.exit_code == 0, made.output
    assert "backed up 14 records and 20 versions" in made.output
    assert not (tmp_path / "backup.partial").exists()
    checked = run(repo.instance, "backup", "verify", str(tmp_path / "backup"))
    assert checked.exit_code == 0 and "sound" in checked.output, checked.output

    restored = run(tmp_path / "restored", "backup", "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
    again = Repository(tmp_path / "restored", base_url="http://repo.test")
    try:
        assert everything(again) == before  # every record, version, datestamp, tombstone, set, item
        for i in range(14):
            assert again.store.history(record_id(i)) == repo.store.history(record_id(i))
    finally:
        again.close()
    back = Accounts(tmp_path / "restored" / FILENAME)
    assert back.authenticate("wang", PASSWORD).role == "cataloger"
    assert back.user_by_token(token).name == "wang"
    assert instance_secret(tmp_path / "restored") == key


def test_a_backup_taken_while_saves_go_on_is_one_consistent_moment(repo: Repository, tmp_path: Path) -> None:
    for i in range(40):
        repo.save(repo.prepare(article(i), source="t"), 0, who="t", why="new")
    writer = Repository(repo.instance, base_url="http://repo.test")  # another process's view: a server
    stop = threading.Event()
    edits: list[int] = []

    def save_continuously() -> None:
        n = 0
        while not stop.is_set():
            i = n % 40
            current = writer.store.get(record_id(i)).version
            writer.save(
                writer.prepare(article(i, title=f"第{n}次修改"), source="t"), current, who="w", why="edit"
            )
            edits.append(n)
            n += 1

    thread = threading.Thread(target=save_continuously)
    thread.start()
    try:
        while len(edits) < 5:
            stop.wait(0.01)
        made = run(repo.instance, "backup", "create", str(tmp_path / "backup"))
        during = len(edits)
    finally:
        stop.set()
        thread.join(30)
        writer.close()
    assert made.exit_code == 0, made.output
    assert during > 5, "no save happened while the backup ran"

    restored = run(tmp_path / "restored", "backup", "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 0, restored.output
    copy = Repository(tmp_path / "restored", base_url="http://repo.test")
    try:
        moment = copy.store.max_seq()
        assert 40 < moment < repo.store.max_seq()  # some saves are in it, the later ones are not
        # exactly the records as they were at that moment: each with every version up to it, none after
        for i in range(40):
            then = [v for v in repo.store.history(record_id(i)) if v.seq <= moment]
            assert copy.store.history(record_id(i)) == then
            state = copy.store.get(record_id(i))
            assert (state.version, state.seq, state.datestamp) == (
                then[-1].version,
                then[-1].seq,
                then[-1].datestamp,
            )
    finally:
        copy.close()


def test_a_damaged_backup_is_refused_before_anything_is_written(repo: Repository, tmp_path: Path) -> None:
    for i in range(3):
        repo.save(repo.prepare(article(i), source="t"), 0, who="t", why="new")
    assert run(repo.instance, "backup", "create", str(tmp_path / "backup")).exit_code == 0
    db = sqlite3.connect(tmp_path / "backup" / "repository.sqlite3")
    with db:
        db.execute(
            "UPDATE versions SET xml = CAST(replace(xml, '老码头', '新码头') AS BLOB) WHERE record_id = ?",
            (record_id(1),),
        )
    db.close()

    checked = run(repo.instance, "backup", "verify", str(tmp_path / "backup"))
    assert checked.exit_code == 1 and "has changed since it was made: versions" in checked.output
    restored = run(tmp_path / "restored", "backup", "restore", str(tmp_path / "backup"))
    assert restored.exit_code == 1 and "has changed since it was made" in restored.output
    target = Repository(tmp_path / "restored", base_url="http://repo.test")
    try:
        assert target.store.count() == 0
    finally:
        target.close()


def test_backup_and_restore_refuse_to_overwrite(repo: Repository, tmp_path: Path) -> None:
    repo.save(repo.prepare(article(1), source="t"), 0, who="t", why="new")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "something").write_text("keep me")
    refused = run(repo.instance, "backup", "create", str(tmp_path / "taken"))
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert (tmp_path / "taken" / "something").read_text() == "keep me"

    assert run(repo.instance, "backup", "create", str(tmp_path / "backup")).exit_code == 0
    into_itself = run(repo.instance, "backup", "restore", str(tmp_path / "backup"))
    assert into_itself.exit_code == 1 and "already holds 1 records" in into_itself.output
    not_a_backup = run(tmp_path / "x", "backup", "restore", str(tmp_path / "taken"))
    assert not_a_backup.exit_code == 1 and "is not a backup" in not_a_backup.output


@pytest.mark.parametrize("damage", ["missing manifest", "unknown format"])
def test_verify_names_what_is_wrong_with_a_folder(tmp_path: Path, repo: Repository, damage: str) -> None:
    repo.save(repo.prepare(article(1), source="t"), 0, who="t", why="new")
    assert run(repo.instance, "backup", "create", str(tmp_path / "b")).exit_code == 0
    manifest = tmp_path / "b" / "backup.json"
    if damage == "missing manifest":
        manifest.unlink()
        expected = "has no backup.json"
    else:
        manifest.write_text(manifest.read_text().replace('"format": 1', '"format": 99'))
        expected = "format 99"
    result = run(repo.instance, "backup", "verify", str(tmp_path / "b"))
    assert result.exit_code == 1 and expected in result.output
