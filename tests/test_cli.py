"""The command line as a user runs it: a real process, a real database, one-line errors."""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, SAMPLE, sample_passages

QUESTION = "who claimed Iran is supplying drones?"


def newsdesk(*args: str, cwd: Path = ROOT, env: dict | None = None, check: bool = True):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    environment.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_gives_the_two_commands_and_ci_runs_the_second():
    run, test = readme_commands()[:2]
    assert run.endswith(f'newsdesk ask "{QUESTION}"')
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci == test


def test_first_ask_on_a_fresh_checkout_loads_the_sample(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "data" / "sample")
    first = newsdesk("ask", QUESTION, cwd=tmp_path)
    assert "First run: loaded 1 sample article" in first.stderr
    assert "the United States has claimed" in first.stdout
    assert "Middle East Monitor · 2022-07-13" in first.stdout
    assert "https://www.middleeastmonitor.com/" in first.stdout
    again = newsdesk("ask", "what is the capital of Peru?", cwd=tmp_path)
    assert "First run" not in again.stderr
    assert again.stdout.strip() == (
        "No answer found in 1 article. Try other words, or fewer of them."
    )


def test_asking_an_empty_database_says_how_to_add_articles(tmp_path):
    out = newsdesk("--db", str(tmp_path / "empty.db"), "ask", QUESTION, cwd=tmp_path).stdout
    assert out.strip() == (
        "No articles to search yet: add some with newsdesk ingest (a file, folder or URL)."
    )


