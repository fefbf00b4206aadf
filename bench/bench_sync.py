"""``repository sync`` of a large, unchanged working copy, and of one with a few edits.

Why: catalogers run ``make load`` / ``repository sync`` all day against a
``records/`` tree that barely changes. The store remembers each file's size and
mtime, so an unchanged tree of 100,000 records should cost a directory scan
and no parsing (target < 10 s), and a tree with 100 edited files should
re-read those 100 and nothing else. This measures both, in process (with
counters on file reads and saves) and as the real CLI in a fresh interpreter.

Steps: generate N articles → load them (``import_paths`` by default, or a first
``sync``) → ``sync`` once so the store records every file's state → time
``sync`` of the unchanged tree (in process, then the CLI) → edit 100 files
(50 MODS, 50 full texts) and sync → edit 100 more and sync with the CLI →
touch 100 files (mtime only) and sync → profile one unchanged sync.

Usage (from the project root)::

    python bench/bench_sync.py              # N = 100,000
    python bench/bench_sync.py --n 2000     # quick check
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import re
import shlex
import shutil
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    BENCH,
    OUT,
    ROOT,
    clean,
    command_line,
    dir_size,
    environment,
    python,
    rss_now_mb,
    run_child,
    table,
    work_dir,
)

TARGET_SECONDS = 10.0
EDITS = 100


@dataclass
class Row:
    step: str
    seconds: float
    reads: str = ""
    saved: str = ""
    result: str = ""
    rss: str = ""
    cpu: str = ""


class Counters:
    """Counts what a sync really does, by wrapping ``workingcopy._read`` and ``Repository.prepare``.

    The module attributes are swapped only for the duration of one measured
    call and restored after, so the repository code itself is untouched.
    """

    def __init__(self) -> None:
        self.reads = 0
        self.prepares = 0

    @contextlib.contextmanager
    def watch(self, repo) -> Iterator[Counters]:  # noqa: ANN001 - repository.service.Repository
        from repository import workingcopy

        real_read, real_prepare = workingcopy._read, repo.prepare
        self.reads = self.prepares = 0

        def read(f):  # noqa: ANN001, ANN202
            self.reads += 1
            return real_read(f)

        def prepare(*a, **k):  # noqa: ANN202
            self.prepares += 1
            return real_prepare(*a, **k)

        workingcopy._read = read
        repo.prepare = prepare
        try:
            yield self
        finally:
            workingcopy._read = real_read
            del repo.prepare  # back to the class's method


def _summary(report) -> str:  # noqa: ANN001 - workingcopy.SyncReport
    bits = [f"{report.unchanged:,} unchanged"]
    for name in ("created", "updated", "written", "conflicts"):
        value = getattr(report, name)
        if value:
            bits.append(f"{len(value):,} {name}")
    if report.problems:
        bits.append(f"{len(report.problems):,} problems")
    return ", ".join(bits)


def _edit_xml(path: Path) -> None:
    """A cataloger's correction: the headline gets a suffix (still valid against MODS and the profile)."""
    data = path.read_bytes()
    path.write_bytes(data.replace(b"</title>", "(更正)</title>".encode(), 1))


def _edit_txt(path: Path) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n(本文有更正。)\n")


