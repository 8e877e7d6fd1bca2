"""The real bot process (``newsdesk run``) against the Discord stand-in, end to end.

Every test drives the bot the way Discord would (gateway events in, REST calls out) and asserts
on what the bot sent: callbacks, followups, channel messages, their flags and allowed mentions.
Most tests share one bot (the ``newsroom`` fixture) to keep the file fast; tests that need other
settings, a broken engine or a bad token start their own with ``run_bot``.

The shared bot sees three servers and a DM:

- Newsroom (the stand-in's sample guild: EDITOR may manage it, READER may not) has its own
  articles besides the global sample: five about a lighthouse keeper (more than one page of
  quotes), three with absurdly long sentences and bylines, and what the ingest tests add;
- Elsewhere (OUTSIDER owns it) never gets an article of its own, so it sees only the sample;
- Harbour (EDITOR owns it) follows a feed of the local web server.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.formatting import HELP
from retrieval import Article, Desk
from retrieval.files import read_paths
from tests.conftest import sample_passages
from tests.discord_standin import (
    APPLICATION_ID,
    EDITOR,
    EPHEMERAL,
    GUILD_ID,
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MESSAGES,
    INTENT_MESSAGE_CONTENT,
    READER,
    Channel,
    DiscordStandIn,
    Guild,
    Interaction,
    Member,
    SentMessage,
    User,
    sample_guild,
)
from tests.standin_fixtures import LAUNCHER, REPO_ROOT, BotProcess, bot_environment

SAMPLE = REPO_ROOT / "data" / "sample"
QUESTION = "who claimed Iran is supplying drones?"
SAMPLE_TITLE = "Iran to supply Russia with drones for war in Ukraine, US claims"
SAMPLE_URL = ("https://www.middleeastmonitor.com/20220713-iran-to-supply-russia-with-drones-for-"
              "war-in-ukraine-us-claims/")
TOKEN = "MTIw.newsroom-token.Zm9vYmFyYmF6cXV4"  # the shared bot's; it must never be logged

OUTSIDER = User(id=1_200_000_000_000_000_302, username="outsider")
ELSEWHERE = 1_200_000_000_000_000_110
ELSEWHERE_CHANNEL = 1_200_000_000_000_000_210
HARBOUR = 1_200_000_000_000_000_120
HARBOUR_CHANNEL = 1_200_000_000_000_000_220

MAX_UPLOAD = 20_000
NEWSROOM_ENV = {
    "NEWSDESK_RATE_LIMIT": "1000",  # the concurrency test asks 50 questions as one user
    "NEWSDESK_MAX_UPLOAD": str(MAX_UPLOAD),
    "NEWSDESK_FEED_INTERVAL": "1",
    "NEWSDESK_ALLOWED_NETWORKS": "127.0.0.0/8",  # the web server only, not every private range
}

LIGHTHOUSE = [
    ("Calder Point keeper retires", "Ada Moss, the lighthouse keeper at Calder Point, retired "
     "on Friday after thirty years. The light is now automatic."),
    ("Skerry Rock has a new keeper", "A new keeper took charge of the Skerry Rock lighthouse "
     "this week. She trained for two years on the mainland."),
    ("Cottage becomes a museum", "The old lighthouse keeper's cottage on the harbour wall "
     "opens as a museum in May. Visitors may climb the tower."),
    ("Storm breaks windows", "Storm waves broke two windows of the lighthouse, its keeper "
     "reported on Sunday. Repairs start next week."),
    ("Pupils visit the light", "Pupils from Harbour Primary met the lighthouse keeper and saw "
     "the great lens. They drew the lamp room."),
]


def long_article(n: int) -> Article:
    """An article Discord could not show whole: a 6,000-character sentence, a 300-character
    title, a byline of a hundred names and a long publisher (the engine cuts the sentence,
    the bot must cut the rest)."""
    words = " ".join(f"jar{i}" for i in range(1100))
    return Article(
        title=f"Marmalade festival report {n} " + "with a headline that goes on " * 10,
        text=f"The marmalade festival of year {n} drew {words} and more. It closed at dusk.",
        url=f"https://preserves.example/festival-{n}",
        publisher="The Preserves and Conserves Gazette of the Northern Counties " * 8,
        author=", ".join(f"Reporter Number {i}" for i in range(100)),
        published=f"2025-0{n}-01",
    )


def prefill(db: Path) -> None:
    """The sample in the global collection; Newsroom's own articles in its collection."""
    with Desk(db) as desk:
        assert desk.ingest(read_paths([SAMPLE])).count("added") == 1
        lighthouse = [
            Article(title=title, text=text, url=f"https://coast.example/lighthouse-{i}",
                    publisher=f"Coast Weekly {i}", published=f"2026-03-0{i + 1}")
            for i, (title, text) in enumerate(LIGHTHOUSE)
        ]
        newsroom = f"guild:{GUILD_ID}"
        assert desk.ingest(lighthouse, collection=newsroom).count("added") == 5
        assert desk.ingest([long_article(n) for n in (1, 2, 3)],
                           collection=newsroom).count("added") == 3


def guilds() -> list[Guild]:
    return [
        sample_guild(),
        Guild(id=ELSEWHERE, name="Elsewhere", owner_id=OUTSIDER.id,
              channels=[Channel(ELSEWHERE_CHANNEL, "general")],
              members=[Member(OUTSIDER), Member(READER)]),
        Guild(id=HARBOUR, name="Harbour", owner_id=EDITOR.id,
              channels=[Channel(HARBOUR_CHANNEL, "harbour-news")],
              members=[Member(EDITOR), Member(READER)]),
    ]


def start_bot(standin: DiscordStandIn, log_path: Path, env: Mapping[str, str],
              timeout: float = 30.0) -> BotProcess:
    """``newsdesk run`` through the launcher, as the ``run_bot`` fixture does, for a bot that
    outlives one test."""
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(LAUNCHER), standin.api_url, standin.gateway_url, "run"],
            cwd=REPO_ROOT, env=bot_environment(standin.token, env), stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT,
        )
    bot = BotProcess(proc, log_path)
    deadline = time.monotonic() + timeout
    while True:
        try:
            standin.wait_until_ready(timeout=0.2)
            return bot
        except TimeoutError:
            if not bot.alive():
                raise RuntimeError(f"the bot exited with {bot.returncode}:\n{bot.log()}") from None
            if time.monotonic() > deadline:
                bot.stop()
                raise


