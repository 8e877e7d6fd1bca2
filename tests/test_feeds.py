"""retrieval.feeds: RSS and Atom into Feed and FeedEntry values."""

from __future__ import annotations

import io

import feedparser
import pytest

from retrieval.errors import IngestError
from retrieval.feeds import Feed, FeedEntry, parse_feed
from retrieval.web import FetchLimits, fetch
from tests.web_fixtures import PAGES, web_server  # noqa: F401 - web_server is a fixture

COURIER = "https://www.caldercourier.example"


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def test_rss_2() -> None:
    feed = parse_feed(page("rss.xml"), url=f"{COURIER}/news/local/rss.xml")
    assert feed == Feed(
        title="The Calder Courier: Local news",
        link=f"{COURIER}/news/local",
        entries=(
            FeedEntry(
                url=f"{COURIER}/news/2026/03/14/riverside-library-reopens",
                title="Riverside library reopens after two years of flood repairs",
                published="2026-03-14T08:30:00+00:00",
                id="courier-20260314-0042",
                summary="Raised shelving, a new flood barrier and a bigger children's room "
                "greet returning readers.",
            ),
            FeedEntry(
                url=f"{COURIER}/news/2026/03/13/bus-route-42-to-be-restored",  # was relative
                title="Bus route 42 to be restored in May",
                published="2026-03-13T16:45:00+00:00",  # +0100 in the feed
                id=f"{COURIER}/news/2026/03/13/bus-route-42-to-be-restored",
                summary="The operator says drivers have been recruited & the timetable will "
                "match the 2023 one.",
            ),
            FeedEntry(
                url=f"{COURIER}/news/2026/03/12/harbour-crane-sold-for-scrap",
                title="Harbour crane sold for scrap after forty years",
                published=None,
                id=f"{COURIER}/news/2026/03/12/harbour-crane-sold-for-scrap",
                summary=None,
            ),
            # the fourth item has no link: nothing to fetch, so it is left out
        ),
    )


def test_atom() -> None:
    feed = parse_feed(page("atom.xml"), url="https://harbourlights.example/atom.xml")
    assert feed == Feed(
        title="Harbour Lights: a Port Calder newsletter",
        link="https://harbourlights.example/",
        entries=(
            FeedEntry(
                url="https://harbourlights.example/2026/03/tides-timetables-pontoon",
                title="Tides, timetables & the new pontoon",
                published="2026-03-14T09:00:00+00:00",
                id="tag:harbourlights.example,2026-03-14:/tides-timetables-pontoon",
                summary="The pontoon opens at low water only for the first month.",
            ),
            FeedEntry(
                url="https://harbourlights.example/2026/03/ferry-tuesdays",
                title="Why the ferry runs late on Tuesdays",
                published="2026-03-10T05:15:00+00:00",  # only <updated>, at +02:00
                id="https://harbourlights.example/2026/03/ferry-tuesdays",
                summary="A crew change at the far terminal adds twelve minutes.",
            ),
        ),
    )


def test_rss_1_rdf() -> None:
    body = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://pier.example/rss"><title>Pier notes</title>
    <link>https://pier.example/</link><description>d</description></channel>
  <item rdf:about="https://pier.example/1"><title>Pier lights repaired</title>
    <link>https://pier.example/1</link><dc:date>2026-02-01T10:00:00Z</dc:date></item>
</rdf:RDF>"""
    assert parse_feed(body, url="https://pier.example/rss") == Feed(
        title="Pier notes",
        link="https://pier.example/",
        entries=(
            FeedEntry(
                url="https://pier.example/1",
                title="Pier lights repaired",
                published="2026-02-01T10:00:00+00:00",
                id="https://pier.example/1",
                summary=None,
            ),
        ),
    )


def test_rss_0_91() -> None:
    body = b"""<?xml version="1.0"?>
<rss version="0.91"><channel><title>Old style</title><link>http://old.example/</link>
<description>d</description><language>en</language>
<item><title>First</title><link>http://old.example/first</link><description>One.</description></item>
</channel></rss>"""
    feed = parse_feed(body, url="http://old.example/rss")
    assert [(e.url, e.title, e.summary) for e in feed.entries] == [
        ("http://old.example/first", "First", "One.")
    ]


def test_a_sloppy_feed_with_entries_is_read() -> None:
    body = page("malformed.xml")
    assert feedparser.parse(io.BytesIO(body)).bozo  # the fixture really is not well-formed
    feed = parse_feed(body, url="https://quayside.example/feed")
    assert feed.title == "Quayside Weekly & Friends"
    assert [(e.url, e.title, e.published) for e in feed.entries] == [
        (
            "https://quayside.example/2026/03/fish-chip-award",
            "Fish & chip shop wins regional award",
            "2026-03-11T10:00:00+00:00",
        ),
        (
            "https://quayside.example/2026/03/lighthouse-open-day",
            "Lighthouse open day announced",
            "2026-03-10T09:00:00+00:00",
        ),
    ]


def test_an_empty_but_valid_feed_has_no_entries() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>New</title></channel></rss>'
    assert parse_feed(body, url="https://new.example/rss") == Feed("New", None, ())


def test_a_guid_that_is_no_url_does_not_become_a_link() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title><item><title>a</title>'
        b'<guid isPermaLink="false">item-42</guid></item></channel></rss>'
    )
    assert parse_feed(body, url="https://new.example/rss").entries == ()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (page("article.html"), "no RSS or Atom found"),
        (b"", "no RSS or Atom found"),
        (b"\x00\x01\x02 definitely not xml", "no RSS or Atom found"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "no RSS or Atom found"),
        (b'<rss version="2.0"><channel><title>x</title><item><title>cut off', "unreadable: "),
    ],
)
def test_not_a_feed(body: bytes, reason: str) -> None:
    with pytest.raises(IngestError) as caught:
        parse_feed(body, url="https://x.example/feed")
    assert str(caught.value).startswith(f"not a feed: https://x.example/feed ({reason}")


@pytest.mark.parametrize("body", [b"https://x.example/other-feed", b"/etc/hostname"])
def test_the_body_is_never_opened_as_a_url_or_a_file(body: bytes) -> None:
    """feedparser opens a string that looks like a URL or a path; the bytes must be data."""
    with pytest.raises(IngestError, match="not a feed"):
        parse_feed(body, url="https://x.example/feed")


def test_a_fetched_feed(web_server) -> None:  # noqa: F811
    fetched = fetch(web_server.url("/atom.xml"), limits=FetchLimits(allow_private=True))
    assert fetched.content_type == "application/atom+xml"
    feed = parse_feed(fetched.body, url=fetched.url)
    assert feed.link == web_server.url("/")
    assert [e.url for e in feed.entries] == [
        web_server.url("/2026/03/tides-timetables-pontoon"),
        "https://harbourlights.example/2026/03/ferry-tuesdays",
    ]
