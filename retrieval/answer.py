"""Pick the quotes: from the best BM25 passages, the sentences that best answer the question.

BM25 finds passages; inside them each sentence is scored by how much of the question's weight
(IDF) it covers, plus a bonus when it has what the question asks for (a number for "how many",
a date for "when", an attribution for "who said", a place for "where"). A sentence that covers too
little of the question is not an answer: that is how "no answer" is decided, so a question the
corpus cannot answer gets no unrelated quote. Pure functions: the engine and store are passed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from .analyze import WORD, stem, words
from .models import Copy, Quote
from .passages import sentences, unpack

MIN_COVERAGE = 0.4
"""Share of the question's weight a sentence must cover to be quoted."""

SMOOTHING = 1.0
"""Added to every term's IDF, so that on a small corpus (where IDF is near zero for most terms)
coverage still means 'how much of the question', not noise."""

MIN_MATCH = 0.55
"""The best passage's BM25 score as a share of the question's total IDF: below it no passage
matches enough of the question for any of its sentences to answer it."""

TYPE_BONUS = 0.2
TITLE_MATCH = 0.7
"""A question term found in the article's title but not in the sentence counts this much."""
PASSAGE_WEIGHT = 0.3
SOFT_MATCH = 0.8
CARRY = 0.5
"""A question term in the sentence before counts this much: answers often name their subject
only as "he" or "the company", having named it one sentence earlier. Such a sentence is quoted
with the one before it (up to ``MAX_QUOTE`` characters), so that the quote shows what matched."""
MAX_QUOTE = 1000
PER_ARTICLE = 2
"""Quotes from one article at most, unless asked otherwise."""
REPEAT_PENALTY = 0.2
"""A sentence ranks as if it scored this much less for each better sentence of its own article:
another source comes first unless the article's next sentence is clearly better. (On SQuAD's
tuning sample the first 3 quotes held the answer 0.804 of the time at one per article, 0.8295
with this, 0.8355 with two and no penalty; of 300 Reuters questions, 15 answers hold two
quotes of one article with it, 128 without.)"""

_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec"
)
# Matched against lowercased text: with re.IGNORECASE the same search takes three times as long.
_WHEN = re.compile(
    rf"\b(?:{_MONTHS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|"
    r"tomorrow|yesterday|tonight|week|month|year|spring|summer|autumn|fall|winter|"
    r"(?:1[89]|20)\d\d|\d{1,2}(?:st|nd|rd|th)|soon|later|earlier|since|until|by then)\b",
)
_QUANTITY = re.compile(
    r"\d|\b(?:hundreds?|thousands?|millions?|billions?|trillions?|dozens?|several|"
    r"percent|per cent|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)\b",
)
_SMALL_NUMBER = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|half|few)\b",
)
_ATTRIBUTION = re.compile(
    r"\b(?:said|says|say|claimed|claims|claim|told|tells|according to|announced|announces|"
    r"stated|states|added|adds|warned|warns|argued|argues|alleged|alleges|reported|reports|"
    r"revealed|reveals|insisted|denied|denies|confirmed|confirms|accused|accuses|believes|"
    r"wrote|writes|noted|explained|indicates|indicated)\b",
)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+|\b[A-Z]{2,}\b")
_CAPITALISED = re.compile(r"(?<![\w'’])[A-Z][\w’'-]*")
_PLACE = re.compile(r"\b(?:in|at|from|near|to|into|across)\s+(?:the\s+)?[A-Z][\w’'-]+")

# What a question asks for, wherever it says so: "Russia bought how many drones?", "In what year
# did ...?" (on SQuAD's dev set, 358 questions typed this way and not by their first words:
# first quote 0.774 -> 0.799).
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|long|far|old|big|large)\b|^what (?:number|percentage)\b"
)
_ASKS_WHEN = re.compile(
    r"^(?:when|what (?:time|date|day|year|month))\b|\bwhen\?$|^by when\b"
    r"|\b(?:in|by|on|during|since|until|from|to|of) (?:what|which) "
    r"(?:year|date|day|month|decade|century)\b"
)


def question_type(question: str) -> str | None:
    q = question.strip().lower()
    if _ASKS_NUMBER.search(q):
        return "number"
    if _ASKS_WHEN.search(q):
        return "when"
    if re.match(r"(?:who|whom|whose|which (?:person|people|official|company|group))\b", q):
        # "Who claimed ...?" wants whoever said it; "who won ...?" any sentence (an attribution
        # bonus there cost SQuAD's who-questions 1.8 points of first-quote answers).
        return "who" if _ATTRIBUTION.search(q) else None
    if re.match(r"(?:where|what (?:country|city|place))\b", q):
        return "where"
    if re.match(r"(?:which|what) (?!(?:is|was|has|does)\b)\w+s\b", q):
        return "names"
    return None


