"""The store of record: idempotent, atomic, and the index always brought back in line."""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import pytest

from retrieval import Article, Desk
from retrieval.errors import NewsdeskError
from retrieval.index import TantivyIndex
from retrieval.passages import chunk, passages, sentences, unpack
from retrieval.store import INGEST_CACHE_MB, Store

from .conftest import ROOT


def article(n: int, text: str | None = None, **kw) -> Article:
    return Article(
        title=f"Story {n}",
        text=text or f"Story number {n} is about drones. It has a second sentence. And a third.",
        url=f"https://example.org/{n}",
        **kw,
    )


def assert_consistent(desk: Desk) -> None:
    """Only whole articles in the database, and the index holds exactly their passages."""
    db = desk.store.db
    for a in desk.articles():
        rows = list(db.query(
            'select start, "end", sentences from passages where article_id = ? order by ordinal',
            [a.id],
        ))
        assert [(r["start"], r["end"]) for r in rows] == passages(a.text), (
            f"article {a.id} is not whole"
        )
        spans = sentences(a.text)
        for r in rows:  # the stored sentences are the article's, inside the passage
            stored = [(r["start"] + s, r["start"] + e) for s, e in unpack(r["sentences"])]
            assert stored == [sp for sp in spans if r["start"] <= sp[0] and sp[1] <= r["end"]]
    n = db.execute("select count(*) from passages").fetchone()[0]
    assert desk.stats().passages == n
    assert desk.index.num_docs() == n


def test_reingest_changes_nothing(desk):
    first = desk.ingest([article(1), article(2)])
    assert first.count("added") == 2
    again = desk.ingest([article(1), article(2)])
    assert again.count("unchanged") == 2
    assert desk.stats().articles == 2
    assert_consistent(desk)


def test_same_text_under_another_url_is_a_duplicate(desk):
    desk.ingest([article(1)])
    twin = Article(title="Copy", text=article(1).text, url="https://mirror.example/1")
    result = desk.ingest([twin]).results[0]
    assert result.status == "unchanged"
    assert "same text as article" in result.reason
    assert desk.stats().articles == 1


def test_changed_article_replaces_its_passages(desk):
    desk.ingest([article(1)])
    old_id = next(desk.articles()).id
    new_text = "A rewritten story about satellites. Nothing else remains. " * 20
    result = desk.ingest([article(1, text=new_text)]).results[0]
    assert result.status == "updated"
    assert result.article_id == old_id
    assert desk.ask("satellites").quotes[0].article_id == old_id
    with pytest.raises(Exception, match="only common words"):
        desk.ask("the")
    assert desk.ask("drones").quotes == ()
    assert_consistent(desk)


def test_a_failing_batch_writes_nothing(desk, monkeypatch):
    desk.ingest([article(1)])
    calls = []
    original = Store.save

    def failing_save(self, a, spans, **kw):
        calls.append(a)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return original(self, a, spans, **kw)

    monkeypatch.setattr(Store, "save", failing_save)
    with pytest.raises(RuntimeError):
        desk.ingest([article(2), article(3)])
    monkeypatch.undo()
    assert [a.title for a in desk.articles()] == ["Story 1"]
    assert_consistent(desk)


def test_a_batch_sees_its_own_articles(desk):
    """Duplicates and new versions inside one batch are judged against the batch itself."""
    changed = article(1, text="A rewritten story about satellites. Nothing else remains.")
    mirror = Article(title="Mirror", text=article(2).text, url="https://mirror.example/2")
    summary = desk.ingest([article(1), article(2), article(1), mirror, changed, article(3)])
    statuses = [r.status for r in summary.results]
    assert statuses == ["added", "added", "unchanged", "unchanged", "updated", "added"]
    assert summary.results[3].reason == f"same text as article {summary.results[1].article_id}"
    assert summary.results[4].article_id == summary.results[0].article_id
    assert [a.text for a in desk.articles()] == [changed.text, article(2).text, article(3).text]
    assert desk.ask("satellites").quotes[0].article_id == summary.results[0].article_id
    assert desk.ask("drones", per_article=5).quotes  # articles 2 and 3
    assert_consistent(desk)


