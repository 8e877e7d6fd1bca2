"""bot.formatting, bot.ratelimit and bot.permissions: pure functions, checked on whole outputs.

The end-to-end tests (test_bot.py) show the same values reach Discord; here each rule is pinned
down where it is cheap to see: Discord's size limits, escaping, the per-user rate limit, and who
may read or write which collection.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import discord
import pytest

from bot.config import BotSettings
from bot.formatting import (
    ATTRIBUTION,
    DESCRIPTION,
    FOOTER,
    HELP,
    MESSAGE,
    TITLE,
    TOTAL,
    answer_reply,
    article_reply,
    asked_in,
    attribution,
    highlight,
    link,
    quote_embed,
    safe,
    shorten,
    stats_reply,
)
from bot.permissions import guild_collection, is_admin, readable, writable
from bot.ratelimit import RateLimiter
from retrieval.models import Answer, Article, Copy, Quote, Stats

SAMPLE_URL = "https://www.middleeastmonitor.com/20220713-iran-to-supply-russia-with-drones/"
SENTENCE = (
    "Iran will supply unmanned aerial vehicles (UAVs) to Russia in an effort to assist it in "
    "the ongoing invasion of Ukraine, the United States has claimed that its intelligence has "
    "revealed."
)


def quote(text: str = SENTENCE, **changes) -> Quote:
    values = dict(
        text=text, title="Iran to supply Russia with drones for war in Ukraine, US claims",
        publisher="Middle East Monitor", author=None, published="2022-07-13",
        url=SAMPLE_URL, article_id=1, start=0, end=len(text), score=1.5,
        matched_terms=("Iran", "supply", "claimed"),
    )
    values.update(changes)
    return Quote(**values)


def answer(*quotes: Quote, question: str = "who claimed Iran is supplying drones?",
           searched: int = 1, more: bool = False) -> Answer:
    return Answer(question=question, quotes=quotes, searched_articles=searched,
                  searched_passages=7, took_ms=4.6, more=more)


def embed_sizes(embeds: list[discord.Embed]) -> dict[str, int]:
    """The numbers Discord checks: the longest parts, and all embeds' characters together."""
    return {
        "title": max(len(e.title or "") for e in embeds),
        "description": max(len(e.description or "") for e in embeds),
        "footer": max(len(e.footer.text or "") for e in embeds),
        "total": sum(len(e) for e in embeds),
    }


# -- shorten, safe, highlight, link, attribution ----------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("One two three four five six seven eight", 20, "One two three four…"),
        ("abcdefghijklmnopqrstuvwxyz", 10, "abcdefghi…"),
        ("First sentence is here. Second one is longer than that.", 40,
         "First sentence is here. …"),
        ("One two. Three four five six seven.", 20, "One two. Three…"),  # end too early
    ],
)
def test_shorten(text: str, limit: int, expected: str) -> None:
    assert shorten(text, limit) == expected
    assert len(shorten(text, limit)) <= limit


def test_safe_leaves_no_markdown_link_or_mention() -> None:
    assert safe("@everyone <@123> [x](https://evil) **b** _i_ `c` a|b ~s~") == (
        "@\u200beveryone <@\u200b123> \\[x](https://evil) \\*\\*b\\*\\* \\_i\\_ \\`c\\` "
        "a\\|b \\~s\\~"
    )


def test_highlight_bolds_matched_words_and_escapes_the_rest() -> None:
    terms = ["claim", "iran", "suppli", "drone"]
    assert highlight("Iran will supply drones, the US has claimed.", terms) == (
        "**Iran** will **supply** **drones**, the US has **claimed**."
    )
    assert highlight("a*b Iran_x @here", ["iran"]) == "a\\*b **Iran**\\_x @\u200bhere"