@dataclass
class Newsroom:
    standin: DiscordStandIn
    bot: BotProcess
    db: Path


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory) -> Iterator[Newsroom]:
    """One bot for most tests: three servers, a prefilled database, generous rate limits."""
    tmp = tmp_path_factory.mktemp("newsroom")
    db = tmp / "newsdesk.db"
    prefill(db)
    with DiscordStandIn(token=TOKEN, guilds=guilds()) as standin:
        bot = start_bot(standin, tmp / "bot.log", {"NEWSDESK_DB": str(db), **NEWSROOM_ENV})
        yield Newsroom(standin, bot, db)
        code = bot.stop()
        print(f"--- {bot.log_path} (exit code {code}) ---\n{bot.log()}")


# -- what every message must be ----------


def plain(markdown: str) -> str:
    """The words a reader sees: without bold markers and escapes."""
    return re.sub(r"\\(.)", r"\1", markdown.replace("**", ""))


def embed_chars(embed: dict) -> int:
    fields = embed.get("fields") or []
    return (len(embed.get("title") or "") + len(embed.get("description") or "")
            + len((embed.get("footer") or {}).get("text") or "")
            + len((embed.get("author") or {}).get("name") or "")
            + sum(len(f["name"]) + len(f["value"]) for f in fields))


def assert_sendable(message: SentMessage) -> None:
    """Within Discord's limits (else Discord answers 400), and unable to ping anyone."""
    assert len(message.content) <= 2000
    assert len(message.embeds) <= 10
    for embed in message.embeds:
        assert len(embed.get("title") or "") <= 256
        assert len(embed.get("description") or "") <= 4096
        assert len((embed.get("footer") or {}).get("text") or "") <= 2048
        assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024
                   for f in embed.get("fields") or [])
    assert sum(embed_chars(e) for e in message.embeds) <= 6000
    assert len(message.components) <= 5
    for row in message.components:
        assert len(row["components"]) <= 5
        for button in row["components"]:
            assert len(button.get("label") or "") <= 80
            assert len(button.get("custom_id") or "") <= 100
    mentions = message.allowed_mentions
    assert mentions is not None and mentions.get("parse") == [], mentions
    assert not mentions.get("users") and not mentions.get("roles")
    assert not mentions.get("replied_user")


def reply_to(interaction: Interaction, timeout: float = 10.0) -> SentMessage:
    message = interaction.wait_for_reply(timeout=timeout)
    assert_sendable(message)
    return message


def deferred(interaction: Interaction) -> dict:
    """The callback, checked to be an accepted deferral ("thinking…")."""
    callback = interaction.wait_for_callback()
    assert (callback.status, callback.json["type"]) == (200, 5), callback.response
    return callback.json


def ask(standin: DiscordStandIn, question: str, **kwargs) -> SentMessage:
    interaction = standin.send_interaction("ask", {"question": question}, **kwargs)
    deferred(interaction)
    return reply_to(interaction)


def quoted(message: SentMessage) -> str:
    """The quotes of an answer, as plain text, one per line."""
    return "\n".join(plain(e["description"]) for e in message.embeds)


def buttons(message: SentMessage) -> list[dict]:
    return [b for row in message.components for b in row["components"]]


def channel_replies(standin: DiscordStandIn, since: int) -> list[SentMessage]:
    return [m for m in standin.messages_sent()[since:] if m.kind == "channel"]


def wait_for_channel_reply(standin: DiscordStandIn, since: int, **match) -> SentMessage:
    def wanted(m: SentMessage) -> bool:
        return m.kind == "channel" and all(getattr(m, k) == v for k, v in match.items())

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [m for m in standin.messages_sent()[since:] if wanted(m)]
        if found:
            assert_sendable(found[0])
            return found[0]
        time.sleep(0.05)
    raise TimeoutError(f"no channel message matching {match}\n{standin.describe()}")


def assert_alive(bot: BotProcess, token: str = TOKEN, *, tracebacks: bool = False) -> None:
    """Still running, its token never logged, and (unless expected) no error logged."""
    log = bot.log()
    assert bot.alive(), log
    assert token not in log
    if not tracebacks:
        assert "Traceback" not in log, log


# -- 1. startup ----------


COMMANDS = ["ask", "article", "stats", "help", "ingest", "forget", "feeds"]


