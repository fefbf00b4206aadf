"""Derived stores that follow the record store: the RDF graph and the search index.

Both live outside the database (an Oxigraph store, a tantivy index), so neither can
join the record store's transaction. Instead each remembers the last change
sequence number it applied (``synced-seq`` beside it, written after its own
commit) and asks the record store for what changed after it: after every commit
(the save path calls :meth:`Follower.listen` before it returns, so a reader sees
a save at once), when it is opened, and on demand. Applying a change twice is
harmless, so a crash between the two stores loses nothing: the next catch-up
replays what was missed.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from .store import Changed, RecordState

BATCH = 500
log = logging.getLogger(__name__)


class Follower:
    """A store derived from the records, kept current by change sequence number."""

    def __init__(self, repo, path: Path):  # noqa: ANN001 - a Repository (the service imports us)
        self.repo = repo
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._seq_file = self.path / "synced-seq"
        self._lock = threading.RLock()
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
        tmp = self._seq_file.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            fh.write(str(seq))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._seq_file)

    def catch_up(self, batch_size: int = BATCH) -> int:
        """Apply every change since the last one applied; returns how many records changed."""
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

    def ensure_current(self) -> None:
        """Catch up if anything (another process: an import, a sync) committed since."""
        if self.behind():
            self.catch_up()

    def follow_in_background(self) -> None:
        """Start a catch-up in a thread unless one runs: a large backlog must not hold up a request."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(
                target=self._quietly, name=f"{type(self).__name__} catch-up", daemon=True
            )
            self._thread.start()

    def _quietly(self) -> None:
        try:
            self.ensure_current()
        except Exception:  # a derived store must never take the records down with it
            log.exception("%s could not catch up; the next change or restart retries", type(self).__name__)

    def listen(self, _states: list[RecordState]) -> None:
        """A :attr:`Repository.listeners` callback: follow every commit before the save returns.

        The commit itself has succeeded when this runs; a failure here is logged and
        repaired by the next catch-up rather than reported as a failed save.
        """
        self._quietly()

    def rebuild(self) -> int:
        """Recreate the derived store from the records, from scratch."""
        with self._lock:
            self.clear()
            self._set_synced(0)
        return self.catch_up()