def test_an_ingest_writes_through_a_larger_page_cache_and_gives_it_back(desk):
    def cache_size() -> int:
        return desk.store.db.execute("PRAGMA cache_size").fetchone()[0]

    before = cache_size()
    during = []
    desk.ingest([article(1), article(2)], on_result=lambda r: during.append(cache_size()))
    assert during == [-1024 * INGEST_CACHE_MB] * 2 != [before] * 2
    assert cache_size() == before

    def broken():
        yield article(3)
        raise OSError("the feed went away")

    with pytest.raises(OSError):
        desk.ingest(broken())
    assert cache_size() == before


def test_opening_waits_for_another_connection_writing_a_new_database(db_path):
    """Two ingests of one file into a new database, started together (seen once in CI): the
    second to open found the first writing in rollback-journal mode, and SQLite refused the
    switch to WAL at once rather than waiting."""
    other = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    other.execute("create table scratch (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("insert into scratch values (1)")
    with pytest.raises(NewsdeskError, match="database is locked"):
        Store(db_path, busy_timeout_ms=200)  # held past the wait: a clear refusal
    threading.Timer(0.3, other.execute, ["COMMIT"]).start()
    store = Store(db_path)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.passage_count() == 0 and "articles" in store.db.table_names()
    other.close()


def test_remove_by_id_and_url(desk):
    desk.ingest([article(1), article(2)])
    desk.remove("https://example.org/1")
    assert [a.title for a in desk.articles()] == ["Story 2"]
    desk.remove(str(next(desk.articles()).id))
    assert desk.stats().articles == 0
    assert desk.ask("drones").quotes == ()
    assert_consistent(desk)


def test_counts_follow_writes_by_this_and_other_connections(db_path):
    reader, writer = Store(db_path), Store(db_path)
    try:
        assert reader.stats().articles == 0
        writer.save_all([(article(1), passages(article(1).text))])
        assert reader.stats().articles == 1  # another connection's commit
        reader.save_all([(article(2), passages(article(2).text))])
        assert reader.stats().articles == 2  # its own
        assert reader.stats(["global"]).articles == 2
        assert reader.stats(["guild:1"]).articles == 0
    finally:
        reader.close()
        writer.close()


def test_collections_keep_articles_apart(desk):
    desk.ingest([article(1)], collection="guild:1")
    desk.ingest([article(2, text="Another story about drones entirely. Yes.")],
                collection="guild:2")
    one = desk.ask("drones", collections=["guild:1"], per_article=5)
    assert {q.article_id for q in one.quotes} == {desk.store.find("https://example.org/1")[0].id}
    assert one.searched_articles == 1
    assert desk.ask("drones", collections=["global"]).quotes == ()


def test_index_catches_up_after_a_crash_before_indexing(db_path):
    """SQLite committed but the index never heard of it (killed in between)."""
    store = Store(db_path)
    a = article(1)
    with store.write():
        store.save(a, chunk(a.text))
    store.close()
    with Desk(db_path) as desk:
        assert desk.ask("drones").quotes
        assert_consistent(desk)


def test_questions_replay_what_another_process_left_once_its_writer_is_free(db_path):
    """An article stored while another process held the index writer (then died without
    indexing it): a question finds the writer busy and answers from the index as it is; the
    next one, with nothing written in between, takes the writer and replays the article."""
    with Desk(db_path) as desk:
        desk.ingest([article(1)])
        assert desk.ask("Story number 1 drones").quotes
        other = TantivyIndex(db_path.with_suffix(".index"))
        with other.session():  # the other process's writer
            store = Store(db_path)
            with store.write():
                store.save(article(2), chunk(article(2).text))
            store.close()
            busy = desk.ask("Story number 2 drones")
            assert {q.title for q in busy.quotes} <= {"Story 1"}
        later = desk.ask("Story number 2 drones")
        assert later.quotes[0].title == "Story 2"
        assert_consistent(desk)


def test_opening_during_another_process_ingest_does_not_rebuild_the_index(db_path, monkeypatch):
    """A desk opened while another process's ingest holds the writer and has just committed:
    an index reader that has not seen that commit yet must not pass for a drifted index (the
    rebuild would wait for the writer until that ingest ends)."""
    import retrieval.index

    monkeypatch.setattr(retrieval.index, "LOCK_WAIT_S", 0.5)
    with Desk(db_path) as desk:
        desk.ingest([article(1)])
    opening = TantivyIndex(db_path.with_suffix(".index"))  # its reader: before the commit below
    other = TantivyIndex(db_path.with_suffix(".index"))
    store = Store(db_path)
    with other.session():
        with store.write():
            store.save(article(2), chunk(article(2).text))
        other.sync(store)  # committed and the outbox cleared; the writer still held
        opening.check(store)
        assert opening.num_docs() == store.passage_count()
    store.close()


def test_opening_while_another_process_holds_the_writer_does_not_wait_for_it(
    db_path, monkeypatch
):
    """Articles stored and not yet indexed, another ingest holding the writer: a desk opens
    at once and answers from the index as it is; a question after the writer is free
    replays them."""
    import retrieval.index

    monkeypatch.setattr(retrieval.index, "LOCK_WAIT_S", 0.5)
    with Desk(db_path) as desk:
        desk.ingest([article(1)])
    other = TantivyIndex(db_path.with_suffix(".index"))
    store = Store(db_path)
    with other.session():
        with store.write():
            store.save(article(2), chunk(article(2).text))
        with Desk(db_path) as desk:
            assert desk.ask("Story number 1 drones").quotes[0].title == "Story 1"
    store.close()
    with Desk(db_path) as desk:
        assert desk.ask("Story number 2 drones").quotes[0].title == "Story 2"
        assert_consistent(desk)


def test_missing_or_corrupt_index_is_rebuilt(db_path, caplog):
    with Desk(db_path) as desk:
        desk.ingest([article(i) for i in range(5)])
    index_dir = db_path.with_suffix(".index")
    shutil.rmtree(index_dir)
    with Desk(db_path) as desk:
        assert desk.index.num_docs() == desk.stats().passages
        assert desk.ask("drones").quotes
    for f in index_dir.iterdir():
        if f.suffix == ".json" or f.name.endswith(".idx"):
            f.write_bytes(b"garbage")
    with Desk(db_path) as desk:
        assert_consistent(desk)
        assert desk.ask("drones").quotes
    assert "rebuild" in caplog.text


def test_an_index_built_with_another_schema_is_rebuilt(db_path, monkeypatch, caplog):
    """An index from an earlier version is replaced, not misread: here the one before passage
    ids were read as a fast field, which kept them in a document store."""
    import tantivy

    from retrieval import index as index_module

    def stored_ids() -> tantivy.Schema:
        sb = tantivy.SchemaBuilder()
        sb.add_integer_field("passage_id", stored=True, indexed=True, fast=True)
        sb.add_integer_field("article_id", indexed=True)
        sb.add_text_field("collection", tokenizer_name="raw", index_option="basic")
        sb.add_text_field("title", tokenizer_name=index_module.TOKENIZER_NAME, index_option="freq")
        sb.add_text_field("body", tokenizer_name=index_module.TOKENIZER_NAME, index_option="freq")
        return sb.build()

    with monkeypatch.context() as m:  # the earlier version ingests
        m.setattr(index_module, "_schema", stored_ids)
        with Desk(db_path) as desk:
            desk.ingest([article(i) for i in range(5)])
    with Desk(db_path) as desk:
        assert "(another version of newsdesk built it); rebuilding it" in caplog.text
        assert_consistent(desk)
        quotes = desk.ask("drones", k=5).quotes
        assert sorted(q.title for q in quotes) == [f"Story {i}" for i in range(5)]
        assert all("drones" in q.text for q in quotes)


def test_an_index_built_with_stop_words_is_rebuilt_without_them(db_path, monkeypatch):
    """Indexes from before stop words were left out (analyzer "newsdesk_en") are rebuilt: their
    passage lengths would count words the new ones do not, so their scores would differ."""
    import tantivy

    from retrieval import index as index_module

    def with_stop_words() -> tantivy.TextAnalyzer:
        return (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.remove_long(40))
            .filter(tantivy.Filter.stemmer("english"))
            .build()
        )

    with Desk(db_path) as desk:
        desk.ingest([article(i) for i in range(5)])
        assert desk.index.doc_freqs(["a", "drone"])[1] == {"a": 0, "drone": 5}
    with monkeypatch.context() as m:  # the earlier version opens the database
        m.setattr(index_module, "TOKENIZER_NAME", "newsdesk_en")
        m.setattr(index_module, "index_analyzer", with_stop_words)
        with Desk(db_path) as desk:
            assert desk.index.doc_freqs(["a"])[1] == {"a": 5}  # "a second sentence"
    with Desk(db_path) as desk:
        assert_consistent(desk)
        assert desk.index.doc_freqs(["a", "drone"])[1] == {"a": 0, "drone": 5}
        assert desk.ask("drones").quotes


