"""Who may do what, and which articles a place may see.

Discord's ``default_permissions`` is only a hint that server admins can change, so admin
commands check here, at run time, on every call.
"""

from __future__ import annotations

import discord

from retrieval.models import GLOBAL

from .config import BotSettings


def guild_collection(guild_id: int) -> str:
    return f"guild:{guild_id}"


def readable(guild_id: int | None) -> list[str]:
    """A server sees its own articles and the global ones; a DM sees only the global ones."""
    return [guild_collection(guild_id), GLOBAL] if guild_id else [GLOBAL]


def writable(guild_id: int | None) -> str:
    """Where an admin's ingest goes: the server's own collection, or global from a DM."""
    return guild_collection(guild_id) if guild_id else GLOBAL


def is_admin(interaction: discord.Interaction, settings: BotSettings) -> bool:
    """Owners anywhere; in a server, Manage Server or the configured admin role."""
    if interaction.user.id in settings.owner_ids:
        return True
    if interaction.guild_id is None:
        return False
    if interaction.permissions.manage_guild:
        return True
    roles = getattr(interaction.user, "roles", [])
    return bool(settings.admin_role) and any(r.name == settings.admin_role for r in roles)