def fit(kind: str | None, text: str) -> float:
    """How well a sentence has the kind of thing the question asks for (0 to 1)."""
    if kind == "number":
        low = text.lower()
        return 1.0 if _QUANTITY.search(low) else 0.5 if _SMALL_NUMBER.search(low) else 0.0
    if kind == "when":
        return float(bool(_WHEN.search(text.lower())))
    if kind == "who":
        return float(bool(_ATTRIBUTION.search(text.lower())) and bool(_NAME.search(text)))
    if kind == "where":
        return float(bool(_PLACE.search(text)))
    if kind == "names":  # "which countries ...": a sentence that lists several names
        return float(sum(1 for m in _CAPITALISED.finditer(text) if m.start() > 0) >= 3)
    return 0.0


def weights(n_docs: int, doc_freqs: dict[str, int]) -> dict[str, float]:
    """Each term's weight in coverage: smoothed Lucene IDF. A term no passage has counts as
    rare (document frequency 1): it cannot be matched, so it should lower coverage, not
    dominate it."""
    return {t: SMOOTHING + idf(n_docs, df) for t, df in doc_freqs.items()}


def idf(n_docs: int, df: int) -> float:
    """Lucene's IDF, as BM25 scores use it (a term no passage has counts as found once)."""
    n, df = max(n_docs, 1), max(df, 1)
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def match_share(best_score: float, n_docs: int, doc_freqs: dict[str, int]) -> float:
    """How much of the question the best passage matches: its BM25 score over the sum of the
    question terms' IDF (Lucene's, as in the score). Coverage judges one sentence; this judges
    whether the articles hold the question's subject at all. Words no article has are left
    out: they may be the asker's wording ("gave" for "supplied"), and names no article has
    are ``missing_names``' to catch."""
    total = sum(idf(n_docs, df) for df in doc_freqs.values() if df)
    return best_score / total if total else 0.0


def names(text: str) -> set[str]:
    """Terms of the capitalised words in a text, past its first word."""
    return {stem(m.group()) for m in _CAPITALISED.finditer(text) if m.start() > 0} - {""}


def missing_names(question: str, doc_freqs: dict[str, int]) -> list[str]:
    """Names in the question that no passage mentions."""
    return sorted(t for t in names(question) if doc_freqs.get(t, 1) == 0)


@dataclass(slots=True)
class Candidate:
    """A sentence (absolute offsets) with its score and the words that matched (not frozen:
    a frozen dataclass takes four times as long to make, and ``ask`` makes dozens). ``start``
    is the sentence before's when the quote includes it, ``sentence_start`` the sentence's own."""

    article_id: int
    start: int
    end: int
    score: float
    matched: tuple[str, ...]
    row: dict
    sentence_start: int

    @property
    def text(self) -> str:
        return self.row["text"][self.start - self.row["start"] : self.end - self.row["start"]]


def _match(term_of_word: str, terms: set[str]) -> tuple[str | None, float]:
    if term_of_word in terms:
        return term_of_word, 1.0
    for t in terms:
        # Demonyms and derived forms that the stemmer keeps apart: iran/iranian, russia/russian.
        if len(t) >= 4 and term_of_word.startswith(t) and len(term_of_word) - len(t) <= 3:
            return t, SOFT_MATCH
    return None, 0.0


