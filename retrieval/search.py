"""What a BM25 engine answers. Two engines implement it: ``index.TantivyIndex`` (the default)
and ``reference.ReferenceEngine`` (rank-bm25 in memory, to check and measure the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

K1, B = 1.2, 0.75
TITLE_BOOST = 0.35
"""A passage is also found by its article's title, at this weight relative to its own text."""

ENGINES = ("tantivy", "rank-bm25")


@dataclass(frozen=True)
class Hit:
    passage_id: int
    score: float


class Engine(Protocol):
    name: str

    def search(
        self, terms: list[str], *, collections: list[str] | None, limit: int
    ) -> list[Hit]: ...

    def doc_freqs(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """The number of passages, and how many contain each term (in every collection)."""
        ...

    def mentioned(self, terms: list[str], collections: list[str]) -> set[str]:
        """The terms that some passage of these collections contains."""
        ...