def test_startup_logs_in_registers_commands_and_does_not_sync_them_again(
    standin, run_bot, tmp_path
):
    env = {"NEWSDESK_DB": str(tmp_path / "newsdesk.db")}
    bot = run_bot(standin, env=env)

    assert [r.path for r in standin.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    assert standin.requests[0].headers["Authorization"] == "Bot test-token"
    assert standin.identify_count == 1
    assert standin.gateway_connections[0].startswith("/gateway?v=10&encoding=json")
    bot.wait_for_log("has connected to Gateway")
    # DMs and mentions need no privileged intent; message content is not asked for.
    assert standin.intents & INTENT_GUILD_MESSAGES and standin.intents & INTENT_DIRECT_MESSAGES
    assert not standin.intents & INTENT_MESSAGE_CONTENT

    sync = standin.wait_for_request(("PUT", rf"^/applications/{APPLICATION_ID}/commands$"))
    assert sync.status == 200
    sent = {c["name"]: c for c in sync.json}
    assert list(sent) == COMMANDS
    for command in sent.values():
        assert command["description"], command
        assert command["contexts"] == [0, 1, 2]  # servers, the bot's DMs, private channels
        assert command["integration_types"] == [0, 1]  # installed to a server or a user
    options = {name: {o["name"]: o for o in c["options"]} for name, c in sent.items()}
    assert options["ask"]["question"] | {"description": ""} == {
        "type": 3, "name": "question", "description": "", "required": True,
        "min_length": 1, "max_length": 300}
    assert (options["ask"]["private"]["type"], options["ask"]["private"]["required"]) == (5, False)
    assert [(o["type"], o["required"]) for o in options["ingest"].values()] == [
        (11, False), (3, False)]
    assert list(options["feeds"]) == ["add", "list", "remove"]
    for admin_only in ("ingest", "forget", "feeds"):
        assert sent[admin_only]["default_member_permissions"] == 1 << 5  # Manage Server
    assert sent["ask"]["default_member_permissions"] is None
    # Users type titles into the autocompleted article options; Discord's client lets only
    # digits into an integer option, so they must be strings.
    for command, option in (("article", "id"), ("forget", "article")):
        assert options[command][option]["autocomplete"] is True
        assert options[command][option]["type"] == 3

    help_reply = reply_to(standin.send_interaction("help", guild_id=GUILD_ID))
    assert help_reply.content == HELP
    assert bot.stop() == 0

    # The same database: the commands are known to be registered, so no PUT this time.
    again = run_bot(standin, env=env)
    again.wait_for_log("slash commands unchanged; not syncing")
    puts = [r for r in standin.requests if r.method == "PUT"]
    assert len(puts) == 1
    assert standin.identify_count == 2
    assert reply_to(standin.send_interaction("help")).content == HELP
    assert_alive(again, standin.token)
    assert standin.token not in bot.log()


# -- 2-4. asking ----------


def test_ask_in_a_server_defers_then_quotes_with_attribution_and_buttons(newsroom):
    standin = newsroom.standin
    interaction = standin.send_interaction("ask", {"question": QUESTION}, guild_id=ELSEWHERE)

    callback = deferred(interaction)
    assert not (callback.get("data") or {}).get("flags", 0) & EPHEMERAL
    reply = reply_to(interaction)
    assert (reply.kind, reply.ephemeral) == ("followup", False)
    assert reply.channel_id == str(ELSEWHERE_CHANNEL)
    assert reply.content == f"**Q:** {QUESTION}"
    first = reply.embeds[0]
    assert "the United States has claimed" in plain(first["description"])
    assert first["description"].startswith("> ")
    for word in ("Iran", "supply", "claimed"):
        assert f"**{word}**" in first["description"]
    assert (first["title"], first["url"]) == (f"1. {SAMPLE_TITLE}", SAMPLE_URL)
    footer = reply.embeds[-1]["footer"]["text"]
    assert first["footer"]["text"].startswith("Middle East Monitor · 2022-07-13")
    assert re.search(r"\nSearched 1 article in \d+ ms$", footer), footer
    # Two quotes of the one sample article (the default cap), one link to it.
    assert [b["label"] for b in buttons(reply)] == ["Context 1", "Context 2", "Middle East Monitor"]
    assert buttons(reply)[2]["url"] == SAMPLE_URL
    assert not any(b.get("label") == "More quotes" for b in buttons(reply))
    assert_alive(newsroom.bot)


def test_ask_privately_defers_ephemerally(newsroom):
    interaction = newsroom.standin.send_interaction(
        "ask", {"question": QUESTION, "private": True}, guild_id=ELSEWHERE)

    assert deferred(interaction)["data"]["flags"] & EPHEMERAL
    reply = reply_to(interaction)
    assert reply.ephemeral
    assert "the United States has claimed" in quoted(reply)
    assert_alive(newsroom.bot)


def test_ask_in_a_dm_uses_the_global_articles(newsroom):
    interaction = newsroom.standin.send_interaction("ask", {"question": QUESTION}, user=READER)

    deferred(interaction)
    reply = reply_to(interaction)
    assert reply.channel_id == interaction.payload["channel_id"]
    assert "the United States has claimed" in quoted(reply)
    assert "Searched 1 article in" in reply.embeds[-1]["footer"]["text"]
    assert_alive(newsroom.bot)


def test_a_dm_message_is_answered_in_the_dm_channel(newsroom):
    standin = newsroom.standin
    since = len(standin.messages_sent())
    message = standin.send_message(QUESTION, author=READER)

    reply = wait_for_channel_reply(standin, since, channel_id=message["channel_id"])
    assert reply.reply_to is None
    assert reply.content == f"**Q:** {QUESTION}"
    assert "the United States has claimed" in quoted(reply)
    assert standin.wait_for_request(
        ("POST", rf"^/channels/{message['channel_id']}/messages$")).status == 200
    assert_alive(newsroom.bot)


def test_a_mention_in_a_channel_is_answered_as_a_reply_and_other_messages_are_not(newsroom):
    standin = newsroom.standin
    since = len(standin.messages_sent())
    standin.send_message("who claimed Iran is supplying drones? (not for the bot)",
                         guild_id=ELSEWHERE)
    asked = standin.send_message(QUESTION, guild_id=ELSEWHERE, mentions=[standin.bot_user])

    reply = wait_for_channel_reply(standin, since, reply_to=asked["id"])
    assert reply.channel_id == str(ELSEWHERE_CHANNEL)
    assert reply.allowed_mentions["replied_user"] is False  # a reply, without a ping
    assert "the United States has claimed" in quoted(reply)
    time.sleep(0.5)  # a reply to the unmentioned message would have come by now
    assert len(channel_replies(standin, since)) == 1
    assert_alive(newsroom.bot)


# -- 5. more quotes and context ----------


def test_more_quotes_shows_the_next_page_and_context_shows_the_article(newsroom):
    standin = newsroom.standin
    first = ask(standin, "lighthouse keeper", guild_id=GUILD_ID)

    assert [e["title"][:2] for e in first.embeds] == ["1.", "2.", "3."]
    more = [b for b in buttons(first) if b.get("label") == "More quotes"]
    assert len(more) == 1 and more[0]["custom_id"].endswith(":3")
    click = standin.send_component_interaction(more[0]["custom_id"], first.message_id,
                                               user=READER)
    deferred(click)
    second = reply_to(click)
    assert [e["title"][:2] for e in second.embeds] == ["4.", "5."]
    assert not second.ephemeral
    page_one, page_two = quoted(first).splitlines(), quoted(second).splitlines()
    assert not set(page_one) & set(page_two)
    every = "\n".join(page_one + page_two)
    assert all(" ".join(text.split()[:3]) in every for _, text in LIGHTHOUSE)
    assert not any(b.get("label") == "More quotes" for b in buttons(second))

    context = next(b for b in buttons(first) if b.get("label") == "Context 1")
    shown = standin.send_component_interaction(context["custom_id"], first.message_id,
                                               user=READER)
    assert deferred(shown)["data"]["flags"] & EPHEMERAL
    article = reply_to(shown)
    assert article.ephemeral
    sentence = plain(first.embeds[0]["description"].removeprefix("> "))
    assert f"**{sentence}**" in plain_bold(article.embeds[0]["description"])
    assert first.embeds[0]["title"].endswith(article.embeds[0]["title"])
    assert_alive(newsroom.bot)


def test_more_quotes_under_an_answer_from_before_a_restart_still_pages(
    standin, run_bot, tmp_path
):
    env = {"NEWSDESK_DB": str(tmp_path / "newsdesk.db")}
    prefill(tmp_path / "newsdesk.db")
    bot = run_bot(standin, env=env)
    first = ask(standin, "lighthouse keeper", guild_id=GUILD_ID)
    more = next(b for b in buttons(first) if b.get("label") == "More quotes")
    assert bot.stop() == 0
    again = run_bot(standin, env=env)  # remembers no question: it reads it off the answer

    shown = standin.message(first.message_id)
    content, shown["content"] = shown["content"], "**Q:** lighthouse"  # as if edited
    click = standin.send_component_interaction(more["custom_id"], first.message_id)
    callback = click.wait_for_callback()
    assert (callback.json["type"], callback.json["data"]["flags"]) == (4, EPHEMERAL)
    refused = reply_to(click)
    assert refused.content == "That answer is too old to page through: ask again."

    shown["content"] = content
    click = standin.send_component_interaction(more["custom_id"], first.message_id)
    deferred(click)
    second = reply_to(click)
    assert [e["title"][:2] for e in second.embeds] == ["4.", "5."]
    assert not set(quoted(first).splitlines()) & set(quoted(second).splitlines())
    assert_alive(again, standin.token)


def plain_bold(markdown: str) -> str:
    """Markdown with its escapes removed but its bold markers kept."""
    return re.sub(r"\\(.)", r"\1", markdown)


# -- 6-7. ingest and isolation ----------


FERRY = b"""---
title: Night ferry to Skerry Rock returns for the summer
publisher: Harbour Herald
date: 2026-04-02
url: https://harbour.example/night-ferry
---
The night ferry to Skerry Rock will sail again from June, the harbour master announced.
Tickets go on sale on Monday at the harbour office.
"""


def ingest_file(standin: DiscordStandIn, filename: str, data: bytes, *, user: User,
                guild_id: int | None = GUILD_ID, content_type: str = "text/markdown"
                ) -> tuple[Interaction, SentMessage]:
    interaction = standin.send_attachment_interaction(
        "ingest", filename=filename, data=data, content_type=content_type, guild_id=guild_id,
        user=user)
    return interaction, reply_to(interaction)


def downloads(standin: DiscordStandIn, interaction: Interaction) -> list[str]:
    """Requests for the interaction's attachment."""
    attachment_ids = interaction.payload["data"]["resolved"]["attachments"]
    return [r.path for r in standin.requests
            if r.path.startswith("/attachments/") and r.path.split("/")[2] in attachment_ids]


def test_an_admin_ingests_a_file_and_it_is_answered_in_that_server(newsroom):
    standin = newsroom.standin
    interaction, reply = ingest_file(standin, "ferry.md", FERRY, user=EDITOR)

    callback = interaction.wait_for_callback()
    assert callback.json == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert reply.ephemeral
    assert re.fullmatch(r"✅ added: Night ferry to Skerry Rock returns for the summer "
                        r"\(1 passage, article \d+\)", reply.content), reply.content
    assert downloads(standin, interaction)

    answer = ask(standin, "when does the night ferry to Skerry Rock sail again?",
                 guild_id=GUILD_ID)
    assert "The night ferry to Skerry Rock will sail again from June" in quoted(answer)
    assert answer.embeds[0]["footer"]["text"].startswith("Harbour Herald · 2026-04-02")
    assert_alive(newsroom.bot)


KEEPERS = """---
title: Keepers return to Skerry Rock
publisher: {publisher}
url: https://{host}/keepers
date: 2026-04-03
---
{dateline}Two keepers will live on the Skerry Rock lighthouse again from May, the harbour board
said on Thursday.
"""


def test_a_wire_copy_of_a_quoted_sentence_is_listed_under_it_not_quoted_again(newsroom):
    standin = newsroom.standin
    for publisher, host, dateline in (("Harbour Herald", "harbour.example", ""),
                                      ("Isles Wire", "isles.example", "KIRKWALL (Isles Wire) - ")):
        text = KEEPERS.format(publisher=publisher, host=host, dateline=dateline)
        _, reply = ingest_file(standin, f"keepers-{host}.md", text.encode(), user=EDITOR)
        assert reply.content.startswith("✅ added"), reply.content

    answer = ask(standin, "when will keepers live on Skerry Rock lighthouse again?",
                 guild_id=GUILD_ID)
    assert quoted(answer).count("Two keepers will live on the Skerry Rock lighthouse") == 1
    byline, also = answer.embeds[0]["footer"]["text"].split("\n")[:2]
    assert {byline.split(" · ")[0], also.removeprefix("also in ")} == {
        "Harbour Herald", "Isles Wire"}
    assert_alive(newsroom.bot)


def test_an_ingest_while_another_process_holds_the_index_is_stored_and_says_so(newsroom):
    """Another process's ingest (here: this test) holds the index writer: the bot stores the
    file after a short wait, says when it becomes searchable, and it does once the writer is
    free. (It used to wait a minute, then say the article was saved when nothing was.)"""
    from retrieval.index import TantivyIndex
    from retrieval.render import NOT_SEARCHABLE_YET

    standin = newsroom.standin
    data = FERRY.replace(b"night-ferry", b"ice-ferry").replace(b"night ferry", b"ice ferry")
    other = TantivyIndex(newsroom.db.with_suffix(".index"))
    with other.session():
        _, reply = ingest_file(standin, "ice.md", data, user=EDITOR)
        first, added = reply.content.split("\n")
        assert first == NOT_SEARCHABLE_YET
        assert added.startswith("✅ added: Night ferry to Skerry Rock"), added
    answer = ask(standin, "when does the ice ferry to Skerry Rock sail again?",
                 guild_id=GUILD_ID)
    assert "The ice ferry to Skerry Rock will sail again from June" in quoted(answer)
    assert_alive(newsroom.bot)


def test_a_member_who_may_not_manage_the_server_cannot_ingest(newsroom):
    standin = newsroom.standin
    data = FERRY.replace(b"Night ferry", b"Ghost ferry").replace(b"night ferry", b"ghost barge")
    interaction, reply = ingest_file(standin, "ghost.md", data, user=READER)

    assert interaction.wait_for_callback().json["type"] == 4  # refused at once, not deferred
    assert reply.ephemeral
    assert reply.content == "Only server admins (Manage Server) can do that."
    assert downloads(standin, interaction) == []
    answer = ask(standin, "ghost barge", guild_id=GUILD_ID)
    assert answer.embeds == [] and "No answer found" in answer.content
    assert_alive(newsroom.bot)


def test_ingest_in_a_dm_is_for_owners_only(newsroom):
    _, reply = ingest_file(newsroom.standin, "ferry.md", FERRY, user=EDITOR, guild_id=None)
    assert (reply.content, reply.ephemeral) == ("Only the bot's owners can do that in DMs.", True)
    assert_alive(newsroom.bot)


def test_a_file_over_the_upload_limit_is_refused_unread(newsroom):
    standin = newsroom.standin
    big = b"The harbour wall. " * 2000
    interaction, reply = ingest_file(standin, "big.txt", big, user=EDITOR,
                                     content_type="text/plain")

    assert reply.ephemeral
    assert reply.content == (f"That file is {len(big):,} bytes; the limit is {MAX_UPLOAD:,}.")
    assert downloads(standin, interaction) == []
    assert_alive(newsroom.bot)


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(200),
         "unsupported file type .png: use .txt, .md, .html, .json or .jsonl"),
        ("notes.txt", b"Harbour notes\x00\x01\x02" + bytes(100), "binary file, not text"),
    ],
)
def test_a_binary_file_is_refused_with_the_reason(newsroom, filename, data, reason):
    _, reply = ingest_file(newsroom.standin, filename, data, user=EDITOR,
                           content_type="application/octet-stream")
    assert reply.ephemeral
    assert reply.content == f"❌ refused {filename}: {reason}"
    assert_alive(newsroom.bot)


