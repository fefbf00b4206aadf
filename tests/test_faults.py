"""Faults: an import killed with SIGKILL, a server killed mid-harvest, a full disk, a read-only store.

Each leaves every record whole (``repository check``), says what happened in one line, and
a rerun (or the harvest's resumption token) completes the work. The kills and the disk
limits are real: processes are killed with SIGKILL, the disk fills through a file size limit
(``RLIMIT_FSIZE``, the error a full disk gives SQLite), and the store is made read-only by
the file system (an immutable file for root, permissions otherwise).
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import TEST_STORE
from factory import article, record_id
from lxml import etree

from repository.check import check
from repository.service import Repository
from repository.store import SQLITE_FILE

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500  # the importer's transaction size (repository.importer.BATCH)
OAI = "{http://www.openarchives.org/OAI/2.0/}"
sqlite_only = pytest.mark.skipif(TEST_STORE != "sqlite", reason="a fault of the SQLite file itself")


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "REPOSITORY_BASE_URL": "http://repo.test", **extra}


def _articles(folder: Path, ids: range) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in ids:
        (folder / f"{record_id(i)}.xml").write_bytes(
            article(i, date=f"2019-{1 + i % 12:02d}-{1 + i % 28:02d}")
        )
    return folder


def _import(instance: Path, folder: Path, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "repository", "--instance", str(instance), "import", str(folder)]
    return subprocess.Popen(
        command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, **popen
    )


def _whole(instance: Path) -> tuple[int, list[str], set[int]]:
    """Records in the store, the problems `repository check` finds, and the version numbers seen."""
    repo = Repository(instance, base_url="http://repo.test")
    try:
        versions = {s.version for s in repo.store.records(include_deleted=True)}
        return repo.store.count(), check(repo), versions
    finally:
        repo.close()


# --------------------------------------------------------------------------- SIGKILL during an import
def test_an_import_killed_at_random_points_leaves_whole_records_and_a_rerun_completes_it(
    tmp_path: Path,
) -> None:
    n = 4 * BATCH
    folder = _articles(tmp_path / "files", range(n))
    instance = tmp_path / "instance"
    Repository(
        instance, base_url="http://repo.test"
    ).close()  # made here: the PostgreSQL run gives it a schema
    rng = random.Random(20261125)
    seen_counts = []
    for threshold in (0, BATCH, 2 * BATCH):
        proc = _import(instance, folder)
        repo = Repository(instance, base_url="http://repo.test")
        try:
            while repo.store.count() < threshold and proc.poll() is None:
                time.sleep(0.02)
        finally:
            repo.close()
        time.sleep(rng.uniform(0.05, 0.6))  # somewhere in preparing or committing the next batch
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        count, problems, versions = _whole(instance)
        assert problems == []
        assert count % BATCH == 0, f"{count} records: a batch was committed in part"
        assert versions <= {1}
        seen_counts.append(count)
    assert seen_counts[-1] < n, "the kills came too late to test anything"

    rerun = _import(instance, folder)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    count, problems, versions = _whole(instance)
    assert (count, problems, versions) == (n, [], {1})  # each record once, at its first version


# --------------------------------------------------------------------------- a server killed mid-harvest
def _serve(instance: Path, port: int, log: Path) -> subprocess.Popen:
    env = _env(REPOSITORY_OAI_PAGE_SIZE="10")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "repository", "--instance", str(instance), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(log.read_text()[-2000:])


def _page(url: str, params: dict) -> tuple[list[str], str | None]:
    root = etree.fromstring(requests.get(url, params=params, timeout=30).content)
    ids = [e.text for e in root.iter(f"{OAI}identifier") if e.getparent().tag == f"{OAI}header"]
    token = root.find(f".//{OAI}resumptionToken")
    return ids, (token.text if token is not None and token.text else None)


def test_a_server_killed_mid_harvest_resumes_from_the_token(repo: Repository, tmp_path: Path) -> None:
    from test_serving import _free_port

    for i in range(35):
        repo.save(repo.prepare(article(i), source="t"), 0, who="t", why="new")
    log = tmp_path / "server.log"
    port = _free_port()
    server = _serve(repo.instance, port, log)
    url = f"http://127.0.0.1:{port}/oai"
    try:
        first, token = _page(url, {"verb": "ListIdentifiers", "metadataPrefix": "oai_dc"})
        second, token = _page(url, {"verb": "ListIdentifiers", "resumptionToken": token})
    finally:
        os.killpg(server.pid, signal.SIGKILL)  # the master and its workers, mid-harvest
        server.wait(30)
    assert len(first) == len(second) == 10 and token

    # while it is down: a record already harvested is edited, one not yet harvested too, one is added
    for i, title in ((int(first[0][-5:]), "改一"), (34, "改二")):
        state = repo.store.get(record_id(i))
        repo.save(repo.prepare(article(i, title=title), source="t"), state.version, who="t", why="edit")
    repo.save(repo.prepare(article(99), source="t"), 0, who="t", why="new")

    port = _free_port()
    server = _serve(repo.instance, port, log)
    url = f"http://127.0.0.1:{port}/oai"
    try:
        rest = []
        while token:
            ids, token = _page(url, {"verb": "ListIdentifiers", "resumptionToken": token})
            rest += ids
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    harvested = first + second + rest
    assert len(harvested) == len(set(harvested)) == 35  # none lost, none twice
    assert {h.rsplit(":", 1)[1] for h in harvested} == {record_id(i) for i in range(35)}


# --------------------------------------------------------------------------- a full disk
def _file_size_limit(limit: int):  # noqa: ANN202 - a preexec function
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG, as on a full disk
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limited


@sqlite_only
def test_a_full_disk_stops_an_import_with_a_clear_error_and_damages_nothing(
    repo: Repository, tmp_path: Path
) -> None:
    for i in range(20):
        repo.save(repo.prepare(article(i), source="t"), 0, who="t", why="new")
    repo.close()
    folder = _articles(tmp_path / "files", range(20, 20 + 2 * BATCH))
    db = repo.instance / SQLITE_FILE
    sizes = [
        Path(f"{db}{suffix}").stat().st_size for suffix in ("", "-wal") if Path(f"{db}{suffix}").exists()
    ]
    proc = _import(repo.instance, folder, preexec_fn=_file_size_limit(max(sizes) + 64 * 1024))
    out, err = proc.communicate(timeout=300)
    message = err.decode()
    assert proc.returncode == 1, message
    # SQLite says SQLITE_FULL for a full disk, SQLITE_IOERR_WRITE for a file size limit: both name it
    assert "may be full" in message or "disk is full" in message, message
    assert str(db) in message and "Traceback" not in message, message
    assert "run the command again" in message
    count, problems, _ = _whole(repo.instance)
    assert problems == [] and count == 20  # what was there is whole; nothing of the failed batch

    rerun = _import(repo.instance, folder)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    assert _whole(repo.instance)[:2] == (20 + 2 * BATCH, [])


# --------------------------------------------------------------------------- a read-only store
@pytest.fixture
def read_only(tmp_path: Path):  # noqa: ANN201 - a function making a file read-only until the test ends
    undo = []

    def make(path: Path) -> None:
        if os.geteuid() == 0 and shutil.which("chattr"):
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if done.returncode == 0:
                undo.append(["chattr", "-i", str(path)])
                return
            pytest.skip(f"cannot make a file read-only as root here: {done.stderr.decode().strip()}")
        path.chmod(0o444)

    yield make
    for command in undo:
        subprocess.run(command, check=True)


@sqlite_only
def test_a_read_only_store_serves_reads_and_refuses_writes_clearly(
    repo: Repository, tmp_path: Path, read_only
) -> None:  # noqa: ANN001, E501
    from repository.accounts import FILENAME, Accounts
    from repository.app import create_app

    for i in range(3):
        repo.save(repo.prepare(article(i), source="t"), 0, who="t", why="new")
    accounts = Accounts(repo.instance / FILENAME)
    accounts.add_user("wang", "correct horse battery staple", "cataloger")
    token = accounts.create_token("wang")
    repo.close()
    read_only(repo.instance / SQLITE_FILE)

    folder = _articles(tmp_path / "files", range(3, 6))
    proc = _import(repo.instance, folder)
    _, err = proc.communicate(timeout=120)
    message = err.decode()
    assert proc.returncode == 1 and "read-only" in message and "Traceback" not in message, message

    again = Repository(repo.instance, base_url="http://repo.test")
    client = create_app(again).test_client()
    assert client.get(f"/records/{record_id(1)}").status_code == 200  # reads go on
    edited = article(1, title="只读时的修改")
    answer = client.put(
        f"/api/records/{record_id(1)}",
        data=edited,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/mods+xml",
            "If-Match": '"1"',
        },
    )
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    assert "read-only" in answer.json["error"] and SQLITE_FILE not in answer.json["error"]
    assert again.store.get(record_id(1)).version == 1
    again.close()


# --------------------------------------------------------------------------- the database server restarts
@pytest.mark.skipif(TEST_STORE != "postgres", reason="a fault of the PostgreSQL server")
def test_a_lost_database_connection_fails_one_save_clearly_and_the_next_reconnects(repo: Repository) -> None:
    import psycopg

    from repository.store import StoreUnavailable

    repo.save(repo.prepare(article(1), source="t"), 0, who="t", why="new")
    ours = repo.store._conn().info.backend_pid  # this thread's session, which the next save uses
    with psycopg.connect(repo.store.url, autocommit=True) as admin:  # what a server restart does to it
        admin.execute("SELECT pg_terminate_backend(%s)", (ours,))
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        repo.save(repo.prepare(article(2), source="t"), 0, who="t", why="new")
    assert repo.store.get(record_id(2)) is None  # nothing of it was written
    with psycopg.connect(repo.store.url, autocommit=True) as admin:  # again, before a read this time
        admin.execute("SELECT pg_terminate_backend(%s)", (repo.store._conn().info.backend_pid,))
    assert repo.store.get(record_id(1)).version == 1  # a read reconnects without a word
    repo.save(repo.prepare(article(2), source="t"), 0, who="t", why="again")
    assert repo.store.get(record_id(2)).version == 1
