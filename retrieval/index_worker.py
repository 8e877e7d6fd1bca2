"""The index half of a bulk ingest, in a process of its own.

A bulk ingest keeps two cores busy: one reads, splits and stores articles (Python), the other
indexes them (tantivy, fed by Python). In one process the two Python halves take turns under one
GIL; in two, each has its own (1M benchmark passages, alternating: 115.8 / 112.0 s in one
process, 104.1 / 108.3 s with this worker; more in docs/scaling.md). The worker holds
the index writer for the ingest and replays the store's outbox up to where the ingest tells it,
as the in-process index thread does; if it dies, the outbox keeps what it had not committed, and
the next sync replays it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from multiprocessing.connection import wait
from pathlib import Path

from . import index as index_module
from .errors import NewsdeskError

_worker: dict = {}
"""The worker process's store, index and writer session (it runs one ingest's syncs)."""


def _start(db: str, index_path: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the ingest to handle
    threading.Thread(target=_end_with_parent, daemon=True).start()
    from .store import Store

    _worker["store"] = Store(db)
    _worker["index"] = index_module.TantivyIndex(index_path)
    _worker["session"] = ExitStack()


def _end_with_parent() -> None:
    """Exit when the ingesting process does (killed, say): an orphaned worker would hold the
    index writer for good. Exiting drops what it had not committed; the outbox has it."""
    wait([multiprocessing.parent_process().sentinel])
    os._exit(1)


def _sync(up_to: int | None, commit: bool, lock_wait: float) -> int:
    index = _worker["index"]
    if not index.ingesting:
        _worker["session"].enter_context(index.session(lock_wait))
    return index.sync(_worker["store"], up_to=up_to, commit=commit, wait=lock_wait)


def _stop() -> None:
    _worker["session"].close()  # releases the writer: what was not committed is not kept
    _worker["store"].close()


class IndexWorkerError(NewsdeskError):
    def __init__(self) -> None:
        super().__init__(
            "The indexing process stopped unexpectedly. Every article stored so far is kept "
            "and becomes searchable at the next question or ingest."
        )


class IndexWorker:
    """One child process that indexes what an ingest stores (``sync`` returns futures)."""

    def __init__(self, db: Path, index_path: Path) -> None:
        # spawn, not fork: the ingesting process may run threads (the bot's, tantivy's). So the
        # script that ingests must guard its entry point (if __name__ == "__main__": ...).
        self._pool = ProcessPoolExecutor(
            1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start, initargs=(str(db), str(index_path)),
        )

    def sync(self, *, up_to: int | None = None, commit: bool = True) -> Future[int]:
        """Queue a catch-up of the index with the outbox (``TantivyIndex.sync``). A dead worker
        raises ``BrokenProcessPool``, here or from the future."""
        return self._pool.submit(_sync, up_to, commit, index_module.LOCK_WAIT_S)

    @staticmethod
    def explain(error: Exception) -> Exception:
        """What to tell the person ingesting about an error from ``sync``."""
        return IndexWorkerError() if isinstance(error, BrokenProcessPool) else error

    def close(self) -> None:
        """Release the writer and end the process (waiting for what is queued)."""
        try:
            self._pool.submit(_stop).result()
        except BrokenProcessPool:
            pass  # the process is gone, and its writer with it
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
