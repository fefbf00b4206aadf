"""Production serving: `repository serve` under gunicorn with several workers over one store.

One real server (three worker processes, configured from the environment) is shared by the
tests of this module: a save through one worker is seen by searches, SPARQL queries and
harvests served by the others, every request is logged as one JSON line with its request
id, and the health endpoint answers for each worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from conftest import EXAMPLE
from factory import article, record_id
from sickle import Sickle

from repository.accounts import FILENAME, Accounts
from repository.service import Repository

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 3
RECORDS = 12
PASSWORD = "correct horse battery staple"


class LiveServer:
    def __init__(self, url: str, log: Path, token: str, proc: subprocess.Popen):
        self.url, self.log, self.token, self.proc = url, log, token, proc

    def log_lines(self) -> list[dict]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until every worker says it is ready and the server answers /health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited:\n{log.read_text()[-3000:]}")
        ready = log.read_text(encoding="utf-8").count('"Worker ready (pid: ')
        try:
            if ready >= WORKERS and requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("serving")
    instance = base / "instance"
    repo = Repository(instance, base_url="http://repo.test")
    for i in range(RECORDS):
        data = article(i, newspaper="大连日报" if i % 2 else "大连晚报", date=f"2019-06-{i + 1:02d}")
        repo.save(repo.prepare(data, source="test"), 0, who="test", why="setup")
    accounts = Accounts(instance / FILENAME)
    accounts.add_user("wang", PASSWORD, "cataloger")
    token = accounts.create_token("wang")
    repo.close()
    port = _free_port()
    log = base / "server.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REPOSITORY_INSTANCE": str(instance),
        "REPOSITORY_PORT": str(port),
        "REPOSITORY_WORKERS": str(WORKERS),
        "REPOSITORY_THREADS": "4",
        "REPOSITORY_BASE_URL": "http://repo.test",
        "REPOSITORY_LOG_FORMAT": "json",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "repository", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield LiveServer(url, log, token, proc)
    finally:
        proc.send_signal(signal.SIGTERM)  # gunicorn: graceful stop of every worker
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _many(count: int, fn, at_once: int = 8) -> list:  # noqa: ANN001 - a callable of no arguments
    """``fn`` called ``count`` times, ``at_once`` at a time, each on its own connection (so on several
    workers). A connection reset is retried once, as a harvester would (seen rarely while workers boot
    on a loaded machine); it is counted, and more than one in a call fails the test."""
    resets: list[int] = []

    def call(_i: int):  # noqa: ANN202
        try:
            return fn()
        except requests.ConnectionError:
            resets.append(1)
            return fn()

    with ThreadPoolExecutor(at_once) as pool:
        answers = list(pool.map(call, range(count)))
    assert len(resets) <= 1, f"{len(resets)} connections were reset"
    return answers


def test_several_workers_answer_health_and_each_holds_its_own_graph_replica(live: LiveServer) -> None:
    answers = _many(60, lambda: requests.get(f"{live.url}/health", timeout=10))
    assert all(a.status_code == 200 for a in answers)
    bodies = [a.json() for a in answers]
    assert all(b["status"] == "ok" and b["store"]["seq"] >= RECORDS for b in bodies)
    replicas = {b["pid"]: b["graph"]["path"] for b in bodies}
    assert len(replicas) >= 2, "the requests were all served by one process"
    # one replica per worker, never shared: an Oxigraph store is held by one process
    assert len(set(replicas.values())) == len(replicas)
    assert set(replicas.values()) <= {"graph", *(f"graph-{n}" for n in range(2, WORKERS + 1))}


def test_a_save_through_one_worker_is_seen_by_every_worker_at_once(live: LiveServer) -> None:
    rid = record_id(3)
    title = "星海广场的新灯光秀"
    data = EXAMPLE.read_bytes().replace(b"media-2019-06-02-0001", rid.encode())
    data = data.replace("老码头的早市".encode(), title.encode(), 1)
    headers = {
        "Authorization": f"Bearer {live.token}",
        "Content-Type": "application/mods+xml",
        "If-Match": '"1"',
        "X-Reason": quote("更正标题"),
    }
    saved = requests.put(f"{live.url}/api/records/{rid}", data=data, headers=headers, timeout=30)
    assert saved.status_code == 200, saved.text
    # searches: whichever worker answers finds the new title, and only in that record
    pages = _many(30, lambda: requests.get(f"{live.url}/search", params={"q": "灯光秀"}, timeout=10))
    assert all(p.status_code == 200 and rid in p.text for p in pages)
    # SPARQL: every worker's own graph replica has the new title (two at a time: each worker runs
    # REPOSITORY_SPARQL_CONCURRENCY queries at once and answers 503 with Retry-After beyond that)
    query = f'SELECT ?s WHERE {{ ?s <http://schema.org/headline> ?t . FILTER(CONTAINS(STR(?t), "{title}")) }}'
    answers = _many(
        30,
        lambda: requests.get(
            f"{live.url}/sparql",
            params={"query": query},
            headers={"Accept": "application/sparql-results+json"},
            timeout=20,
        ),
        at_once=2,
    )
    assert all(a.status_code == 200 for a in answers)
    assert all(len(a.json()["results"]["bindings"]) == 1 for a in answers), [a.text for a in answers]


def test_a_harvest_spread_over_the_workers_gets_every_record_once(live: LiveServer) -> None:
    sickle = Sickle(f"{live.url}/oai", max_retries=0)
    identifiers = [
        h.identifier for h in sickle.ListIdentifiers(metadataPrefix="oai_dc", ignore_deleted=False)
    ]
    assert len(identifiers) == len(set(identifiers)) == RECORDS


def test_every_request_is_one_json_log_line_with_the_request_id_sent_back(live: LiveServer) -> None:
    response = requests.get(f"{live.url}/records/{record_id(5)}", headers={"X-Request-Id": "trace-42"})
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "trace-42"
    made = requests.get(f"{live.url}/health").headers["X-Request-Id"]
    assert len(made) == 16
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = live.log_lines()
        ours = [entry for entry in lines if entry.get("request_id") == "trace-42"]
        if ours and any(entry.get("request_id") == made for entry in lines):
            break
        time.sleep(0.1)
    assert len(ours) == 1, "the request was not logged once"
    entry = ours[0]
    assert entry["logger"] == "repository.access" and entry["level"] == "INFO"
    assert entry["method"] == "GET" and entry["path"] == f"/records/{record_id(5)}" and entry["status"] == 200
    assert entry["ms"] >= 0 and entry["bytes"] > 0 and entry["remote"] == "127.0.0.1"
    assert entry["pid"] != live.proc.pid  # served by a worker, not the master
    # gunicorn's own messages are JSON lines too, and say how many workers it booted
    booted = [e for e in live.log_lines() if e["logger"] == "gunicorn.error" and "Booting worker" in e["msg"]]
    assert len(booted) >= WORKERS


def test_health_is_503_when_the_store_does_not_answer(repo: Repository) -> None:
    from repository.app import create_app

    app = create_app(repo)
    client = app.test_client()
    assert client.get("/health").status_code == 200

    def broken() -> int:
        raise OSError("connection refused")

    repo.store.max_seq = broken  # what a lost database connection looks like to the endpoint
    answer = client.get("/health")
    assert answer.status_code == 503
    assert answer.json["status"] == "unavailable" and "connection refused" in answer.json["store"]


def _make_key(args: tuple[str, object]) -> bytes:
    folder, barrier = args
    barrier.wait()
    from repository.config import instance_secret

    return instance_secret(Path(folder))


def test_workers_starting_together_share_one_key(tmp_path: Path) -> None:
    """Each worker reads (or makes) the instance key as it boots: all at the same moment."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no fork of a process with native threads running
    for attempt in range(5):
        folder = tmp_path / f"i{attempt}"
        folder.mkdir()
        with ctx.Manager() as manager:
            barrier = manager.Barrier(8)
            with ctx.Pool(8) as pool:
                keys = pool.map(_make_key, [(str(folder), barrier)] * 8)
        assert len(set(keys)) == 1 and len(keys[0]) == 32
        assert [p.name for p in folder.iterdir()] == ["secret.key"]  # no temporary file left
        assert (folder / "secret.key").stat().st_mode & 0o777 == 0o600


