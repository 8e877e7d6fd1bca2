"""Answers as Discord messages, within Discord's limits, with nothing that can ping or fake a link.

Pure functions from engine values to message parts: quoted text is Markdown-escaped (then the
matched words are bolded), everything is shortened at sentence boundaries to fit, and the client
sends every message with allowed mentions set to none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import discord
from discord.utils import escape_markdown

from retrieval import render
from retrieval.analyze import query_terms
from retrieval.models import Answer, Article, Quote, Stats

MESSAGE = 2000
TITLE = 256
DESCRIPTION = 4096
FOOTER = 2048
FIELD = 1024
TOTAL = 6000
EMBEDS = 10
BLURPLE = 0x5865F2
ATTRIBUTION = 200
"""Characters of "publisher · author · date" shown under a quote: a byline can list thirty
names, and the footers of all the quotes share the 6000 characters of a message's embeds."""
ALSO = 80
"""Characters of "also in ..." (the other publishers of a syndicated sentence) under a quote."""

QUESTION = "**Q:** "
"""How an answer message begins: the question, so that a reader sees what was asked."""

_SENTENCE_END = re.compile(r"[.!?…][”\"’')\]]*\s")


def shorten(text: str, limit: int) -> str:
    """Cut to ``limit`` characters at a sentence end if one is near, else at a space, with '…'."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    ends = [m.end() for m in _SENTENCE_END.finditer(cut)]
    if ends and ends[-1] > limit // 2:
        return cut[: ends[-1]].rstrip() + " …"
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def safe(text: str) -> str:
    """Text shown as it is: no Markdown, links or mentions can come out of it."""
    return escape_markdown(text, as_needed=False).replace("@", "@\u200b")


def asked_in(content: str) -> str | None:
    """The question an answer message shows on its first line, with ``safe``'s escapes taken
    out. Escaping can lose a character's difference, so it is a guess that the caller checks."""
    first = content.partition("\n")[0]
    if not first.startswith(QUESTION):
        return None
    return re.sub(r"\\(.)", r"\1", first.removeprefix(QUESTION).replace("@\u200b", "@"))


def highlight(text: str, terms: list[str]) -> str:
    """Escaped text with the words that match the question in bold."""
    return render.highlight(text, terms, "**", "**", escape=safe)


def attribution(q: Quote | Article) -> str:
    parts = [q.publisher, q.author, render.shown_date(q.published)]
    return shorten(" · ".join(p for p in parts if p), ATTRIBUTION) or "unknown source"


def footer(q: Quote) -> str:
    """Who published the quote, and which other articles carry the same sentence."""
    also = f"\n{shorten(f'also in {render.copies(q)}', ALSO)}" if q.also else ""
    return attribution(q) + also


def link(url: str | None) -> str | None:
    """Only plain web links become buttons or titles' links."""
    if url and re.match(r"https?://[^\s<>]+$", url) and len(url) <= 512:
        return url
    return None


def quote_embed(q: Quote, number: int, terms: list[str], room: int = DESCRIPTION) -> discord.Embed:
    raw = " ".join(q.text.split())
    limit = min(room, DESCRIPTION) - 4
    body = highlight(shorten(raw, limit), terms)
    while len(body) > limit and limit > 50:  # escaping and bold markers made it longer
        limit -= 100
        body = highlight(shorten(raw, limit), terms)
    embed = discord.Embed(
        title=shorten(f"{number}. {q.title}", TITLE),
        url=link(q.url),
        description=f"> {body}",
        colour=BLURPLE,
    )
    embed.set_footer(text=shorten(footer(q), FOOTER))
    return embed


@dataclass
class Reply:
    """What to send: content, embeds and (for answers) the sources to link."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    more: bool = False


def answer_reply(answer: Answer, *, offset: int = 0) -> Reply:
    question = safe(shorten(answer.question, 300))
    if not answer.quotes and not answer.searched_articles:
        return Reply(content=f"{QUESTION}{question}\nI have no articles to search here yet: an "
                     "admin can add some with `/ingest`.")
    if not answer.quotes:
        n = answer.searched_articles
        return Reply(
            content=f"{QUESTION}{question}\nNo answer found in {n:,} article{'s' * (n != 1)}. "
            "Try other words, or fewer of them; `/stats` shows what I have."
        )
    terms = query_terms(answer.question)
    shown = answer.quotes[:EMBEDS]
    n = answer.searched_articles
    searched = f"Searched {n:,} article{'s' * (n != 1)} in {answer.took_ms:.0f} ms"
    # Titles and footers take what they take; the quotes share the rest of the 6000.
    overhead = len(searched) + 1 + sum(
        len(shorten(f"{offset + i + 1}. {q.title}", TITLE)) + len(footer(q))
        for i, q in enumerate(shown)
    )
    room = (TOTAL - overhead) // len(shown)
    embeds = [quote_embed(q, offset + i + 1, terms, room) for i, q in enumerate(shown)]
    embeds[-1].set_footer(text=f"{embeds[-1].footer.text}\n{searched}")
    links: dict[str, str] = {}  # one button per source, however many of its quotes are shown
    for i, q in enumerate(answer.quotes):
        if url := link(q.url):
            links.setdefault(url, shorten(q.publisher or f"Source {offset + i + 1}", 80))
    return Reply(content=f"{QUESTION}{question}", embeds=embeds,
                 links=[(label, url) for url, label in links.items()], more=answer.more)


def article_reply(article: Article, start: int | None = None, end: int | None = None) -> Reply:
    """An article's attribution and the text around a quote (or its opening)."""
    text = article.text
    if start is None or not 0 <= start <= len(text):
        start, end = 0, 0
    end = max(start, min(end or start, len(text)))
    lo, hi = max(0, start - 600), min(len(text), end + 600)
    before, quoted, after = text[lo:start], text[start:end], text[end:hi]
    body = (
        ("… " if lo else "") + safe(before)
        + (f"**{safe(quoted)}**" if quoted else "")
        + safe(after) + (" …" if hi < len(text) else "")
    )
    embed = discord.Embed(
        title=shorten(article.title, TITLE), url=link(article.url),
        description=shorten(body, DESCRIPTION), colour=BLURPLE,
    )
    embed.set_footer(text=f"{attribution(article)} · article {article.id}")
    links = [("Read the article", url)] if (url := link(article.url)) else []
    return Reply(embeds=[embed], links=links)


def stats_reply(stats: Stats) -> Reply:
    embed = discord.Embed(title="What I can search here", colour=BLURPLE)
    embed.add_field(name="Articles", value=f"{stats.articles:,}")
    embed.add_field(name="Passages", value=f"{stats.passages:,}")
    names = ", ".join(f"{safe(k)} ({v:,})" for k, v in stats.collections.items()) or "none"
    embed.add_field(name="Collections", value=shorten(names, FIELD), inline=False)
    embed.add_field(name="Last ingest", value=stats.last_ingest or "never", inline=False)
    return Reply(embeds=[embed])


HELP = """\
**newsdesk** answers questions about the news articles it has, with short quotes taken word \
for word from the articles, each with its source.

`/ask question:` ask anything (add `private:True` to see the answer alone)
`/article id:` read the context of an article
`/stats` what I can search here
Send me a direct message, or mention me in a channel, to ask too.

Admins (Manage Server): `/ingest file:` or `/ingest url:`, `/forget article:`, \
`/feeds add|list|remove`. What is ingested in a server is answered only in that server."""
