"""Ingest from files: each format, the shared real collections as they are, hostile input."""

import codecs
import json
import os

import pytest

from retrieval.files import BULK_BYTES, is_bulk, normalise_date, read_paths

from .conftest import shared


def ingest(desk, *paths):
    return desk.ingest(read_paths(paths))


def only(desk):
    (a,) = list(desk.articles())
    return a


def test_markdown_front_matter(desk, tmp_path):
    f = tmp_path / "a.md"
    f.write_text("---\ntitle: Drone talks\nurl: https://example.org/a\npublisher: Example Post\n"
                 "author: Jo Reporter\ndate: 12 July 2022\n---\nThe talks about drones began.\n")
    assert ingest(desk, f).count("added") == 1
    a = only(desk)
    assert (a.title, a.url, a.publisher, a.author, a.published) == (
        "Drone talks", "https://example.org/a", "Example Post", "Jo Reporter",
        "2022-07-12",
    )
    assert a.text == "The talks about drones began."


def test_plain_text_first_line_is_the_title(desk, tmp_path):
    f = tmp_path / "b.txt"
    f.write_text("Drone factory opens\nIran opened a drone factory. It makes UAVs.\n")
    ingest(desk, f)
    a = only(desk)
    assert a.title == "Drone factory opens"
    assert a.text == "Iran opened a drone factory. It makes UAVs."
    assert a.key == "file:b"


