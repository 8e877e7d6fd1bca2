"""Questions as messages: anything sent to the bot in a DM, or "@newsdesk ..." in a channel.

Neither needs the privileged message-content intent: Discord sends the content of DMs and of
messages that mention the bot.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets

import discord
from discord.ext import commands

from retrieval import NewsdeskError

from ..formatting import answer_reply
from ..permissions import readable
from .ask import answer_view

log = logging.getLogger(__name__)


class Messages(commands.Cog):
    def __init__(self, bot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return  # our own answers come back as messages too
        in_dm = message.guild is None
        if not in_dm and self.bot.user not in message.mentions:
            return
        question = re.sub(rf"<@!?{self.bot.user.id}>", " ", message.content).strip()
        try:
            await self.answer(message, question, in_dm)
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("error %s answering message %s", ref, message.id)
            await self.respond(message, in_dm, content=f"Something went wrong (ref {ref}).")

    async def answer(self, message: discord.Message, question: str, in_dm: bool) -> None:
        if not question:
            await self.respond(message, in_dm, content="Ask me a question about the news, "
                               "e.g. *who claimed Iran is supplying drones?*")
            return
        wait = self.bot.limiter.hit(message.author.id)
        if wait:
            await self.respond(message, in_dm, content=f"You're asking faster than I can read: "
                               f"try again in {wait:.0f} s.")
            return
        try:
            answer = await asyncio.to_thread(
                self.bot.desk.ask, question, k=self.bot.settings.quotes,
                collections=readable(message.guild.id if message.guild else None),
            )
        except NewsdeskError as e:
            await self.respond(message, in_dm, content=str(e))
            return
        reply = answer_reply(answer)
        view = answer_view(self.bot, answer, 0)
        await self.respond(message, in_dm, content=reply.content, embeds=reply.embeds, view=view)

    async def respond(self, message: discord.Message, in_dm: bool, **kwargs) -> None:
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if in_dm:
            await message.channel.send(**kwargs)
        else:
            await message.reply(**kwargs, mention_author=False)


async def setup(bot) -> None:
    await bot.add_cog(Messages(bot))
