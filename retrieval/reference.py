"""The reference engine: rank-bm25 over every passage of the store, held in memory.

It scores the same analyzed terms with the same BM25 as tantivy (k1=1.2, b=0.75, Lucene's IDF,
which stays positive for terms found in most passages), so the two rankings can be compared. It
rebuilds itself whenever the store changes and is far too slow for large corpora: it exists to
check the default engine and to measure it against.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
from rank_bm25 import BM25Okapi

from .analyze import tokens
from .search import K1, TITLE_BOOST, B, Hit
from .store import Store


class LuceneBM25(BM25Okapi):
    """rank-bm25's Okapi BM25 with Lucene's IDF, the formula tantivy uses."""

    def _calc_idf(self, nd: dict) -> None:
        self.df = nd
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


class ReferenceEngine:
    """rank-bm25 over every passage in the store, held in memory."""

    name = "rank-bm25"

    def __init__(self, store_factory: Callable[[], Store]) -> None:
        self._store_factory = store_factory
        self._lock = threading.Lock()
        self._generation: tuple[int, int] | None = None
        self._bm25: LuceneBM25 | None = None
        self._titles: LuceneBM25 | None = None
        self._ids = np.empty(0, dtype=np.int64)
        self._collections = np.empty(0, dtype=object)

    def _current(self) -> LuceneBM25 | None:
        store: Store = self._store_factory()
        with self._lock:
            generation = store.generation()
            if generation != self._generation:
                rows = list(store.index_rows())
                self._ids = np.array([r[0] for r in rows], dtype=np.int64)
                self._collections = np.array([r[2] for r in rows], dtype=object)
                corpus = [tokens(r[4]) for r in rows]
                titles = [tokens(r[3]) for r in rows]
                self._bm25 = LuceneBM25(corpus, k1=K1, b=B) if corpus else None
                self._titles = LuceneBM25(titles, k1=K1, b=B) if corpus else None
                self._generation = generation
            return self._bm25

    def search(self, terms: list[str], *, collections: list[str] | None, limit: int) -> list[Hit]:
        bm25 = self._current()
        if bm25 is None or not terms:
            return []
        scores = bm25.get_scores(terms) + TITLE_BOOST * self._titles.get_scores(terms)
        matched = scores > 0  # Lucene's IDF is positive: any matching term scores
        if collections is not None:
            matched &= np.isin(self._collections, collections)
        candidates = np.flatnonzero(matched)
        order = candidates[np.argsort(-scores[candidates], kind="stable")][:limit]
        return [Hit(int(self._ids[i]), float(scores[i])) for i in order]

    def doc_freqs(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        bm25 = self._current()
        if bm25 is None:
            return 0, dict.fromkeys(terms, 0)
        return bm25.corpus_size, {t: bm25.df.get(t, 0) for t in terms}

    def mentioned(self, terms: list[str], collections: list[str]) -> set[str]:
        bm25 = self._current()
        if bm25 is None:
            return set()
        allowed = np.flatnonzero(np.isin(self._collections, collections))
        return {t for t in terms if any(t in bm25.doc_freqs[i] for i in allowed)}
