"""Turn one HTML page into an Article: the body text and who published it, when.

Trafilatura finds the main text and most metadata (title, author, site name, date from JSON-LD,
OpenGraph and meta tags). Three things are decided here instead:

- the canonical URL: the page's ``<link rel=canonical>`` or ``og:url`` is used only when it names
  the same site as the URL the page was fetched from, because any page can claim to be another
  publisher's article, and the URL is what a quote is attributed to;
- the language, from the markup (``<html lang>``, Content-Language, ``og:locale``), since
  trafilatura only detects it with an optional package we do not install;
- whether the page is an article at all: trafilatura also returns text for login pages, shop
  listings and homepages of headlines, so we ask for enough running prose (see ``is_article_text``).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import trafilatura
from lxml.html import HtmlElement

from retrieval.errors import NotAnArticleError
from retrieval.models import Article

log = logging.getLogger(__name__)

MIN_PROSE_CHARS = 300
"""Running prose an article must have, in characters (a short news brief is about this long)."""
MIN_SENTENCES = 2
MIN_PROSE_WORDS = 8
"""A line shorter than this is a headline, a label or a link, not prose."""

_LINE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*(?=\s|$)")
_LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*$")
_NO_ARTICLE = "no article text found on this page"


def extract_article(html: str | bytes, *, url: str | None = None) -> Article:
    """Extract the article in ``html`` (fetched from ``url``, if it was fetched).

    The text is the body only, without navigation, related links, comments or cookie banners,
    one paragraph (or heading, or list item) a line. Raises ``NotAnArticleError`` when the page
    holds no article. ``key`` and ``url`` are the canonical URL when the page may claim one.
    """
    tree = trafilatura.load_html(html)
    if tree is None:
        raise NotAnArticleError(_NO_ARTICLE)
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_images=False,
        include_links=False,
        date_extraction_params={"original_date": True, "extensive_search": False},
    )
    if document is None:  # trafilatura found nothing it would call main text
        raise NotAnArticleError(_NO_ARTICLE)
    text = _body_text(document.text, document.title)
    if not is_article_text(text):
        raise NotAnArticleError(_NO_ARTICLE)
    canonical = canonical_url(tree, url)
    return Article(
        title=document.title or "(untitled)",
        text=text,
        url=canonical,
        publisher=document.sitename or None,
        author=document.author or None,
        published=document.date or None,
        language=page_language(tree),
        key=canonical,
    )


def is_article_text(text: str) -> bool:
    """Enough running prose to quote: at least ``MIN_PROSE_CHARS`` characters in lines of
    ``MIN_PROSE_WORDS`` or more words that end like a sentence, holding ``MIN_SENTENCES``
    sentences. Headline lists, product grids and login forms fail on the first rule."""
    prose = [line for line in text.splitlines() if _is_prose(line)]
    sentences = sum(len(_SENTENCE_END.findall(line)) for line in prose)
    return sum(len(line) for line in prose) >= MIN_PROSE_CHARS and sentences >= MIN_SENTENCES


def canonical_url(tree: HtmlElement, fetched_url: str | None) -> str | None:
    """The page's canonical URL when it may claim one, else the URL it was fetched from.

    A claimed URL counts only if it is http(s) and, when the page was fetched, on the same host
    (a leading ``www.`` aside). Relative claims are resolved against the fetched URL.
    """
    for claimed in _claimed_urls(tree):
        absolute = _absolute_http_url(claimed, fetched_url)
        if absolute is None:
            continue
        if fetched_url is None or _same_site(absolute, fetched_url):
            return absolute
        log.info("ignoring canonical %s claimed by a page from %s", absolute, fetched_url)
        break
    return fetched_url


def page_language(tree: HtmlElement) -> str | None:
    """The primary language subtag the markup declares (``en`` for ``en-GB``), if any."""
    metas = list(tree.iter("meta"))
    candidates = [
        tree.get("lang"),
        tree.get("{http://www.w3.org/XML/1998/namespace}lang"),
        *(m.get("content") for m in metas if _attr(m, "http-equiv") == "content-language"),
        *(m.get("content") for m in metas if _attr(m, "property") == "og:locale"),
    ]
    for candidate in candidates:
        first = (candidate or "").split(",")[0].strip()
        match = _LANGUAGE.match(first)
        if match:
            return match.group(1).lower()
    return None


def _body_text(text: str | None, title: str | None) -> str:
    """Trafilatura's text, trimmed, without a first line that only repeats the headline."""
    lines = [line.strip() for line in (text or "").splitlines()]
    lines = [line for line in lines if line]
    if lines and title and _squash(lines[0]) == _squash(title):
        lines = lines[1:]
    return "\n".join(lines)


def _is_prose(line: str) -> bool:
    return len(line.split()) >= MIN_PROSE_WORDS and _LINE_END.search(line) is not None


def _claimed_urls(tree: HtmlElement) -> list[str]:
    links = [
        link.get("href", "")
        for link in tree.iter("link")
        if "canonical" in link.get("rel", "").lower().split()
    ]
    og_urls = tree.xpath("//meta[@property='og:url']/@content")
    return [value.strip() for value in [*links, *og_urls] if value and value.strip()]


def _absolute_http_url(claimed: str, base: str | None) -> str | None:
    absolute = urljoin(base, claimed) if base else claimed
    parts = urlsplit(absolute)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return urlunsplit(parts._replace(fragment=""))


def _same_site(a: str, b: str) -> bool:
    return _site(a) == _site(b)


def _site(url: str) -> str:
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host.removeprefix("www.")


def _attr(element: HtmlElement, name: str) -> str:
    return (element.get(name) or "").strip().lower()


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()