def test_ask_json(tmp_path):
    db = str(tmp_path / "n.db")
    newsdesk("--db", db, "ingest", "-q", str(SAMPLE))
    out = json.loads(newsdesk("--db", db, "ask", "--json", "-k", "2", QUESTION).stdout)
    assert out["question"] == QUESTION
    assert out["searched"] == {"articles": 1, "passages": sample_passages()}
    assert out["quotes"][0]["publisher"] == "Middle East Monitor"
    assert len({q["text"] for q in out["quotes"]}) == 2  # up to two from one source
    one = json.loads(newsdesk("--db", db, "ask", "--json", "-k", "2", "--per-article", "1",
                              QUESTION).stdout)
    assert [q["text"] for q in one["quotes"]] == [out["quotes"][0]["text"]]
    rank = json.loads(newsdesk("--db", db, "ask", "--json", "--engine", "rank-bm25",
                               QUESTION).stdout)
    assert rank["quotes"][0]["text"] == out["quotes"][0]["text"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["ask", ""], "Ask a question"), (["ask", "the of and"], "only common words"),
     (["remove", "999"], "No article matches '999'"),
     (["ingest", "nope.txt"], "no such file or folder"),
     (["ask", "--engine", "lucene", "x"], "invalid choice"),
     (["ask", "--per-article", "0", "drones"], "at least 1 quote per article"),
     (["export", "-o", "no-such-folder/all.jsonl"],
      "cannot write no-such-folder/all.jsonl: No such file or directory")],
)
def test_mistakes_are_one_clear_line_not_a_traceback(tmp_path, args, message):
    proc = newsdesk("--db", str(tmp_path / "n.db"), *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("where", ["under-a-file", "a-folder"])
def test_a_database_that_cannot_be_made_there_is_one_clear_line(tmp_path, where):
    """A --db under a file, or naming a folder, is the person's mistake: say so, no traceback."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a folder")
    (tmp_path / "folder").mkdir()
    if where == "under-a-file":
        db, why = notes / "n.db", f"{notes} is a file, not a folder"
    else:
        db, why = tmp_path / "folder", "it is a folder"
    for args in (["ask", "drones"], ["ingest", str(SAMPLE)], ["stats"]):
        proc = newsdesk("--db", str(db), *args, check=False)
        assert proc.returncode == 1, proc.stdout
        assert proc.stderr == f"newsdesk: cannot use {db} as the database: {why}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "notes.txt"]  # nothing left


def test_an_export_that_fails_midway_leaves_the_earlier_file(tmp_path):
    """A write that fails partway (here the file size limit, as a full disk would) must not
    leave half an export where the last whole one was."""
    import resource

    db = str(tmp_path / "n.db")
    articles = tmp_path / "stories.jsonl"
    with articles.open("w") as f:
        for i in range(40):  # about 70 KB of export, past the limit below
            text = "Iran will supply drones to Russia, officials said. " * 30 + str(i)
            f.write(json.dumps({"title": f"Story {i}", "url": f"https://x.test/{i}",
                                "text": text}) + "\n")
    newsdesk("--db", db, "ingest", str(articles))
    earlier = tmp_path / "all.jsonl"
    earlier.write_text("the last export\n")

    def limit_file_size():  # SQLite's shared-memory file needs 32 KB; the export more
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    proc = subprocess.run([sys.executable, "-m", "bot", "--db", db, "export", "-o", str(earlier)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60,
                          preexec_fn=limit_file_size)
    assert proc.returncode == 1
    assert proc.stderr == f"newsdesk: cannot write {earlier}: File too large\n"
    assert earlier.read_text() == "the last export\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    newsdesk("--db", db, "export", "-o", str(earlier))
    assert len(earlier.read_text().splitlines()) == 40


def test_a_misspelt_collection_is_named_not_searched_silently(tmp_path):
    db = str(tmp_path / "n.db")
    newsdesk("--db", db, "ingest", "--collection", "wire", str(SAMPLE))
    for args in (["ask", QUESTION], ["stats"], ["export"], ["remove", "1"]):
        proc = newsdesk("--db", db, *args, "--collection", "wire", "--collection", "wries",
                        check=False)
        assert proc.returncode == 1
        assert proc.stderr == "newsdesk: no collection named 'wries' (there are: wire)\n"
    found = newsdesk("--db", db, "ask", "--json", "--collection", "wire", QUESTION).stdout
    assert json.loads(found)["quotes"]


def test_run_without_a_token_says_so(tmp_path):
    proc = newsdesk("--db", str(tmp_path / "n.db"), "run", check=False,
                    env={"DISCORD_TOKEN": ""})
    assert proc.returncode == 1
    assert "DISCORD_TOKEN is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stats_remove_export_reindex(tmp_path):
    db = str(tmp_path / "n.db")
    newsdesk("--db", db, "ingest", "-q", str(SAMPLE))
    assert json.loads(newsdesk("--db", db, "stats", "--json").stdout)["articles"] == 1
    exported = newsdesk("--db", db, "export").stdout
    assert json.loads(exported)["title"].startswith("Iran to supply Russia")
    reindexed = newsdesk("--db", db, "reindex").stdout
    assert f"reindexed {sample_passages()} passages" in reindexed
    url = json.loads(exported)["url"]
    assert "removed article 1" in newsdesk("--db", db, "remove", url).stdout
    assert "0 articles" in newsdesk("--db", db, "stats").stdout


def test_an_ingest_while_another_holds_the_index_says_when_it_is_searchable(tmp_path):
    from retrieval.index import TantivyIndex
    from retrieval.render import NOT_SEARCHABLE_YET

    db = tmp_path / "n.db"
    newsdesk("--db", str(db), "ingest", "-q", str(SAMPLE))
    ferry = tmp_path / "ferry.md"
    ferry.write_text("---\ntitle: Ice ferry\n---\nThe ice ferry sails in June, they said.\n")
    with TantivyIndex(db.with_suffix(".index")).session():  # another ingest's writer
        out = newsdesk("--db", str(db), "ingest", str(ferry)).stdout
    assert out.splitlines() == [
        "added: Ice ferry (1 passage, article 2)",
        "1 added, 0 updated, 0 unchanged, 0 refused (1 passage stored)",
        NOT_SEARCHABLE_YET,
    ]
    assert "The ice ferry sails in June" in newsdesk("--db", str(db), "ask", "ice ferry").stdout


def test_ingest_a_web_page_and_follow_a_feed(tmp_path, web_server):
    db = str(tmp_path / "n.db")
    local = {"NEWSDESK_ALLOWED_NETWORKS": "127.0.0.0/8"}
    out = newsdesk("--db", db, "ingest", web_server.url("/article.html"), env=local).stdout
    assert out.startswith("added: ")
    refused = newsdesk("--db", db, "ingest", web_server.url("/login.html"), env=local,
                       check=False)
    assert "no article text found" in refused.stdout
    blocked = newsdesk("--db", db, "ingest", web_server.url("/article.html"), check=False)
    assert "blocked address 127.0.0.1" in blocked.stdout

    feed = web_server.url("/local-feed.xml")
    assert "feed 1: Local news" in newsdesk("--db", db, "feeds", "add", feed, env=local).stdout
    first = newsdesk("--db", db, "feeds", "poll", "--all", env=local).stdout
    assert "0 added, 0 updated, 1 unchanged, 2 refused" in first  # the article was ingested above
    pages_before = web_server.requests_to("/home.html")
    second = newsdesk("--db", db, "feeds", "poll", "--all", env=local).stdout
    assert "not modified" in second
    not_due = newsdesk("--db", db, "feeds", "poll", env=local).stdout  # just polled
    assert not_due == "no feed is due yet (1 feed; --all polls them now)\n"
    assert web_server.requests_to("/home.html") == pages_before
    assert "last polled" in newsdesk("--db", db, "feeds", "list").stdout
    assert "removed feed 1" in newsdesk("--db", db, "feeds", "remove", feed).stdout
    assert newsdesk("--db", db, "feeds", "poll").stdout.startswith("no feeds yet")


def test_retrieval_never_imports_discord_or_the_bot():
    for path in (ROOT / "retrieval").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("discord", "bot")), f"{path} imports {name}"


def test_newsdesk_ask_does_not_load_discord_pandas_or_numpy(tmp_path):
    """The test extra installs pandas (for ranx), which sqlite-utils would import: 0.4 s and
    44 MB of every process, a cold ``ask`` taking twice as long."""
    import pandas  # noqa: F401  (installed here, so its absence below means something)

    code = (
        "import sys; from bot.main import main; "
        f"rc = main(['--db', {str(tmp_path / 'n.db')!r}, 'ask', 'drones']); "
        "loaded = {'discord', 'pandas', 'numpy'} & set(sys.modules); "
        "assert not loaded, f'{loaded} imported'; "
        "import pandas, sqlite_utils; sqlite_utils.Database(memory=True)['t'].insert({'a': 1}); "
        "sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
