"""Articles from the web: one page by its URL, or the new entries of subscribed feeds.

Every fetch goes through ``web.fetch`` (a URL from a chat user is untrusted). A feed that fails
is retried later with exponential backoff and never stops the others; an entry is fetched once:
after it is ingested, or refused for good (not an article, too large), it is marked as seen.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from .desk import Desk
from .errors import FetchError, IngestError, NotFoundError
from .extract import extract_article
from .feeds import Feed, parse_feed
from .models import GLOBAL, Article, IngestResult
from .web import FEED_TYPES, HTML_TYPES, FetchLimits, fetch

log = logging.getLogger(__name__)

MAX_ENTRIES_PER_POLL = 50
MAX_BACKOFF = timedelta(hours=24)


def fetch_article(url: str, *, limits: FetchLimits | None = None) -> Article:
    """The article at a URL: fetched safely, main text and metadata extracted."""
    page = fetch(url, limits=limits or FetchLimits.from_env(), accept=HTML_TYPES)
    article = extract_article(page.body, url=page.url)
    return article if article.url else replace(article, url=page.url)


def ingest_url(
    desk: Desk, url: str, *, collection: str = GLOBAL, by: str | None = None,
    limits: FetchLimits | None = None,
) -> IngestResult:
    """Fetch, extract and store one article; refusals come back as results, not exceptions."""
    try:
        article = fetch_article(url, limits=limits)
    except IngestError as e:
        return IngestResult(IngestResult.REFUSED, url, reason=str(e))
    return desk.ingest([article], collection=collection, by=by).results[0]


# -- feed subscriptions ----------


def subscribe(
    desk: Desk, url: str, *, collection: str = GLOBAL, by: str | None = None,
    limits: FetchLimits | None = None,
) -> dict:
    """Check that the URL is a feed we can read, then remember it (idempotent)."""
    page = fetch(url, limits=limits or FetchLimits.from_env(), accept=FEED_TYPES + HTML_TYPES)
    feed = parse_feed(page.body, url=page.url)
    return desk.store.add_feed(url, collection, feed.title or None, by)


def unsubscribe(desk: Desk, ref: str, *, collections: list[str] | None = None) -> dict:
    """Forget a feed by its id or URL (its articles stay)."""
    for row in desk.store.feeds(collections):
        if ref in (str(row["id"]), row["url"]):
            desk.store.remove_feed(row["id"])
            return row
    raise NotFoundError(f"No feed matches {ref!r}.")


@dataclass
class PollReport:
    feed: str
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    refused: int = 0
    not_modified: bool = False
    error: str | None = None


def poll(
    desk: Desk, *, limits: FetchLimits | None = None, interval: float = 900.0,
    force: bool = False, now: datetime | None = None,
) -> list[PollReport]:
    """Poll every feed that is due (all of them with ``force``); one failure stops nothing."""
    limits = limits or FetchLimits.from_env()
    now = now or datetime.now(UTC)
    rows = desk.store.feeds() if force else desk.store.due_feeds(now.isoformat())
    reports = []
    for row in rows:
        report = PollReport(row["url"])
        try:
            _poll_one(desk, row, limits, report)
        except Exception as e:  # a broken feed must not stop the others, whatever broke
            failures = (row["failures"] or 0) + 1
            backoff = min(timedelta(seconds=interval) * 2**failures, MAX_BACKOFF)
            report.error = str(e) if isinstance(e, IngestError) else f"unexpected error: {e!r}"
            log.warning("feed %s failed (%s); next try in %s", row["url"], report.error, backoff)
            desk.store.update_feed(
                row["id"], failures=failures, last_error=report.error,
                last_polled=now.isoformat(), next_poll=(now + backoff).isoformat(),
            )
        else:
            jitter = timedelta(seconds=interval * random.uniform(0.9, 1.1))
            desk.store.update_feed(
                row["id"], failures=0, last_error=None, last_polled=now.isoformat(),
                next_poll=(now + jitter).isoformat(),
            )
        reports.append(report)
    return reports


def _poll_one(desk: Desk, row: dict, limits: FetchLimits, report: PollReport) -> None:
    page = fetch(row["url"], limits=limits, accept=FEED_TYPES + HTML_TYPES,
                 etag=row["etag"], last_modified=row["last_modified"])
    if page.not_modified:
        report.not_modified = True
        return
    feed: Feed = parse_feed(page.body, url=page.url)
    desk.store.update_feed(row["id"], etag=page.etag, last_modified=page.last_modified,
                           title=row["title"] or feed.title or None)
    fresh = [e for e in feed.entries if not desk.store.seen_entry(row["id"], e.id)]
    for entry in fresh[:MAX_ENTRIES_PER_POLL]:
        try:
            article = fetch_article(entry.url, limits=limits)
        except FetchError as e:  # perhaps passing: try again at the next poll
            log.info("feed entry %s not fetched: %s", entry.url, e)
            report.refused += 1
            continue
        except IngestError as e:  # not an article, too large...: do not fetch it again
            desk.store.mark_entry(row["id"], entry.id, None)
            log.info("feed entry %s refused: %s", entry.url, e)
            report.refused += 1
            continue
        article = replace(
            article, title=article.title if article.title != "(untitled)" else entry.title,
            published=article.published or entry.published,
        )
        result = desk.ingest([article], collection=row["collection"],
                             by=f"feed:{row['id']}").results[0]
        desk.store.mark_entry(row["id"], entry.id, result.article_id)
        setattr(report, result.status, getattr(report, result.status) + 1)
