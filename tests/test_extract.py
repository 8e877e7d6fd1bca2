"""retrieval.extract: article text and metadata from HTML; pages that are no article refused."""

from __future__ import annotations

import pytest
import trafilatura

from retrieval.errors import NotAnArticleError
from retrieval.extract import canonical_url, extract_article, is_article_text, page_language
from retrieval.models import Article
from retrieval.web import FetchLimits, fetch
from tests.web_fixtures import PAGES, web_server  # noqa: F401 - web_server is a fixture

CANONICAL = "https://www.caldercourier.example/news/2026/03/14/riverside-library-reopens"

ARTICLE_TEXT = "\n".join(
    [
        "Raised shelving, a new flood barrier and a bigger children's room greet readers "
        "returning to the Port Calder branch.",
        "The Riverside branch library in Port Calder opened its doors again on Saturday morning, "
        "almost two years after the storm surge of April 2024 left its ground floor under more "
        "than a metre of brackish water.",
        "A queue of around sixty people had formed by the time the doors were unlocked at nine "
        "o'clock. Many of them were parents with young children, who went straight to the new "
        "reading room on the upper floor.",
        "The council spent £2.4 million on the repairs, which were paid for partly from its own "
        "reserves and partly by an insurance settlement that took eleven months to agree. The "
        "work included a removable flood barrier across the main entrance and electrical "
        "sockets moved to a metre above the floor.",
        "Books kept above the waterline",
        "Every shelf on the ground floor now starts at knee height, so that the lowest row of "
        "books would stay dry in a flood of the same size. Staff lost about nine thousand items "
        "in 2024, most of them from the children's collection and the local history archive.",
        '"We are not pretending the river has gone away," said the branch manager, Elsie '
        'Haddow. "We have built the room so that the next flood costs us a weekend of mopping '
        'rather than two years of our lives."',
        "Some of the archive has been saved. A conservation team from the county record office "
        "freeze-dried two hundred boxes of wet papers, including parish records and the minute "
        "books of the old harbour board, and about two thirds of them can be read again.",
        "Councillor Ravi Menon, who chairs the communities committee, said the branch would "
        "keep its Saturday opening hours and would add a late evening on Thursdays from April. "
        "He said the council had no plans to close any other branch this year.",
        "Not everyone was satisfied. Residents of Quay Street, which flooded at the same time, "
        "said their own repair grants had been slower to arrive, and a small group handed "
        "leaflets to visitors outside the entrance asking for a public meeting on flood "
        "defences.",
    ]
)


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def tree(html: str):
    return trafilatura.load_html(html)


def test_extracts_the_article_and_its_metadata() -> None:
    article = extract_article(page("article.html"), url=CANONICAL + "?utm_source=rss")
    assert article == Article(
        title="Riverside library reopens after two years of flood repairs",
        text=ARTICLE_TEXT,
        url=CANONICAL,
        publisher="The Calder Courier",
        author="Mara Quinlan",
        published="2026-03-14",
        language="en",
        key=CANONICAL,
    )


@pytest.mark.parametrize(
    "boilerplate",
    [
        "cookies",  # the consent banner
        "Subscribe",  # navigation
        "Storm surge floods harbour district",  # the "Read more" box inside the story
        "Bus route 42",  # related stories
        "harbourwalker",  # a comment's author
        "Took my two there this morning",  # a comment
        "Topics:",  # tags
        "All rights reserved",  # footer
    ],
)
def test_leaves_out_the_page_around_the_article(boilerplate: str) -> None:
    assert boilerplate not in extract_article(page("article.html")).text


def test_accepts_text_as_well_as_bytes() -> None:
    from_text = extract_article(page("article.html").decode("utf-8"))
    assert from_text == extract_article(page("article.html"))


def test_decodes_a_page_in_a_legacy_charset() -> None:
    legacy = page("article.html").replace(b'charset="utf-8"', b'charset="windows-1252"')
    legacy = legacy.decode("utf-8").encode("windows-1252")
    assert "£2.4 million" in extract_article(legacy).text


@pytest.mark.parametrize("name", ["login.html", "products.html", "home.html"])
def test_pages_that_are_not_articles(name: str) -> None:
    with pytest.raises(NotAnArticleError) as caught:
        extract_article(page(name), url="https://www.caldercourier.example/")
    assert str(caught.value) == "no article text found on this page"


