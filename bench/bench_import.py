"""Bulk import throughput and memory: the repository's import against a bare lxml ceiling.

Why this shape: every record the repository accepts goes through one save path
(parse → MODS XSD → article profile → renderings → SQLite), so the
question is how much that path costs over the irreducible work, parsing and
XSD-validating the same bytes with lxml. The ceiling and the import run over
the same generated files, each in its own fresh interpreter, so peak memory
(max RSS from ``wait4``) belongs to that run alone; repeating the import at
several sizes shows whether memory stays flat as the number of records grows.

Usage (from the project root)::

    python bench/bench_import.py                    # N = 100,000, sizes 10k, 50k, 100k
    python bench/bench_import.py --n 2000           # quick check
    python bench/bench_import.py --profile 5000     # also cProfile the import of 5,000 records

Targets: import ≥ 1/3 of the ceiling's records/s; peak memory flat in N.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _database  # noqa: E402
from _common import (  # noqa: E402
    OUT,
    ROOT,
    clean,
    command_line,
    dir_size,
    environment,
    loadavg,
    peak_rss_mb,
    python,
    rss_now_mb,
    rss_parts_mb,
    run_child,
    table,
    work_dir,
)

TARGET_RATIO = 1 / 3


# --------------------------------------------------------------------------- workers (child processes)


def _xml_files(tree: Path) -> list[Path]:
    return sorted(Path(e.path) for e in os.scandir(tree / "media") if e.name.endswith(".xml"))


def _xml_names(tree: Path) -> Iterator[str]:
    """File names only: the import worker must not build its own list of 100,000 Paths before the
    import, or that list's memory would show in the import's peak RSS."""
    with os.scandir(tree / "media") as entries:
        for e in entries:
            if e.name.endswith(".xml"):
                yield e.name


def worker_ceiling(tree: Path) -> dict:
    """Read, parse with a plain parser and XSD-validate every file: the least any import must do."""
    from lxml import etree

    from repository.schemas import mods_schema

    schema = mods_schema()  # compiled before the clock starts, as the import's is (see worker_import)
    parser = etree.XMLParser()
    rss_before = rss_now_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    files = _xml_files(tree)
    invalid = 0
    for path in files:
        doc = etree.fromstring(path.read_bytes(), parser)
        if not schema.validate(doc):
            invalid += 1
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "records": len(files),
        "invalid": invalid,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "rss_before_mb": rss_before,
        "peak_rss_mb": peak_rss_mb(),
    }


def _fresh_repository(instance: Path, tree: Path, database: str | None = None) -> tuple[object, float]:
    """A new instance, warmed up; and the RSS it had before the warm-up.

    The warm-up prepares (never commits) the tree's first record, so the schema, the profile and
    whatever the renderers load are in memory before the clock starts: one-off costs, not throughput.
    It goes through the public ``prepare`` because the internals that compile them keep moving.
    """
    from repository.service import Repository

    shutil.rmtree(instance, ignore_errors=True)
    if database:  # the records go to PostgreSQL (emptied first) instead of the instance's SQLite file
        _database.use(instance, database)
    repo = Repository(instance)
    rss_start = rss_now_mb()
    first = tree / "media" / min(_xml_names(tree))
    txt = first.with_suffix(".txt")
    repo.prepare(first.read_bytes(), fulltext=txt.read_text(encoding="utf-8") if txt.exists() else None)
    return repo, rss_start


def worker_import(tree: Path, instance: Path, workers: int = 0, database: str | None = None) -> dict:
    """``import_paths`` of the whole tree into a fresh instance, exactly as ``repository import`` does."""
    from repository.importer import import_paths

    repo, rss_start = _fresh_repository(instance, tree, database)
    total = sum(1 for _ in _xml_names(tree))
    rss_before = rss_now_mb()
    # The CLI's progress hook, used here to sample speed and memory at every tenth of the run: a rate that
    # sinks or an RSS that climbs from one tenth to the next is a cost that grows with N.
    marks: list[tuple[int, float, float]] = []
    done = 0
    step = max(1, total // 10)

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if done % step == 0 or done == total:
            marks.append((done, time.perf_counter(), rss_now_mb()))

    t0, c0 = time.perf_counter(), time.process_time()
    extra = {"workers": workers} if workers else {}  # only when asked: older import_paths has no such option
    report = import_paths(repo, [tree], who="bench", progress=tick, **extra)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    # Memory as the import left it, before this benchmark's own check below: a count(*) over the store
    # reads it through SQLite's mmap and would add hundreds of MB of file-backed pages to RSS.
    peak = peak_rss_mb()
    anon, mapped = rss_parts_mb()
    count = repo.store.count()
    deciles = []
    prev_n, prev_t = 0, t0
    for n_done, t, rss in marks:
        if n_done > prev_n:
            deciles.append({"done": n_done, "rate": (n_done - prev_n) / (t - prev_t), "rss_mb": rss})
        prev_n, prev_t = n_done, t
    repo.close()
    db = instance / "repository.sqlite3"
    return {
        "records": len(report.created) + len(report.updated) + len(report.unchanged),
        "created": len(report.created),
        "stored": count,
        "problems": [str(p) for p in report.problems[:5]],
        "problem_count": len(report.problems),
        "seconds": seconds,
        "rss_start_mb": rss_start,
        "rss_before_mb": rss_before,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak,
        "rss_anon_mb": anon,
        "rss_file_mb": mapped,
        "store_bytes": _database.size_bytes(database) if database else dir_size(instance),
        "db_bytes": _database.size_bytes(database) if database else db.stat().st_size if db.exists() else 0,
        "deciles": deciles,
        "workers": workers,
        # Largest pool process (forked, so it starts from this process's pages); 0 without a pool.
        "pool_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def worker_profile(tree: Path, instance: Path, out: Path) -> dict:
    """cProfile one import, top entries by cumulative and by own time, written to ``out``."""
    from repository.importer import import_paths

    repo, _ = _fresh_repository(instance, tree)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    report = import_paths(repo, [tree], who="bench")
    profiler.disable()
    seconds = time.perf_counter() - t0
    repo.close()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.strip_dirs().sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    out.write_text(text.getvalue(), encoding="utf-8")
    return {"records": len(report.created), "seconds": seconds, "profile": str(out)}


# --------------------------------------------------------------------------- the benchmark


def _parallel_workers() -> int:
    """One preparing process per core, if this version of ``import_paths`` can use them (else 0)."""
    import inspect

    from repository import importer

    if "workers" not in inspect.signature(importer.import_paths).parameters:
        return 0
    default = getattr(importer, "default_workers", None)
    return default() if default else (os.cpu_count() or 1)


def link_subtree(paths: list[Path], dest: Path) -> Path:
    """A tree holding the first records of a bigger one (hard links: no copying, same bytes)."""
    folder = dest / "media"
    folder.mkdir(parents=True, exist_ok=True)
    for xml in paths:
        for src in (xml, xml.with_suffix(".txt")):
            target = folder / src.name
            try:
                os.link(src, target)
            except OSError:
                shutil.copy2(src, target)
    return dest


def _sizes(n: int, given: str | None) -> list[int]:
    if given:
        return sorted({int(s) for s in given.split(",") if s.strip()})
    return sorted({s for s in (n // 10, n // 2) if s > 0} | {n})


def _rate(records: int, seconds: float) -> float:
    return records / seconds if seconds > 0 else float("nan")


def run(args: argparse.Namespace) -> int:
    from generate import generate_tree

    sizes = _sizes(args.n, args.sizes)
    n = max(sizes)
    work = work_dir(args.workdir, "dalian-bench-import-")
    started = time.perf_counter()
    print(f"work folder {work}; sizes {', '.join(f'{s:,}' for s in sizes)}", flush=True)
    try:
        big = work / f"tree-{n}"
        shutil.rmtree(big, ignore_errors=True)
        t0 = time.perf_counter()
        paths = generate_tree(n, big, seed=args.seed)
        gen_seconds = time.perf_counter() - t0
        tree_bytes = dir_size(big)
        print(
            f"generated {n:,} articles in {gen_seconds:.1f} s ({_rate(n, gen_seconds):,.0f}/s, "
            f"{tree_bytes / 1e6:,.0f} MB)",
            flush=True,
        )
        trees = {n: big}
        for s in sizes:
            if s != n:
                trees[s] = link_subtree(paths[:s], work / f"tree-{s}")
        results = []
        failures = []
        runs = [(s, 0) for s in sizes]
        parallel = _parallel_workers() if args.parallel else 0
        if parallel:
            runs.append((n, parallel))
        ceilings: dict[int, dict] = {}
        for s, workers in runs:
            instance = work / f"instance-{s}"
            if s not in ceilings:
                ceilings[s] = run_child(
                    python(__file__, "--worker", "ceiling", "--tree", str(trees[s]))
                ).last_json()
                print(f"  N={s:,} ceiling: {_rate(s, ceilings[s]['seconds']):,.0f} records/s", flush=True)
            ceiling = ceilings[s]
            child = run_child(
                python(
                    __file__,
                    *("--worker", "import", "--tree", str(trees[s]), "--instance", str(instance)),
                    *("--workers", str(workers)),
                    *(("--database", args.database) if args.database else ()),
                )
            )
            imp = child.last_json()
            print(
                f"  N={s:,} import{f' (workers={workers})' if workers else ''}: "
                f"{_rate(s, imp['seconds']):,.0f} records/s, "
                f"peak RSS {imp['peak_rss_mb']:,.0f} MB, load {loadavg()}",
                flush=True,
            )
            if imp["created"] != s or imp["problem_count"] or ceiling["invalid"]:
                failures.append(
                    f"N={s}: created {imp['created']}, {imp['problem_count']} problems "
                    f"{imp['problems']}, {ceiling['invalid']} invalid in the ceiling run"
                )
            results.append({"n": s, "ceiling": ceiling, "import": imp, "load": loadavg()})
            shutil.rmtree(instance, ignore_errors=True)
        profile_text = None
        if args.profile:
            k = min(args.profile, n)
            ptree = trees.get(k) or link_subtree(paths[:k], work / f"tree-{k}")
            OUT.mkdir(parents=True, exist_ok=True)
            pout = OUT / "import-profile.txt"
            prof = run_child(
                python(
                    __file__,
                    "--worker",
                    "profile",
                    "--tree",
                    str(ptree),
                    "--instance",
                    str(work / "instance-profile"),
                    "--profile-out",
                    str(pout),
                )
            )
            pres = prof.last_json()
            profile_text = (
                f"cProfile of the import of {pres['records']:,} records "
                f"({pres['seconds']:.1f} s under the profiler): {pout.relative_to(ROOT)}"
            )
        report = render(
            results, n, gen_seconds, tree_bytes, failures, profile_text, time.perf_counter() - started
        )
        print()
        print(report)
        OUT.mkdir(parents=True, exist_ok=True)
        name = "import-postgres" if args.database else "import"
        if args.database:
            report = f"Store: {_database.describe(args.database)}\n\n{report}"
        (OUT / f"{name}.md").write_text(report + "\n", encoding="utf-8")
        (OUT / f"{name}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        print(f"\nwritten to {(OUT / f'{name}.md').relative_to(ROOT)}")
        return 1 if failures else 0
    finally:
        clean(work, args.keep)


def render(
    results: list[dict],
    n: int,
    gen_seconds: float,
    tree_bytes: int,
    failures: list[str],
    profile_text: str | None,
    total_seconds: float,
) -> str:
    loads = ", ".join(f"N={r['n']:,}: {r['load']}" for r in results)
    rows = []
    for r in results:
        c, i = r["ceiling"], r["import"]
        c_rate, i_rate = _rate(r["n"], c["seconds"]), _rate(r["n"], i["seconds"])
        ratio = i_rate / c_rate
        rows.append(
            [
                f"{r['n']:,}" + (f" (workers={i['workers']})" if i.get("workers") else ""),
                f"{c['seconds']:.1f}",
                f"{c_rate:,.0f}",
                f"{i['seconds']:.1f}",
                f"{100 * i['cpu_seconds'] / i['seconds']:.0f}%",
                f"{i_rate:,.0f}",
                f"{ratio:.2f} {'✓' if ratio >= TARGET_RATIO else '✗'}",
                f"{i['deciles'][0]['rate']:,.0f} → {i['deciles'][-1]['rate']:,.0f}"
                if i.get("deciles")
                else "",
                f"{i['rss_start_mb']:,.0f} / {i['rss_before_mb']:,.0f}",
                f"{i['peak_rss_mb']:,.0f}",
                f"{i['peak_rss_mb'] - i['rss_before_mb']:,.0f}",
                f"{i['rss_anon_mb']:,.0f} / {i['rss_file_mb']:,.0f}",
                f"{i['store_bytes'] / 1e6:,.0f}",
                f"{i['store_bytes'] / r['n'] / 1024:,.1f}",
            ]
        )
    headers = [
        "N",
        "ceiling s",
        "ceiling rec/s",
        "import s",
        "import CPU/wall",
        "import rec/s",
        "ratio (≥0.33)",
        "first → last 10% rec/s",
        "RSS start / warm MB",
        "peak RSS MB",
        "growth MB",
        "end: anon / file MB",
        "store MB",
        "store KiB/rec",
    ]
    lines = [
        "# Bulk import benchmark",
        "",
        f"Command: `{command_line()}`",
        "",
        f"Environment: {environment()}",
        "",
        f"1-minute load average while each import ended: {loads}.",
        "",
        f"Input: {n:,} synthetic articles (`bench/generate.py`, MODS + full text), "
        f"{tree_bytes / 1e6:,.0f} MB, "
        f"generated in {gen_seconds:.1f} s ({_rate(n, gen_seconds):,.0f} articles/s); "
        "smaller N are the first "
        "records of the same tree.",
        "",
        table(headers, rows),
        "",
        *_decile_table([r for r in results if not r["import"].get("workers")][-1]),
        "- **ceiling**: list the files, `etree.fromstring(bytes, XMLParser())` "
        "+ `mods_schema().validate(doc)`; "
        "schema compiled before timing (read the files, parse, validate: nothing else).",
        "- **import**: `repository.importer.import_paths(repo, [tree], who='bench')` into a fresh instance: "
        "parse (hardened), XSD, the article profile, renderings, sets, SQLite in batches of 500 "
        "(WAL, synchronous=FULL); "
        "warmed up on one record before timing.",
        "- **RSS start / warm**: the worker's resident memory with the instance open, then after the "
        "warm-up (one record prepared, not stored: schema, profile and renderers loaded); "
        "**peak RSS** is "
        "that process's own high-water mark (`VmHWM`), each N in a fresh process; "
        "**growth** = peak − warm; **end: anon / file** splits the RSS when the import returns into "
        "private memory and file-backed pages (SQLite's memory-mapped store).",
        "- **CPU/wall**: the import's CPU time over its wall time; well under 100% means it waited "
        "(disk, or other work on this 2-core machine: see the load averages).",
        *_parallel_note(results),
        "- **store** is the instance folder after closing (SQLite file + any WAL).",
        f"- total benchmark wall time {total_seconds / 60:.1f} min.",
    ]
    if profile_text:
        lines.append(f"- {profile_text}")
    if failures:
        lines += ["", "**FAILURES**:", *[f"- {f}" for f in failures]]
    return "\n".join(lines)


def _parallel_note(results: list[dict]) -> list[str]:
    par = [r for r in results if r["import"].get("workers")]
    return [
        f"- **workers={r['import']['workers']}**: the same call with `workers={r['import']['workers']}` "
        "(records prepared in that many forked processes while the main one commits); its peak RSS is "
        f"the main process's; the largest pool process peaked at {r['import']['pool_peak_rss_mb']:,.0f} MB "
        "(forked, so that includes pages shared with the main process). The ratio still divides by the "
        "single-process ceiling."
        for r in par
    ]


def _decile_table(result: dict) -> list[str]:
    """Speed and memory through the largest run, tenth by tenth: flat if nothing grows with N."""
    deciles = result["import"].get("deciles") or []
    if not deciles:
        return []
    rows = [[f"{d['done']:,}", f"{d['rate']:,.0f}", f"{d['rss_mb']:,.0f}"] for d in deciles]
    return [
        f"Import of N={result['n']:,}, sampled every tenth (through the `progress` hook):",
        "",
        table(["records done", "rec/s over the last tenth", "RSS MB"], rows),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Bulk import throughput and memory against a bare lxml ceiling.")
    ap.add_argument("--n", type=int, default=100_000, help="largest number of records (default 100,000)")
    ap.add_argument("--sizes", default=None, help="comma-separated sizes to measure (default N/10, N/2, N)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--profile", type=int, default=0, metavar="K", help="also cProfile the import of K records"
    )
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where trees and instances go (default /tmp/…)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated trees")
    ap.add_argument(
        "--no-parallel",
        dest="parallel",
        action="store_false",
        help="skip the extra run at the largest N with import_paths(workers=one per core)",
    )
    ap.add_argument(
        "--database",
        metavar="URL",
        default=None,
        help="import into this PostgreSQL database (its store tables are dropped first) instead of SQLite",
    )
    ap.add_argument("--worker", choices=["ceiling", "import", "profile"], help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--instance", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker == "ceiling":
        result = worker_ceiling(args.tree)
    elif args.worker == "import":
        result = worker_import(args.tree, args.instance, args.workers, args.database)
    elif args.worker == "profile":
        result = worker_profile(args.tree, args.instance, args.profile_out)
    else:
        return run(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
