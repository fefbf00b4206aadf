"""Run every benchmark (import, sync, OAI-PMH) at its defaults (``make bench``) and print their tables.

Each benchmark runs as its own process, so one's memory and caches do not
colour the other's figures; their full reports are in ``bench/out/``.

Usage (from the project root)::

    python bench/run_all.py              # defaults: 100,000 records each (about 10–15 minutes)
    python bench/run_all.py --n 2000     # quick check of the whole suite
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, OUT, python  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the import, sync and OAI-PMH benchmarks.")
    ap.add_argument(
        "--n", type=int, default=None, help="records per benchmark (default: each one's own, 100,000)"
    )
    ap.add_argument(
        "--profile", type=int, default=0, metavar="K", help="also cProfile the import of K records"
    )
    ap.add_argument("--keep", action="store_true", help="keep generated trees")
    args = ap.parse_args(argv)
    common = [*(["--n", str(args.n)] if args.n else []), *(["--keep"] if args.keep else [])]
    runs = [
        (
            "import",
            [
                str(BENCH / "bench_import.py"),
                *common,
                *(["--profile", str(args.profile)] if args.profile else []),
            ],
            OUT / "import.md",
        ),
        ("sync", [str(BENCH / "bench_sync.py"), *common], OUT / "sync.md"),
        # the OAI-PMH harvest at its defaults builds 100,000- and 1,000,000-record instances (~12 min)
        ("oai", [str(BENCH / "bench_oai.py"), *(["--n", str(args.n)] if args.n else [])], OUT / "oai.md"),
    ]
    import subprocess

    status = 0
    started = time.perf_counter()
    for name, argv_, report in runs:
        print(f"=== {name}: {' '.join(python(*argv_))}", flush=True)
        report.unlink(missing_ok=True)
        code = subprocess.call(python(*argv_))
        if code:
            print(f"=== {name} FAILED (exit {code})", flush=True)
            status = 1
    print(f"\n=== all benchmarks done in {(time.perf_counter() - started) / 60:.1f} min\n")
    for _, _, report in runs:
        if report.exists():
            print(report.read_text(encoding="utf-8"))
    return status


if __name__ == "__main__":
    sys.exit(main())
