"""Derived stores that follow the record store: the RDF graph and the search index.

Both live outside the database (an Oxigraph store, a tantivy index), so neither can
join the record store's transaction. Instead each remembers the last change
sequence number it applied (``synced-seq`` beside it, written after its own
commit) and asks the record store for what changed after it: after every commit
(the save path calls :meth:`Follower.listen` before it returns, so a reader sees
a save at once), when it is opened, and on demand. Applying a change twice is
harmless, so a crash between the two stores loses nothing: the next catch-up
replays what was missed.

Several server processes (gunicorn workers) may follow one derived store. A file lock
beside it (``follow.lock``) lets one of them apply changes at a time; the others either
wait a bounded time (after their own save, so that its author sees it at once) or, on a
read, go on with what is there: whoever holds the lock applies every change up to the
newest before it lets go.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .files import write_atomic
from .store import Changed, RecordState

BATCH = 500
#: How long a save waits for another process that is applying changes before it leaves its own
#: change to that process (which reads changes until there are none left).
LISTEN_WAIT = 5.0
#: How long a read waits for a catch-up under way before it answers from what is there.
READ_WAIT = 2.0
log = logging.getLogger(__name__)


class Follower:
    """A store derived from the records, kept current by change sequence number."""

    def __init__(self, repo, path: Path):  # noqa: ANN001 - a Repository (the service imports us)
        self.repo = repo
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._seq_file = self.path / "synced-seq"
        self._lock = threading.RLock()
        self._held = 0  # depth of exclusive() in this process: the file lock is taken once
        self._lock_file: int | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ to implement
    def apply(self, batch: list[Changed]) -> None:
        """Bring the records of ``batch`` (as they are now) into the derived store, durably."""
        raise NotImplementedError

    def clear(self) -> None:
        """Empty the derived store (a rebuild follows)."""
        raise NotImplementedError

    def start(self) -> None:
        """Called before the first batch of a catch-up from nothing."""

    # ------------------------------------------------------------------ following
    def synced_seq(self) -> int:
        try:
            return int(self._seq_file.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _set_synced(self, seq: int) -> None:
        write_atomic(self._seq_file, str(seq).encode())

    class Busy(Exception):
        """Another process is applying changes to this derived store."""

    @contextlib.contextmanager
    def exclusive(self, wait: float | None = None) -> Iterator[None]:
        """Hold the derived store against every other thread and process.

        ``wait`` bounds the wait for another process in seconds (None: as long as it takes);
        past it :class:`Follower.Busy` is raised. Reentrant within a thread.
        """
        if not self._lock.acquire(timeout=-1 if wait is None else wait):
            raise Follower.Busy(f"{self.path} is being brought up to date by another thread")
        try:
            if self._held == 0:
                fd = os.open(self.path / "follow.lock", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    _flock(fd, wait, self.path)
                except BaseException:
                    os.close(fd)
                    raise
                self._lock_file = fd
            self._held += 1
            try:
                yield
            finally:
                self._held -= 1
                if self._held == 0 and self._lock_file is not None:
                    os.close(self._lock_file)  # closing the descriptor releases the lock
                    self._lock_file = None
        finally:
            self._lock.release()

    def catch_up(self, batch_size: int = BATCH, *, wait: float | None = None) -> int:
        """Apply every change since the last one applied; returns how many records changed."""
        with self.exclusive(wait):
            return self._catch_up(batch_size)

    def _catch_up(self, batch_size: int = BATCH) -> int:
        """:meth:`catch_up` with the store held (a subclass wraps its writer around this)."""
        done = 0
        with self._lock:
            seq = self.synced_seq()
            if seq == 0:
                self.start()
            while batch := self.repo.store.changed_since(seq, batch_size):
                self.apply(batch)
                seq = batch[-1].seq
                self._set_synced(seq)
                done += len(batch)
        return done

    def behind(self) -> int:
        """How many changes the store has that this one has not applied (0 when current)."""
        return max(0, self.repo.store.max_seq() - self.synced_seq())

    def ensure_current(self, wait: float | None = READ_WAIT) -> None:
        """Catch up if anything (another process: an import, a sync) committed since.

        A catch-up another thread or process is running is left to it after ``wait`` seconds
        (None: no limit): it applies what this one would have.
        """
        if self.behind():
            with contextlib.suppress(Follower.Busy):
                self.catch_up(wait=wait)

    def follow_in_background(self) -> None:
        """Start a catch-up in a thread unless one runs: a large backlog must not hold up a request."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._quietly, name=f"{type(self).__name__} catch-up", daemon=True
            )
            self._thread.start()

    def _quietly(self, wait: float | None = None) -> None:
        try:
            self.ensure_current(wait)
        except Exception:  # a derived store must never take the records down with it
            log.exception("%s could not catch up; the next change or restart retries", type(self).__name__)

    def listen(self, _states: list[RecordState]) -> None:
        """A :attr:`Repository.listeners` callback: follow every commit before the save returns.

        The commit itself has succeeded when this runs; a failure here is logged and
        repaired by the next catch-up rather than reported as a failed save.
        """
        self._quietly(LISTEN_WAIT)

    def rebuild(self) -> int:
        """Recreate the derived store from the records, from scratch."""
        with self.exclusive():
            self.clear()
            self._set_synced(0)
            return self.catch_up()


def _flock(fd: int, wait: float | None, path: Path) -> None:
    if wait is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Follower.Busy(f"{path} is being brought up to date by another process") from None
            time.sleep(0.02)
