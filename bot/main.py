"""The ``newsdesk`` console script: the engine's commands plus the bot's (``run``, ``sync``).

This is the composition root. discord is imported inside the handlers, so ``newsdesk ask`` never
pays for it.
"""

from __future__ import annotations

import argparse

from retrieval import cli


def cmd_run(args: argparse.Namespace) -> int:
    from .app import run

    return run(args)


def cmd_sync(args: argparse.Namespace) -> int:
    from .app import sync

    return sync(args)


def build_parser() -> argparse.ArgumentParser:
    parser, sub = cli.build_parser()
    run = sub.choices["run"]
    run.set_defaults(handler=cmd_run)
    run.add_argument("--sync", action="store_true",
                     help="register the slash commands with Discord before starting")
    p = sub.add_parser("sync", help="register the slash commands with Discord")
    p.add_argument("--guild", type=int, help="only in this server (instant; global takes a while)")
    p.set_defaults(handler=cmd_sync)
    return parser


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, parser=build_parser())
