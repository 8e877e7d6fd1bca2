"""Read an RSS (0.9x, 1.0, 2.0) or Atom feed into small values: which articles it lists.

Parsing only: fetching goes through ``retrieval.web.fetch`` and polling state lives with the
subscriptions. feedparser is handed the bytes wrapped in a stream, because given a plain string
it may open it as a URL or a file name.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import feedparser
import lxml.html
from lxml.etree import ParserError

from retrieval.errors import IngestError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedEntry:
    """One item of a feed. ``published`` is ISO 8601 in UTC (or None); ``summary`` is plain text;
    ``id`` is the entry's guid/id, else its URL."""

    url: str
    title: str
    published: str | None
    id: str
    summary: str | None


@dataclass(frozen=True)
class Feed:
    title: str
    link: str | None
    entries: tuple[FeedEntry, ...]


def parse_feed(body: bytes, *, url: str) -> Feed:
    """Parse the feed fetched from ``url``; relative links are resolved against it.

    A feed that is not quite well-formed is read if feedparser still finds entries in it (its
    notices about content type and encoding, ``ThingsNobodyCaresAboutButMe``, are not problems);
    HTML, garbage, or a broken feed with no entries raise ``IngestError("not a feed: ...")``.
    Entries without an http(s) link are skipped, since there is no article to fetch.
    """
    parsed = feedparser.parse(io.BytesIO(body), response_headers={"content-location": url})
    if not parsed.get("version"):
        raise IngestError(f"not a feed: {url} (no RSS or Atom found)")
    entries = tuple(entry for raw in parsed.entries if (entry := _entry(raw, url)) is not None)
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, feedparser.ThingsNobodyCaresAboutButMe):
        if not entries:
            raise IngestError(f"not a feed: {url} (unreadable: {problem})")
        log.info("feed %s is not well-formed (%s); reading it anyway", url, problem)
    return Feed(
        title=_plain(parsed.feed.get("title")) or url,
        link=_http_url(parsed.feed.get("link"), url),
        entries=entries,
    )


def _entry(raw: feedparser.FeedParserDict, feed_url: str) -> FeedEntry | None:
    # An id stands in for a missing link only when it is itself a full URL (an RSS guid with
    # isPermaLink): a bare guid such as "item-42" is no address, however it resolves.
    guid = (raw.get("id") or "").strip()
    link = _http_url(raw.get("link"), feed_url) or _http_url(guid, guid)
    if link is None:
        log.debug("skipping a feed entry without a link in %s", feed_url)
        return None
    return FeedEntry(
        url=link,
        title=_plain(raw.get("title")) or link,
        published=_iso(raw.get("published_parsed") or raw.get("updated_parsed")),
        id=guid or link,
        summary=_plain(raw.get("summary")) or None,
    )


def _http_url(value: str | None, base: str) -> str | None:
    """``value`` made absolute against ``base``, if it is an http(s) URL at all."""
    if not value or not value.strip():
        return None
    absolute = urljoin(base, value.strip())
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return absolute


def _iso(parsed: time.struct_time | None) -> str | None:
    """feedparser's dates are UTC struct_times; ISO 8601 is what the store keeps."""
    if parsed is None:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC).isoformat()
    except (TypeError, ValueError):
        return None


def _plain(value: str | None) -> str:
    """Text without markup: feedparser gives titles and summaries as (sanitized) HTML."""
    if not value or not value.strip():
        return ""
    if "<" not in value and "&" not in value:
        return " ".join(value.split())
    try:
        text = lxml.html.fromstring(value).text_content()
    except (ParserError, ValueError):
        text = value
    return " ".join(text.split())
