"""Bad input, concurrency and faults: clear messages, nothing lost, nothing half-written."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval import Article, Desk, NewsdeskError, QuestionError
from retrieval.files import read_paths

from .conftest import ROOT, SAMPLE
from .test_store import assert_consistent

NASTY = st.sampled_from([
    "", " ", "\x00", "\u202e", "🚀🚀", "@everyone", "<@123>", "**bold** [x](https://evil)",
    '"', "*", "(", ")", "AND", "OR", "NOT", "NEAR(", ":", "^", "~", "\\", "'; DROP TABLE x; --",
    "drones", "Iran", "Russia", "who", "claimed", "\n", "\t", "ﷺ", "é", "İ", "ß", "中文",
])


@pytest.fixture(scope="module")
def shared_desk(tmp_path_factory):
    desk = Desk(tmp_path_factory.mktemp("prop") / "p.db")
    desk.ingest(read_paths([SAMPLE]))
    yield desk
    desk.close()


def check_answer(desk: Desk, question: str) -> None:
    try:
        answer = desk.ask(question)
    except QuestionError as e:
        assert str(e) and len(str(e)) < 200
        return
    for q in answer.quotes:
        assert desk.article(q.article_id).text[q.start : q.end] == q.text
    json.dumps(answer.to_dict())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_gets_an_answer_or_a_clear_message(shared_desk, question):
    check_answer(shared_desk, question)


@settings(max_examples=200, deadline=None)
@given(st.lists(NASTY, max_size=30).map(" ".join))
def test_search_syntax_and_markup_mixes(shared_desk, question):
    check_answer(shared_desk, question)


def test_ten_kilobyte_question_is_refused_politely(shared_desk):
    with pytest.raises(QuestionError, match="too long"):
        shared_desk.ask("drones " * 1500)


def test_two_threads_ingesting_the_same_article_store_it_once(desk):
    article = Article(title="Same", text="One story about drones. Told twice at once.",
                      url="https://example.org/same")
    barrier = threading.Barrier(4)
    results = []

    def work():
        barrier.wait()
        results.append(desk.ingest([article]).results[0].status)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["added", "unchanged", "unchanged", "unchanged"]
    assert desk.stats().articles == 1
    assert_consistent(desk)


def test_questions_answered_while_another_process_ingests(tmp_path):
    """No 'database is locked' reaches the asker; new articles appear once committed."""
    db = tmp_path / "busy.db"
    with Desk(db) as desk:
        desk.ingest(read_paths([SAMPLE]))
    src = tmp_path / "bulk.jsonl"
    with src.open("w") as f:
        for i in range(6000):
            f.write(json.dumps({"id": i, "title": f"Harbour report {i}",
                                "text": f"The harbour crane number {i} was sold. " * 8}) + "\n")
    proc = subprocess.Popen([sys.executable, "-m", "bot", "--db", str(db), "ingest", "-q",
                             str(src)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen, errors = [], []
    with Desk(db) as desk:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                assert desk.ask("who claimed Iran is supplying drones?").quotes
                seen.append(desk.ask("harbour crane sold").searched_articles)
            except Exception as e:  # any error here would have reached a user
                errors.append(repr(e))
            time.sleep(0.005)  # the ingest stores a batch every few tens of ms on a fast host
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert errors == []
        assert seen == sorted(seen), "article counts went backwards"
        assert any(1 < n < 6001 for n in seen), f"no question ran during the ingest: {seen}"
        assert desk.ask("harbour crane sold").searched_articles == 6001
        assert_consistent(desk)


def test_a_full_disk_loses_nothing(tmp_path):
    """SQLite's size limit stands in for a full disk: the batch fails whole, the rest stays."""
    db = tmp_path / "full.db"
    with Desk(db) as desk:
        desk.ingest(read_paths([SAMPLE]))
        pages = desk.store.db.execute("pragma page_count").fetchone()[0]
        desk.store.db.execute(f"pragma max_page_count = {pages + 2}")
        big = [Article(title=f"Big {i}", text="Filler sentence about drones. " * 2000,
                       url=f"https://example.org/big/{i}") for i in range(5)]
        with pytest.raises(Exception, match="full"):
            desk.ingest(big)
        assert desk.stats().articles == 1
        assert_consistent(desk)
        assert desk.ask("who claimed Iran is supplying drones?").quotes


def test_a_locked_database_waits_instead_of_failing(tmp_path):
    db = tmp_path / "locked.db"
    with Desk(db) as desk:
        desk.ingest(read_paths([SAMPLE]))
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1]); "
         "c.execute('begin immediate'); print('locked', flush=True); time.sleep(1.5); "
         "c.rollback()", str(db)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with Desk(db) as desk:
        started = time.monotonic()
        result = desk.ingest([Article(title="Late", text="Arrives after the lock. Fine.",
                                      url="https://example.org/late")]).results[0]
        assert result.status == "added"
        assert time.monotonic() - started >= 1.0
        assert desk.ask("who claimed Iran is supplying drones?").quotes
    holder.wait(10)


def test_database_file_is_not_an_sqlite_file(tmp_path):
    db = tmp_path / "junk.db"
    db.write_bytes(os.urandom(4096))
    with pytest.raises(NewsdeskError, match="is not a usable newsdesk database"):
        Desk(db)
