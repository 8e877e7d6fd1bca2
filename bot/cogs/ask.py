"""Asking: /ask, /article, /stats, /help, and the buttons under an answer."""

from __future__ import annotations

import asyncio
import re

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import Answer, NewsdeskError

from ..formatting import HELP, Reply, answer_reply, article_reply, stats_reply
from ..permissions import readable

MAX_QUESTION = 300


def answer_view(bot, answer: Answer, offset: int) -> discord.ui.View | None:
    """More quotes, the context of each quote, and a link to each source."""
    view = discord.ui.View(timeout=None)
    if answer.more:
        view.add_item(MoreQuotes(bot.remember(answer.question), offset + len(answer.quotes)))
    for i, q in enumerate(answer.quotes):
        view.add_item(Context(q.article_id, q.start, q.end, offset + i + 1))
    for label, url in answer_reply(answer, offset=offset).links[:5]:
        view.add_item(discord.ui.Button(label=label, url=url))
    return view if view.children else None


async def ask_and_reply(
    bot, interaction: discord.Interaction, question: str, *, offset: int = 0,
    private: bool = False,
) -> None:
    """Defer, run the engine in a worker thread, then answer with the followup."""
    wait = bot.limiter.hit(interaction.user.id)
    if wait:
        await interaction.response.send_message(
            f"You're asking faster than I can read: try again in {wait:.0f} s.", ephemeral=True)
        return
    # Defer first: Discord drops an interaction not acknowledged within 3 seconds.
    await interaction.response.defer(ephemeral=private, thinking=True)
    try:
        answer = await asyncio.to_thread(
            bot.desk.ask, question, k=bot.settings.quotes, offset=offset,
            collections=readable(interaction.guild_id),
        )
    except NewsdeskError as e:  # an expected miss, e.g. a question of only common words
        await interaction.followup.send(str(e), ephemeral=private)
        return
    reply = answer_reply(answer, offset=offset)
    await send(interaction, reply, view=answer_view(bot, answer, offset), private=private)


async def send(interaction: discord.Interaction, reply: Reply, *, view=None,
               private: bool = False) -> None:
    kwargs = {"content": reply.content or None, "embeds": reply.embeds, "ephemeral": private}
    if view is not None:
        kwargs["view"] = view
    await interaction.followup.send(**kwargs)


class MoreQuotes(discord.ui.DynamicItem[discord.ui.Button],
                 template=r"more:(?P<qid>\w+):(?P<offset>\d+)"):
    def __init__(self, qid: str, offset: int) -> None:
        super().__init__(discord.ui.Button(label="More quotes", custom_id=f"more:{qid}:{offset}",
                                           style=discord.ButtonStyle.primary))
        self.qid, self.offset = qid, offset

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match) -> MoreQuotes:
        return cls(match["qid"], int(match["offset"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client
        question = bot.recall(self.qid, interaction.message)
        if question is None:
            await interaction.response.send_message(
                "That answer is too old to page through: ask again.", ephemeral=True)
            return
        private = bool(interaction.message and interaction.message.flags.ephemeral)
        await guarded(interaction, ask_and_reply(bot, interaction, question, offset=self.offset,
                                                 private=private))


class Context(discord.ui.DynamicItem[discord.ui.Button],
              template=r"ctx:(?P<article>\d+):(?P<start>\d+):(?P<end>\d+):(?P<n>\d+)"):
    def __init__(self, article_id: int, start: int, end: int, number: int) -> None:
        super().__init__(discord.ui.Button(
            label=f"Context {number}", custom_id=f"ctx:{article_id}:{start}:{end}:{number}",
            style=discord.ButtonStyle.secondary))
        self.article_id, self.start, self.end = article_id, start, end

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match) -> Context:
        return cls(int(match["article"]), int(match["start"]), int(match["end"]), int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, show_article(interaction, self.article_id, self.start,
                                                self.end))


async def guarded(interaction: discord.Interaction, work) -> None:
    """Buttons bypass the command tree's error handler: give them the same one."""
    try:
        await work
    except Exception as e:
        await interaction.client.tree.on_error(interaction, e)


async def show_article(interaction: discord.Interaction, article_id: int,
                       start: int | None = None, end: int | None = None) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    desk = interaction.client.desk
    try:
        article = await asyncio.to_thread(
            desk.article, article_id, collections=readable(interaction.guild_id))
    except NewsdeskError as e:
        await interaction.followup.send(str(e), ephemeral=True)
        return
    reply = article_reply(article, start, end)
    view = discord.ui.View()
    for label, url in reply.links:
        view.add_item(discord.ui.Button(label=label, url=url))
    await interaction.followup.send(embeds=reply.embeds, view=view, ephemeral=True)


class Ask(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot

    @app_commands.command()
    @app_commands.describe(
        question="What you want to know, e.g. who claimed Iran is supplying drones?",
        private="Only you see the answer (default: no)",
    )
    async def ask(
        self, interaction: discord.Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION], private: bool = False,
    ) -> None:
        """Answer a question with quotes from the news articles."""
        await ask_and_reply(self.bot, interaction, question, private=private)

    @app_commands.command()
    @app_commands.describe(id="The article (start typing its title)")
    async def article(self, interaction: discord.Interaction, id: str) -> None:
        """Show an article's source and its opening."""
        # A string option: Discord's client lets only digits into an integer one, so nobody
        # could type a title to autocomplete. The choices' values are the ids.
        if not re.fullmatch(r"[0-9]{1,18}", id.strip()):
            await interaction.response.send_message(
                "Pick an article from the list: start typing its title.", ephemeral=True)
            return
        await show_article(interaction, int(id))

    @article.autocomplete("id")
    async def article_titles(self, interaction: discord.Interaction, current: str):
        titles = await asyncio.to_thread(
            self.bot.desk.titles, current[:100], readable(interaction.guild_id), 25)
        return [app_commands.Choice(name=title[:100] or f"article {i}", value=str(i))
                for i, title in titles]

    @app_commands.command()
    async def stats(self, interaction: discord.Interaction) -> None:
        """How many articles I can search here."""
        stats = await asyncio.to_thread(self.bot.desk.stats, readable(interaction.guild_id))
        await interaction.response.send_message(embeds=stats_reply(stats).embeds, ephemeral=True)

    @app_commands.command()
    async def help(self, interaction: discord.Interaction) -> None:
        """How to use newsdesk."""
        await interaction.response.send_message(HELP, ephemeral=True)


async def setup(bot) -> None:
    bot.add_dynamic_items(MoreQuotes, Context)
    await bot.add_cog(Ask(bot))
