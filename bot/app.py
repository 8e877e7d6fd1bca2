"""Start the bot (``newsdesk run``) or register its commands (``newsdesk sync``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import replace

import discord

from retrieval import Desk

from .client import NewsdeskBot
from .config import BotSettings

log = logging.getLogger("newsdesk.bot")


def _build(args: argparse.Namespace, *, sync_on_start: bool | None = None) -> NewsdeskBot:
    settings = BotSettings.from_env(db=args.db)
    if getattr(args, "sync", False):
        sync_on_start = True
    if sync_on_start is not None:
        settings = replace(settings, sync_on_start=sync_on_start)
    desk = Desk(settings.db, engine=settings.engine)
    return NewsdeskBot(settings, desk)


async def _serve(bot: NewsdeskBot) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda s=sig: _stop(bot, s))
    async with bot:
        await bot.start(bot.settings.token)


def _stop(bot: NewsdeskBot, sig: signal.Signals) -> None:
    log.info("received %s; closing", sig.name)
    asyncio.ensure_future(bot.close())


def run(args: argparse.Namespace) -> int:
    bot = _build(args)
    logging.getLogger().handlers.clear()  # the CLI's plain handler; discord's takes over
    discord.utils.setup_logging(level=logging.INFO)
    log.info("serving %s with the %s engine", bot.settings.db, bot.settings.engine)
    try:
        asyncio.run(_serve(bot))
    except discord.LoginFailure:
        print("newsdesk: Discord refused the token (DISCORD_TOKEN): check it in the developer "
              "portal", file=sys.stderr)
        return 1
    finally:
        bot.desk.close()
    log.info("closed")
    return 0


def sync(args: argparse.Namespace) -> int:
    bot = _build(args, sync_on_start=False)

    async def register() -> int:
        async with bot:
            await bot.login(bot.settings.token)  # runs setup_hook, which loads the commands
            guild = discord.Object(id=args.guild) if args.guild else None
            if guild:
                bot.tree.copy_global_to(guild=guild)
            synced = await bot.tree.sync(guild=guild)
            where = f"server {args.guild}" if guild else "all servers (may take a while to show)"
            print(f"registered {len(synced)} commands in {where}")
            return 0

    try:
        return asyncio.run(register())
    except discord.LoginFailure:
        print("newsdesk: Discord refused the token (DISCORD_TOKEN)", file=sys.stderr)
        return 1
    finally:
        bot.desk.close()
