"""Settings of the engine, read from the environment (and ``.env``) in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import NewsdeskError

DEFAULT_DB = Path("data/newsdesk.db")
DEFAULT_SAMPLE = Path("data/sample")


def env_number(name: str, default: float, kind: type = int) -> float:
    """A number from the environment; a bad value is the user's mistake, said plainly."""
    raw = os.environ.get(name, "").strip()
    try:
        return kind(raw) if raw else default
    except ValueError:
        raise NewsdeskError(f"{name} must be a number, not {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    db: Path = DEFAULT_DB
    engine: str = "tantivy"
    quotes: int = 3
    sample: Path = DEFAULT_SAMPLE

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            db=Path(os.environ.get("NEWSDESK_DB") or DEFAULT_DB),
            engine=os.environ.get("NEWSDESK_ENGINE") or "tantivy",
            quotes=env_number("NEWSDESK_QUOTES", 3),
            sample=Path(os.environ.get("NEWSDESK_SAMPLE") or DEFAULT_SAMPLE),
        )