def test_link_accepts_only_plain_web_addresses() -> None:
    assert link("https://example.org/a?b=1") == "https://example.org/a?b=1"
    assert link("http://example.org/") == "http://example.org/"
    assert [link(u) for u in ("javascript:alert(1)", "https://a b", "ftp://x.org/", None, "",
                              "https://x.org/" + "a" * 600)] == [None] * 6


def test_attribution() -> None:
    assert attribution(quote()) == "Middle East Monitor · 2022-07-13"
    assert attribution(quote(author="Jo Bloggs", published="2022-07-13T10:00:00+00:00")) == (
        "Middle East Monitor · Jo Bloggs · 2022-07-13"
    )
    assert attribution(quote(publisher=None, published=None)) == "unknown source"
    unread = attribution(quote(published="Tuesday morning"))  # a date ingest could not read
    assert unread == "Middle East Monitor · Tuesday morning"
    byline = attribution(quote(author=", ".join(f"Reporter {i}" for i in range(100))))
    assert byline.startswith("Middle East Monitor · Reporter 0, Reporter 1, ")
    assert byline.endswith("…") and len(byline) <= ATTRIBUTION


def test_the_terminal_shows_an_unread_date_whole_and_an_iso_date_as_its_day() -> None:
    from retrieval import render

    assert render.attribution(quote(published="Tuesday morning")).endswith(" · Tuesday morning")
    assert render.attribution(quote(published="2022-07-13T10:00:00+00:00")).endswith(
        " · 2022-07-13")


# -- embeds ----------


def test_quote_embed() -> None:
    embed = quote_embed(quote(), 2, ["claim", "iran", "suppli", "drone"])
    assert embed.to_dict() == {
        "title": "2. Iran to supply Russia with drones for war in Ukraine, US claims",
        "url": SAMPLE_URL,
        "description": "> **Iran** will **supply** unmanned aerial vehicles (UAVs) to Russia in "
        "an effort to assist it in the ongoing invasion of Ukraine, the United States has "
        "**claimed** that its intelligence has revealed.",
        "color": 0x5865F2,
        "footer": {"text": "Middle East Monitor · 2022-07-13"},
        "type": "rich",
        "flags": 0,
    }


def test_answer_reply() -> None:
    reply = answer_reply(answer(quote(), more=True))
    assert reply.content == "**Q:** who claimed Iran is supplying drones?"
    assert [e.footer.text for e in reply.embeds] == [
        "Middle East Monitor · 2022-07-13\nSearched 1 article in 5 ms"
    ]
    assert reply.links == [("Middle East Monitor", SAMPLE_URL)]
    assert reply.more is True


def test_answer_reply_lists_the_copies_of_a_quote_under_it() -> None:
    also = (Copy(7, "US: Iran to send drones", "Beta Wire", None, "https://b.example/1"),
            Copy(9, "Drones for Russia", None, "2022-07-14", None))
    reply = answer_reply(answer(quote(also=also)))
    assert reply.embeds[0].footer.text.split("\n")[:2] == [
        "Middle East Monitor · 2022-07-13", "also in Beta Wire, Drones for Russia"
    ]
    assert reply.links == [("Middle East Monitor", SAMPLE_URL)]


def test_answer_reply_numbers_a_later_page_from_the_offset() -> None:
    reply = answer_reply(answer(quote(), quote(article_id=2, url=None), searched=12), offset=3)
    assert [e.title.split(".")[0] for e in reply.embeds] == ["4", "5"]
    assert reply.embeds[-1].footer.text.endswith("Searched 12 articles in 5 ms")
    assert reply.links == [("Middle East Monitor", SAMPLE_URL)]  # no link without a URL


def test_two_quotes_of_one_article_share_one_link() -> None:
    other = quote(article_id=2, publisher="Beta Wire", url="https://b.example/1")
    reply = answer_reply(answer(quote(), quote(start=900, end=950), other))
    assert len(reply.embeds) == 3
    assert reply.links == [("Middle East Monitor", SAMPLE_URL),
                           ("Beta Wire", "https://b.example/1")]


