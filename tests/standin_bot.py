"""A tiny discord.py bot that proves the Discord stand-in works before the real bot exists.

Each command exercises one thing the real bot relies on: deferring then following up, a
response that misses the 3-second deadline, a permission check that reads
``interaction.permissions``, a button, autocomplete, an attachment download, and replies
to DMs and mentions. Launched by tests/test_standin.py through tests/launch_bot.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import discord
from discord import app_commands

log = logging.getLogger("standin_bot")

FRUITS = ["apple", "apricot", "banana", "cherry"]


class ClickView(discord.ui.View):
    @discord.ui.button(label="Click", custom_id="standin:click")
    async def click(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"clicked by {interaction.user.name}",
                                                view=None)


def build_tree(client: discord.Client) -> app_commands.CommandTree:
    tree = app_commands.CommandTree(client)

    @tree.command()
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def echo(interaction: discord.Interaction, text: str, private: bool = False) -> None:
        """Repeat the text after deferring, the way slow commands must answer."""
        await interaction.response.defer(ephemeral=private, thinking=True)
        await interaction.followup.send(f"echo: {text}", ephemeral=private)

    @tree.command()
    async def slow(interaction: discord.Interaction) -> None:
        """Answer after the 3-second deadline, which Discord refuses."""
        await asyncio.sleep(3.5)
        await interaction.response.send_message("too late")

    @tree.command()
    @app_commands.guild_only()
    @app_commands.checks.has_permissions(manage_guild=True)
    async def manage(interaction: discord.Interaction) -> None:
        """Only for members who may manage the server."""
        await interaction.response.send_message("you may manage this server", ephemeral=True)

    @tree.command()
    async def button(interaction: discord.Interaction) -> None:
        """Post a message with a button."""
        await interaction.response.send_message("press the button", view=ClickView())

    @tree.command()
    async def pick(interaction: discord.Interaction, fruit: str) -> None:
        """Pick a fruit, with autocomplete."""
        await interaction.response.send_message(f"picked {fruit}")

    @pick.autocomplete("fruit")
    async def pick_fruit(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f, value=f) for f in FRUITS if f.startswith(current)]

    @tree.command()
    async def size(interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Download the attachment and report its size."""
        data = await file.read()
        await interaction.response.send_message(f"{file.filename}: {len(data)} bytes")

    @tree.error
    async def on_error(
        interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        if isinstance(error, app_commands.CheckFailure):
            await interaction.response.send_message("not allowed", ephemeral=True)
            return
        original = getattr(error, "original", error)
        if isinstance(original, discord.NotFound) and original.code == 10062:
            log.warning("interaction %s expired before we answered", interaction.id)
            return
        log.error("command failed", exc_info=error)

    return tree


class StandInBot(discord.Client):
    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.2)
        self.tree = build_tree(self)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_ready(self) -> None:
        log.info("ready as %s in %d guild(s)", self.user, len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        if message.guild is None:
            await message.channel.send(f"dm: {message.content}")
        elif self.user in message.mentions:
            await message.reply(f"mention: {message.clean_content}", mention_author=False)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["run"]:
        print("usage: standin_bot run", file=sys.stderr)
        return 2
    discord.utils.setup_logging(root=True)
    try:
        StandInBot().run(os.environ["DISCORD_TOKEN"], log_handler=None)
    except discord.LoginFailure:
        log.error("login failed: check DISCORD_TOKEN")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
