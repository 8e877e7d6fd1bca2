"""Shared fixtures: isolated settings, a real temporary database, the shipped sample."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrieval import Desk
from retrieval.files import read_paths
from tests.standin_fixtures import run_bot, standin  # noqa: F401  (fixtures)
from tests.web_fixtures import web_server  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
SHARED = Path(os.environ.get("NEWSDESK_SHARED", ROOT.parent / "shared"))


def sample_passages() -> int:
    """How many passages the shipped sample article splits into."""
    from retrieval.files import read_paths
    from retrieval.passages import passages

    (article,) = read_paths([SAMPLE])
    return len(passages(article.text))


def shared(*parts: str) -> Path:
    """A file of the shared evaluation data; its absence is an error, not a skip."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(f"shared data missing: {path} (set NEWSDESK_SHARED to the shared/ folder)")
    return path


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No test sees the developer's settings or secrets."""
    for name in list(os.environ):
        if name.startswith("NEWSDESK_") and name != "NEWSDESK_SHARED" or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "newsdesk.db"


@pytest.fixture
def desk(db_path):
    with Desk(db_path) as d:
        yield d


@pytest.fixture
def sample_desk(desk):
    summary = desk.ingest(read_paths([SAMPLE]))
    assert summary.count("added") == 1
    return desk
