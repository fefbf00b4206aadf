"""Writing files so that a crash, or another process doing the same at the same moment, never
leaves half a file: the one way every module writes a file others read.

Several processes (server workers starting together, an import beside a server) may write
the same file at once, so each writer uses a temporary file of its own in the same folder,
then renames it over the target (readers see the old file or the new, whole) or, for a file
made once, links it into place (the first writer wins and every process reads its bytes).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _temporary(path: Path, data: bytes, mode: int | None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``, whole, durably (the folder is synced too)."""
    path = Path(path)
    tmp = _temporary(path, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def create_once(path: Path, data: bytes, *, mode: int | None = None) -> bytes:
    """``path``'s bytes, writing ``data`` there first if it does not exist (first writer wins)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    tmp = _temporary(path, data, mode)
    try:
        os.link(tmp, path)
        fsync_dir(path.parent)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