def upload_jsonl(standin: DiscordStandIn, name: str, titles: list[str]) -> SentMessage:
    records = [json.dumps({"title": t, "text": f"The {name} tide came in at {i} o'clock.",
                           "url": f"https://tides.example/{name}/{i}"})
               for i, t in enumerate(titles)]
    _, reply = ingest_file(standin, f"{name}.jsonl", "\n".join(records).encode(), user=EDITOR,
                           content_type="application/x-ndjson")
    return reply


def test_the_report_of_a_large_upload_lists_ten_and_counts_the_rest(newsroom):
    titles = [f"Tide tables for the week of {day} March, with the harbour master's notes on "
              f"the spring tides and the new pontoon {day}" for day in range(1, 13)]
    reply = upload_jsonl(newsroom.standin, "tides", titles)

    assert reply.ephemeral
    lines = reply.content.splitlines()
    assert len(lines) == 11 and all(line.startswith("✅ added: Tide tables") for line in lines[:10])
    assert lines[-1] == "… and 2 more"
    assert_alive(newsroom.bot)


def test_the_report_of_a_hostile_upload_still_fits_in_one_message(newsroom):
    """Titles made of Markdown double in length when escaped; Discord refuses a message over
    2000 characters, and the admin would be told something went wrong after the ingest."""
    reply = upload_jsonl(newsroom.standin, "soup", ["_*~|`@" * 25] * 12)

    assert len(reply.content) <= 2000  # assert_sendable checked it too
    assert reply.content.startswith("✅ added: \\_\\*\\~\\|\\`@\u200b")
    assert_alive(newsroom.bot)


