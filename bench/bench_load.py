"""Load: harvesters, searchers, readers and catalogers at once against one production server.

Why: the other benchmarks measure one thing at a time on an idle server. A library's server
meets them together: an aggregator harvests everything while readers search and open
records and catalogers save. What must hold then is correctness first (no 5xx, no harvest
that loses or repeats a record while records are edited under it) and then speed. Issue 7
asks for this on SQLite and on PostgreSQL, side by side.

For each store (SQLite, then PostgreSQL on a throwaway ``.ci/postgres start --durable``
server; skipped with a note when PostgreSQL is not installed):

1. **data**: N generated articles with their full texts (``bench_search``'s cached tree and
   ``repository import``, both reused from ``--cache``, default ``/tmp/bench-data``); the
   store is copied into a work folder, never written in the cache. Its search index and graph
   are built there once (``repository search rebuild``, ``repository rdf rebuild``); the
   PostgreSQL instance gets the same store by ``repository migrate`` (which keeps the change
   numbers, so copies of the same search index and graph are current for it:
   ``search sync``/``rdf sync`` confirm they apply nothing);
2. **server**: ``repository serve --workers W`` (gunicorn, ``gthread``) on a free port, up
   once every worker has logged "Worker ready" and ``/health`` says the search index and the
   graph are not behind;
3. **load**, all roles at once from client processes on 127.0.0.1 (one process per role, one
   keep-alive connection per client thread), for ``--seconds``:

   * harvesters: full ``ListRecords`` ``oai_dc`` harvests following resumption tokens, each
     checked: every identifier exactly once, and the count equal to ``completeListSize`` and
     to the records in the store when the harvest began (read from the database itself), the
     identifiers the same. A harvest under way at the deadline is finished (the other roles go
     on meanwhile, so every harvest runs under the same load) unless it passes
     ``--harvest-budget`` more seconds, then it is reported as unfinished;
   * searchers: ``/search`` pages (facets and the year histogram are counted with every page,
     as a reader's page load does) over a mix of two-character, four-character and
     multi-word queries, some with newspaper and date filters or a later page;
   * readers: random record pages ``/records/ID``;
   * catalogers: ``GET /api/records/ID`` (MODS), a new title, ``PUT`` with ``If-Match``; a
     quarter of the edits go to a few (``--hot``) shared records, so that two catalogers sometimes change
     the same one: the loser's 412 ("someone saved first") is counted apart, not as an error.
     After the run the store must hold exactly one new version per accepted save.

Errors: any 5xx, any other unexpected status, a connection error or timeout, a harvest that
lost or repeated a record. A ``GET`` whose kept-alive connection the server had closed is
sent again once on a new connection (as HTTP clients do) and counted as "resent".

Reported per role and store: requests, requests/s, latency p50/p95/max (ms), errors; per
store: the harvests and their checks, saves and conflicts, the server's peak RSS (master and
workers together; PostgreSQL's own processes as PSS), its CPU time, the load average.

Usage (from the project root)::

    python bench/bench_load.py                       # N = 100,000, 60 s per store (~8 min)
    python bench/bench_load.py --n 2000 --seconds 10 # smoke run (under a minute)

Report: ``bench/out/load.md`` and ``load.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

for _p in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
from _common import code_snapshot  # noqa: E402

SNAPSHOT_ENV = "BENCH_LOAD_CODE"
CODE_DIR = code_snapshot(SNAPSHOT_ENV, "bench-load-code-", __name__ == "__main__")
from _common import (  # noqa: E402
    OUT,
    ROOT,
    child_env,
    code_fingerprint,
    command_line,
    environment,
    free_port,
    loadavg,
    table,
)

OAI = "{http://www.openarchives.org/OAI/2.0/}"
MODS = "{http://www.loc.gov/mods/v3}"
ROLES = ("harvester", "searcher", "reader", "cataloger")
#: What readers type (weights by repetition): two-character words (大连 is in ~97% of the records),
#: four-character words, several words, filters (newspaper, years), a later page. Each is a whole page.
SEARCHES = [
    "大连", "大连", "港口", "金普", "海洋", "旅顺",
    "营商环境", "营商环境", "海洋牧场", "冷链物流", "跨境电商", "项目建设",
    "金普新区 冷链物流", "长兴岛 石化产业", "星海广场 旅游", "大连港 港航物流",
    "大连&newspaper=大连日报&from=2010&to=2019", "营商环境&newspaper=大连晚报",
    "港口&from=2015&to=2020", "海洋经济&page=2", "大连&page=5",
]  # fmt: skip
PASSWORD = "load benchmark password"
GRACE = 30  # seconds a server may take to stop, a role process to report


# ============================================================================ the store, read directly


def store_query(locator: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` from the store itself (not through the server): SQLite read-only, or PostgreSQL."""
    if locator.startswith("postgresql"):
        import psycopg

        with psycopg.connect(locator, autocommit=True) as conn:
            return conn.execute(sql).fetchall()
    conn = sqlite3.connect(f"file:{locator}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def store_ids(locator: str) -> set[str]:
    """Every record in the store, deleted or not: what a full harvest must list (tombstones persist)."""
    return {r[0] for r in store_query(locator, "SELECT id FROM records")}


def version_count(locator: str) -> int:
    return int(store_query(locator, "SELECT count(*) FROM versions")[0][0])


# ============================================================================ clients (role processes)


class Client:
    """One keep-alive HTTP connection; a GET on a connection the server closed is resent once."""

    def __init__(self, port: int, timeout: float):
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None
        self.resent = 0

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPResponse, bytes, float]:
        """(status, response, body, milliseconds). Raises OSError on connection errors and timeouts."""
        for attempt in (0, 1):
            fresh = self.conn is None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            t = time.perf_counter()
            try:
                self.conn.request(method, path, body, headers or {})
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if fresh or attempt or method != "GET":
                    raise
                self.resent += 1
                continue
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            ms = 1000 * (time.perf_counter() - t)
            if response.will_close:
                self.close()
            return response.status, response, data, ms
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass
class Tally:
    """What one role's clients did."""

    role: str
    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    save_latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    conflicts: int = 0
    saves: int = 0
    unchanged: int = 0
    resent: int = 0
    harvests: list[dict] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(what[:300])

    def merge(self, other: Tally) -> None:
        for name in ("latencies", "save_latencies", "error_samples", "harvests"):
            getattr(self, name).extend(getattr(other, name))
        for name in ("errors", "conflicts", "saves", "unchanged", "resent"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        del self.error_samples[10:]


@dataclass
class Plan:
    """What every role process needs to know (pickled to it)."""

    port: int
    locator: str
    ids: list[str]
    token: str
    seed: int
    timeout: float
    harvest_budget: float
    hot: int  # records a quarter of the edits go to, so that catalogers sometimes collide
    think: float  # seconds a cataloger spends between reading a record and saving it


def _get(client: Client, tally: Tally, path: str, headers: dict[str, str] | None = None) -> bytes | None:
    """A GET expected to answer 200: its body, or None after counting the error."""
    try:
        status, _, body, ms = client.request("GET", quote(path, safe="/?&=%:"), headers=headers)
    except (OSError, http.client.HTTPException) as exc:
        tally.error(f"GET {path}: {type(exc).__name__}: {exc}")
        return None
    tally.latencies.append(ms)
    if status != 200:
        tally.error(f"GET {path}: {status} {body[:200]!r}")
        return None
    return body


def harvest(client: Client, plan: Plan, tally: Tally, abort_at: float) -> None:
    """One full ListRecords oai_dc harvest, checked against the store as it was when it began."""
    from lxml import etree

    expected = store_ids(plan.locator)
    got: list[str] = []
    total: int | None = None
    t0 = time.perf_counter()
    path = "/oai?verb=ListRecords&metadataPrefix=oai_dc"
    while True:
        body = _get(client, tally, path)
        if body is None:
            tally.harvests.append({"ok": False, "records": len(got), "why": "a page failed"})
            return
        root = etree.fromstring(body)
        problem = root.find(f"{OAI}error")
        if problem is not None:
            tally.error(f"harvest: OAI-PMH error {problem.get('code')}: {problem.text}")
            tally.harvests.append({"ok": False, "records": len(got), "why": problem.get("code")})
            return
        for identifier in root.iterfind(f"{OAI}ListRecords/{OAI}record/{OAI}header/{OAI}identifier"):
            got.append((identifier.text or "").split(":", 2)[-1])
        token = root.find(f"{OAI}ListRecords/{OAI}resumptionToken")
        if token is not None and token.get("completeListSize"):
            total = int(token.get("completeListSize"))
        if token is None or not (token.text or "").strip():
            break
        if time.time() > abort_at:
            tally.harvests.append({"ok": None, "records": len(got), "why": "unfinished at the time limit"})
            return
        path = "/oai?verb=ListRecords&resumptionToken=" + quote(token.text.strip(), safe="")
    seen = set(got)
    check = {
        "records": len(got),
        "complete_list_size": total if total is not None else len(got),
        "store_at_start": len(expected),
        "duplicated": len(got) - len(seen),
        "lost": len(expected - seen),
        "unexpected": len(seen - expected),
        "seconds": time.perf_counter() - t0,
    }
    check["ok"] = check["duplicated"] == check["lost"] == check["unexpected"] == 0 and len(got) == check[
        "complete_list_size"
    ] == len(expected)
    if not check["ok"]:
        tally.error(f"harvest: {check}")
    tally.harvests.append(check)


def search_paths(seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["/search?q=" + rng.choice(SEARCHES) for _ in range(1000)]


def retitle(xml: bytes, mark: str) -> bytes:
    """The record with its main title changed (a cataloger's correction), everything else as it was."""
    from lxml import etree

    root = etree.fromstring(xml)
    title = root.find(f"{MODS}titleInfo/{MODS}title")
    if title is None:
        raise ValueError("the record has no title")
    title.text = re.sub(r"（校订[^）]*）$", "", title.text or "") + f"（校订{mark}）"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def edit(client: Client, plan: Plan, tally: Tally, record_id: str, mark: str) -> None:
    """GET the record, change its title, PUT it back with If-Match; a 412 is someone else's save first."""
    auth = {"Authorization": f"Bearer {plan.token}"}
    path = f"/api/records/{quote(record_id)}"
    try:
        status, response, body, ms = client.request("GET", path, headers=auth)
    except (OSError, http.client.HTTPException) as exc:
        tally.error(f"GET {path}: {type(exc).__name__}: {exc}")
        return
    tally.latencies.append(ms)
    if status != 200:
        tally.error(f"GET {path}: {status} {body[:200]!r}")
        return
    time.sleep(plan.think)
    headers = {
        **auth,
        "Content-Type": "application/mods+xml",
        "If-Match": response.getheader("ETag") or "",
        "X-Reason": quote("负载测试：校订题名"),
    }
    try:
        status, _, answer, ms = client.request("PUT", path, retitle(body, mark), headers)
    except (OSError, http.client.HTTPException) as exc:
        tally.error(f"PUT {path}: {type(exc).__name__}: {exc}")
        return
    tally.latencies.append(ms)
    tally.save_latencies.append(ms)
    if status == 200:
        tally.saves += 1
        tally.unchanged += bool(json.loads(answer).get("unchanged"))
    elif status in (409, 412):
        tally.conflicts += 1
    else:
        tally.error(f"PUT {path}: {status} {answer[:300]!r}")


def _client_thread(role: str, n: int, plan: Plan, tally: Tally, shared: dict) -> None:
    """One client of a role, until its role's end (harvesters: no new harvest after the deadline)."""
    client = Client(plan.port, plan.timeout)
    rng = random.Random(plan.seed * 1000 + ROLES.index(role) * 100 + n)
    searches = search_paths(rng.randrange(1 << 30))
    hot = plan.ids[:: max(1, len(plan.ids) // plan.hot)][: plan.hot]
    i = 0
    deadline = shared["deadline"]
    while True:
        if role == "harvester":
            if time.time() >= deadline:
                break
            harvest(client, plan, tally, deadline + plan.harvest_budget)
        elif shared["stop"].is_set():
            break
        elif role == "searcher":
            _get(client, tally, searches[i % len(searches)])
        elif role == "reader":
            _get(client, tally, f"/records/{rng.choice(plan.ids)}")
        else:
            record_id = rng.choice(hot) if rng.random() < 0.25 else rng.choice(plan.ids)
            edit(client, plan, tally, record_id, f"{n}-{i}")
        i += 1
    tally.resent += client.resent
    client.close()


def role_process(role: str, clients: int, plan: Plan, go, stop, deadline, out) -> None:  # noqa: ANN001
    """A role's clients as threads of one process (roles apart, so one role's client work does not
    hold up another's in the same interpreter). Reports its Tally on ``out``."""
    import lxml.etree  # noqa: F401 - imported before the clock starts

    out.put(("ready", role))
    go.wait()
    shared = {"deadline": deadline.value, "stop": stop}
    tallies = [Tally(role, 1) for _ in range(clients)]
    threads = [
        threading.Thread(target=_client_thread, args=(role, n, plan, tallies[n], shared))
        for n in range(clients)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = Tally(role, clients, seconds=time.perf_counter() - t0)
    for t in tallies:
        total.merge(t)
    out.put(("done", asdict(total)))


def run_load(plan: Plan, counts: dict[str, int], seconds: float, sampler: Sampler) -> dict[str, Tally]:
    """Every role at once for ``seconds`` (longer while a harvest under way finishes)."""
    ctx = mp.get_context("spawn")
    go, stop, out = ctx.Event(), ctx.Event(), ctx.Queue()
    deadline = ctx.Value("d", 0.0)
    procs = {
        role: ctx.Process(target=role_process, args=(role, k, plan, go, stop, deadline, out), daemon=True)
        for role, k in counts.items()
        if k > 0
    }
    for p in procs.values():
        p.start()
    for _ in procs:
        kind, _role = out.get(timeout=120)
        assert kind == "ready"
    deadline.value = time.time() + seconds
    sampler.begin()
    go.set()
    time.sleep(seconds)
    results: dict[str, Tally] = {}

    def collect(timeout: float) -> None:  # a result is read before its process is joined (mp.Queue)
        _, data = out.get(timeout=timeout)
        results[data["role"]] = Tally(**data)

    if "harvester" in procs:  # the other roles go on while the harvests under way finish; they
        collect(plan.harvest_budget + plan.timeout + GRACE)  # report only after stop, so this is it
    stop.set()
    while len(results) < len(procs):
        collect(plan.timeout + GRACE)
    sampler.end()
    for p in procs.values():
        p.join(GRACE)
    return results


# ============================================================================ the server


def _proc_status(pid: int) -> dict[str, int]:
    """kB figures of /proc/PID/status (VmRSS, RssAnon, ...)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[key] = int(parts[0])
    return out


def _pss_kb(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _children(pid: int) -> list[int]:
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry))
    return kids


class Sampler:
    """The server's memory and CPU and the machine's load, sampled every half second during a run."""

    def __init__(self, server_pid: int, postgres_pid: int | None):
        self.server_pid, self.postgres_pid = server_pid, postgres_pid
        self.peak_rss = self.peak_anon = self.peak_pg_pss = 0
        self.peak_load = 0.0
        self.cpu = self.pg_cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _server(self) -> list[int]:
        return [self.server_pid, *_children(self.server_pid)]

    def _postgres(self) -> list[int]:
        return [self.postgres_pid, *_children(self.postgres_pid)] if self.postgres_pid else []

    def _cpu(self) -> tuple[float, float]:
        return sum(map(_cpu_seconds, self._server())), sum(map(_cpu_seconds, self._postgres()))

    def begin(self) -> None:
        self._cpu0 = self._cpu()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            status = [_proc_status(p) for p in self._server()]
            self.peak_rss = max(self.peak_rss, sum(s.get("VmRSS", 0) for s in status))
            self.peak_anon = max(self.peak_anon, sum(s.get("RssAnon", 0) for s in status))
            self.peak_pg_pss = max(self.peak_pg_pss, sum(map(_pss_kb, self._postgres())))
            self.peak_load = max(self.peak_load, float(loadavg()))

    def end(self) -> None:
        cpu = self._cpu()
        self.cpu, self.pg_cpu = cpu[0] - self._cpu0[0], cpu[1] - self._cpu0[1]
        self._stop.set()
        self._thread.join()


class Server:
    """``repository serve --workers W`` over an instance, up once every worker is ready and current."""

    def __init__(self, instance: Path, workers: int, threads: int, log: Path, timeout: float = 600):
        self.port, self.log, self.workers = free_port(), log, workers
        command = [sys.executable, "-m", "repository", "--instance", str(instance), "serve"]
        command += ["--workers", str(workers), "--threads", str(threads), "--port", str(self.port)]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(command, cwd=CLI_CWD, env=cli_env(), stdout=out, stderr=out)
        t0 = time.monotonic()
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() - t0 > timeout:
                self.stop()
                raise RuntimeError(f"the server did not come up; see {log}:\n{self.tail()}")
            time.sleep(0.25)
        self.start_seconds = time.monotonic() - t0

    def _ready(self) -> bool:
        if self.log.read_text("utf-8", "replace").count("Worker ready (pid: ") < self.workers:
            return False
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            conn.request("GET", "/health")
            response = conn.getresponse()
            body = json.loads(response.read())
            conn.close()
        except (OSError, ValueError, http.client.HTTPException):
            return False
        current = all(isinstance(body.get(k), dict) and body[k]["behind"] == 0 for k in ("search", "graph"))
        return response.status == 200 and body.get("status") == "ok" and current

    def tail(self) -> str:
        return self.log.read_text("utf-8", "replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # gunicorn: workers finish their requests
            try:
                self.proc.wait(GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_findings(self) -> dict[str, int]:
        """What the server's own log says went wrong: 5xx answers, tracebacks, workers replaced."""
        found = {"5xx": 0, "tracebacks": 0, "worker restarts": 0, "warnings": 0}
        boots = 0
        for line in self.log.read_text("utf-8", "replace").splitlines():
            try:  # the server logs compact JSON (repository.logs); a crash may print plain lines
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict):
                entry = {}
            status = entry.get("status")
            if isinstance(status, int) and status >= 500:
                found["5xx"] += 1
            if "Traceback" in line:
                found["tracebacks"] += 1
            if "Booting worker" in line:
                boots += 1
            if entry.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                found["warnings"] += 1
        found["worker restarts"] = max(0, boots - self.workers)
        return found


# ============================================================================ instances


#: Where the CLI and the server run: ``python -m`` puts its working folder first on ``sys.path``, so
#: they import the copy of ``repository/`` taken at the start, not the live tree others edit.
CLI_CWD = CODE_DIR or ROOT


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The CLI's environment: the measured code copy first on the path, JSON logs, no stray settings."""
    env = child_env()
    if CODE_DIR is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(CODE_DIR), env["PYTHONPATH"]])
    for name in ("REPOSITORY_DATABASE_URL", "REPOSITORY_INSTANCE", "REPOSITORY_WORKERS", "REPOSITORY_PORT"):
        env.pop(name, None)
    env["REPOSITORY_LOG_FORMAT"] = "json"
    return {**env, **(extra or {})}


def check_cli_code() -> None:
    """Fail unless the CLI imports the code this run measures (the copy, when one was taken)."""
    done = subprocess.run(
        [sys.executable, "-c", "import repository; print(repository.__file__)"],
        cwd=CLI_CWD,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    where = Path(done.stdout.strip()).resolve()
    if CODE_DIR is not None and not where.is_relative_to(CODE_DIR.resolve()):
        raise RuntimeError(f"the CLI imports {where}, not the copy {CODE_DIR}")


def cli(instance: Path, *args: str) -> tuple[float, str]:
    """Run ``repository --instance INSTANCE ARGS``; (seconds, output). Fails loudly."""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "repository", "--instance", str(instance), *args],
        cwd=CLI_CWD,
        env=cli_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"repository {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        )
    return time.perf_counter() - t0, (done.stdout + done.stderr).strip()


def pristine(n: int, args: argparse.Namespace, work: Path, say) -> tuple[Path, dict]:  # noqa: ANN001
    """The instance every store starts from: N articles, the search index and graph built.

    The records come from ``bench_search``'s cache (generated tree, ``repository import``), copied
    with SQLite's backup API so the cache is never written. Reused when ``pristine.json`` names the
    same N, seed and code.
    """
    import bench_search

    folder = work / "pristine"
    marker = work / "pristine.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if (info["n"], info["seed"], info["code"]) == (n, args.seed, code_fingerprint()):
            say(f"  reusing {folder}")
            return folder, info | {"reused": True}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    tree, _ = bench_search.tree_for(n, args.cache, args.seed, say)
    cached, imported = bench_search.instance_for(n, tree, args.cache, False, say)
    t0 = time.perf_counter()
    src = sqlite3.connect(f"file:{cached / 'repository.sqlite3'}?mode=ro", uri=True)
    dst = sqlite3.connect(folder / "repository.sqlite3")
    src.backup(dst)
    dst.execute("PRAGMA journal_mode=WAL")
    dst.close()
    src.close()
    info = {"n": n, "seed": args.seed, "code": code_fingerprint(), "copy_s": time.perf_counter() - t0}
    info["import"] = {k: imported.get(k) for k in ("seconds", "rate", "reused")}
    say(f"  copied {cached / 'repository.sqlite3'} in {info['copy_s']:.0f} s")
    info["search_rebuild_s"], out = cli(folder, "search", "rebuild")
    say(f"  search rebuild: {out.splitlines()[-1]} ({info['search_rebuild_s']:.0f} s)")
    info["rdf_rebuild_s"], out = cli(folder, "rdf", "rebuild")
    say(f"  rdf rebuild: {out.splitlines()[-1]} ({info['rdf_rebuild_s']:.0f} s)")
    marker.write_text(json.dumps(info))
    return folder, info | {"reused": False}


def copy_instance(source: Path, dest: Path, *, store: bool) -> None:
    """An instance with the source's derived stores (and, for SQLite, its store) and nothing else."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in ("search", "graph"):
        shutil.copytree(source / name, dest / name)
    if store:
        shutil.copyfile(source / "repository.sqlite3", dest / "repository.sqlite3")


def add_cataloger(instance: Path) -> str:
    """A cataloger account with an API token, in the instance's accounts database."""
    from repository.accounts import FILENAME, Accounts

    accounts = Accounts(instance / FILENAME)
    try:
        accounts.add_user("loadbench", PASSWORD, "cataloger")
        return accounts.create_token("loadbench")
    finally:
        accounts.close()


class Postgres:
    """A throwaway durable PostgreSQL server (``.ci/postgres start --durable``), or why there is none."""

    def __init__(self) -> None:
        self.url = self.folder = None
        self.note = ""
        try:
            import psycopg  # noqa: F401
        except ImportError:
            self.note = "psycopg is not installed (pip install -e '.[postgres]')"
            return
        done = subprocess.run(
            [str(ROOT / ".ci" / "postgres"), "start", "--durable"],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = done.stdout.split()
        if done.returncode != 0 or len(lines) < 2:
            self.note = f"PostgreSQL could not be started: {(done.stderr.strip() or 'no output')[-300:]}"
            return
        self.url, self.folder = lines[0], lines[1]

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(Path(self.folder, "data", "postmaster.pid").read_text().split()[0])
        return None

    def stop(self) -> None:
        if self.folder:
            subprocess.run([str(ROOT / ".ci" / "postgres"), "stop", self.folder], check=False)
            self.folder = None


# ============================================================================ one store


def run_store(kind: str, base: Path, work: Path, args: argparse.Namespace, pg: Postgres | None, say) -> dict:  # noqa: ANN001
    """Prepare the store's instance, serve it, load it, check it: one column of the report."""
    import _database

    instance = work / kind
    result: dict = {"store": kind}
    t0 = time.perf_counter()
    if kind == "sqlite":
        copy_instance(base, instance, store=True)
        locator = str(instance / "repository.sqlite3")
        result["store_detail"] = f"SQLite (WAL, synchronous=FULL), {locator}"
    else:
        assert pg is not None and pg.url
        copy_instance(base, instance, store=False)
        _database.fresh(pg.url)
        result["migrate_s"], out = cli(base, "migrate", "--to", pg.url)
        say(f"  migrate: {out.splitlines()[-1]} ({result['migrate_s']:.0f} s)")
        from repository.store import set_database_url

        set_database_url(instance, pg.url)
        locator = pg.url
        result["store_detail"] = _database.describe(pg.url)
    for what in ("search", "rdf"):  # the copies must be current for this store: nothing to apply
        _, out = cli(instance, what, "sync")
        if not out.splitlines()[-1].startswith("0 records applied"):
            raise RuntimeError(f"the {what} copy is not current for the {kind} store: {out}")
    result["prepare_s"] = time.perf_counter() - t0
    ids = sorted(store_ids(locator))
    versions_before = version_count(locator)
    token = add_cataloger(instance)
    say(f"  {kind}: {len(ids):,} records, {versions_before:,} versions; starting the server")
    server = Server(instance, args.workers, args.threads, OUT / f"load-server-{kind}.log")
    say(f"  server up in {server.start_seconds:.0f} s (port {server.port}); load for {args.seconds:.0f} s")
    sampler = Sampler(server.proc.pid, pg.pid() if kind == "postgres" and pg else None)
    plan = Plan(
        server.port, locator, ids, token, args.seed, args.timeout, args.harvest_budget, args.hot, args.think
    )
    counts = {"harvester": args.harvesters, "searcher": args.searchers, "reader": args.readers}
    counts["cataloger"] = args.catalogers
    try:
        t1 = time.perf_counter()
        tallies = run_load(plan, counts, args.seconds, sampler)
        result["load_s"] = time.perf_counter() - t1
        result["load_at_end"] = loadavg()
    finally:
        server.stop()
    result["server_log"] = server.log_findings()
    result["server_start_s"] = server.start_seconds
    versions_after = version_count(locator)
    saves = tallies["cataloger"].saves - tallies["cataloger"].unchanged if "cataloger" in tallies else 0
    result["versions"] = {"before": versions_before, "after": versions_after, "saves": saves}
    result["versions"]["ok"] = versions_after - versions_before == saves
    result["server"] = {
        "workers": args.workers,
        "threads": args.threads,
        "peak_rss_mb": sampler.peak_rss / 1024,
        "peak_anon_mb": sampler.peak_anon / 1024,
        "cpu_s": sampler.cpu,
        "postgres_peak_pss_mb": sampler.peak_pg_pss / 1024 if kind == "postgres" else None,
        "postgres_cpu_s": sampler.pg_cpu if kind == "postgres" else None,
        "peak_load": sampler.peak_load,
    }
    result["roles"] = {role: summarize(t) for role, t in tallies.items()}
    return result


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def summarize(t: Tally) -> dict:
    out = {
        "clients": t.clients,
        "seconds": t.seconds,
        "requests": len(t.latencies),
        "rps": len(t.latencies) / t.seconds if t.seconds else float("nan"),
        "p50": pct(t.latencies, 0.50),
        "p95": pct(t.latencies, 0.95),
        "max": max(t.latencies, default=float("nan")),
        "errors": t.errors,
        "error_samples": t.error_samples,
        "resent": t.resent,
    }
    if t.role == "cataloger":
        out.update(
            puts=len(t.save_latencies),
            saves=t.saves,
            unchanged=t.unchanged,
            conflicts=t.conflicts,
            save_p50=pct(t.save_latencies, 0.50),
            save_p95=pct(t.save_latencies, 0.95),
            save_max=max(t.save_latencies, default=float("nan")),
        )
    if t.role == "harvester":
        done = [h for h in t.harvests if h.get("ok") is not None]
        out.update(
            harvests=len(done),
            harvests_ok=sum(1 for h in done if h["ok"]),
            unfinished=sum(1 for h in t.harvests if h.get("ok") is None),
            lost=sum(h.get("lost", 0) for h in done),
            duplicated=sum(h.get("duplicated", 0) for h in done),
            harvest_s=[round(h["seconds"], 1) for h in done if "seconds" in h],
            harvest_records=[h["records"] for h in t.harvests],
            records_per_s=(
                sum(h["records"] for h in done if "seconds" in h)
                / sum(h["seconds"] for h in done if "seconds" in h)
                if any("seconds" in h for h in done)
                else float("nan")
            ),
        )
    return out


# ============================================================================ report


def _f(x: float | None, fmt: str = "{:,.0f}") -> str:
    return "n/a" if x is None or x != x else fmt.format(x)


def role_cells(x: dict | None, *, saves: bool = False) -> list[str]:
    """requests, req/s, p50, p95, max, errors of a role (or of the catalogers' PUTs alone)."""
    if x is None:
        return ["-"] * 6
    if saves:
        return [f"{x['puts']:,}", "", _f(x["save_p50"], "{:,.1f}"), _f(x["save_p95"], "{:,.1f}"),
                _f(x["save_max"]), ""]  # fmt: skip
    return [f"{x['requests']:,}", _f(x["rps"], "{:,.1f}"), _f(x["p50"], "{:,.1f}"), _f(x["p95"], "{:,.1f}"),
            _f(x["max"]), str(x["errors"])]  # fmt: skip


def checks(r: dict) -> list[tuple[str, str]]:
    """One store's column of the summary: the checks first, then what the run cost."""
    roles, server, versions = r["roles"], r["server"], r["versions"]
    h, c = roles.get("harvester", {}), roles.get("cataloger", {})
    harvests = f"{h.get('harvests_ok', 0)} of {h.get('harvests', 0)} complete and exact"
    if h.get("unfinished"):
        harvests += f", {h['unfinished']} unfinished at the time limit"
    times = sorted(h.get("harvest_s", []))
    each = f"{times[len(times) // 2]:,.1f} / {times[-1]:,.1f}" if times else "n/a"
    pg = r["store"] == "postgres"
    return [
        ("harvests checked", harvests),
        ("records lost / duplicated", f"{h.get('lost', 0)} / {h.get('duplicated', 0)}"),
        ("one harvest, s: median / max (records/s)", f"{each} ({_f(h.get('records_per_s'))})"),
        ("saves accepted / 412 conflicts", f"{c.get('saves', 0):,} / {c.get('conflicts', 0):,}"),
        (
            "new versions in the store = saves",
            f"{versions['after'] - versions['before']:,} = {versions['saves']:,}: "
            + ("yes" if versions["ok"] else "**no**"),
        ),
        ("errors (all roles)", str(sum(x["errors"] for x in roles.values()))),
        ("GETs resent after a closed keep-alive", str(sum(x["resent"] for x in roles.values()))),
        (
            "server log: 5xx / tracebacks / worker restarts",
            " / ".join(str(r["server_log"][k]) for k in ("5xx", "tracebacks", "worker restarts")),
        ),
        ("server peak RSS, MB (anon)", f"{server['peak_rss_mb']:,.0f} ({server['peak_anon_mb']:,.0f})"),
        ("server CPU s during the load", _f(server["cpu_s"], "{:,.1f}")),
        (
            "PostgreSQL processes: peak PSS MB, CPU s",
            f"{server['postgres_peak_pss_mb']:,.0f}, {server['postgres_cpu_s']:,.1f}" if pg else "-",
        ),
        ("load average: peak / at end (1 min)", f"{server['peak_load']:.2f} / {r['load_at_end']}"),
        ("load phase, s", _f(r["load_s"], "{:,.1f}")),
        ("server start, s (graph replicas)", _f(r["server_start_s"], "{:,.1f}")),
        (
            "preparing the instance, s",
            _f(r["prepare_s"]) + (f" (migrate {r['migrate_s']:,.0f})" if "migrate_s" in r else ""),
        ),
    ]


def render(report: dict) -> str:
    stores = [r for r in report["stores"] if "roles" in r]
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    lines = [
        "# Load: harvesters, searchers, readers and catalogers at once",
        "",
        f"Command: `{report['command']}` ({report['when']}, {report['minutes']:.1f} min)",
        "",
        report["environment"],
        "",
        f"N = {report['n']:,} generated articles with full texts; `repository serve --workers "
        f"{report['workers']} --threads {report['threads']}` (gunicorn gthread) on 127.0.0.1; clients in "
        f"one process per role on the same {os.cpu_count()} cores, one keep-alive connection each; "
        f"{report['seconds']:.0f} s of load per store (longer while harvests under way finish). "
        "Latency per request, ms; requests/s of all a role's clients together.",
        "",
    ]
    for note in report["notes"]:
        lines += [f"**Note:** {note}", ""]
    if not stores:
        return "\n".join(lines)
    head = ["role (clients)"]
    for r in stores:
        n = names[r["store"]]
        head += [f"{n} requests", "req/s", "p50", "p95", "max", "errors"]
    rows = []
    for role in ROLES:
        found = [r["roles"].get(role) for r in stores]
        clients = next((x["clients"] for x in found if x), 0)
        rows.append([f"{role}s ({clients})", *(c for x in found for c in role_cells(x))])
        if role == "cataloger":
            rows.append(["  of which saves (PUT)", *(c for x in found for c in role_cells(x, saves=True))])
    lines += [table(head, rows), ""]
    columns = [checks(r) for r in stores]
    summary = [[label, *(dict(c)[label] for c in columns)] for label, _ in columns[0]]
    lines += [table(["", *(names[r["store"]] for r in stores)], summary), ""]
    lines += [f"- {names[r['store']]}: {r['store_detail']}" for r in stores]
    base = report["base"]
    lines += [
        f"- Base instance: {'reused' if base.get('reused') else 'built'}; search rebuild "
        f"{_f(base.get('search_rebuild_s'))} s, rdf rebuild {_f(base.get('rdf_rebuild_s'))} s.",
        "",
    ]
    samples = [
        f"- {names[r['store']]} {role}: {s}"
        for r in stores
        for role, x in r["roles"].items()
        for s in x["error_samples"][:3]
    ]
    if samples:
        lines += ["Errors (first of each role):", "", *samples, ""]
    return "\n".join(lines)


# ============================================================================ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Concurrent harvesters, searchers, readers and catalogers.")
    ap.add_argument("--n", type=int, default=100_000, help="articles in the instance")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of load per store")
    ap.add_argument("--stores", default="sqlite,postgres")
    ap.add_argument("--workers", type=int, default=2, help="server worker processes")
    ap.add_argument("--threads", type=int, default=8, help="threads per worker")
    ap.add_argument("--harvesters", type=int, default=2)
    ap.add_argument("--searchers", type=int, default=4)
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--catalogers", type=int, default=2)
    ap.add_argument("--harvest-budget", type=float, default=240.0,
                    help="seconds after the deadline a harvest under way may take to finish")  # fmt: skip
    ap.add_argument("--hot", type=int, default=5, help="shared records a quarter of the edits go to")
    ap.add_argument("--think", type=float, default=0.0, help="seconds a cataloger takes between GET and PUT")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a request may take (then: error)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bench-data"), help="generated trees and imports")
    ap.add_argument("--workdir", type=Path, help="where the instances go (kept with --keep, reused)")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if unknown := set(stores) - {"sqlite", "postgres"}:
        ap.error(f"unknown stores: {', '.join(sorted(unknown))}")
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", flush=True)

    OUT.mkdir(parents=True, exist_ok=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-load-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "command": command_line(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "environment": environment(),
        "n": args.n,
        "seconds": args.seconds,
        "workers": args.workers,
        "threads": args.threads,
        "notes": [],
        "stores": [],
    }
    pg: Postgres | None = None
    try:
        check_cli_code()
        say(f"N = {args.n:,}: the base instance in {work}")
        base, report["base"] = pristine(args.n, args, work, say)
        for kind in stores:
            if kind == "postgres":
                pg = Postgres()
                if not pg.url:
                    report["notes"].append(f"PostgreSQL skipped: {pg.note}")
                    say(f"  PostgreSQL skipped: {pg.note}")
                    continue
            say(f"{kind}:")
            report["stores"].append(run_store(kind, base, work, args, pg, say))
            shutil.rmtree(work / kind, ignore_errors=True)
            if pg is not None:
                pg.stop()
    finally:
        if pg is not None:
            pg.stop()
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
        if CODE_DIR is not None:  # the copy of repository/ this run measured
            shutil.rmtree(CODE_DIR, ignore_errors=True)
    report["minutes"] = (time.perf_counter() - t0) / 60
    text = render(report)
    (OUT / "load.md").write_text(text + "\n", encoding="utf-8")
    (OUT / "load.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(text)
    bad = [
        r
        for r in report["stores"]
        if any(x["errors"] for x in r["roles"].values()) or not r["versions"]["ok"]
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
