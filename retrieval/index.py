"""The default BM25 engine: a tantivy index of passages, derived from the store and kept in step.

The index holds no text of its own (SQLite does); it maps analyzed terms to passage ids. It is
written only by ``sync``, which works off the store's ``index_outbox``: re-index the articles
listed there, commit the index, then clear those rows. A crash anywhere in between leaves rows
that the next ``sync`` (at the next start, ingest or question) replays; re-indexing an article is
idempotent (delete its passages by article id, add them again). ``open`` also compares passage
counts and rebuilds a missing, corrupt or drifted index from SQLite.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import tantivy

from .analyze import TOKENIZER_NAME, index_analyzer
from .errors import NewsdeskError
from .search import TITLE_BOOST, Hit
from .store import Store

log = logging.getLogger(__name__)

WRITER_HEAP = 128_000_000
LOCK_WAIT_S = 60.0
WRITER_THREADS = 1
BATCH = 10_000
"""Outbox rows (articles) applied per index commit."""
BUSY_MEMORY_S = 30.0
"""After a wait for the writer ran out (another process's ingest holds it), attempts within
this long try once instead of waiting again: a feed poll ingests entry by entry, and each of
50 entries would otherwise wait its turn while that ingest goes on."""


class IndexBusyError(NewsdeskError):
    """Another ingest has held the index writer for too long."""

    def __init__(
        self,
        message: str = "The search index is busy with another ingest. The articles stored so "
        "far are kept and become searchable when it finishes; run this ingest again then to "
        "add the rest (what is stored already is skipped).",
    ) -> None:
        super().__init__(message)  # the message as an argument: pickled from an index worker


def _schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    # A fast field only: search reads it by column, without a document store to write or read.
    sb.add_integer_field("passage_id", fast=True)
    sb.add_integer_field("article_id", indexed=True)
    sb.add_text_field("collection", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("title", tokenizer_name=TOKENIZER_NAME, index_option="freq")
    # No positions (no phrase queries): the index is half the size, and a serving process maps
    # less of it (serving at 1M passages, 300 questions in bench.py: 275 -> 211 MB resident).
    sb.add_text_field("body", tokenizer_name=TOKENIZER_NAME, index_option="freq")
    return sb.build()


class TantivyIndex:
    """Search and maintenance of the on-disk index (thread-safe; one writer at a time)."""

    name = "tantivy"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.schema = _schema()
        self._write_lock = threading.RLock()
        self._held: tantivy.IndexWriter | None = None
        self._sessions = 0
        self._added = 0
        """The last outbox id whose documents the held writer has added but not committed."""
        self._stamp: tuple[int, int, int] | None = None
        self._busy_at = float("-inf")
        """When a wait for another process's writer last ran out (``time.monotonic``)."""
        self.index = self._open()

    def _open(self) -> tantivy.Index:
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            index = tantivy.Index(self.schema, path=str(self.path), reuse=True)
        except (ValueError, OSError) as e:
            why = "another version of newsdesk built it" if "schema" in str(e) else e
            log.warning("index at %s cannot be used (%s); rebuilding it", self.path, why)
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(parents=True)
            index = tantivy.Index(self.schema, path=str(self.path), reuse=False)
        index.register_tokenizer(TOKENIZER_NAME, index_analyzer())
        return index

    # -- searching -----------------------------------------------------------------------------

    def search(self, terms: list[str], *, collections: list[str] | None, limit: int) -> list[Hit]:
        if not terms:
            return []
        q, o = tantivy.Query, tantivy.Occur
        body = q.boolean_query(
            [(o.Should, q.term_query(self.schema, "body", t)) for t in terms]
            + [(o.Should, q.boost_query(q.term_query(self.schema, "title", t), TITLE_BOOST))
               for t in terms]
        )
        if collections is not None:
            body = q.boolean_query([(o.Must, body), (o.Must, self._allowed(collections))])
        searcher = self.index.searcher()
        # count=False: a total of matches would make tantivy visit every one of them.
        hits = searcher.search(body, limit, count=False).hits
        ids = searcher.fast_field_values("passage_id", [addr for _, addr in hits])
        return [Hit(i, score) for i, (score, _) in zip(ids, hits, strict=True)]

    def _allowed(self, collections: list[str]) -> tantivy.Query:
        q, o = tantivy.Query, tantivy.Occur
        allowed = q.boolean_query(
            [(o.Should, q.term_query(self.schema, "collection", c)) for c in collections]
        )
        return q.const_score_query(allowed, 0.0)

    def mentioned(self, terms: list[str], collections: list[str]) -> set[str]:
        q, o = tantivy.Query, tantivy.Occur
        searcher = self.index.searcher()
        allowed = self._allowed(collections)
        found = set()
        for t in terms:
            term = q.term_query(self.schema, "body", t)
            both = q.boolean_query([(o.Must, term), (o.Must, allowed)])
            if searcher.search(both, 1, count=False).hits:
                found.add(t)
        return found

    def doc_freqs(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        searcher = self.index.searcher()
        return searcher.num_docs, {t: searcher.doc_freq("body", t) for t in terms}

    def num_docs(self) -> int:
        return self.index.searcher().num_docs

    def refresh(self) -> None:
        """See what other writers committed. tantivy rewrites meta.json on every commit, so
        an unchanged file means there is nothing to reload."""
        try:
            st = (self.path / "meta.json").stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp is None or stamp != self._stamp:
            self.index.reload()
            self._stamp = stamp

    # -- writing -------------------------------------------------------------------------------

    def _acquire(self, wait: float) -> tantivy.IndexWriter:
        now = time.monotonic()
        if now - self._busy_at < BUSY_MEMORY_S:
            wait = 0.0  # it was busy a moment ago: try, but do not wait all over again
        deadline = now + wait
        while True:
            try:
                writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=WRITER_THREADS)
            except ValueError as e:
                if "LockBusy" not in str(e):
                    raise
                if time.monotonic() > deadline:
                    if wait > 0:
                        self._busy_at = time.monotonic()
                    raise IndexBusyError() from e
                time.sleep(0.05)
            else:
                self._busy_at = float("-inf")
                return writer

    @property
    def ingesting(self) -> bool:
        """A bulk ingest in this process holds the writer and will catch the index up."""
        return self._sessions > 0

    def _lock(self, wait: float) -> None:
        if not self._write_lock.acquire(timeout=wait):
            raise IndexBusyError()

    @contextmanager
    def session(self, wait: float = LOCK_WAIT_S) -> Iterator[None]:
        """Keep one writer through a bulk ingest (each batch still commits) instead of opening
        one per batch. Other processes wait for it, or leave their outbox rows to us."""
        self._lock(wait)
        try:
            if self._held is None:
                self._held = self._acquire(wait)
            self._sessions += 1
        finally:
            self._write_lock.release()
        try:
            yield
        finally:
            with self._write_lock:
                self._sessions -= 1
                if self._sessions == 0 and self._held is not None:
                    writer, self._held, self._added = self._held, None, 0
                    writer.wait_merging_threads()  # drops the writer and its lock

    @contextmanager
    def _writer(self, wait: float = LOCK_WAIT_S) -> Iterator[tantivy.IndexWriter]:
        """The index's single writer, released on exit (not when garbage collected): another
        process may be waiting for it, so its lock must go as soon as the work is done."""
        self._lock(wait)
        try:
            held = self._held
            writer = held or self._acquire(wait)
            try:
                yield writer
            except BaseException:
                writer.rollback()
                raise
            finally:
                if held is None:
                    writer.wait_merging_threads()  # drops the writer and its lock
        finally:
            self._write_lock.release()

    def _add(self, writer: tantivy.IndexWriter, rows: Iterable[tuple]) -> int:
        n = 0
        for passage_id, article_id, collection, title, text in rows:
            # Typed adds make the same document as Document(**fields) in a third of the time
            # (held under the GIL): the keyword form tries every value as a string first.
            doc = tantivy.Document()
            doc.add_integer("passage_id", passage_id)
            doc.add_integer("article_id", article_id)
            doc.add_text("collection", collection)
            doc.add_text("title", title)
            doc.add_text("body", text)
            writer.add_document(doc)
            n += 1
        return n

    def sync(
        self,
        store: Store,
        *,
        wait: float = LOCK_WAIT_S,
        up_to: int | None = None,
        commit: bool = True,
    ) -> int:
        """Replay the store's outbox into the index; returns how many articles were applied.

        ``up_to`` stops at that outbox id: a catch-up during a bulk ingest takes what was stored
        when it was asked for, rather than chasing the ingest (which would then wait for it).
        ``commit=False`` (in a ``session`` only) adds the documents and leaves the commit, and
        clearing their outbox rows, to a later sync: tantivy indexes while the ingest goes on,
        and one commit (one new segment) covers several store batches.
        """
        if not commit and self._held is None:
            raise RuntimeError("sync(commit=False) needs an open session")
        applied = 0
        try:
            while True:
                pending = store.outbox(BATCH, after=self._added, up_to=up_to)
                if not pending and not (commit and self._added):
                    return applied
                with self._writer(wait) as writer:
                    if pending:
                        article_ids = sorted({a for _, a in pending})
                        for a in article_ids:
                            writer.delete_documents_by_term("article_id", a)
                        self._add(writer, store.index_rows(article_ids))
                        self._added = pending[-1][0]
                        applied += len(pending)
                    if commit:
                        writer.commit()
                if commit:
                    store.clear_outbox(self._added)
                    self._added = 0
                    self.index.reload()
        except BaseException:
            self._added = 0  # the writer rolled back: those rows are in the outbox still
            raise

    def rebuild(self, store: Store, *, wait: float = LOCK_WAIT_S) -> int:
        """Index every passage in the store from scratch; returns the number indexed."""
        with self._writer(wait) as writer:
            up_to = store.outbox_max()
            writer.delete_all_documents()
            n = self._add(writer, store.index_rows())
            writer.commit()
        store.clear_outbox(up_to)
        self.index.reload()
        return n

    def check(self, store: Store) -> None:
        """Bring the index in line with the store after a crash, a kill or a lost directory.

        Counts are compared only while no one writes: another process's ingest may commit
        between the two counts (or before this reader has seen it), which is no drift, and a
        rebuild would wait for its writer until it ends. Nor does opening wait for that writer
        to replay the outbox: the first question that finds it free does."""
        try:
            self.sync(store, wait=0.0)
        except IndexBusyError:
            return  # another ingest holds the writer: it keeps the index in step
        version = store.version()
        if store.outbox(1):
            return  # another process is storing and indexing: it keeps the two in step
        self.index.reload()
        expected, actual = store.passage_count(), self.num_docs()
        if expected != actual and store.version() == version:
            log.warning(
                "index has %d passages, database %d: rebuilding the index from the database",
                actual, expected,
            )
            self.rebuild(store)