SECRET = b"""---
title: Zephyrine orchard presses a record cider harvest
publisher: Newsroom Notes
---
The Zephyrine orchard cooperative pressed a record cider harvest in Glenmorrow this autumn.
"""


def test_an_article_ingested_in_one_server_is_never_quoted_elsewhere(newsroom):
    standin = newsroom.standin
    _, reply = ingest_file(standin, "zephyrine.md", SECRET, user=EDITOR)
    article_id = int(re.search(r"article (\d+)\)", reply.content)[1])
    question = "zephyrine orchard cider harvest"

    here = ask(standin, question, guild_id=GUILD_ID)
    assert "Zephyrine orchard cooperative pressed a record cider harvest" in quoted(here)
    for where in ({"guild_id": ELSEWHERE}, {"guild_id": HARBOUR}, {"user": READER}):
        elsewhere = ask(standin, question, **where)
        assert elsewhere.embeds == [], where
        assert "Zephyrine" not in quoted(elsewhere) and "No answer found" in elsewhere.content

    since = len(standin.messages_sent())
    dm = standin.send_message(question, author=EDITOR)  # who added it, but in a DM
    assert "No answer found" in wait_for_channel_reply(
        standin, since, channel_id=dm["channel_id"]).content

    shown = standin.send_interaction("article", {"id": str(article_id)}, guild_id=ELSEWHERE)
    assert reply_to(shown).content == f"No article {article_id}."
    typed = standin.send_autocomplete("article", {"id": "Zephyr"}, focused="id",
                                      guild_id=ELSEWHERE)
    assert typed.wait_for_callback().json == {"type": 8, "data": {"choices": []}}
    assert_alive(newsroom.bot)


