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
newest before it lets go. A server can also have one process *lead* (:meth:`Follower.lead`):
it keeps the lock for as long as it lives and applies every change, from any process,
as soon as it is committed; a save in another process waits until the leader has applied
it. A leader that dies lets go of the lock, and another process takes its place.
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
#: How often a leader looks for changes committed by other processes, and a process waiting
#: for a leader looks for the lock of one that has gone, in seconds.
LEAD_POLL = 0.2
CLAIM_POLL = 1.0
log = logging.getLogger(__name__)


class Follower:
    """A store derived from the records, kept current by change sequence number."""

    def __init__(self, repo, path: Path):  # noqa: ANN001 - a Repository (the service imports us)
        self.repo = repo
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._seq_file = self.path / "synced-seq"
        self._lock = threading.RLock()
        self._thread_lock = threading.Lock()  # guards the two threads below
        self._held = 0  # depth of exclusive() in this process: the file lock is taken once
        self._lock_file: int | None = None
        self._leading = False  # this process keeps the file lock (lead())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._leader: threading.Thread | None = None

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
            if self._lock_file is None:
                self._lock_file = self._take_file_lock(wait)
            self._held += 1
            try:
                yield
            finally:
                self._held -= 1
                if self._held == 0 and not self._leading and self._lock_file is not None:
                    os.close(self._lock_file)  # closing the descriptor releases the lock
                    self._lock_file = None
        finally:
            self._lock.release()

    def _take_file_lock(self, wait: float | None) -> int:
        fd = os.open(self.path / "follow.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock(fd, wait, self.path)
        except BaseException:
            os.close(fd)
            raise
        return fd

    # ------------------------------------------------------------------ leading
    @property
    def leading(self) -> bool:
        return self._leading

    def lead(self) -> None:
        """For a server process: apply every change as soon as any process commits it, whenever no
        other process does so already (then take over when that one is gone). Idempotent."""
        with self._thread_lock:
            if self._leader is not None and self._leader.is_alive():
                return
            self._leader = threading.Thread(
                target=self._lead, name=f"{type(self).__name__} leader", daemon=True
            )
            self._leader.start()

    def _lead(self) -> None:
        while not self._leading and not self._stop.is_set():
            try:
                with self.exclusive(wait=0):  # the file lock, free now: keep it
                    self._leading = True
                    try:
                        self.became_leader()
                    except BaseException:
                        self._leading = False  # let go of the lock as we leave
                        raise
            except Follower.Busy:
                time.sleep(CLAIM_POLL)
            except Exception:
                log.exception("%s: could not take the lead; trying again", self.path)
                time.sleep(CLAIM_POLL)
        if self._leading:
            log.info("%s: this process applies the changes (pid %s)", self.path, os.getpid())
        while self._leading and not self._stop.wait(LEAD_POLL):
            self._quietly()

    def stop(self) -> None:
        """Stop leading (or waiting to lead) and let go of the lock, so another process leads."""
        self._stop.set()
        leader = self._leader
        if leader is not None:
            leader.join(CLAIM_POLL + 5)
        with self._lock:
            if self._leading:
                self.stopped_leading()
                self._leading = False
                if self._held == 0 and self._lock_file is not None:
                    os.close(self._lock_file)
                    self._lock_file = None

    def stopped_leading(self) -> None:
        """Called as this process lets go of the lead (a subclass closes what it kept open)."""

    def became_leader(self) -> None:
        """Called once this process keeps the file lock (a subclass opens what it keeps open)."""

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
        """Start a catch-up in a thread unless one runs: a large backlog must not hold up a request.

        Nothing to do where a leader thread runs (:meth:`lead`): the leading process, this one
        or another, applies every change; a thread here would only wait for its lock.
        """
        with self._thread_lock:  # not self._lock, which a catch-up holds for as long as it runs
            if self._leader is not None:
                return
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

        The change is applied here when this thread can hold the store; otherwise it waits
        (up to ``LISTEN_WAIT``) for whoever holds it (another thread, or the leader process)
        to have applied it. The commit itself has succeeded when this runs; a failure here is
        logged and repaired by the next catch-up rather than reported as a failed save.
        """
        try:
            target = self.repo.store.max_seq()
            deadline = time.monotonic() + LISTEN_WAIT
            while self.synced_seq() < target and time.monotonic() < deadline:
                try:
                    self.catch_up(wait=0)
                except Follower.Busy:
                    time.sleep(0.02)
            self.followed()
        except Exception:  # a derived store must never take the records down with it
            log.exception("%s could not catch up; the next change or restart retries", type(self).__name__)

    def followed(self) -> None:
        """Called after :meth:`listen` (a subclass makes what was applied visible to this process)."""

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
