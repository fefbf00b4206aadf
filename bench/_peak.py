"""Run a module as ``__main__`` (like ``python -m``) and record this process's peak RSS at exit.

Why not ``wait4``'s ``ru_maxrss``: Linux carries the parent's high-water mark into a
child across ``vfork``/``exec``, so a child of a big benchmark process reports the
parent's peak. ``VmHWM`` belongs to the address space ``exec`` created, so it is the
child's own. Usage: ``BENCH_PEAK_FILE=f python bench/_peak.py repository --instance … sync``.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys


def vm_hwm_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _record() -> None:
    path = os.environ.get("BENCH_PEAK_FILE")
    if path:
        with open(path, "w", encoding="ascii") as fh:
            fh.write(f"{vm_hwm_mb():.1f}\n")


if __name__ == "__main__":
    atexit.register(_record)
    module = sys.argv[1]
    sys.argv = [module, *sys.argv[2:]]
    sys.path[0] = os.getcwd()  # as `python -m` does
    runpy.run_module(module, run_name="__main__", alter_sys=True)