BEACON = b"""---
title: Beacon on the breakwater to be replaced
url: https://harbour.example/beacon
---
The red beacon on the breakwater will be replaced by a solar lamp before the winter storms.
"""


def test_an_admin_forgets_an_article_of_their_server_only(newsroom):
    standin = newsroom.standin
    _, reply = ingest_file(standin, "beacon.md", BEACON, user=EDITOR)
    article_id = re.search(r"article (\d+)\)", reply.content)[1]
    assert "solar lamp" in quoted(ask(standin, "breakwater beacon solar lamp", guild_id=GUILD_ID))

    # Another server's admin can neither find it nor remove it.
    typed = standin.send_autocomplete("forget", {"article": "Beacon"}, focused="article",
                                      guild_id=ELSEWHERE, user=OUTSIDER)
    assert typed.wait_for_callback().json["data"]["choices"] == []
    elsewhere = standin.send_interaction("forget", {"article": article_id},
                                         guild_id=ELSEWHERE, user=OUTSIDER)
    assert reply_to(elsewhere).content == f"No article matches '{article_id}'."
    refused = standin.send_interaction("forget", {"article": article_id}, guild_id=GUILD_ID,
                                       user=READER)
    assert reply_to(refused).content == "Only server admins (Manage Server) can do that."

    typed = standin.send_autocomplete("forget", {"article": "Beacon"}, focused="article",
                                      guild_id=GUILD_ID, user=EDITOR)
    choices = typed.wait_for_callback().json["data"]["choices"]
    assert choices == [{"name": "Beacon on the breakwater to be replaced", "value": article_id}]
    forget = standin.send_interaction("forget", {"article": choices[0]["value"]},
                                      guild_id=GUILD_ID, user=EDITOR)
    removed = reply_to(forget)
    assert (removed.content, removed.ephemeral) == (
        "Removed: Beacon on the breakwater to be replaced", True)
    gone = ask(standin, "breakwater beacon solar lamp", guild_id=GUILD_ID)
    assert gone.embeds == [] and "No answer found" in gone.content
    assert_alive(newsroom.bot)


# -- 8-9. what the bot writes ----------


HOSTILE = "@everyone <@123> [x](https://evil) **who** claimed Iran is supplying drones?"


def assert_defused(message: SentMessage) -> None:
    assert_sendable(message)
    text = message.text
    assert "@everyone" not in text and "<@123>" not in text
    assert not re.search(r"(?<!\\)\[x\]\(", text), text  # no masked link can render
    assert "\\*\\*who\\*\\*" in message.content  # the asker's Markdown is shown, not applied


def test_markdown_links_and_mentions_in_a_question_are_defused(newsroom):
    standin = newsroom.standin
    assert_defused(ask(standin, HOSTILE, guild_id=ELSEWHERE))

    since = len(standin.messages_sent())
    message = standin.send_message(HOSTILE, author=READER)
    assert_defused(wait_for_channel_reply(standin, since, channel_id=message["channel_id"]))

    asked = standin.send_message(HOSTILE, guild_id=ELSEWHERE, mentions=[standin.bot_user])
    assert_defused(wait_for_channel_reply(standin, since, reply_to=asked["id"]))
    assert_alive(newsroom.bot)


def test_an_overlong_answer_is_cut_to_discord_limits(newsroom):
    standin = newsroom.standin
    answer = ask(standin, "marmalade festival", guild_id=GUILD_ID)

    assert len(answer.embeds) == 3
    assert all(e["description"].startswith("> The **marmalade** **festival**")
               for e in answer.embeds)
    bylines = [e["footer"]["text"].split("\n")[0] for e in answer.embeds]
    assert all(b.startswith("The Preserves and Conserves Gazette") and b.endswith("…")
               for b in bylines), bylines
    assert "Searched" in answer.embeds[-1]["footer"]["text"]

    since = len(standin.messages_sent())
    asked = standin.send_message("marmalade festival", guild_id=GUILD_ID,
                                 mentions=[standin.bot_user])
    assert len(wait_for_channel_reply(standin, since, reply_to=asked["id"]).embeds) == 3
    assert_alive(newsroom.bot)


# -- 10. rate limit ----------


def test_the_third_question_within_the_window_gets_a_private_notice(standin, run_bot, tmp_path):
    db = tmp_path / "newsdesk.db"
    prefill_sample(db)
    bot = run_bot(standin, env={"NEWSDESK_DB": str(db), "NEWSDESK_RATE_LIMIT": "2",
                                "NEWSDESK_RATE_WINDOW": "60"})

    for _ in range(2):
        assert "the United States has claimed" in quoted(ask(standin, QUESTION,
                                                             guild_id=GUILD_ID))
    third = standin.send_interaction("ask", {"question": QUESTION}, guild_id=GUILD_ID)
    callback = third.wait_for_callback()
    assert (callback.json["type"], callback.json["data"]["flags"]) == (4, EPHEMERAL)
    notice = reply_to(third)
    assert notice.ephemeral
    assert re.fullmatch(r"You're asking faster than I can read: try again in \d+ s\.",
                        notice.content), notice.content

    # Someone else is still answered; the same person is refused by message too.
    other = ask(standin, QUESTION, guild_id=GUILD_ID, user=EDITOR)
    assert "the United States has claimed" in quoted(other)
    since = len(standin.messages_sent())
    dm = standin.send_message(QUESTION, author=READER)
    assert wait_for_channel_reply(standin, since, channel_id=dm["channel_id"]).content.startswith(
        "You're asking faster than I can read")
    assert_alive(bot, standin.token)


def prefill_sample(db: Path) -> None:
    """The sample in the global collection, as ``newsdesk ingest data/sample`` would."""
    subprocess.run([sys.executable, "-m", "bot", "--db", str(db), "ingest", str(SAMPLE)],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=60)


