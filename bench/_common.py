"""What the benchmarks share: the project on sys.path, child processes measured by the kernel, tables.

Every measurement runs in a fresh interpreter. Peak memory is the child's own
``VmHWM`` (reported by the worker, or by ``_peak.py`` for the CLI), never
``ru_maxrss``: Linux carries a parent's high-water mark into a child across
``vfork``/``exec``, so ``wait4`` would report the benchmark driver's peak, not the
child's. ``wait4`` still gives each child's own CPU time, which shows when other
work on the machine took the CPU (CPU time well below wall time).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))


@dataclass
class Child:
    """A finished child process: its exit status, output, wall time and peak memory."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float

    def last_json(self) -> dict:
        """The last stdout line, which the benchmark workers print as their JSON result."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if self.returncode != 0 or not lines:
            raise RuntimeError(
                f"child failed (exit {self.returncode}):\n{self.stdout[-2000:]}\n{self.stderr[-4000:]}"
            )
        return json.loads(lines[-1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_child(args: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Child:
    """Run ``args`` to completion; its wall time and its own CPU time (user + system, from ``wait4``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env={**child_env(), **(env or {})}, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Child(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            seconds,
            usage.ru_utime + usage.ru_stime,
        )


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def rss_now_mb() -> float:
    """Current resident set size of this process (Linux ``/proc``), to separate baseline from growth."""
    return _status("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident set size since its ``exec`` (``VmHWM``)."""
    return _status("VmHWM")


def _status(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_parts_mb() -> tuple[float, float]:
    """(anonymous, file-backed) resident memory now. File-backed pages are mostly SQLite's memory-mapped
    store: shared, reclaimable page cache that still counts in RSS (and in a container's memory use)."""
    return _status("RssAnon"), _status("RssFile")


def loadavg() -> str:
    """The 1-minute load average: above the CPU count, other work competed with the benchmark."""
    with open("/proc/loadavg", encoding="ascii") as fh:
        return fh.read().split()[0]


def dir_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.stat(os.path.join(dirpath, name)).st_size
    return total


def work_dir(given: Path | None, prefix: str) -> Path:
    """Where generated trees and instances go: ``--workdir`` or a fresh folder under /tmp."""
    if given:
        given.mkdir(parents=True, exist_ok=True)
        return given
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def clean(path: Path, keep: bool) -> None:
    if keep:
        print(f"kept {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


def environment() -> str:
    """One line saying what machine and libraries the figures come from."""
    from lxml import etree

    libxml = ".".join(map(str, etree.LIBXML_VERSION))
    libxslt = ".".join(map(str, etree.LIBXSLT_VERSION))
    return (
        f"Python {platform.python_version()}, lxml {etree.__version__} (libxml2 {libxml}, "
        f"libxslt {libxslt}), "
        f"SQLite {sqlite_version()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; "
        f"repository/ code sha256 {code_fingerprint()}"
    )


def code_fingerprint() -> str:
    """A short hash of ``repository/*.py`` as measured: the code changes under the benchmarks, and figures
    are only comparable between runs of the same code."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted((ROOT / "repository").rglob("*.py")):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A markdown table, padded so it also reads well in a terminal: first column left, figures right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join(("-" * (w + 1) + (":" if i else "-")) for i, w in enumerate(widths)) + "|"
    body = [
        "| "
        + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        + " |"
        for r in rows
    ]
    return "\n".join([line, rule, *body])


def command_line() -> str:
    """The command that produced a report, as someone would retype it from the project root."""
    script = Path(sys.argv[0])
    with contextlib.suppress(ValueError):
        script = script.resolve().relative_to(ROOT)
    return " ".join(["python", str(script), *sys.argv[1:]])


def code_snapshot(env_name: str, prefix: str, is_main: bool) -> Path | None:
    """Measure one version of ``repository/``: a copy taken at start, imported by every process of the run.

    Other people edit ``repository/`` while benchmarks run; without the copy, a server or worker started
    mid-run would import newer code than the figures taken before it, and a report would compare two
    versions. Children find the copy through ``env_name``; a module merely imported (a scratch script)
    uses the live code. The copy is put first on ``sys.path``: call this before importing ``repository``.
    """
    given = os.environ.get(env_name)
    if given:
        dest = Path(given)
    elif not is_main:
        return None
    else:
        dest = Path(tempfile.mkdtemp(prefix=prefix))
        shutil.copytree(
            ROOT / "repository", dest / "repository", ignore=shutil.ignore_patterns("__pycache__")
        )
        (dest / "schemas").symlink_to(ROOT / "schemas")  # repository.schemas looks beside the package
        os.environ[env_name] = str(dest)
    sys.path.insert(0, str(dest))
    return dest


def check_snapshot(code_dir: Path | None) -> None:
    """Fail loudly if ``repository`` was imported from the live tree although a snapshot was taken."""
    import repository

    if code_dir is not None and not Path(repository.__file__).resolve().is_relative_to(code_dir.resolve()):
        raise RuntimeError(f"repository imported from {repository.__file__}, not the snapshot {code_dir}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerChild:
    """A benchmark's server: its own script re-run as a WSGI server in a child process.

    Apart from the client, so that what the server costs (memory, CPU) is measured on its own.
    ``args`` are the script and its server-mode arguments (``--port`` is added); the server is up
    once ``GET probe`` answers 200, and a server that exits or does not come up in ``timeout``
    seconds is an error that names its log.
    """

    def __init__(self, args: list[str], log: Path, probe: str, *, timeout: float = 120):
        self.port = free_port()
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, *args, "--port", str(self.port)],
            cwd=ROOT,
            env=child_env(),
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", probe)
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start; see {log}")
            time.sleep(0.1)

    def stop(self, wait: float = 15) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
