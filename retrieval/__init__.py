"""newsdesk's engine: store, index, ingest, BM25 search and quoted answers. No Discord here."""

from .desk import Desk
from .errors import NewsdeskError, NotFoundError, QuestionError
from .models import GLOBAL, Answer, Article, IngestResult, IngestSummary, Quote, Stats

__all__ = [
    "GLOBAL",
    "Answer",
    "Article",
    "Desk",
    "IngestResult",
    "IngestSummary",
    "NewsdeskError",
    "NotFoundError",
    "Quote",
    "QuestionError",
    "Stats",
]
