"""pytest fixtures that run the bot as a real process against the Discord stand-in.

Import them into conftest.py (``from tests.standin_fixtures import *``) or list this module
in ``pytest_plugins``. Everything is bounded in time: a bot that never connects, or never
exits, fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.discord_standin import DiscordStandIn, sample_guild

__all__ = ["BotProcess", "run_bot", "standin"]

REPO_ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = REPO_ROOT / "tests" / "launch_bot.py"
TOKEN = "test-token"


class BotProcess:
    """A bot subprocess whose stdout and stderr go to one log file."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float = 10.0) -> int:
        """The exit code; raises subprocess.TimeoutExpired if it is still running."""
        return self.proc.wait(timeout)

    def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """Wait until ``text`` appears in the log; returns the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.05)
        raise TimeoutError(f"{text!r} not in the bot log after {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> int:
        """Ctrl-C, as an operator would, so shutdown is tested; kill if it does not exit."""
        if self.alive():
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def bot_environment(token: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The parent's environment without NEWSDESK_* and DISCORD_* settings of the developer,
    plus unbuffered output, the token, and what the test passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSDESK_", "DISCORD_"))}
    env.update(PYTHONUNBUFFERED="1", DISCORD_TOKEN=token)
    env.update(extra or {})
    return env


@pytest.fixture
def standin() -> Iterator[DiscordStandIn]:
    """A running stand-in with one guild: EDITOR owns it and may manage it, READER may not."""
    with DiscordStandIn(token=TOKEN, guilds=[sample_guild()]) as server:
        yield server


@pytest.fixture
def run_bot(tmp_path: Path) -> Iterator[Callable[..., BotProcess]]:
    """Start ``python tests/launch_bot.py API GATEWAY *args`` and wait until it is connected.

    ``run_bot(standin, env={...}, args=["run"], wait_ready=True, ready_timeout=20)``.
    Every bot started is stopped with SIGINT at teardown; its log is printed then, so a
    failing test shows it.
    """
    started: list[BotProcess] = []

    def start(
        standin: DiscordStandIn,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = ("run",),
        wait_ready: bool = True,
        ready_timeout: float = 20.0,
    ) -> BotProcess:
        log_path = tmp_path / f"bot-{len(started)}.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, str(LAUNCHER), standin.api_url, standin.gateway_url, *args],
                cwd=REPO_ROOT,
                env=bot_environment(standin.token, env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        bot = BotProcess(proc, log_path)
        started.append(bot)
        if wait_ready:
            _wait_until_connected(standin, bot, ready_timeout)
        return bot

    yield start

    for bot in started:
        code = bot.stop()
        print(f"--- {bot.log_path} (exit code {code}) ---\n{bot.log()}")


def _wait_until_connected(standin: DiscordStandIn, bot: BotProcess, timeout: float) -> None:
    """Fail fast, with the log, if the bot exits before connecting to the gateway."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            standin.wait_until_ready(timeout=0.1)
            return
        except TimeoutError:
            if not bot.alive():
                raise RuntimeError(
                    f"the bot exited with {bot.returncode} before connecting:\n{bot.log()}"
                ) from None
    bot.stop()
    raise TimeoutError(f"the bot did not connect within {timeout}s:\n{bot.log()}")
