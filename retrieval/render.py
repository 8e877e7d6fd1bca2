"""Answers as text for a terminal: quotes first, then where each one comes from."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable

from .analyze import query_terms
from .answer import match_spans
from .models import Answer, Quote

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

BOLD, RESET = "\033[1m", "\033[0m"

NOT_SEARCHABLE_YET = (
    "Another ingest is using the search index: what was added is stored, and becomes "
    "searchable when that ingest finishes."
)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def highlight(
    text: str, terms: list[str], before: str, after: str, escape: Callable[[str], str] = str
) -> str:
    """The text with the words that match the question between ``before`` and ``after``;
    ``escape`` is applied to the text itself (Discord needs its Markdown escaped)."""
    out, last = [], 0
    for s, e in match_spans(text, terms):
        out += [escape(text[last:s]), before, escape(text[s:e]), after]
        last = e
    out.append(escape(text[last:]))
    return "".join(out)


def attribution(q: Quote) -> str:
    parts = [q.title]
    parts += [p for p in (q.publisher, q.author, shown_date(q.published)) if p]
    return " · ".join(parts)


def shown_date(published: str | None) -> str:
    """The day of an ISO date; a date ingest could not read ("Tuesday morning") as it came,
    up to 40 characters, rather than its first ten."""
    if not published:
        return ""
    return published[:10] if _ISO_DAY.match(published) else published[:40]


def copies(q: Quote) -> str:
    """Where else the quoted sentence appears: "Beta Wire, Gamma Post" (publishers, else titles)."""
    return ", ".join(c.publisher or c.title for c in q.also)


def no_answer(answer: Answer) -> str:
    if not answer.searched_articles:  # rewording will not help: say what will
        return "No articles to search yet: add some with newsdesk ingest (a file, folder or URL)."
    return (
        f"No answer found in {plural(answer.searched_articles, 'article')}. "
        "Try other words, or fewer of them."
    )


def render_answer(answer: Answer, *, color: bool = False, offset: int = 0) -> str:
    if not answer.quotes:
        return no_answer(answer)
    terms = query_terms(answer.question)
    before, after = (BOLD, RESET) if color else ("", "")
    lines = []
    for n, q in enumerate(answer.quotes, offset + 1):
        body = highlight(" ".join(q.text.split()), terms, before, after)
        wrapped = textwrap.fill(f"“{body}”", width=100, initial_indent=f"{n}. ",
                                subsequent_indent="   ")
        lines.append(wrapped)
        lines.append(f"   — {attribution(q)}")
        if q.url:
            lines.append(f"     {q.url}")
        if q.also:
            lines.append(textwrap.fill(f"also in {copies(q)}", width=100, initial_indent="     ",
                                       subsequent_indent="     "))
        lines.append(f"     article {q.article_id}, characters {q.start}-{q.end}, "
                     f"score {q.score:.2f}")
        lines.append("")
    lines.append(
        f"Searched {plural(answer.searched_articles, 'article')} "
        f"({plural(answer.searched_passages, 'passage')}) in {answer.took_ms:.1f} ms."
    )
    return "\n".join(lines)
