"""Admin commands: /ingest, /forget, /feeds. Checked here on every call, whatever the server's
command permissions say, and answered privately."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import IngestResult, NewsdeskError
from retrieval.files import read_data
from retrieval.render import NOT_SEARCHABLE_YET, plural

from ..formatting import MESSAGE, safe, shorten
from ..permissions import is_admin, writable

log = logging.getLogger(__name__)

MANAGE = discord.Permissions(manage_guild=True)


def admin_only():
    async def predicate(interaction: discord.Interaction) -> bool:
        if is_admin(interaction, interaction.client.settings):
            return True
        raise app_commands.CheckFailure(
            "Only server admins (Manage Server) can do that."
            if interaction.guild_id else "Only the bot's owners can do that in DMs."
        )

    return app_commands.check(predicate)


def describe(results: list[IngestResult], limit: int = 10) -> str:
    lines = []
    for r in results[:limit]:
        what = safe(shorten(r.title or r.source, 120))
        if r.status == IngestResult.REFUSED:
            lines.append(f"❌ refused {safe(shorten(r.source, 120))}: {safe(r.reason or '')}")
        elif r.status == IngestResult.UNCHANGED:
            lines.append(f"➖ unchanged (already have it): {what}")
        else:
            lines.append(f"✅ {r.status}: {what} ({plural(r.passages, 'passage')}, "
                         f"article {r.article_id})")
    if len(results) > limit:
        lines.append(f"… and {len(results) - limit} more")
    if any(r.index_busy for r in results):
        lines.insert(0, NOT_SEARCHABLE_YET)  # first: the end of a long list may be cut
    # Escaping can double a title's length: whatever the titles, stay within one message.
    return shorten("\n".join(lines), MESSAGE) or "Nothing to ingest."


class Admin(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot

    @app_commands.command()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(file="A .txt, .md, .html, .json or .jsonl file of articles",
                           url="The address of a news article")
    @admin_only()
    async def ingest(self, interaction: discord.Interaction,
                     file: discord.Attachment | None = None, url: str | None = None) -> None:
        """Add articles from a file or a web page (admins only)."""
        if (file is None) == (url is None):
            await interaction.response.send_message(
                "Give either a file or a url.", ephemeral=True)
            return
        if file is not None and file.size > self.bot.settings.max_upload:
            await interaction.response.send_message(
                f"That file is {file.size:,} bytes; the limit is "
                f"{self.bot.settings.max_upload:,}.", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        collection = writable(interaction.guild_id)
        by = f"discord:{interaction.user.id}"
        if file is not None:
            data = await file.read()
            summary = await asyncio.to_thread(
                self.bot.desk.ingest, read_data(file.filename, data), collection=collection,
                by=by)
            results = summary.results
        else:
            from retrieval.sources import ingest_url

            results = [await asyncio.to_thread(
                ingest_url, self.bot.desk, url, collection=collection, by=by)]
        log.info("ingest by %s into %s: %s", interaction.user.id, collection,
                 ", ".join(r.status for r in results[:20]))
        await interaction.followup.send(describe(results), ephemeral=True)

    @app_commands.command()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        article="The article to remove (start typing its title, or give its id or URL)")
    @admin_only()
    async def forget(self, interaction: discord.Interaction, article: str) -> None:
        """Remove an article from this server's collection (admins only)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            removed = await asyncio.to_thread(
                self.bot.desk.remove, article,
                collections=[writable(interaction.guild_id)])
        except NewsdeskError as e:
            await interaction.followup.send(str(e), ephemeral=True)
            return
        titles = ", ".join(safe(shorten(a.title, 100)) for a in removed)
        await interaction.followup.send(f"Removed: {titles}", ephemeral=True)

    @forget.autocomplete("article")
    async def forget_titles(self, interaction: discord.Interaction, current: str):
        titles = await asyncio.to_thread(
            self.bot.desk.titles, current[:100], [writable(interaction.guild_id)], 25)
        return [app_commands.Choice(name=t[:100] or f"article {i}", value=str(i))
                for i, t in titles]

    feeds = app_commands.Group(name="feeds", description="RSS/Atom feeds I follow (admins only)",
                               default_permissions=MANAGE)

    @feeds.command(name="add")
    @app_commands.describe(url="The address of an RSS or Atom feed")
    @admin_only()
    async def feeds_add(self, interaction: discord.Interaction, url: str) -> None:
        """Follow a feed: its new articles are added as they appear."""
        from retrieval.sources import subscribe

        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            row = await asyncio.to_thread(
                subscribe, self.bot.desk, url, collection=writable(interaction.guild_id),
                by=f"discord:{interaction.user.id}")
        except NewsdeskError as e:
            await interaction.followup.send(f"Not added: {safe(str(e))}", ephemeral=True)
            return
        name = safe(shorten(row["title"] or row["url"], 200))
        minutes = max(1, round(self.bot.settings.feed_interval / 60))
        await interaction.followup.send(
            f"Following feed {row['id']}: {name}. New articles arrive within "
            f"{plural(minutes, 'minute')}.", ephemeral=True)

    @feeds.command(name="list")
    @admin_only()
    async def feeds_list(self, interaction: discord.Interaction) -> None:
        """The feeds this server follows."""
        rows = await asyncio.to_thread(
            self.bot.desk.feeds, [writable(interaction.guild_id)])
        lines = [
            f"`{r['id']}` {safe(shorten(r['title'] or r['url'], 120))} — "
            + (f"failing: {safe(shorten(r['last_error'] or '', 200))}" if r["failures"]
               else f"last checked {r['last_polled'] or 'not yet'}")
            for r in rows
        ]
        await interaction.response.send_message(
            shorten("\n".join(lines) or "No feeds yet: `/feeds add url:`", 2000), ephemeral=True)

    @feeds.command(name="remove")
    @app_commands.describe(feed="The feed's number (from /feeds list) or address")
    @admin_only()
    async def feeds_remove(self, interaction: discord.Interaction, feed: str) -> None:
        """Stop following a feed (its articles stay)."""
        from retrieval.sources import unsubscribe

        try:
            row = await asyncio.to_thread(
                unsubscribe, self.bot.desk, feed, collections=[writable(interaction.guild_id)])
        except NewsdeskError as e:
            await interaction.response.send_message(str(e), ephemeral=True)
            return
        await interaction.response.send_message(
            f"Stopped following {safe(row['url'])}.", ephemeral=True)


async def setup(bot) -> None:
    await bot.add_cog(Admin(bot))

