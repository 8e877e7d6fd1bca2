"""One analyzer for indexing and for questions, so both engines see exactly the same terms.

The chain is tantivy's own (Unicode words, lowercase, English Snowball stemming), used natively by
the tantivy index and called from Python for the rank-bm25 reference engine and for quote
selection. Lucene's English stop words are left out of the index, as BM25 baselines do; questions
also lose the words that shape a question but carry no topic ("who", "how many", ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import tantivy

TOKENIZER_NAME = "newsdesk_en2"
"""Stored in every index's schema: a new name for a changed analyzer makes an index built with
the old one fail to open, and so be rebuilt from the store ("newsdesk_en" kept stop words)."""

INDEX_STOP_WORDS = frozenset(
    """
    a an and are as at be but by for if in into is it no not of on or such that the their then
    there these they this to was will with
    """.split()
)
"""Lucene's English stop words (what BM25 baselines use, Elasticsearch's ``_english_``).
Never searched, they only made passages longer: out of the index, tantivy indexes 10-15%
faster (29% of the words of the benchmark's synthetic corpus are these)."""

STOP_WORDS = INDEX_STOP_WORDS | frozenset(
    """
    who whom whose what which when where why how many much
    do does did done has have had having was were been being am can could would should shall
    may might must i me my we our us you your he him his she her its it's them s
    about tell say give me please any some from than
    """.split()
)

WORD = re.compile(r"[^\W_]+")
"""A word as the tokenizer sees it: a run of letters and digits."""


def _builder(stop_words: frozenset[str]) -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.custom_stopword(sorted(stop_words)))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


@lru_cache(maxsize=1)
def index_analyzer() -> tantivy.TextAnalyzer:
    """The analyzer registered on the tantivy index: every word but stop words, stemmed."""
    return _builder(INDEX_STOP_WORDS)


@lru_cache(maxsize=1)
def _query_analyzer() -> tantivy.TextAnalyzer:
    return _builder(STOP_WORDS)


def tokens(text: str) -> list[str]:
    """The terms of a text, in order, as the index stores them."""
    return index_analyzer().analyze(text)


def query_terms(question: str) -> list[str]:
    """The distinct content terms of a question, in order of first appearance."""
    return list(dict.fromkeys(_query_analyzer().analyze(question)))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The index term of one word ('' when it has none: a stop word, or too long)."""
    out = index_analyzer().analyze(word)
    return out[0] if out else ""


def words(text: str) -> Iterator[tuple[int, int, str]]:
    """Word spans (start, end, term) in a text, for highlighting and quote selection."""
    for m in WORD.finditer(text):
        term = stem(m.group())
        if term:
            yield m.start(), m.end(), term
