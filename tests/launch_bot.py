"""Run the bot's real entry point against a local Discord stand-in. Tests only.

    python tests/launch_bot.py API_URL GATEWAY_URL [args...]

discord.py has no setting for its base URLs, so this launcher points the two class
attributes it reads at the stand-in, then calls the console script's function
(``bot.main:main``) with the remaining arguments. Production code keeps no test seam, and
the test still exercises ``main``, ``Client.run``, signal handling and the exit code.

``NEWSDESK_LAUNCH_TARGET="pkg.module:function"`` runs another entry point instead; the
stand-in's self-tests use it to launch tests/standin_bot.py.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TARGET = "bot.main:main"


def point_discord_at(api_url: str, gateway_url: str) -> None:
    """Send discord.py's REST calls (webhooks and interaction callbacks included) and its
    first gateway connection to the stand-in. Resumes follow READY's resume_gateway_url."""
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def load_target(spec: str) -> Callable[[list[str]], int | None]:
    module_name, _, function = spec.partition(":")
    return getattr(importlib.import_module(module_name), function or "main")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    api_url, gateway_url, *args = argv
    point_discord_at(api_url, gateway_url)
    target = load_target(os.environ.get("NEWSDESK_LAUNCH_TARGET", DEFAULT_TARGET))
    return target(args) or 0


if __name__ == "__main__":
    # Run as a script, Python puts tests/ first on sys.path; import from the repo root instead.
    sys.path[0] = str(REPO_ROOT)
    sys.exit(main())