# -- 11. engine errors ----------


def test_an_engine_failure_is_apologised_for_privately_with_a_logged_reference(
    standin, run_bot, tmp_path
):
    db = tmp_path / "newsdesk.db"
    prefill_sample(db)
    bot = run_bot(standin, env={"NEWSDESK_DB": str(db)})
    assert "the United States has claimed" in quoted(ask(standin, QUESTION, guild_id=GUILD_ID))

    # Break the engine from outside: the table it reads first disappears.
    execute(db, "alter table index_outbox rename to index_outbox_gone")
    broken = standin.send_interaction("ask", {"question": QUESTION}, guild_id=GUILD_ID)
    deferred(broken)
    apology = reply_to(broken)
    ref = re.fullmatch(r"Something went wrong \(ref ([0-9a-f]{8})\)\. Please try again\.",
                       apology.content)
    assert ref, apology.content
    assert apology.ephemeral  # the reference is for the asker, not the channel
    log = bot.wait_for_log(f"error {ref[1]} in ask")
    after = log[log.index(f"error {ref[1]} in ask"):]
    assert "Traceback" in after and "no such table: index_outbox" in after
    # Nothing of the failed answer was left in the channel.
    assert [m.kind for m in broken.replies()] == ["followup"]
    assert standin.wait_for_request(
        ("DELETE", rf"^/webhooks/\d+/{broken.token}/messages/@original$")).status == 204
    # A question by message gets the same: a reference, and the traceback in the log.
    since = len(standin.messages_sent())
    dm = standin.send_message(QUESTION, author=READER)
    sorry = wait_for_channel_reply(standin, since, channel_id=dm["channel_id"])
    ref = re.fullmatch(r"Something went wrong \(ref ([0-9a-f]{8})\)\.", sorry.content)
    assert ref, sorry.content
    assert "Traceback" in bot.wait_for_log(f"error {ref[1]} answering message")

    execute(db, "alter table index_outbox_gone rename to index_outbox")
    assert "the United States has claimed" in quoted(ask(standin, QUESTION, guild_id=GUILD_ID))
    assert_alive(bot, standin.token, tracebacks=True)


def execute(db: Path, statement: str) -> None:
    """One statement from another connection, as another process would."""
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(statement)


# -- 12. reconnect ----------


def test_after_a_reconnect_the_session_resumes_and_questions_are_answered(newsroom):
    standin = newsroom.standin
    identified, resumed = standin.identify_count, standin.resume_count
    standin.reconnect()

    assert (standin.identify_count, standin.resume_count) == (identified, resumed + 1)
    assert standin.gateway_connections[-1].startswith("/gateway/resume?")
    assert "the United States has claimed" in quoted(ask(standin, QUESTION, guild_id=ELSEWHERE))
    assert_alive(newsroom.bot)


def test_a_rate_limited_followup_is_retried_and_sent_once(newsroom):
    standin = newsroom.standin
    standin.fail_next("POST", r"^/webhooks/", status=429, retry_after=0.3)
    interaction = standin.send_interaction("ask", {"question": QUESTION}, guild_id=ELSEWHERE)
    reply = reply_to(interaction)
    assert "the United States has claimed" in plain(reply.embeds[0]["description"])
    posts = [r for r in standin.requests
             if r.method == "POST" and interaction.token in r.path and "/webhooks/" in r.path]
    assert [r.status for r in posts] == [429, 200]
    assert len([m for m in standin.messages_sent() if m.interaction_id == interaction.id]) == 1
    assert_alive(newsroom.bot)


# -- 13. bad token ----------


def test_a_bad_token_exits_nonzero_with_a_clear_message_and_no_token(standin, run_bot, tmp_path):
    wrong = "MTIz.wrong-token.c2VjcmV0c2VjcmV0"
    bot = run_bot(standin, env={"NEWSDESK_DB": str(tmp_path / "n.db"), "DISCORD_TOKEN": wrong},
                  wait_ready=False)

    assert bot.wait(timeout=20) == 1
    log = bot.log()
    assert "Discord refused the token (DISCORD_TOKEN)" in log
    assert wrong not in log and "Traceback" not in log
    assert standin.wait_for_request(("GET", "^/users/@me$")).status == 401
    assert standin.identify_count == 0

    unset = run_bot(standin, env={"NEWSDESK_DB": str(tmp_path / "n.db"), "DISCORD_TOKEN": ""},
                    wait_ready=False)
    assert unset.wait(timeout=20) == 1
    assert "DISCORD_TOKEN is not set" in unset.log()
    assert standin.token not in log + unset.log()


# -- 15. the web ----------


def test_an_admin_ingests_a_web_page_and_follows_a_feed(newsroom, web_server):
    standin = newsroom.standin
    page = standin.send_interaction("ingest", {"url": web_server.url("/article.html")},
                                    guild_id=GUILD_ID, user=EDITOR)
    added = reply_to(page, timeout=30)
    assert added.ephemeral
    assert added.content.startswith(
        "✅ added: Riverside library reopens after two years of flood repairs"), added.content
    answer = ask(standin, "when did the Riverside library reopen?", guild_id=GUILD_ID)
    assert "Riverside" in answer.embeds[0]["title"]

    blocked = standin.send_interaction("ingest", {"url": "http://10.0.0.1/admin"},
                                       guild_id=GUILD_ID, user=EDITOR)
    assert reply_to(blocked).content == (
        "❌ refused http://10.0.0.1/admin: blocked address 10.0.0.1 (private networks are not "
        "fetched)")

    feed_url = web_server.url("/local-feed.xml")
    refused = standin.send_interaction("feeds add", {"url": feed_url}, guild_id=HARBOUR,
                                       user=READER)
    assert reply_to(refused).content == "Only server admins (Manage Server) can do that."
    follow = standin.send_interaction("feeds add", {"url": feed_url}, guild_id=HARBOUR,
                                      user=EDITOR)
    following = reply_to(follow, timeout=30)
    assert following.ephemeral
    feed_id = re.fullmatch(r"Following feed (\d+): Local news\. New articles arrive within "
                           r"1 minute\.", following.content)  # polled every second here
    assert feed_id, following.content

    # The poller (every second here) fetches the entries; the article among them is added.
    newsroom.bot.wait_for_log(f"feed {feed_url}: 1 added", timeout=30)
    answer = ask(standin, "riverside library flood barrier", guild_id=HARBOUR)
    assert "Riverside" in answer.embeds[0]["title"]
    listed = reply_to(standin.send_interaction("feeds list", guild_id=HARBOUR, user=EDITOR))
    assert listed.ephemeral
    assert re.search(rf"`{feed_id[1]}` Local news — last checked 20\d\d-", listed.content)
    removed = standin.send_interaction("feeds remove", {"feed": feed_id[1]}, guild_id=HARBOUR,
                                       user=EDITOR)
    assert reply_to(removed).content == f"Stopped following {feed_url}."
    assert_alive(newsroom.bot)