def _touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def _spread(paths: list[Path], count: int, offset: int) -> list[Path]:
    """``count`` files spread over the whole tree (not one folder corner), disjoint for different offsets."""
    step = max(1, len(paths) // count)
    return [paths[(i * step + offset) % len(paths)] for i in range(min(count, len(paths)))]


_CLI_LINE = re.compile(
    r"(\d+) created, (\d+) updated from files; .*?; (\d+) unchanged; (\d+) conflicts; (\d+) refused"
)


def _cli(
    instance: Path, tree: Path, label: str, expect_updated: int, *, peak: bool = False
) -> tuple[Row, list[str]]:
    """``python -m repository … sync``; with ``peak``, through ``_peak.py`` to get its own peak RSS."""
    args = ["--instance", str(instance), "sync", "--records", str(tree)]
    peak_file = OUT / ".cli-peak"
    if peak:
        peak_file.unlink(missing_ok=True)
        child = run_child(
            python(str(BENCH / "_peak.py"), "repository", *args), env={"BENCH_PEAK_FILE": str(peak_file)}
        )
        label += " (via bench/_peak.py, for peak RSS)"
    else:
        child = run_child(python("-m", "repository", *args))
    rss = ""
    if peak and peak_file.exists():
        rss = f"{float(peak_file.read_text()):,.0f}"
        peak_file.unlink()
    failures = []
    m = _CLI_LINE.search(child.stdout)
    if child.returncode != 0 or not m:
        failures.append(f"{label}: exit {child.returncode}: {child.stdout[-500:]} {child.stderr[-1500:]}")
        result = "failed"
    else:
        created, updated, unchanged, conflicts, refused = map(int, m.groups())
        result = f"{unchanged:,} unchanged" + (f", {updated} updated" if updated else "")
        if updated != expect_updated or created or conflicts or refused:
            failures.append(f"{label}: {m.group(0)}")
    return Row(
        label, child.seconds, result=result, rss=rss, cpu=_cpu(child.cpu_seconds, child.seconds)
    ), failures


def _cli_in_terminal(instance: Path, tree: Path) -> Row | None:
    """The same CLI under a pseudo-terminal (``script``), as a cataloger runs it: the progress bar draws."""
    script = shutil.which("script")
    if not script:
        return None
    cmd = python("-m", "repository", "--instance", str(instance), "sync", "--records", str(tree))
    child = run_child([script, "-qec", shlex.join(cmd), "/dev/null"])
    ok = child.returncode == 0
    return Row(
        "CLI sync, unchanged, in a terminal (pty: progress bar drawn)",
        child.seconds,
        result="ok" if ok else f"exit {child.returncode}",
        cpu=_cpu(child.cpu_seconds, child.seconds),
    )


def _cpu(cpu: float, wall: float) -> str:
    return f"{100 * cpu / wall:.0f}%" if wall > 0 else ""


def run(args: argparse.Namespace) -> int:
    from generate import generate_tree

    from repository import workingcopy
    from repository.importer import import_paths
    from repository.schemas import mods_schema
    from repository.service import Repository

    n = args.n
    work = work_dir(args.workdir, "dalian-bench-sync-")
    tree, instance = work / "records", work / "instance"
    started = time.perf_counter()
    rows: list[Row] = []
    failures: list[str] = []
    print(f"work folder {work}", flush=True)
    try:
        shutil.rmtree(tree, ignore_errors=True)
        shutil.rmtree(instance, ignore_errors=True)
        t0 = time.perf_counter()
        paths = generate_tree(n, tree, seed=args.seed)
        gen_seconds = time.perf_counter() - t0
        print(f"generated {n:,} articles in {gen_seconds:.1f} s", flush=True)

        repo = Repository(instance)
        mods_schema()
        counters = Counters()

        def timed_sync(label: str, expect_reads: int | None, expect_updated: int = 0) -> Row:
            with counters.watch(repo):
                t, c = time.perf_counter(), time.process_time()
                report = workingcopy.sync(repo, tree, who="bench")
                seconds, cpu = time.perf_counter() - t, time.process_time() - c
            row = Row(label, seconds, f"{counters.reads:,}", f"{counters.prepares:,}", _summary(report))
            row.cpu = _cpu(cpu, seconds)
            print(f"  {label}: {seconds:.2f} s ({row.result}; {row.reads} files read)", flush=True)
            if (
                report.failed
                or (expect_reads is not None and counters.reads != expect_reads)
                or len(report.updated) != expect_updated
            ):
                failures.append(
                    f"{label}: {row.result}, {counters.reads} read, problems {report.problems[:3]}"
                )
            rows.append(row)
            return row

        # Load.
        if args.load == "import":
            t = time.perf_counter()
            rep = import_paths(repo, [tree], who="bench")
            seconds = time.perf_counter() - t
            rows.append(
                Row(
                    f"load: import_paths of {n:,} records",
                    seconds,
                    f"{n:,}",
                    f"{len(rep.created):,}",
                    f"{len(rep.created):,} created",
                )
            )
            print(f"  loaded with import_paths in {seconds:.1f} s", flush=True)
            if len(rep.created) != n or rep.problems:
                failures.append(f"load: {len(rep.created)} created, problems {rep.problems[:3]}")
            timed_sync("sync #1: adopt the files (record their states)", n)
        else:
            timed_sync(f"load: first sync creates {n:,} records", n)

        # Unchanged tree, in process: three runs.
        unchanged = [timed_sync(f"sync, unchanged tree (in process, run {i})", 0) for i in (1, 2, 3)]
        median = statistics.median(r.seconds for r in unchanged)

        # Where an unchanged sync's time goes, without the profiler: the two store queries and the scan.
        t = time.perf_counter()
        repo.store.file_states()
        repo.store.current_versions()
        rows.append(Row("  of which: load file_states() + current_versions()", time.perf_counter() - t))
        from repository.workingcopy import SyncReport, scan

        t = time.perf_counter()
        scanned = sum(1 for _ in scan(tree, SyncReport()))
        rows.append(Row(f"  of which: scan() of {scanned:,} files (scandir + stat)", time.perf_counter() - t))
        rss_in_process = rss_now_mb()
        repo.close()

        # The CLI, fresh interpreter each time.
        startup = run_child(python("-m", "repository", "--help"))
        rows.append(
            Row(
                "CLI start-up alone (`python -m repository --help`)",
                startup.seconds,
                cpu=_cpu(startup.cpu_seconds, startup.seconds),
            )
        )
        for i in (1, 2, 3):
            row, fails = _cli(instance, tree, f"CLI sync, unchanged tree (run {i})", 0, peak=i == 3)
            rows.append(row)
            failures += fails
            print(f"  {row.step}: {row.seconds:.2f} s ({row.result})", flush=True)
        if not args.no_tty and (row_tty := _cli_in_terminal(instance, tree)):
            rows.append(row_tty)
            print(f"  {row_tty.step}: {row_tty.seconds:.2f} s", flush=True)

        # Edits: 50 MODS files and 50 full texts, spread over the tree.
        repo = Repository(instance)
        edited = _spread(paths, EDITS, 0)
        for k, p in enumerate(edited):
            if k % 2 == 0:
                _edit_xml(p)
            else:
                _edit_txt(p.with_suffix(".txt"))
        timed_sync(f"sync after editing {len(edited)} files (50 .xml, 50 .txt)", len(edited), len(edited))
        versions = {repo.store.get(p.stem).version for p in edited}
        if versions != {2}:
            failures.append(f"edited records are at versions {versions}, expected 2")
        touched = _spread(paths, EDITS, 7)
        for p in touched:
            _touch(p)
        timed_sync(f"sync after touching {len(touched)} files (mtime only, same bytes)", len(touched))
        timed_sync("sync, unchanged again", 0)

        # Profile one unchanged sync, to show where its time goes.
        profiler = cProfile.Profile()
        profiler.enable()
        workingcopy.sync(repo, tree, who="bench")
        profiler.disable()
        repo.close()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative").print_stats(20)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "sync-profile.txt").write_text(text.getvalue(), encoding="utf-8")

        # Edits through the CLI.
        for p in _spread(paths, EDITS, 3):
            _edit_xml(p)
        row, fails = _cli(instance, tree, f"CLI sync after editing {EDITS} .xml files", EDITS, peak=True)
        rows.append(row)
        failures += fails
        print(f"  {row.step}: {row.seconds:.2f} s ({row.result})", flush=True)

        report = render(
            rows,
            n,
            gen_seconds,
            median,
            dir_size(tree),
            dir_size(instance),
            rss_in_process,
            failures,
            time.perf_counter() - started,
            args.load,
        )
        print()
        print(report)
        (OUT / "sync.md").write_text(report + "\n", encoding="utf-8")
        print(f"\nwritten to {(OUT / 'sync.md').relative_to(ROOT)}")
        return 1 if failures else 0
    finally:
        clean(work, args.keep)


def render(
    rows: list[Row],
    n: int,
    gen_seconds: float,
    median: float,
    tree_bytes: int,
    store_bytes: int,
    rss_in_process: float,
    failures: list[str],
    total: float,
    load: str,
) -> str:
    ok = "✓" if median < TARGET_SECONDS else "✗"
    lines = [
        "# Working-copy sync benchmark",
        "",
        f"Command: `{command_line()}`",
        "",
        f"Environment: {environment()}",
        "",
        f"Tree: {n:,} articles (`bench/generate.py`), {2 * n:,} files, {tree_bytes / 1e6:,.0f} MB, "
        f"generated in "
        f"{gen_seconds:.1f} s; store {store_bytes / 1e6:,.0f} MB; loaded with `{load}`.",
        "",
        f"**Unchanged sync of {n:,} records, in process: median {median:.2f} s "
        f"(target < {TARGET_SECONDS:.0f} s) "
        f"{ok}**",
        "",
        table(
            ["step", "seconds", "CPU/wall", "files read", "records prepared", "result", "peak RSS MB"],
            [[r.step, f"{r.seconds:.2f}", r.cpu, r.reads, r.saved, r.result, r.rss] for r in rows],
        ),
        "",
        "- *files read* counts calls of `workingcopy._read` (an `.xml` and its `.txt`); "
        "*records prepared* counts "
        "`Repository.prepare` (parse + XSD + profile + renderings); both are in-process counters.",
        "- CLI rows are `python -m repository --instance DIR sync --records TREE` in a fresh interpreter "
        "(output captured, so click draws no progress bar). Peak RSS is the CLI process's own `VmHWM`, "
        "taken by running the same command through `bench/_peak.py` (runpy, as `-m` does). "
        "CPU/wall is the process's CPU time over wall time: well under 100% means it waited for the disk "
        "or for other work on the machine. "
        "The terminal row runs the same "
        "command under `script(1)` so the progress bar is drawn as a cataloger sees it.",
        f"- in-process benchmark RSS after the unchanged syncs: {rss_in_process:,.0f} MB.",
        "- warm page cache (the tree was just written); "
        "a cold cache adds the disk's metadata reads to the scan.",
        "- `bench/out/sync-profile.txt`: cProfile of one unchanged in-process sync.",
        f"- total benchmark wall time {total / 60:.1f} min.",
    ]
    if failures:
        lines += ["", "**FAILURES**:", *[f"- {f}" for f in failures]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="repository sync of an unchanged (and a lightly edited) working copy."
    )
    ap.add_argument("--n", type=int, default=100_000, help="number of records (default 100,000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--load",
        choices=["import", "sync"],
        default="import",
        help="how the tree is first loaded: import_paths then a sync (default), or one sync",
    )
    ap.add_argument("--no-tty", action="store_true", help="skip the CLI run under a pseudo-terminal")
    ap.add_argument(
        "--workdir", type=Path, default=None, help="where the tree and instance go (default /tmp/…)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the generated tree and instance")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