class _Matcher:
    """Which question term each word of a text matches: the hot loop of ``ask``.

    The words that could match begin like a term's stem less its last letter (supply/suppli);
    ``str.find`` of those prefixes in the lowercased text finds them in C, and only they are
    stemmed. (A regular expression of the prefixes did the same three times slower: it tries
    every alternative at every position.)
    """

    def __init__(self, terms: set[str]) -> None:
        self.terms = terms
        self.memo: dict[str, tuple[str | None, float]] = {}
        self.prefix_of = {t: t[: max(2, len(t) - 1)] for t in terms}
        self.prefixes = sorted(set(self.prefix_of.values()))

    def reach(self, low: str, weight: dict[str, float], also: set[str]) -> float:
        """At most how much weight a sentence of a (lowercased) text can cover, ``also`` being
        the terms its title adds: every word that matches a term holds the term's prefix."""
        return sum(
            weight.get(t, 0.0) for t, p in self.prefix_of.items() if t in also or p in low
        )

    def _words(self, text: str, low: str) -> list[tuple[int, int]]:
        if len(low) != len(text):  # offsets would not line up: the slow way (rare)
            pattern = r"(?<![^\W_])(?:" + "|".join(map(re.escape, self.prefixes)) + r")[^\W_]*"
            return [m.span() for m in re.finditer(pattern, text, re.IGNORECASE)]
        starts = set()
        for prefix in self.prefixes:
            i = low.find(prefix)
            while i >= 0:
                if i == 0 or not low[i - 1].isalnum():
                    starts.add(i)
                i = low.find(prefix, i + 1)
        return [(i, m.end()) for i in sorted(starts) if (m := WORD.match(text, i))]

    def matches(self, text: str, low: str | None = None) -> list[tuple[int, int, str, float]]:
        """(start, end, term, strength) of every matching word in ``text`` (``low``: the text
        lowercased, if the caller has it), in order."""
        out = []
        for start, end in self._words(text, text.lower() if low is None else low):
            term, strength = self._hit(text[start:end])
            if term:
                out.append((start, end, term, strength))
        return out

    def _hit(self, word: str) -> tuple[str | None, float]:
        hit = self.memo.get(word)
        if hit is None:
            hit = self.memo[word] = _match(stem(word), self.terms)
        return hit

    def by_sentence(
        self, text: str, low: str, spans: list[tuple[int, int]]
    ) -> dict[int, tuple[dict[str, float], dict[str, None]]]:
        """The sentences that have matching words, in order: {index: (strength of each term,
        words)}. Only these can be quoted, so the others are never looked at."""
        groups: dict[int, tuple[dict[str, float], dict[str, None]]] = {}
        memo = self.memo
        k, n = 0, len(spans)
        for start, end in self._words(text, low):  # words and sentences both run in order
            word = text[start:end]
            term, strength = memo.get(word) or self._hit(word)
            if term is None:
                continue
            while k < n and spans[k][1] <= start:
                k += 1
            if k == n:
                break
            own, surface = groups.get(k) or groups.setdefault(k, ({}, {}))
            if own.get(term, 0.0) < strength:
                own[term] = strength
            surface[word] = None
        return groups


def score_sentences(
    question: str,
    terms: list[str],
    idf: dict[str, float],
    rows: Iterable[tuple[dict, float]],
    *,
    min_coverage: float = MIN_COVERAGE,
) -> list[Candidate]:
    """The sentences of the given passages that cover enough of the question, best first.

    ``idf`` is the coverage weight of each term (see ``weights``); ``rows`` are (passage row
    from the store, BM25 score) pairs in ranking order.
    """
    rows = list(rows)
    if not rows or not terms:
        return []
    total = sum(idf.get(t, 0.0) for t in terms) or 1.0
    best_passage = max(score for _, score in rows) or 1.0
    kind = question_type(question)
    matcher = _Matcher(set(terms))
    seen: set[tuple[int, int]] = set()
    titles: dict[int, set[str]] = {}
    out: list[Candidate] = []
    for row, passage_score in rows:
        text = row["text"]
        in_title = titles.get(row["article_id"])
        if in_title is None:  # an article's passages share its title: match it once
            in_title = titles[row["article_id"]] = {
                t for _, _, t, _ in matcher.matches(row["title"] or "")
            }
        low = text.lower()
        if matcher.reach(low, idf, in_title) < min_coverage * total:
            continue  # no sentence can cover enough (nor can they in the next passage)
        packed = row.get("sentences")
        spans = unpack(packed) if packed else sentences(text)
        groups = matcher.by_sentence(text, low, spans)
        for k, (own, surface) in groups.items():
            start = row["start"] + spans[k][0]
            if (row["article_id"], start) in seen:
                continue
            seen.add((row["article_id"], start))
            context = own
            leans = False  # on a question term that only the sentence before has
            before = groups.get(k - 1)  # "He said ...": the subject is in the sentence before
            if before or in_title:
                context = dict(own)
                for t in in_title:
                    context[t] = max(context.get(t, 0.0), TITLE_MATCH)
                for t, v in before[0].items() if before else ():
                    if CARRY * v > context.get(t, 0.0):
                        context[t] = CARRY * v
                        leans = True
            coverage = sum(idf.get(t, 0.0) * v for t, v in context.items()) / total
            if coverage < min_coverage:
                continue
            s, e = spans[k]
            first = spans[k - 1][0] if leans and e - spans[k - 1][0] <= MAX_QUOTE else s
            score = (
                coverage
                + TYPE_BONUS * fit(kind, text[s:e])
                + PASSAGE_WEIGHT * passage_score / best_passage
            )
            out.append(Candidate(
                row["article_id"], row["start"] + first, row["start"] + e, score,
                tuple(surface), row, start,
            ))
    out.sort(key=lambda c: (-c.score, c.article_id, c.start))
    return out