# -- 16. stats, help, article ----------


def test_stats_and_help_are_private(newsroom):
    standin = newsroom.standin
    stats = standin.send_interaction("stats", guild_id=ELSEWHERE)
    callback = stats.wait_for_callback()
    assert (callback.json["type"], callback.json["data"]["flags"]) == (4, EPHEMERAL)
    fields = {f["name"]: f["value"] for f in reply_to(stats).embeds[0]["fields"]}
    assert (fields["Articles"], fields["Passages"], fields["Collections"]) == (
        "1", str(sample_passages()), "global (1)")

    newsroom_stats = reply_to(standin.send_interaction("stats", guild_id=GUILD_ID))
    collections = {f["name"]: f["value"] for f in newsroom_stats.embeds[0]["fields"]}
    assert f"guild:{GUILD_ID}" in collections["Collections"]

    help_ = standin.send_interaction("help", user=READER)
    assert help_.wait_for_callback().json["type"] == 4
    reply = reply_to(help_)
    assert (reply.content, reply.ephemeral) == (HELP, True)
    assert_alive(newsroom.bot)


def test_article_autocompletes_titles_and_shows_the_article(newsroom):
    standin = newsroom.standin
    typed = standin.send_autocomplete("article", {"id": "drones"}, focused="id",
                                      guild_id=ELSEWHERE)
    callback = typed.wait_for_callback()
    assert callback.status == 200
    choices = callback.json["data"]["choices"]
    assert [c["name"] for c in choices] == [SAMPLE_TITLE]
    assert callback.json["type"] == 8

    shown = standin.send_interaction("article", {"id": choices[0]["value"]}, guild_id=ELSEWHERE)
    assert deferred(shown)["data"]["flags"] & EPHEMERAL
    article = reply_to(shown)
    assert article.ephemeral
    embed = article.embeds[0]
    assert (embed["title"], embed["url"]) == (SAMPLE_TITLE, SAMPLE_URL)
    assert plain(embed["description"]).startswith("Iran will supply unmanned aerial vehicles")
    assert embed["footer"]["text"] == f"Middle East Monitor · 2022-07-13 · article " \
                                      f"{choices[0]['value']}"
    assert [(b["label"], b["url"]) for b in buttons(article)] == [
        ("Read the article", SAMPLE_URL)]

    missing = standin.send_interaction("article", {"id": "999999"}, guild_id=ELSEWHERE)
    assert reply_to(missing).content == "No article 999999."
    unpicked = standin.send_interaction("article", {"id": "drones"}, guild_id=ELSEWHERE)
    reply = reply_to(unpicked)
    assert (reply.content, reply.ephemeral) == (
        "Pick an article from the list: start typing its title.", True)
    assert_alive(newsroom.bot)


# -- 17. load ----------


def test_fifty_questions_at_once_are_all_answered_within_the_deadline(newsroom):
    standin = newsroom.standin
    questions = [standin.send_interaction("ask", {"question": f"{QUESTION} ({i})"},
                                          guild_id=ELSEWHERE) for i in range(50)]

    for interaction in questions:
        callback = interaction.wait_for_callback(timeout=10)
        assert (callback.status, callback.json["type"]) == (200, 5), callback.response
    for interaction in questions:
        assert "the United States has claimed" in quoted(reply_to(interaction, timeout=30))
    assert_alive(newsroom.bot)


# -- 14. the token, and every message of the shared bot ----------


def test_the_shared_bot_never_logged_its_token_and_every_message_was_sendable(newsroom):
    reply_to(newsroom.standin.send_interaction("help", guild_id=HARBOUR))  # at least one
    for message in newsroom.standin.messages_sent():
        assert_sendable(message)
    assert TOKEN not in newsroom.bot.log()
    assert_alive(newsroom.bot)


# -- malformed payloads (what Discord should never send, but a bot must survive) ----------


def test_odd_payloads_get_a_short_private_message_and_the_bot_lives_on(newsroom):
    standin = newsroom.standin
    # A command the bot does not have (say, removed since the client cached it).
    unknown = standin.send_interaction("weather", {"city": "Leeds"}, guild_id=ELSEWHERE)
    # A required option missing.
    missing = standin.send_interaction("ask", {}, guild_id=ELSEWHERE)
    # An option far over the declared 300 characters.
    too_long = standin.send_interaction("ask", {"question": "drones " * 1000},
                                        guild_id=ELSEWHERE)
    for interaction in (missing, too_long):
        reply = interaction.wait_for_reply(timeout=10)
        assert_sendable(reply)
        assert reply.ephemeral or interaction is too_long
        assert len(reply.text) < 300
    assert "Something went wrong (ref " in missing.wait_for_reply().text
    assert "too long" in too_long.wait_for_reply().text
    assert not unknown.replies() or all(len(m.text) < 300 for m in unknown.replies())
    # Still answering afterwards.
    assert "the United States has claimed" in quoted(ask(standin, QUESTION, guild_id=ELSEWHERE))
    assert_alive(newsroom.bot, tracebacks=True)