def test_text_whose_first_line_is_a_sentence_keeps_it(desk, tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("Iran will supply drones to Russia, officials said.\nMore follows.\n")
    ingest(desk, f)
    a = only(desk)
    assert a.text.startswith("Iran will supply drones")
    assert a.title.startswith("Iran will supply drones")


def test_html_file_main_text_and_metadata(desk, tmp_path):
    paragraphs = "".join(
        f"<p>Paragraph {i}: officials said the drone programme would expand next year, "
        f"according to documents seen by reporters in the capital.</p>" for i in range(6))
    f = tmp_path / "page.html"
    f.write_text(
        "<html><head><title>Drone plan | Example News</title>"
        '<meta property="og:title" content="Drone plan expands">'
        '<meta property="og:site_name" content="Example News">'
        '<meta name="author" content="Sam Writer">'
        '<meta property="article:published_time" content="2024-03-05">'
        '<link rel="canonical" href="https://news.example.org/drone-plan"></head><body>'
        "<nav><a href='/'>Home</a> <a href='/world'>World</a> Subscribe now</nav>"
        f"<article><h1>Drone plan expands</h1>{paragraphs}</article>"
        "<footer>Copyright Example News. Cookie settings.</footer></body></html>")
    assert ingest(desk, f).count("added") == 1
    a = only(desk)
    assert "Paragraph 0: officials said" in a.text
    assert "Subscribe now" not in a.text and "Cookie settings" not in a.text
    assert a.url == "https://news.example.org/drone-plan"
    assert a.publisher == "Example News"
    assert a.published.startswith("2024-03-05")


def test_json_list_with_field_aliases_and_a_bad_record(desk, tmp_path):
    f = tmp_path / "list.json"
    f.write_bytes(codecs.BOM_UTF8 + json.dumps([  # a byte order mark is read past
        {"headline": "One", "body": "First story text here.", "source": "Wire", "_id": "x1"},
        {"name": "Two", "content": "Second story text.", "date": "2024-01-02", "link": "https://e.org/2"},
        {"title": "Broken", "body": ""},
        "not an object",
        # several names for one field: the first filled one in ALIASES wins
        {"headline": "Three", "title": "", "body": "Not this.", "text": "Third story text.",
         "id": "x3", "key": "k3"},
    ]).encode())
    summary = ingest(desk, f)
    assert summary.count("added") == 3
    assert [r.reason for r in summary.refused] == [
        "no text (expected a 'text', 'body' or 'content' field)", "not a JSON object"]
    one, two, three = desk.articles()
    assert (one.title, one.publisher, one.key) == ("One", "Wire", "id:x1")
    assert (two.title, two.url, two.published) == ("Two", "https://e.org/2", "2024-01-02")
    assert (three.title, three.text, three.key) == ("Three", "Third story text.", "id:k3")


def test_jsonl_good_lines_go_in_and_bad_lines_are_listed(desk, tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text(
        json.dumps({"title": "Good", "text": "A good story."}) + "\n"
        "{not json\n"
        + json.dumps({"title": "Nested", "text": {"deep": [1, 2]}}) + "\n"
        + "[" * 100_000 + "\n"
        + json.dumps({"title": "Also good", "text": "Another story."}) + "\n"
        # what Python's json reads and orjson does not: NaN, an integer beyond 64 bits
        '{"title": "Odd numbers", "text": "A third story.", "score": NaN, "views": 1' + "0" * 30
        + "}\n")
    summary = ingest(desk, f)
    assert summary.count("added") == 3
    assert [a.title for a in desk.articles()] == ["Good", "Also good", "Odd numbers"]
    reasons = {r.source.rsplit(":", 1)[1]: r.reason for r in summary.refused}
    assert set(reasons) == {"2", "3", "4"}
    assert reasons["2"].startswith("not JSON")
    assert reasons["4"] in ("JSON nested too deeply",) or reasons["4"].startswith("not JSON")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [("bin.txt", b"\x00\x01\x02binary", "binary file"),
     ("latin.txt", "Caf\xe9 story".encode("latin-1"), "not UTF-8 text (bad byte at offset 3)"),
     ("bom.txt", codecs.BOM_UTF8 + "Caf\xe9".encode("latin-1"), "bad byte at offset 6"),
     ("image.png", b"\x89PNG\r\n", "unsupported file type .png"),
     ("empty.md", b"", "no article text"),
     ("bad.json", b"{oops", "not JSON")],
)
def test_hostile_files_are_refused_with_a_reason(desk, tmp_path, name, data, reason):
    f = tmp_path / name
    f.write_bytes(data)
    summary = ingest(desk, f)
    assert summary.count("refused") == 1
    assert reason in summary.refused[0].reason
    assert desk.stats().articles == 0


def test_huge_file_is_refused_before_reading(desk, tmp_path, monkeypatch):
    f = tmp_path / "huge.txt"
    with f.open("wb") as out:
        out.truncate(2 * 1024**3)  # a sparse 2 GB file: refused from its size alone
    summary = ingest(desk, f)
    assert "too large" in summary.refused[0].reason


def test_missing_path_and_folders(desk, tmp_path):
    folder = tmp_path / "articles"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x.txt").write_text("Title X\nBody of x.")
    (folder / ".hidden.txt").write_text("Hidden\nShould not be read.")
    os.mkfifo(folder / "sub" / "pipe.txt")  # inside a folder: skipped, never opened
    os.mkfifo(tmp_path / "named.txt")  # named outright: refused, never opened (it would wait)
    summary = ingest(desk, folder, folder / "nope.txt", tmp_path / "named.txt")
    assert summary.count("added") == 1
    assert [r.reason for r in summary.refused] == [
        "no such file or folder", "not a file or folder (a device, pipe or socket)"]


def test_bbc_collection_ingests_as_it_is(desk):
    summary = ingest(desk, shared("data", "bbc", "bbc_news.jsonl"))
    assert summary.count("refused") == 0
    assert summary.count("added") + summary.count("unchanged") == 2225
    a = desk.store.find("id:business/001")[0]
    assert a.title == "Ad sales boost Time Warner profit"
    answer = desk.ask("how much did Time Warner profits rise?")
    assert answer.quotes[0].article_id == a.id


def test_reuters_collection_ingests_as_it_is(desk):
    summary = ingest(desk, shared("data", "reuters21578", "reuters21578.jsonl"))
    assert summary.count("added") + summary.count("unchanged") == 19779  # the stories with a body
    assert set(summary.reasons) == {"no text (expected a 'text', 'body' or 'content' field)"}
    a = desk.store.find("id:1")[0]
    assert a.title == "BAHIA COCOA REVIEW"
    assert a.published == "1987-02-26T15:01:01.790000"
    assert desk.ask("Bahia cocoa harvest").quotes


def test_reuters_dates_read_without_strptime_as_strptime_read_them():
    # normalise_date reads these without strptime; what is no real date still falls through.
    assert [normalise_date(d) for d in (
        "26-FEB-1987 15:01:01.79", "1-mar-1987 01:30:29.50", "7-APR-1987 16:22:00.0",
        "9-APR-1987 00:00:00.00", "3-MAR-1987  09:15:05.40", "26-FEB-1987 15:01:01",
        "27-MAR-1987 00:03:35.68F", "31-APR-1987 10:00:00.00", "1-MAR-1987 24:00:00.00",
    )] == [
        "1987-02-26T15:01:01.790000", "1987-03-01T01:30:29.500000", "1987-04-07T16:22:00",
        "1987-04-09T00:00:00", "1987-03-03T09:15:05.400000", "1987-02-26T15:01:01",
        "27-MAR-1987 00:03:35.68F", "31-APR-1987 10:00:00.00", "1-MAR-1987 24:00:00.00",
    ]


def test_only_large_inputs_are_ingested_in_bulk(tmp_path):
    """``newsdesk ingest`` starts an index worker only for inputs worth its start-up."""
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"title": "T", "text": "Drones. More drones."}) + "\n")
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(2):  # half the threshold each: together a bulk ingest
        with (folder / f"part{n}.jsonl").open("wb") as f:
            f.truncate(BULK_BYTES // 2)
    assert not is_bulk([small])
    assert not is_bulk([small, tmp_path / "missing.jsonl"])
    assert not is_bulk([folder / "part0.jsonl"])
    assert is_bulk([folder])
    assert is_bulk([small, folder / "part0.jsonl", folder / "part1.jsonl"])