@pytest.mark.parametrize(
    "html",
    [
        "",
        "<html><body></body></html>",
        "<html><body><p>Short notice: the office is closed today.</p></body></html>",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00",
    ],
)
def test_empty_or_tiny_pages_are_not_articles(html: str | bytes) -> None:
    with pytest.raises(NotAnArticleError):
        extract_article(html)


def test_a_page_without_metadata_still_gives_its_text() -> None:
    paragraphs = [
        "The harbour master confirmed on Monday that the north slipway will close for repairs "
        "from the first of May until the end of June.",
        "Boat owners who use the slipway have been asked to move their trailers to the "
        "overflow car park, where the council has marked out forty extra spaces.",
        "The work will replace the lower section of the ramp, which cracked in the winter storms.",
    ]
    html = "<html><body><div>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</div></body></html>"
    article = extract_article(html)
    assert article.text == "\n".join(paragraphs)
    assert (article.url, article.author, article.published, article.language) == (
        None,
        None,
        None,
        None,
    )


# --- canonical URL -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fetched", "expected"),
    [
        (CANONICAL + "?utm_source=rss", CANONICAL),  # same host
        ("https://caldercourier.example/amp/riverside", CANONICAL),  # www. aside
        (None, CANONICAL),  # a file from disk: nothing to compare with
        # another site claiming the Courier's article keeps its own address
        ("https://copies.example/riverside", "https://copies.example/riverside"),
        ("http://127.0.0.1:8000/article.html", "http://127.0.0.1:8000/article.html"),
    ],
)
def test_canonical_url_is_trusted_only_on_the_same_site(fetched, expected) -> None:
    assert canonical_url(tree(page("article.html").decode()), fetched) == expected


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<link rel="canonical" href="/story/7#top">', "https://news.example/story/7"),
        ('<link rel="Canonical Alternate" href="/story/7">', "https://news.example/story/7"),
        ('<meta property="og:url" content="https://news.example/s/7">', "https://news.example/s/7"),
        ('<link rel="canonical" href="javascript:alert(1)">', "https://news.example/x?id=7"),
        ("", "https://news.example/x?id=7"),
    ],
)
def test_canonical_url_forms(head: str, expected: str) -> None:
    html = f"<html><head>{head}</head><body><p>text</p></body></html>"
    assert canonical_url(tree(html), "https://news.example/x?id=7") == expected


# --- language and the article rule ---------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<html lang="de-AT"><head></head><body><p>x</p></body></html>', "de"),
        (
            '<html><head><meta http-equiv="Content-Language" content="fr, en"></head>'
            "<body><p>x</p></body></html>",
            "fr",
        ),
        (
            '<html><head><meta property="og:locale" content="pt_BR"></head>'
            "<body><p>x</p></body></html>",
            "pt",
        ),
        ('<html lang="not a language"><head></head><body><p>x</p></body></html>', None),
        ("<html><head></head><body><p>x</p></body></html>", None),
    ],
)
def test_page_language(html: str, expected: str | None) -> None:
    assert page_language(tree(html)) == expected


SENTENCE = "The ferry company said the new timetable would start on the first Monday of June."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\n".join([SENTENCE] * 4), True),  # 4 sentences, 332 characters of prose
        ("\n".join([SENTENCE] * 3), False),  # under 300 characters
        (" ".join([SENTENCE.rstrip(".")] * 5) + ".", False),  # long, but one sentence
        ("\n".join([SENTENCE.rstrip(".")] * 6), False),  # headlines: no sentence ends
        ("\n".join(["Ferry timetable changes.", "Short line."] * 20), False),  # few words a line
    ],
)
def test_is_article_text(text: str, expected: bool) -> None:
    assert is_article_text(text) is expected


# --- with the fetcher ------------------------------------------------------------------------


def test_a_fetched_page_keeps_the_address_it_came_from(web_server) -> None:  # noqa: F811
    fetched = fetch(web_server.url("/gzip"), limits=FetchLimits(allow_private=True))
    article = extract_article(fetched.body, url=fetched.url)
    assert article.url == article.key == web_server.url("/gzip")
    assert article.text == ARTICLE_TEXT