def test_export_then_ingest_reproduces_everything(sample_desk, tmp_path):
    sample_desk.ingest([article(7, author="A. Writer", published="2024-01-02")],
                       collection="guild:9")
    out = tmp_path / "export.jsonl"
    with out.open("w") as f:
        assert sample_desk.export(f) == 2
    with Desk(tmp_path / "copy.db") as copy:
        from retrieval.files import read_paths

        assert copy.ingest(read_paths([out])).count("added") == 2
        fields = ("key", "url", "title", "publisher", "author", "published", "language",
                  "collection", "text", "content_hash", "ingested_at")
        def dump(d):
            return [tuple(getattr(a, f) for f in fields) for a in d.articles()]
        assert dump(copy) == dump(sample_desk)
        q = "who claimed Iran is supplying drones?"
        assert copy.ask(q).to_dict()["quotes"] == sample_desk.ask(q).to_dict()["quotes"]
        assert_consistent(copy)


def test_two_processes_ingesting_the_same_file_make_one_article_each(tmp_path):
    src = tmp_path / "batch.jsonl"
    src.write_text("".join(json.dumps({"url": f"https://example.org/{i}", "title": f"T{i}",
                                       "text": f"Story {i} about drones. More words here."})
                           + "\n" for i in range(300)))
    db = tmp_path / "two.db"
    cmd = [sys.executable, "-m", "bot", "--db", str(db), "ingest", "-q", str(src)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with Desk(db) as desk:
        assert desk.stats().articles == 300
        assert_consistent(desk)


def stored_articles(db) -> int:
    """The articles another process has committed, read without opening a Desk (which would
    catch the index up)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute("select count(*) from articles").fetchone()[0]


def test_sigkill_during_bulk_ingest_leaves_whole_articles_and_a_matching_index(tmp_path):
    rng = random.Random(7)
    words = "drone Iran Russia Ukraine supply claim talks deal minister army city".split()
    src = tmp_path / "bulk.jsonl"
    with src.open("w") as f:
        for i in range(12000):
            body = " ".join(
                " ".join(rng.choice(words) for _ in range(rng.randint(8, 20))).capitalize() + "."
                for _ in range(rng.randint(3, 12))
            )
            f.write(json.dumps({"id": i, "title": f"Bulk {i}", "text": body}) + "\n")
    db = tmp_path / "bulk.db"
    with Desk(db):
        pass  # the tables exist before the first ingest, for stored_articles to count
    cmd = [sys.executable, "-m", "bot", "--db", str(db), "ingest", "-q", str(src)]
    seen = []
    for round_ in range(6):
        before = stored_articles(db)
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # Killed once this run has stored something (a fixed sleep outlasts the whole ingest
        # on a fast machine), then after a random moment more: mid-batch, mid-index, at the end.
        while proc.poll() is None and stored_articles(db) == before:
            time.sleep(0.002)
        time.sleep(0 if round_ == 0 else rng.uniform(0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        with Desk(db) as desk:
            assert_consistent(desk)
            seen.append(desk.stats().articles)
    print("articles after each kill:", seen)
    assert any(0 < n < 12000 for n in seen), "no kill landed inside the ingest"
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with Desk(db) as desk:
        assert desk.stats().articles == 12000
        assert_consistent(desk)
        assert desk.ask("Iran drone talks").quotes


def test_a_bulk_ingest_commits_the_index_every_few_batches_not_every_batch(db_path, monkeypatch):
    """Each commit is a segment that every search visits: 30 one-passage articles in batches
    of 3, indexed and committed every 9 passages and at the end, make 4 segments, not 10."""
    import retrieval.desk

    monkeypatch.setattr(retrieval.desk, "THREAD_BATCH_PASSAGES", 3)
    monkeypatch.setattr(retrieval.desk, "INDEX_PASSAGES", 9)
    with Desk(db_path) as desk:
        desk.ingest([article(i) for i in range(30)])
        assert desk.index.index.searcher().num_segments == 4
        assert_consistent(desk)
        assert desk.ask("drones").quotes


def index_workers() -> list:
    """The index worker processes this process has running."""
    import multiprocessing

    return multiprocessing.active_children()


def test_a_bulk_ingest_indexes_in_a_process_of_its_own(db_path, monkeypatch):
    """Past one store batch, a bulk ingest hands indexing to a worker process, which commits
    as the index thread would (every 9 passages and at the end: 4 segments) and is gone, with
    its writer, when the ingest returns."""
    import retrieval.desk

    monkeypatch.setattr(retrieval.desk, "BATCH_PASSAGES", 3)
    monkeypatch.setattr(retrieval.desk, "INDEX_PASSAGES", 9)
    workers_seen = []
    with Desk(db_path) as desk:
        summary = desk.ingest([article(i) for i in range(30)], bulk=True,
                              on_result=lambda r: workers_seen.append(len(index_workers())))
        assert summary.count("added") == 30
        assert workers_seen[:3] == [0, 0, 0] and max(workers_seen) == 1  # from the 2nd batch
        assert index_workers() == []
        assert desk.index.index.searcher().num_segments == 4
        assert desk.store.outbox() == []
        assert_consistent(desk)
        assert desk.ask("Story number 29 drones").quotes[0].title == "Story 29"
        monkeypatch.setattr(retrieval.index, "LOCK_WAIT_S", 0.5)
        with Desk(db_path) as other:  # the writer is free
            other.ingest([article(99)])
            assert_consistent(other)


def test_a_small_bulk_ingest_starts_no_process(db_path):
    started = []
    with Desk(db_path) as desk:
        desk.ingest([article(1), article(2)], bulk=True,
                    on_result=lambda r: started.append(len(index_workers())))
        assert started == [0, 0] and index_workers() == []
        assert desk.ask("Story number 2 drones").quotes[0].title == "Story 2"
        assert_consistent(desk)


def test_a_killed_index_worker_loses_nothing(db_path, monkeypatch):
    """The index worker dies (the OOM killer, say) mid-ingest: the ingest stops with a message
    for the person, the stored batches stay, and the next start indexes them."""
    import retrieval.desk
    from retrieval.errors import NewsdeskError

    monkeypatch.setattr(retrieval.desk, "BATCH_PASSAGES", 3)
    monkeypatch.setattr(retrieval.desk, "INDEX_PASSAGES", 9)

    def killing():
        for i in range(40):
            if i == 12:
                for worker in index_workers():
                    os.kill(worker.pid, signal.SIGKILL)
                    worker.join(10)
            yield article(i)

    with Desk(db_path) as desk:
        with pytest.raises(NewsdeskError, match="indexing process stopped"):
            desk.ingest(killing(), bulk=True)
        stored = desk.stats().articles
        assert 12 <= stored < 40 and stored % 3 == 0  # whole batches only
    with Desk(db_path) as desk:
        assert_consistent(desk)
        assert desk.ask("Story number 11 drones").quotes[0].title == "Story 11"


def test_a_killed_bulk_ingest_leaves_no_worker_holding_the_index(db_path):
    """SIGKILL of the ingesting process: its index worker ends with it (an orphan would hold
    the writer for good), and what was stored is replayed."""
    script = f"""
import itertools, sys
sys.path.insert(0, {str(ROOT)!r})
import retrieval.desk
from retrieval import Article, Desk
retrieval.desk.BATCH_PASSAGES = 50

def forever():
    for i in itertools.count():
        if i == 400:
            print("indexing in a worker", flush=True)
        yield Article(title=f"Story {{i}}", text=f"Story number {{i}} is about drones. Yes.",
                      url=f"https://example.org/{{i}}")

with Desk({str(db_path)!r}) as desk:
    desk.ingest(forever(), bulk=True)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "indexing in a worker"
        time.sleep(0.5)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with Desk(db_path) as desk:  # the first question that finds the writer free replays
        assert desk.stats().articles >= 400
        deadline = time.monotonic() + 10
        while not desk.ask("Story number 399 drones").quotes:
            assert time.monotonic() < deadline, "the writer is still held"
            time.sleep(0.05)
        assert desk.ask("Story number 399 drones").quotes[0].title == "Story 399"
        assert_consistent(desk)


def test_a_bulk_ingest_whose_index_is_busy_says_so_and_keeps_the_articles(db_path, monkeypatch):
    """Another process holds the index writer: the worker gives up after the wait, the ingest
    reports the busy index (an error made in the worker, shown here), the articles stay."""
    import retrieval.desk
    import retrieval.index
    from retrieval.index import IndexBusyError

    monkeypatch.setattr(retrieval.desk, "BATCH_PASSAGES", 3)
    monkeypatch.setattr(retrieval.desk, "BUSY_WAIT_S", 0.3)
    monkeypatch.setattr(retrieval.index, "LOCK_WAIT_S", 0.3)
    with Desk(db_path) as desk:
        other = TantivyIndex(db_path.with_suffix(".index"))
        with other.session():  # the other process's writer
            with pytest.raises(IndexBusyError, match="stored so far are kept"):
                desk.ingest([article(i) for i in range(9)], bulk=True)
            with pytest.raises(IndexBusyError, match="reindex when it finishes"):
                desk.reindex()
        assert desk.stats().articles == 9
        assert desk.ask("Story number 8 drones").quotes[0].title == "Story 8"
        assert_consistent(desk)


def test_an_ingest_while_another_process_holds_the_index_stores_everything(
    db_path, monkeypatch
):
    """Not a bulk ingest (the bot's, a small file's): past a short wait for the writer, the
    articles are stored and marked as not searchable yet; a question after the writer is
    free indexes them from the outbox."""
    import retrieval.desk

    monkeypatch.setattr(retrieval.desk, "BUSY_WAIT_S", 0.3)
    with Desk(db_path) as desk:
        desk.ingest([article(0)])
        other = TantivyIndex(db_path.with_suffix(".index"))
        with other.session():  # the other process's writer
            summary = desk.ingest([article(i) for i in range(1, 4)] + [article(0)])
            assert [(r.status, r.index_busy) for r in summary.results] == [
                ("added", True), ("added", True), ("added", True), ("unchanged", False)]
            assert summary.index_busy == 3
            assert desk.stats().articles == 4
            assert desk.index.num_docs() == 1
        assert desk.ask("Story number 3 drones").quotes[0].title == "Story 3"
        assert_consistent(desk)


def test_ingests_one_after_another_wait_for_a_busy_index_once(db_path, monkeypatch):
    """A feed poll ingests entry by entry: once a wait for another process's writer has run
    out, the next entries try for it without waiting again, and are stored all the same;
    once the writer is free, the next ingest takes it."""
    import retrieval.desk
    import retrieval.index

    monkeypatch.setattr(retrieval.desk, "BUSY_WAIT_S", 0.3)
    waits = []
    real_sleep = time.sleep
    monkeypatch.setattr(retrieval.index.time, "sleep", lambda s: (waits.append(s), real_sleep(s)))
    with Desk(db_path) as desk:
        other = TantivyIndex(db_path.with_suffix(".index"))
        with other.session():  # the other process's writer
            first = desk.ingest([article(0)])
            waited = len(waits)
            later = [desk.ingest([article(i)]) for i in range(1, 4)]
            assert waited > 0 and len(waits) == waited
            assert [s.index_busy for s in [first, *later]] == [1, 1, 1, 1]
            assert desk.stats().articles == 4
        summary = desk.ingest([article(4)])  # the writer is free: taken, and indexed now
        assert summary.index_busy == 0
        assert desk.index.num_docs() == 5
        assert desk.ask("Story number 2 drones").quotes[0].title == "Story 2"
        assert_consistent(desk)


def test_a_removal_while_another_process_holds_the_index_is_not_quoted(db_path, monkeypatch):
    import retrieval.desk

    monkeypatch.setattr(retrieval.desk, "BUSY_WAIT_S", 0.3)
    with Desk(db_path) as desk:
        desk.ingest([article(1), article(2)])
        other = TantivyIndex(db_path.with_suffix(".index"))
        with other.session():
            assert [a.title for a in desk.remove("https://example.org/2")] == ["Story 2"]
            assert desk.index.num_docs() == 2  # the index has yet to hear of it...
            quotes = desk.ask("Story number 2 drones").quotes
            assert "Story 2" not in {q.title for q in quotes}  # ...but it is not quoted
        desk.ask("drones")
        assert_consistent(desk)


SECOND = "Another story about satellites. Short."


def two_stored_articles(db_path) -> tuple[Store, TantivyIndex, tuple, tuple]:
    """A store with two articles that the index has yet to take in, and their outbox rows."""
    store = Store(db_path)
    for n, text in enumerate([article(1).text, SECOND], 1):
        with store.write():
            store.save(article(n, text), chunk(text))
    first, second = store.outbox()
    return store, TantivyIndex(db_path.with_suffix(".index")), first, second


def test_a_bounded_catch_up_applies_only_what_was_stored_when_asked(db_path):
    """A bulk ingest's catch-up takes the outbox up to where it stood, not what came after."""
    store, index, first, second = two_stored_articles(db_path)
    assert index.sync(store, up_to=first[0]) == 1
    assert index.num_docs() == len(chunk(article(1).text))
    assert store.outbox() == [second]
    assert index.sync(store) == 1
    assert index.num_docs() == store.passage_count() and store.outbox() == []
    store.close()


def test_a_catch_up_without_commit_is_committed_by_the_next_one(db_path):
    """During a bulk ingest the index takes in every batch but commits every few: rows added
    and not committed stay in the outbox, are not added twice, and go at the next commit."""
    store, index, first, second = two_stored_articles(db_path)
    with pytest.raises(RuntimeError):
        index.sync(store, commit=False)  # only a session's writer outlives the call
    with index.session():
        assert index.sync(store, up_to=first[0], commit=False) == 1
        assert index.sync(store, up_to=first[0], commit=False) == 0
        index.refresh()
        assert index.num_docs() == 0 and store.outbox() == [first, second]
        assert index.sync(store) == 1
    assert index.num_docs() == store.passage_count() and store.outbox() == []
    store.close()


def test_a_session_ending_before_its_commit_leaves_the_outbox_to_replay(db_path):
    store = Store(db_path)
    with store.write():
        store.save(article(1), chunk(article(1).text))
    index = TantivyIndex(db_path.with_suffix(".index"))
    with index.session():
        assert index.sync(store, commit=False) == 1
    index.refresh()
    assert index.num_docs() == 0 and len(store.outbox()) == 1
    assert index.sync(store) == 1
    assert index.num_docs() == store.passage_count() and store.outbox() == []
    store.close()


@pytest.mark.parametrize("bulk", [False, True], ids=["index-thread", "index-process"])
def test_an_ingest_that_fails_midway_keeps_whole_batches_and_frees_the_index(
    db_path, monkeypatch, bulk
):
    """The source breaks after 20 articles, with catch-ups queued for the index thread (or
    worker process): the stored batches stay, the writer is released, and the next ingest
    indexes all of them."""
    import retrieval.desk

    monkeypatch.setattr(retrieval.desk, "BATCH_PASSAGES", 3)
    monkeypatch.setattr(retrieval.desk, "THREAD_BATCH_PASSAGES", 3)
    monkeypatch.setattr(retrieval.desk, "INDEX_PASSAGES", 9)

    def broken():
        for i in range(20):
            yield article(i)
        raise OSError("the feed went away")

    with Desk(db_path) as desk:
        with pytest.raises(OSError):
            desk.ingest(broken(), bulk=bulk)
        assert desk.stats().articles == 18  # six whole batches of three; the rest unstored
        assert not desk.index.ingesting
        with Desk(db_path) as other:  # another process's writer is not kept waiting
            other.ingest([article(99)])
            assert_consistent(other)
        assert desk.ask("Story number 4 drones").quotes
        assert_consistent(desk)
