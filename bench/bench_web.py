"""Catalogue pages under a WSGI server: search and record pages per second, with their latency.

Why: the issue asks for "record-page and search-page requests per second under a WSGI
server" at 100,000 and 1,000,000 articles. ``bench/bench_search.py`` times the index in
process; this runs the whole page (parse the request, search, read the hits from the
store, highlight, render the template in the reader's language) the way production
serves it: ``create_app`` under waitress in a child process (4 threads, as
``bench/bench_oai.py`` runs it), with HTTP/1.1 keep-alive clients in this process.

For each N (``--sizes``; the instances ``bench/bench_search.py`` built under ``--cache``,
``search-N/instance``, whose search index must be current):

* search pages, which count facets and the year histogram with every search
  (``/search?q=…``): the hard case 大连 (in ~97% of records), a four-character word, two
  words, a word with a newspaper and date filter, and a page of results further in;
* a search without facets: the Atom feed of a search (``/search.atom?q=…``, 50 newest);
* record pages (``/records/ID``) of random records (a fixed seed, so every run asks for
  the same ones);

each with 1 and then ``--clients`` concurrent clients for ``--seconds`` seconds after a
warm-up: requests/s (all clients together) and the latency p50/p95 of the requests. The
clients run in this process (threads; the responses are read whole), on the same two
cores as the server, which the load average printed with each figure shows.

The server has no RDF graph store: the graph follows the records in a background thread,
and at 1,000,000 records building it from nothing takes half an hour of CPU, which
would be measured instead of the pages (no page measured here reads the graph).

Usage (from the project root)::

    python bench/bench_search.py --sizes 100000          # builds the instance and its index
    python bench/bench_web.py --sizes 100000,1000000

Results go to ``bench/out/web.md`` (and ``web.json``, which keeps the latest result of each N).
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sqlite3
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, ServerChild, code_fingerprint, command_line, environment, loadavg, table  # noqa: E402
from bench_search import _percentiles  # noqa: E402

SCRIPT = Path(__file__).resolve()
THREADS = 4
#: (label, path): what a reader asks for. The search pages count facets and the year histogram.
SEARCHES: list[tuple[str, str]] = [
    ("search 大连 (hard case), facets", "/search?q=大连"),
    ("search 营商环境, facets", "/search?q=营商环境"),
    ("search 金普新区 冷链物流, facets", "/search?q=金普新区 冷链物流"),
    ("search 大连 + newspaper + dates, facets", "/search?q=大连&newspaper=大连日报&from=2010&to=2019"),
    ("search 港口, page 10, facets", "/search?q=港口&page=10"),
    ("search 大连, Atom feed (no facets)", "/search.atom?q=大连"),
]


def serve(instance: Path, port: int) -> None:
    """The child process: ``create_app`` over the instance under waitress, without the RDF graph."""
    import waitress

    import repository.app as app_module
    from repository.service import Repository

    def no_graph(_repo):  # noqa: ANN001, ANN202
        raise RuntimeError("the RDF graph is not part of this benchmark")

    app_module._graph_store = no_graph
    repo = Repository(instance)
    app = app_module.create_app(repo)
    index = app.extensions["search"]
    if index.behind():
        sys.exit(f"the search index of {instance} is {index.behind():,} changes behind: build it first")
    waitress.serve(app, host="127.0.0.1", port=port, threads=THREADS)


def start_server(instance: Path, log: Path) -> ServerChild:
    """The waitress child (this script's ``--serve`` mode), up once it answers."""
    return ServerChild([str(SCRIPT), "--serve", str(instance)], log, "/robots.txt")


def record_paths(instance: Path, k: int, seed: int) -> list[str]:
    """``k`` random live records' pages, the same ones every run (random rowids of a fixed seed)."""
    db = sqlite3.connect(f"file:{instance / 'repository.sqlite3'}?mode=ro", uri=True)
    top = db.execute("SELECT max(rowid) FROM records").fetchone()[0]
    rng = random.Random(seed)
    rowids = rng.sample(range(1, top + 1), min(top, 3 * k))
    ids: list[str] = []
    for start in range(0, len(rowids), 500):
        chunk = rowids[start : start + 500]
        sql = f"SELECT id FROM records WHERE deleted = 0 AND rowid IN ({','.join('?' * len(chunk))})"
        ids += [r[0] for r in db.execute(sql, chunk)]
    db.close()
    rng.shuffle(ids)
    return [f"/records/{quote(i)}" for i in ids[:k]]


def load(port: int, paths: list[str], clients: int, seconds: float) -> dict:
    """``clients`` keep-alive clients asking for ``paths`` in turn for ``seconds``: req/s and latency (ms)."""
    times: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        i = n
        while time.perf_counter() < deadline:
            path = paths[i % len(paths)]
            i += clients
            t = time.perf_counter()
            conn.request("GET", quote(path, safe="/?&=%"))
            response = conn.getresponse()
            response.read()
            times[n].append(1000 * (time.perf_counter() - t))
            if response.status != 200:
                errors.append(f"{response.status} {path}")
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    every = [x for per in times for x in per]
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[:3]}")
    return {"requests": len(every), "rps": len(every) / wall, **_percentiles(every), "load": loadavg()}


