"""The values that cross module boundaries: small, frozen, typed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

GLOBAL = "global"
"""The collection answerable everywhere (CLI ingests, owners' DMs)."""


@dataclass(frozen=True)
class Article:
    """An article as a source gives it, before or after it is stored.

    ``key`` is its identity inside a collection: the URL when it has one, else the record id the
    source gave, else a file name. Re-ingesting the same key updates the article in place.
    """

    title: str
    text: str
    url: str | None = None
    publisher: str | None = None
    author: str | None = None
    published: str | None = None
    language: str | None = None
    key: str | None = None
    collection: str = GLOBAL
    id: int | None = None
    content_hash: str | None = None
    ingested_at: str | None = None
    ingested_by: str | None = None

    @property
    def identity(self) -> str | None:
        return self.key or self.url


@dataclass(frozen=True)
class Passage:
    """A few sentences of an article: always ``article.text[start:end]``."""

    article_id: int
    ordinal: int
    start: int
    end: int
    id: int | None = None


@dataclass(frozen=True)
class Copy:
    """Another article that carries the same sentence: a syndicated copy of the story."""

    article_id: int
    title: str
    publisher: str | None
    published: str | None
    url: str | None


@dataclass(frozen=True)
class Quote:
    """A verbatim span of one article, with where it came from and why it was picked."""

    text: str
    title: str
    publisher: str | None
    author: str | None
    published: str | None
    url: str | None
    article_id: int
    start: int
    end: int
    score: float
    matched_terms: tuple[str, ...] = ()
    also: tuple[Copy, ...] = ()
    """Other articles with the same sentence (give or take a dateline), not quoted again."""


@dataclass(frozen=True)
class Answer:
    """What ``ask`` returns; ``to_dict`` is the stable JSON schema the bot and tools read."""

    question: str
    quotes: tuple[Quote, ...]
    searched_articles: int
    searched_passages: int
    took_ms: float
    more: bool = False

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "quotes": [
                {**asdict(q), "matched_terms": list(q.matched_terms),
                 "also": [asdict(c) for c in q.also]}
                for q in self.quotes
            ],
            "searched": {"articles": self.searched_articles, "passages": self.searched_passages},
            "took_ms": round(self.took_ms, 3),
        }


@dataclass(frozen=True)
class IngestResult:
    """The fate of one source: added, updated, unchanged or refused (with the reason)."""

    status: str
    source: str
    title: str | None = None
    article_id: int | None = None
    passages: int = 0
    reason: str | None = None
    index_busy: bool = False
    """Stored, but another process's ingest held the search index: searchable once that
    ingest (or the next question) takes it in from the outbox."""

    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass
class IngestSummary:
    """Counts of a bulk ingest, with the first results and refusals kept for the report.

    Memory stays bounded however many articles go in: only ``KEEP`` results of each kind are
    kept, the rest are counted.
    """

    KEEP = 1000

    counts: dict[str, int] = field(default_factory=dict)
    passages: int = 0
    results: list[IngestResult] = field(default_factory=list)
    refused: list[IngestResult] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)
    index_busy: int = 0
    """Articles stored but not yet searchable (``IngestResult.index_busy``)."""

    def add(self, result: IngestResult) -> None:
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        self.index_busy += result.index_busy
        self.passages += result.passages
        if result.status == IngestResult.REFUSED:
            reason = result.reason or "refused"
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if len(self.results) < self.KEEP:
            self.results.append(result)
        if result.status == IngestResult.REFUSED and len(self.refused) < self.KEEP:
            self.refused.append(result)

    def count(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Stats:
    articles: int
    passages: int
    collections: dict[str, int]
    last_ingest: str | None