def test_answer_reply_without_quotes_escapes_the_question() -> None:
    reply = answer_reply(answer(question="[x](https://evil) @everyone **now**", searched=3))
    assert reply.content == (
        "**Q:** \\[x](https://evil) @\u200beveryone \\*\\*now\\*\\*\n"
        "No answer found in 3 articles. Try other words, or fewer of them; `/stats` shows "
        "what I have."
    )
    assert reply.embeds == []


def test_answer_reply_with_no_articles_to_search_points_to_ingest() -> None:
    reply = answer_reply(answer(searched=0))
    assert reply.content == (
        "**Q:** who claimed Iran is supplying drones?\n"
        "I have no articles to search here yet: an admin can add some with `/ingest`."
    )
    assert reply.embeds == [] and not reply.more


@pytest.mark.parametrize("question", [
    "who claimed Iran is *supplying* drones?",
    "what did @everyone say about __init__ and `code`?",
    "> is ~~this~~ a ||spoiler|| or [a link](https://example.org/a_b)?",
    r"what does C:\temp\*.txt hold?",
])
def test_the_question_can_be_read_back_from_the_answer_that_shows_it(question: str) -> None:
    reply = answer_reply(answer(quote(), question=question, more=True))
    assert reply.content != question  # escaped as shown
    assert asked_in(reply.content) == question
    assert asked_in("Something went wrong (ref 1234abcd).") is None


@pytest.mark.parametrize("count", [1, 3, 10])
def test_answer_reply_fits_discord_limits_whatever_the_metadata(count: int) -> None:
    """A long sentence, title, author and publisher (a wire story with thirty bylines, say)
    must still make an answer Discord accepts: 4096 per description, 2048 per footer, 256 per
    title, 6000 for all embeds together."""
    text = "The marmalade " + " ".join(f"word{i}" for i in range(2000)) + " ends here."
    quotes = [
        quote(text=text, title="T" * 300, publisher="P" * 500, author="A" * 3000,
              article_id=i, url=f"https://example.org/{i}",
              also=tuple(Copy(j, "C" * 300, "W" * 500, None, None) for j in range(40)))
        for i in range(count)
    ]
    reply = answer_reply(answer(*quotes, question="what about the marmalade?", searched=99))

    sizes = embed_sizes(reply.embeds)
    assert sizes["title"] <= TITLE and sizes["description"] <= DESCRIPTION
    assert sizes["footer"] <= FOOTER and sizes["total"] <= TOTAL
    assert len(reply.content) <= MESSAGE
    assert reply.embeds[-1].footer.text.endswith("Searched 99 articles in 5 ms")
    assert all("**marmalade**" in e.description for e in reply.embeds)


def test_a_single_long_quote_keeps_most_of_its_room() -> None:
    text = "The marmalade " + " ".join(f"word{i}" for i in range(2000)) + " ends here."
    reply = answer_reply(answer(quote(text=text), question="marmalade?"))
    assert 3500 < len(reply.embeds[0].description) <= DESCRIPTION


def test_article_reply_bolds_the_quote_in_its_context() -> None:
    text = "Before it. " + SENTENCE + " After it."
    article = Article(title="Drones", text=text, url=SAMPLE_URL, publisher="Middle East Monitor",
                      published="2022-07-13", id=7)
    start = len("Before it. ")
    reply = article_reply(article, start, start + len(SENTENCE))
    assert reply.embeds[0].description == f"Before it. **{safe(SENTENCE)}** After it."
    assert reply.embeds[0].footer.text == "Middle East Monitor · 2022-07-13 · article 7"
    assert reply.links == [("Read the article", SAMPLE_URL)]


def test_article_reply_opening_of_a_long_article_is_cut_with_ellipses() -> None:
    article = Article(title="Long", text="word " * 2000, id=3)
    reply = article_reply(article)
    assert reply.embeds[0].description.endswith(" …")
    assert len(reply.embeds[0].description) <= DESCRIPTION
    assert reply.links == []  # no URL, no button


