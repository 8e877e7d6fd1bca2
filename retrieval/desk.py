"""The engine's front door: ask questions, ingest articles, keep the index in step.

A ``Desk`` is safe to share between threads (the bot runs it in ``asyncio.to_thread``): each
thread gets its own SQLite connection, and the tantivy index serialises its writer.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from .analyze import query_terms
from .answer import (
    MIN_MATCH,
    PER_ARTICLE,
    choose,
    match_share,
    missing_names,
    names,
    score_sentences,
    to_quote,
    weights,
)
from .errors import NewsdeskError, NotFoundError, QuestionError
from .index import IndexBusyError, TantivyIndex
from .models import GLOBAL, Answer, Article, IngestResult, IngestSummary, Stats
from .passages import chunk
from .search import ENGINES, Engine
from .store import Span, Store

if TYPE_CHECKING:
    from .index_worker import IndexWorker

log = logging.getLogger(__name__)

MAX_QUESTION = 1000
MAX_TERMS = 32
CANDIDATE_PASSAGES = 6
"""Passages whose sentences are scored for quotes (more when more than 6 quotes are asked for).
Whole SQuAD dev set, first quote / first 3: 0.740 / 0.835 from 10, 0.740 / 0.833 from 6, for a
fifth less time per question; 15 quoted no better than 10."""
BATCH_PASSAGES = 5000
"""Passages per store transaction of a bulk ingest: what a question sees appear during it."""
THREAD_BATCH_PASSAGES = 1000
"""Passages per store transaction of an ingest whose index is fed by a thread (the bot's, a
small file's). Indexing the last batch is a wait that nothing overlaps: 10k passages in 0.73-0.88
s instead of 1.04-1.10 with 5,000, 100k in 6.96 / 6.99 s instead of 7.20 / 7.33 (alternating).
Not for a bulk ingest, whose worker takes each batch as a message: 2,000 there was no faster at
100k and 67.7 / 69.4 s against 67.2 / 66.9 at 1M."""
INDEX_PASSAGES = 20_000
"""Passages added to the index between its commits during an ingest (bulk or not): each commit is
a new segment (later merged), so committing every store batch costs a third more index time."""
INDEX_AHEAD = 3
"""Store batches the index may fall behind by before the ingest waits for it. Waiting for each
catch-up (the index and this thread in lockstep) left a core idle: 100k passages, alternating
six times, median 11.0 s in lockstep against 10.2 with 3 behind (2 and 5 behind: no better)."""
BUSY_WAIT_S = 5.0
"""How long an ingest (other than a bulk one), a removal or a reindex waits for the index
writer that another process holds: another ingest may hold it for minutes. Past the wait,
articles are stored all the same, and that process or the next question indexes them from
the outbox (a reindex is refused)."""


class Desk:
    def __init__(self, db: str | Path, *, engine: str = "tantivy") -> None:
        if engine not in ENGINES:
            raise NewsdeskError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
        self.db_path = Path(db)
        self._local = threading.local()
        self._stores: list[Store] = []
        self._stores_lock = threading.Lock()
        self._indexer = ThreadPoolExecutor(1, thread_name_prefix="newsdesk-index")
        try:
            store = self.store  # first: a file that is not a database leaves no index beside it
            self.index = TantivyIndex(self.db_path.with_suffix(".index"))
            self.index.check(store)
        except (OSError, sqlite3.OperationalError) as e:  # a folder, a path under a file, ...
            self.close()
            raise NewsdeskError(f"cannot use {db} as the database: {_why(self.db_path, e)}") from e
        self.engine: Engine = self.index
        if engine == "rank-bm25":
            from .reference import ReferenceEngine  # numpy and rank-bm25: only when asked for

            self.engine = ReferenceEngine(lambda: self.store)

    @property
    def store(self) -> Store:
        """This thread's connection to the database."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store(self.db_path)
            self._local.store = store
            with self._stores_lock:
                self._stores.append(store)
        return store

    def close(self) -> None:
        self._indexer.shutdown(wait=True)
        with self._stores_lock:
            for s in self._stores:
                try:
                    s.close()
                except Exception:  # a connection of another, finished thread
                    pass
            self._stores.clear()

    def __enter__(self) -> Desk:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- asking ----------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        *,
        k: int = 3,
        offset: int = 0,
        collections: list[str] | None = None,
        per_article: int = PER_ARTICLE,
    ) -> Answer:
        """Up to ``k`` verbatim quotes answering ``question``, best first.

        ``collections`` limits the articles searched (None: all); ``offset`` pages through
        further quotes ("more quotes"); ``per_article`` caps the quotes from one article (a
        second one must beat other articles' best by ``answer.REPEAT_PENALTY``).
        """
        started = time.perf_counter()
        if not 1 <= k <= 25:
            raise QuestionError(f"Ask for between 1 and 25 quotes, not {k}.")
        if per_article < 1:
            raise QuestionError(f"Allow at least 1 quote per article, not {per_article}.")
        question = " ".join(question.split())
        if not question:
            raise QuestionError("Ask a question: the message was empty.")
        if len(question) > MAX_QUESTION:
            raise QuestionError(
                f"That question is too long ({len(question)} characters); keep it under "
                f"{MAX_QUESTION}."
            )
        terms = query_terms(question)[:MAX_TERMS]
        if not terms:
            raise QuestionError(
                "That question has only common words; add the names or topics you are after."
            )
        self._catch_up()
        stats = self.store.stats(collections)
        hits = self.engine.search(
            terms, collections=collections, limit=max(CANDIDATE_PASSAGES, k)
        )
        rows = self.store.passages([h.passage_id for h in hits])
        ranked = [(rows[h.passage_id], h.score) for h in hits if h.passage_id in rows]
        n_docs, dfs = self.engine.doc_freqs(terms)
        if self._missing_names(question, dfs, collections):
            chosen = []  # the articles never mention who or what the question is about
        elif not hits or match_share(hits[0].score, n_docs, dfs) < MIN_MATCH:
            chosen = []  # no passage holds enough of the question to answer it
        else:
            candidates = score_sentences(question, terms, weights(n_docs, dfs), ranked)
            chosen = choose(candidates, per_article=per_article)
        page = chosen[offset : offset + k]
        quotes = tuple(to_quote(c, copies) for c, copies in page)
        return Answer(
            question=question,
            quotes=quotes,
            searched_articles=stats.articles,
            searched_passages=stats.passages,
            took_ms=(time.perf_counter() - started) * 1000,
            more=len(chosen) > offset + k,
        )

    def _missing_names(
        self, question: str, dfs: dict[str, int], collections: list[str] | None
    ) -> list[str]:
        """Names of the question that no passage the asker can see mentions. Document
        frequencies count every collection; a name only another server's articles mention
        is looked up in the asker's own."""
        missing = missing_names(question, dfs)
        if missing or collections is None:
            return missing
        named = [t for t in names(question) if dfs.get(t)]
        return sorted(set(named) - self.engine.mentioned(named, collections))

    def _catch_up(self) -> None:
        """See what other processes (or a crash) left: replay the outbox, reload the index.

        Every index commit that changes what is searchable is followed by a write to the
        database (its outbox rows are cleared), so while the database's version stays the one
        this thread last found in step, there is nothing to look at (two queries fewer per
        question, 5% of ``ask``).
        """
        store = self.store
        version = store.version()
        if getattr(self._local, "in_step", None) == version:
            return
        settled = self.index.ingesting or not store.outbox(1)
        if not settled:
            try:
                self.index.sync(store, wait=0.0)
            except IndexBusyError:
                pass  # another process holds the writer and is catching the index up
        self.index.refresh()
        if settled:  # else the next question checks again, and finds the outbox empty or not
            self._local.in_step = version

    # -- ingesting -------------------------------------------------------------------------------

    def ingest(
        self,
        items: Iterable[Article | IngestResult],
        *,
        collection: str | None = None,
        by: str | None = None,
        on_result: Callable[[IngestResult], None] | None = None,
        bulk: bool = False,
    ) -> IngestSummary:
        """Store and index articles in batches; refusals from the source are passed through.

        Each batch is one transaction (whole articles only); the index takes in every batch and
        commits every few and at the end (the outbox replays whatever a crash left unindexed),
        so an interrupted ingest keeps every finished batch and re-running it completes the rest.
        If another process's ingest holds the index (past ``BUSY_WAIT_S``), the articles are
        stored all the same, their results marked ``index_busy``: that ingest (or the next
        question) indexes them.

        ``bulk``: once the input fills a store batch, index in a process of its own
        (``index_worker``), so that storing and indexing each have a core; ``newsdesk ingest``
        does. Not for an ingest beside others in this process (the bot's): the worker holds the
        index writer, which theirs would then wait for. The worker is spawned, so a script that
        asks for it needs the usual ``if __name__ == "__main__":`` guard.
        """
        summary = IngestSummary()
        indexing = True

        def report(result: IngestResult) -> None:
            if not indexing and result.status in (IngestResult.ADDED, IngestResult.UPDATED):
                result = replace(result, index_busy=True)
            summary.add(result)
            if on_result:
                on_result(result)

        if bulk:  # the worker, once started, holds the writer: this process must not
            self._ingest(items, collection, by, report, bulk=True)
            self.index.refresh()  # what the worker committed
            return summary
        with ExitStack() as held:
            try:
                held.enter_context(self.index.session(BUSY_WAIT_S))
            except IndexBusyError:  # another process's ingest: it indexes what this one stores
                log.info("index writer busy: storing without indexing; the outbox keeps them")
                indexing = False
            self._ingest(items, collection, by, report, bulk=False, indexing=indexing)
        return summary

    def _ingest(self, items, collection, by, report, *, bulk: bool, indexing: bool = True) -> None:
        # The index thread (or worker) adds each stored batch to the index while this thread
        # reads, splits and stores the next ones.
        queued: deque[Future] = deque()
        batch: list[tuple[Article, list[Span]]] = []
        batch_passages = BATCH_PASSAGES if bulk else THREAD_BATCH_PASSAGES
        size = unindexed = 0
        worker: IndexWorker | None = None

        def catch_up(up_to: int | None, commit: bool) -> Future[int]:
            nonlocal worker
            if not indexing:  # another process's ingest holds the writer
                done: Future[int] = Future()
                done.set_result(0)
                return done
            if bulk and worker is None and up_to is not None:  # a full batch: a bulk ingest
                from .index_worker import IndexWorker  # multiprocessing: off the path of ask

                worker = IndexWorker(self.db_path, self.index.path)
            if worker is not None:
                return worker.sync(up_to=up_to, commit=commit)
            return self._indexer.submit(
                lambda: self.index.sync(self.store, up_to=up_to, commit=commit)
            )

        with self.store.ingest_cache():
            try:
                for item in items:
                    if isinstance(item, IngestResult):
                        report(item)
                        continue
                    article = _normalise(item, collection)
                    if not article.text.strip():
                        report(IngestResult(IngestResult.REFUSED, article.url or article.title,
                                            article.title, reason="no text"))
                        continue
                    spans = chunk(article.text)
                    batch.append((article, spans))
                    size += len(spans)
                    if size >= batch_passages:
                        self._write(batch, by, report)
                        unindexed += size
                        batch, size = [], 0
                        commit = unindexed >= INDEX_PASSAGES
                        self._index(queued, catch_up, up_to=self.store.outbox_max(), commit=commit)
                        if commit:
                            unindexed = 0
                if batch:
                    self._write(batch, by, report)
                self._index(queued, catch_up, ahead=0)
            except Exception as e:
                if worker is not None and (plain := worker.explain(e)) is not e:
                    raise plain from e
                raise
            finally:
                for f in queued:
                    f.cancel()
                wait(queued)  # the writer goes when the session ends: nothing may be using it
                if worker is not None:
                    worker.close()

    def _write(self, batch, by, report) -> None:
        """Store one batch: one transaction, whole articles only."""
        for r in self.store.save_all(batch, by=by):
            report(r)

    @staticmethod
    def _index(
        queued: deque[Future],
        catch_up: Callable[[int | None, bool], Future[int]],
        *,
        up_to: int | None = None,
        commit: bool = True,
        ahead: int = INDEX_AHEAD,
    ) -> None:
        """Queue a catch-up of the index with what is stored; wait while more than ``ahead``
        are queued (their errors surface here)."""
        queued.append(catch_up(up_to, commit))
        while len(queued) > ahead:
            queued.popleft().result()

    def remove(self, ref: str, *, collections: list[str] | None = None) -> list[Article]:
        """Delete the articles with this id, URL or key; returns what was removed."""
        found = self.store.find(ref, collections)
        if not found:
            raise NotFoundError(f"No article matches {ref!r}.")
        with self.store.write():
            for a in found:
                self.store.delete(a.id)
        try:
            self.index.sync(self.store, wait=BUSY_WAIT_S)
        except IndexBusyError:
            pass  # gone from answers already (no passage to quote); the outbox has the rest
        return found

    # -- looking -----------------------------------------------------------------------------------

    def stats(self, collections: list[str] | None = None) -> Stats:
        return self.store.stats(collections)

    def article(self, article_id: int, *, collections: list[str] | None = None) -> Article:
        a = self.store.article(article_id)
        if a is None or (collections is not None and a.collection not in collections):
            raise NotFoundError(f"No article {article_id}.")
        return a

    def titles(self, text: str, collections: list[str], limit: int = 25) -> list[tuple[int, str]]:
        return self.store.titles(text, collections, limit)

    def export(self, out: IO[str], *, collections: list[str] | None = None) -> int:
        """Write articles as JSON lines that ``ingest`` reads back unchanged."""
        n = 0
        for a in self.store.articles(collections):
            record = {
                "key": a.key, "url": a.url, "title": a.title, "publisher": a.publisher,
                "author": a.author, "published": a.published, "language": a.language,
                "collection": a.collection, "ingested_at": a.ingested_at,
                "ingested_by": a.ingested_by, "text": a.text,
            }
            out.write(json.dumps({k: v for k, v in record.items() if v is not None}) + "\n")
            n += 1
        return n

    def feeds(self, collections: list[str] | None = None) -> list[dict]:
        return self.store.feeds(collections)

    def reindex(self) -> int:
        try:
            return self.index.rebuild(self.store, wait=BUSY_WAIT_S)
        except IndexBusyError as e:
            raise IndexBusyError(
                "Another ingest is using the search index; reindex when it finishes."
            ) from e

    def articles(self, collections: list[str] | None = None) -> Iterator[Article]:
        return self.store.articles(collections)


def _why(db: Path, error: Exception) -> str:
    """Why a database cannot be opened there, in the person's terms rather than errno's."""
    if db.is_dir():
        return "it is a folder"
    blocker = next((p for p in db.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return f"{blocker} is a file, not a folder"
    return getattr(error, "strerror", None) or str(error)


def _normalise(article: Article, collection: str | None) -> Article:
    text = article.text.replace("\r\n", "\n").replace("\r", "\n")
    title = " ".join((article.title or "").split())[:300] or _first_words(text)
    collection = collection or article.collection or GLOBAL
    if (text, title, collection) == (article.text, article.title, article.collection):
        return article  # the usual case; a copy per article is a measurable part of bulk ingest
    return replace(article, text=text, title=title, collection=collection)


def _first_words(text: str, n: int = 12) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")