def test_a_save_in_a_process_that_does_not_lead_waits_for_the_leader_to_index_it(repo: Repository) -> None:
    """Two workers: one leads the search index (keeps its writer); a save in the other is searchable
    when the save returns, applied by the leader, not by the saving process."""
    from repository.search.index import SearchIndex, SearchRequest

    repo.save(repo.prepare(article(1), source="t"), 0, who="t", why="new")
    leader = SearchIndex(repo)
    leader.lead()
    deadline = time.monotonic() + 10
    while not leader.leading and time.monotonic() < deadline:
        time.sleep(0.02)
    assert leader.leading

    other_repo = Repository(repo.instance, base_url="http://repo.test")  # the other worker's view
    other = SearchIndex(other_repo)
    other_repo.listeners.append(other.listen)
    other.lead()  # it would lead too, but the lock is taken: it waits for its turn
    try:
        title = "棒棰岛的秋天"
        other_repo.save(other_repo.prepare(article(2, title=title), source="t"), 0, who="t", why="new")
        assert other.search(SearchRequest(text="棒棰岛"), facets=False).total == 1
        assert not other.leading and leader.synced_seq() == repo.store.max_seq()

        # the leader goes away: the other takes over and indexes what is saved next
        leader.stop()
        deadline = time.monotonic() + 10
        while not other.leading and time.monotonic() < deadline:
            time.sleep(0.05)
        assert other.leading
        change = other_repo.prepare(article(3, title="老虎滩的海鸥"), source="t")
        other_repo.save(change, 0, who="t", why="new")
        assert other.search(SearchRequest(text="老虎滩"), facets=False).total == 1
    finally:
        other.stop()
        leader.stop()
        other_repo.close()
