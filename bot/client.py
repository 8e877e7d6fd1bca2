"""The Discord client: wires settings, the engine and the cogs together, and nothing else."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import secrets
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import Desk, NewsdeskError

from .config import BotSettings
from .formatting import asked_in
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.cogs.ask", "bot.cogs.messages", "bot.cogs.admin")


def _question_id(question: str) -> str:
    return hashlib.sha1(question.encode()).hexdigest()[:12]


async def apologise(interaction: discord.Interaction, error: BaseException) -> None:
    """The third tier of errors: log the traceback with a reference, tell the user the ref."""
    ref = secrets.token_hex(4)
    log.error("error %s in %s", ref, getattr(interaction.command, "name", "interaction"),
              exc_info=error)
    await reply_privately(interaction, f"Something went wrong (ref {ref}). Please try again.")


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            # The first followup replaces a "thinking…" message and keeps its visibility, so
            # an apology after a public deferral would be public: remove the message first.
            original = await interaction.original_response()
            if original.flags.loading and not original.flags.ephemeral:
                await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not tell the user about an error (interaction %s)", interaction.id)


class Tree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause = getattr(error, "original", error)
        if isinstance(cause, NewsdeskError):  # expected: its message is for the user
            await reply_privately(interaction, str(cause))
        elif isinstance(error, app_commands.CheckFailure):
            await reply_privately(interaction, str(error) or "You can't use that here.")
        else:
            await apologise(interaction, cause)


class NewsdeskBot(commands.Bot):
    def __init__(self, settings: BotSettings, desk: Desk) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=discord.Intents.default(),  # no privileged intents: DMs and mentions suffice
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=Tree,
            allowed_contexts=app_commands.AppCommandContext(
                guild=True, dm_channel=True, private_channel=True
            ),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=True),
        )
        self.settings = settings
        self.desk = desk
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_window)
        self.questions: dict[str, str] = {}  # "More quotes" buttons refer to questions by id
        self._poller: asyncio.Task | None = None

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self.settings.sync_on_start:
            await self.sync_if_changed()
        self._poller = asyncio.create_task(self.poll_feeds_forever())

    async def close(self) -> None:
        if self._poller:
            self._poller.cancel()
        await super().close()

    async def on_message(self, message: discord.Message) -> None:
        """Messages are questions (see cogs/messages.py), never prefix commands."""

    def remember(self, question: str) -> str:
        """A short id for a question, for buttons (custom ids hold at most 100 characters)."""
        qid = _question_id(question)
        self.questions[qid] = question
        while len(self.questions) > 5000:
            self.questions.pop(next(iter(self.questions)))
        return qid

    def recall(self, qid: str, message: discord.Message | None) -> str | None:
        """The question behind a button's id: remembered, or else (after a restart, or once
        forgotten) read back from the answer the button is under, if its id proves it is the
        same question."""
        question = self.questions.get(qid)
        if question is None and message is not None:
            shown = asked_in(message.content or "")
            if shown and _question_id(shown) == qid:
                question = shown
                self.remember(question)
        return question

    # -- command registration ----------

    def command_payload(self) -> list[dict[str, Any]]:
        return [c.to_dict(self.tree) for c in self.tree.get_commands()]

    async def sync_if_changed(self) -> None:
        """Register the commands only when they changed: Discord limits creations per day,
        and on_ready (which runs on every reconnect) is the wrong place for it."""
        marker = self.settings.db.with_suffix(".commands")
        digest = hashlib.sha256(
            json.dumps([self.application_id, self.command_payload()], sort_keys=True).encode()
        ).hexdigest()
        if marker.exists() and marker.read_text().strip() == digest:
            log.info("slash commands unchanged; not syncing")
            return
        synced = await self.tree.sync()
        marker.write_text(digest)
        log.info("synced %d slash commands", len(synced))

    # -- feeds ----------

    async def poll_feeds_forever(self) -> None:
        """Poll due feeds in a worker thread, forever, with jitter; one failure stops nothing."""
        from retrieval.sources import poll

        await self.wait_until_ready()
        interval = self.settings.feed_interval
        while not self.is_closed():
            try:
                reports = await asyncio.to_thread(poll, self.desk, interval=interval)
                for r in reports:
                    if r.added or r.updated or r.error:
                        log.info("feed %s: %d added, %d updated%s", r.feed, r.added, r.updated,
                                 f", error: {r.error}" if r.error else "")
            except Exception:
                log.exception("feed polling failed; trying again later")
            await asyncio.sleep(min(interval, 60) * random.uniform(0.8, 1.2))
