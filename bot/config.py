"""The bot's settings: the only reader of the environment (and ``.env``) on the bot side."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from retrieval.config import Settings as EngineSettings
from retrieval.config import env_number
from retrieval.errors import NewsdeskError


def _ids(name: str) -> frozenset[int]:
    raw = os.environ.get(name, "")
    try:
        return frozenset(int(part) for part in raw.replace(",", " ").split())
    except ValueError:
        raise NewsdeskError(f"{name} must be a list of Discord user ids") from None


@dataclass(frozen=True)
class BotSettings:
    token: str
    db: Path
    engine: str = "tantivy"
    quotes: int = 3
    admin_role: str | None = None
    owner_ids: frozenset[int] = frozenset()
    rate_limit: int = 5
    rate_window: float = 30.0
    max_upload: int = 8_000_000
    feed_interval: float = 900.0
    sync_on_start: bool = True

    def __repr__(self) -> str:  # never print the token
        return f"BotSettings(db={self.db!s}, engine={self.engine!r})"

    @classmethod
    def from_env(cls, db: str | Path | None = None) -> BotSettings:
        engine = EngineSettings.from_env()
        token = os.environ.get("DISCORD_TOKEN", "").strip()
        if not token:
            raise NewsdeskError(
                "DISCORD_TOKEN is not set: put the bot's token in the environment or in .env "
                "(see .env.example)"
            )
        return cls(
            token=token,
            db=Path(db) if db else engine.db,
            engine=engine.engine,
            quotes=engine.quotes,
            admin_role=os.environ.get("NEWSDESK_ADMIN_ROLE") or None,
            owner_ids=_ids("NEWSDESK_OWNER_IDS"),
            rate_limit=env_number("NEWSDESK_RATE_LIMIT", 5),
            rate_window=env_number("NEWSDESK_RATE_WINDOW", 30.0, float),
            max_upload=env_number("NEWSDESK_MAX_UPLOAD", 8_000_000),
            feed_interval=env_number("NEWSDESK_FEED_INTERVAL", 900.0, float),
            sync_on_start=os.environ.get("NEWSDESK_SYNC_ON_START", "1").lower()
            not in ("0", "false", "no"),
        )