_DATELINE = re.compile(r"[^-–—:\n]{1,60}?\s?[-–—:]\s")
"""What a wire copy puts before its first sentence: "WASHINGTON (Reuters) - ", "KYIV (AP) — ",
"LONDON: " (capitalised words only)."""


def _keys(text: str) -> set[str]:
    """The sentence's words (case, punctuation and spacing aside), with and without a dateline:
    two sentences sharing a key are copies of one another."""
    keys = {" ".join(WORD.findall(text.casefold()))}
    m = _DATELINE.match(text)
    prefix = text[: m.end()].split() if m else []
    if m and 0 < len(prefix) <= 7 and not any(w[0].islower() for w in prefix):  # not "The deal - "
        rest = WORD.findall(text[m.end() :].casefold())
        if len(rest) >= 4:
            keys.add(" ".join(rest))
    return keys - {""}


def _tail(text: str) -> tuple[str, ...]:
    """The sentence's last two words: copies share them (a dateline is at the other end), and
    they cost less to find than ``_keys``, so only sentences that share them are compared."""
    tail = WORD.findall(text[-60:].casefold())
    if len(text) > 60 and len(tail) < 3:  # the cut may have split the first of the last two
        tail = WORD.findall(text.casefold())
    return tuple(tail[-2:])


def choose(
    candidates: list[Candidate], *, per_article: int = PER_ARTICLE,
    repeat_penalty: float = REPEAT_PENALTY,
) -> list[tuple[Candidate, list[Candidate]]]:
    """The candidates to quote, best first, at most ``per_article`` from one article (each
    further one marked down by ``repeat_penalty``), each with its copies: the same sentence in
    other articles (syndicated copies of the story) is not quoted again but listed with the
    first."""
    if per_article > 1 and repeat_penalty:
        candidates = _marked_down(candidates, repeat_penalty)
    taken: dict[int, int] = {}
    by_tail: dict[tuple[str, ...], list[tuple[Candidate, list[Candidate]]]] = {}
    keys: dict[tuple[int, int, int], set[str]] = {}

    def keys_of(c: Candidate) -> set[str]:
        if (c.article_id, c.start, c.end) not in keys:
            keys[c.article_id, c.start, c.end] = _keys(c.text)
        return keys[c.article_id, c.start, c.end]

    out: list[tuple[Candidate, list[Candidate]]] = []
    spans: dict[int, list[tuple[int, int]]] = {}  # what is quoted of each article
    for c in candidates:
        if taken.get(c.article_id, 0) >= per_article:
            continue
        quoted = spans.get(c.article_id, ())
        if any(s < c.end and c.start < e for s, e in quoted):
            own = c.sentence_start
            if own == c.start or any(s < c.end and own < e for s, e in quoted):
                continue  # its sentence is quoted already
            c = replace(c, start=own)  # quoted without the sentence before, quoted already
        rivals = by_tail.setdefault(_tail(c.text), [])
        copies = next((cs for q, cs in rivals if keys_of(c) & keys_of(q)), None)
        if copies is not None:
            if all(c.article_id != other.article_id for other in copies):
                copies.append(c)
            continue
        taken[c.article_id] = taken.get(c.article_id, 0) + 1
        spans.setdefault(c.article_id, []).append((c.start, c.end))
        copies = [c]
        out.append((c, copies))
        rivals.append((c, copies))
    return [(c, copies[1:]) for c, copies in out]


def _marked_down(candidates: list[Candidate], penalty: float) -> list[Candidate]:
    """The candidates reordered as if each scored ``penalty`` less per better candidate of its
    article (the scores themselves are kept)."""
    earlier: dict[int, int] = {}
    keyed = []
    for c in candidates:
        n = earlier.get(c.article_id, 0)
        earlier[c.article_id] = n + 1
        keyed.append((-(c.score - penalty * n), c.article_id, c.start, c))
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed]


def to_quote(c: Candidate, copies: Iterable[Candidate] = ()) -> Quote:
    r = c.row
    return Quote(
        text=c.text,
        title=r["title"],
        publisher=r["publisher"],
        author=r["author"],
        published=r["published"],
        url=r["url"],
        article_id=c.article_id,
        start=c.start,
        end=c.end,
        score=round(c.score, 4),
        matched_terms=c.matched,
        also=tuple(
            Copy(o.article_id, o.row["title"], o.row["publisher"], o.row["published"],
                 o.row["url"])
            for o in copies
        ),
    )


def match_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Where the question's terms occur in a quote, for highlighting."""
    term_set = set(terms)
    return [(s, e) for s, e, w in words(text) if _match(w, term_set)[0]]