def test_article_reply_fits_discord_limits_whatever_the_metadata() -> None:
    text = "x " * 5000
    article = Article(title="T" * 300, text=text, url=SAMPLE_URL, publisher="P" * 500,
                      author="A" * 3000, published="2022-07-13", id=7)
    sizes = embed_sizes(article_reply(article, 4000, 6000).embeds)
    assert sizes["title"] <= TITLE and sizes["description"] <= DESCRIPTION
    assert sizes["footer"] <= FOOTER and sizes["total"] <= TOTAL


def test_stats_reply() -> None:
    stats = Stats(articles=1234, passages=56789, collections={"global": 1, "guild:5": 1233},
                  last_ingest="2026-03-14T12:00:00+00:00")
    assert [(f.name, f.value) for f in stats_reply(stats).embeds[0].fields] == [
        ("Articles", "1,234"),
        ("Passages", "56,789"),
        ("Collections", "global (1), guild:5 (1,233)"),
        ("Last ingest", "2026-03-14T12:00:00+00:00"),
    ]
    empty = stats_reply(Stats(0, 0, {}, None)).embeds[0]
    assert [f.value for f in empty.fields] == ["0", "0", "none", "never"]


def test_help_fits_in_one_message() -> None:
    assert len(HELP) <= MESSAGE
    assert "/ask question:" in HELP and "/ingest file:" in HELP


# -- rate limit ----------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_limit_per_window_per_user() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 10.0, clock=clock)
    assert limiter.hit(1) == 0.0
    clock.now = 105.0
    assert limiter.hit(1) == 0.0
    clock.now = 107.0
    assert limiter.hit(1) == 3.0  # the hit at 100 leaves the window at 110
    assert limiter.hit(2) == 0.0  # someone else is not slowed down
    clock.now = 110.0
    assert limiter.hit(1) == 0.0  # refused hits were not counted
    clock.now = 111.0
    assert limiter.hit(1) == 4.0  # now the hit at 105 is the oldest


# -- permissions ----------


def test_collections_a_place_may_read_and_write() -> None:
    assert guild_collection(42) == "guild:42"
    assert readable(42) == ["guild:42", "global"]
    assert readable(None) == ["global"]
    assert writable(42) == "guild:42"
    assert writable(None) == "global"


def interaction(user_id: int, guild_id: int | None, *, manage: bool = False,
                roles: tuple[str, ...] = ()) -> SimpleNamespace:
    user = SimpleNamespace(id=user_id, roles=[SimpleNamespace(name=r) for r in roles])
    return SimpleNamespace(user=user, guild_id=guild_id,
                           permissions=discord.Permissions(manage_guild=manage))


@pytest.mark.parametrize(
    ("case", "admin_role", "allowed"),
    [
        (interaction(1, None), None, True),  # an owner, in a DM
        (interaction(1, 5), None, True),  # an owner, in any server
        (interaction(2, None, manage=True), None, False),  # DMs: owners only
        (interaction(2, 5, manage=True), None, True),  # Manage Server
        (interaction(2, 5), None, False),
        (interaction(2, 5, roles=("Editors",)), "Editors", True),
        (interaction(2, 5, roles=("Editors",)), None, False),  # no admin role configured
        (interaction(2, 5, roles=("Readers",)), "Editors", False),
    ],
)
def test_is_admin(case: SimpleNamespace, admin_role: str | None, allowed: bool) -> None:
    settings = BotSettings(token="t", db=Path("x.db"), owner_ids=frozenset({1}),
                           admin_role=admin_role)
    assert is_admin(case, settings) is allowed


def test_settings_never_show_the_token() -> None:
    settings = BotSettings(token="secret-token-value", db=Path("x.db"))
    assert "secret-token-value" not in repr(settings)
    assert "secret-token-value" not in str(settings)