def run_size(n: int, args: argparse.Namespace) -> dict:
    instance = args.cache / f"search-{n}" / "instance"
    if not (instance / "repository.sqlite3").exists():
        raise SystemExit(f"{instance} does not exist: run bench/bench_search.py --sizes {n} first")
    OUT.mkdir(parents=True, exist_ok=True)
    cases = [(label, [path]) for label, path in SEARCHES]
    cases.append(("record page (random records)", record_paths(instance, args.records, args.seed)))
    rows: dict[str, dict] = {}
    server = start_server(instance, OUT / f"web-{n}.log")
    try:
        for label, paths in cases:
            load(server.port, paths[:20], 1, args.warmup)
            rows[label] = {}
            for clients in sorted({1, args.clients}):
                rows[label][str(clients)] = result = load(server.port, paths, clients, args.seconds)
                print(f"  N={n:,} {label}, {clients} client(s): {result['rps']:,.1f} req/s, "
                      f"p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms (load {result['load']})",
                      flush=True)  # fmt: skip
    finally:
        server.stop()
    return {
        "n": n,
        "command": command_line(),
        "code": code_fingerprint(),
        "environment": environment(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": args.seconds,
        "clients": args.clients,
        "cases": rows,
    }


def render(results: list[dict]) -> str:
    lines = [
        "# Catalogue pages under a WSGI server",
        "",
        f"`create_app` under waitress ({THREADS} threads) in a child process; HTTP/1.1 keep-alive clients "
        "(threads) in the benchmark process on the same cores. Search pages count the facets and the "
        "year histogram; the Atom feed does not. Requests/s of all clients together; latency per request "
        "(ms).",
        "",
    ]
    for r in sorted(results, key=lambda r: r["n"]):
        lines += [
            f"## N = {r['n']:,}",
            "",
            f"Command: `{r['command']}` ({r['when']}; {r['seconds']:.0f} s per row); {r['environment']}",
            "",
        ]
        rows = []
        for label, per in r["cases"].items():
            for clients, x in per.items():
                rows.append([label, clients, f"{x['rps']:,.1f}", f"{x['p50']:.1f}", f"{x['p95']:.1f}",
                             f"{x['requests']:,}", x["load"]])  # fmt: skip
        lines += [
            table(["page", "clients", "req/s", "p50 ms", "p95 ms", "requests", "load average"], rows),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Search and record pages per second under waitress.")
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/bench-data"))
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per page and client count")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--clients", type=int, default=4, help="the concurrent clients (besides one)")
    ap.add_argument("--records", type=int, default=2000, help="random record pages to cycle through")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port)
        return 0
    store = OUT / "web.json"
    kept = json.loads(store.read_text()) if store.exists() else []
    for n in sorted({int(s) for s in args.sizes.split(",") if s.strip()}):
        result = run_size(n, args)
        kept = [r for r in kept if r["n"] != n] + [result]
        store.write_text(json.dumps(kept, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (OUT / "web.md").write_text(render(kept) + "\n", encoding="utf-8")
    print(render(kept))
    return 0


if __name__ == "__main__":
    sys.exit(main())
