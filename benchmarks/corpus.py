"""A seeded, synthetic, news-like corpus and questions about it, for the benchmark suite.

Why synthetic: the real corpora at hand stop at ~70k passages, and the questions that matter for
speed (at 1M passages) need a corpus whose *term statistics* look like news: a Zipfian vocabulary
(a few words in most passages, a long tail in very few), stop words at their usual share (~40%
of tokens), recurring names, numbers and dates, and topical articles whose words repeat.
Posting-list lengths, and so BM25's cost, follow from those statistics, not from meaning.

Sentences follow a small news grammar (subject, verb, object, prepositional phrases, attributions
with "said", quotes, figures with "percent" and "million"), so the engine's sentence splitter,
passage windows and quote selection do their usual work. Content words are real, common news
words at the head of the distribution and pronounceable made-up words in the tail (Heaps' law
then holds by itself: the larger the corpus, the more distinct tail words it has).

Everything is a pure function of the seed: article ``i`` is drawn from its own generator seeded
with ``(seed, i)``, so the corpus of 10k passages is a prefix of the corpus of 100k, and questions
drawn from its first articles are answerable at every size. Passages are counted with the
engine's own splitter, so "100k passages" is what the engine stores.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from retrieval.passages import passages

T = TypeVar("T")

VERSION = 2
"""Bump when the output changes, so cached files are regenerated."""

SEED = 1987
TAIL_WORDS = 250_000
"""Made-up words after the real ones: the long tail of the vocabulary."""
ZIPF_S, ZIPF_Q = 1.05, 8.0
"""Zipf-Mandelbrot exponent and shift for content words: p(rank r) ~ 1 / (r + q) ** s."""
TOPIC_SHARE = 0.25
"""Share of an article's content words drawn from its own few topic words (burstiness)."""

DETERMINERS = ("the",) * 8 + ("a",) * 4 + ("its", "its", "their", "this", "his", "her", "some")
PREPOSITIONS = ("of", "in", "to", "for", "on", "with", "at", "by", "from", "after", "over",
                "about", "into", "against", "under", "before", "between", "during")
CONNECTIVES = ("and", "but", "while", "as", "because", "after", "although", "which")

# Real content words at the head of the vocabulary, in rough order of frequency in news.
COMMON = """
year government people time police president state world country week minister percent
market day report month group city national election party law officials company public
security court health news business plan economy support prices war family workers leader
case children life rate bank deal team house office system service water power military
help money policy rights program trade chief region area women level growth forces committee
capital control council energy investment interest industry tax budget development crisis
schools hospital community agency services director cost jobs companies change meeting
process crime troops data vote leaders fire debt food sales inflation drug ministry shares
investors study research project airport parliament protest opposition doctors talks
agreement decision campaign coalition spokesman statement justice prison video internet
climate weather storm flood emissions university students teachers land housing rent
transport railway road traffic vehicles factory plant production exports imports tariffs
currency stock profit revenue losses bonds loan credit mortgage insurance pension salary
wages strike contract sanctions embassy treaty summit ceasefire missile drone navy army
soldiers refugees migrants asylum village province district mayor governor senator judge
lawyer trial verdict sentence investigation evidence witness victim suspect arrest charges
fraud corruption scandal resignation appointment candidate ballot turnout poll survey
analysts economists forecast quarter recession recovery stimulus reform regulation license
permit ban restrictions measures vaccine virus outbreak patients disease treatment medicine
science technology software network platform users phone devices satellite space mission
launch engine fuel gas coal nuclear solar wind electricity grid supply shortage demand
harvest farmers crops wheat rice coffee sugar cattle fishing forest wildfire drought heat
temperature record season match league club player coach final championship tournament goal
points victory defeat fans stadium festival film music artist museum exhibition book author
award prize celebration anniversary memorial funeral church mosque temple lesson exam
graduates pupils parents nurses ambulance emergency rescue survivors damage buildings bridge
port harbour ship cargo airline flights passengers tourists hotel visitors travel tourism
beach island coast mountain river lake valley desert suburbs neighbourhood residents
households income poverty welfare benefits unemployment employment hiring layoffs shortages
costs
""".split()
ADJECTIVES = ("new", "former", "local", "national", "foreign", "public", "federal", "last",
              "major", "senior", "economic", "political", "first", "largest", "second",
              "previous", "annual", "domestic", "regional", "private", "military", "global")
VERBS = ("said", "announced", "approved", "rejected", "reported", "launched", "announced",
         "signed", "blocked", "delayed", "criticised", "proposed", "opened", "ended", "raised",
         "cut", "backed", "won", "lost", "faced", "expanded", "warned", "confirmed", "denied")
MOVES = ("rose", "fell", "climbed", "dropped", "jumped", "slipped", "grew", "declined")
HEADLINE_VERBS = ("plans", "warns", "seeks", "wins", "cuts", "raises", "signs", "backs",
                  "rejects", "approves", "launches", "delays", "opens", "ends", "faces")
FIRST_NAMES = """
John Maria David Sarah Michael Anna James Elena Robert Fatima Ahmed Li Wei Olga Carlos
Ana Peter Laura Thomas Sofia Daniel Yuki Hassan Amina Ivan Irina Paul Grace Mark Emma
Joseph Nadia Samuel Leila George Chloe Andrew Priya Richard Mei Kevin Aisha Juan Lucia
Omar Hana Victor Marta Tom Rosa
""".split()
ROLES = ("minister", "spokesman", "spokeswoman", "chief executive", "chairman", "director",
         "governor", "analyst", "economist", "mayor", "senator", "professor", "police chief",
         "general", "head", "deputy minister", "president", "secretary")
ORG_KINDS = ("Group", "Bank", "Ministry", "Party", "Council", "Holdings", "Corp", "Union",
             "Institute", "Authority", "Agency", "Airlines", "Energy", "Motors", "Foundation")
PLACES = """
London Paris Berlin Tokyo Beijing Moscow Washington Brussels Geneva Madrid Rome Cairo Lagos
Nairobi Delhi Mumbai Jakarta Manila Seoul Sydney Toronto Mexico Lima Bogota Santiago
Istanbul Tehran Riyadh Dubai Karachi Dhaka Bangkok Hanoi Kyiv Warsaw Vienna Athens Lisbon
Dublin Oslo Stockholm Helsinki Prague Budapest Bucharest Johannesburg Accra Addis
""".split()
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
PUBLISHERS = ("Synthetic Wire", "The Daily Sample", "Seeded News", "Zipf Times")

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "br", "dr", "kr", "st", "tr", "sh", "ch", "th")
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou", "ar", "en", "or", "il")
SYLLABLES = tuple(c + v for c in _ONSETS for v in _NUCLEI)


def _tail_words(n: int, seed: int) -> list[str]:
    """``n`` distinct pronounceable made-up words (2-4 syllables), the same for a given seed."""
    rng = random.Random(seed * 7919 + 1)
    taken = set(COMMON) | set(ADJECTIVES) | set(PREPOSITIONS) | set(DETERMINERS)
    out: list[str] = []
    while len(out) < n:
        w = "".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))
        if w not in taken:
            taken.add(w)
            out.append(w)
    return out


def _zipf_cum_weights(n: int, s: float = ZIPF_S, q: float = ZIPF_Q) -> list[float]:
    return list(itertools.accumulate(1.0 / (r + q) ** s for r in range(1, n + 1)))


@dataclass(frozen=True)
class Vocabulary:
    """Everything article generation draws from, built once per seed (about a second)."""

    words: list[str]
    weights: list[float]
    surnames: list[str]
    surname_weights: list[float]
    orgs: list[str]
    org_weights: list[float]
    places: list[str]
    place_weights: list[float]


@lru_cache(maxsize=2)
def vocabulary(seed: int = SEED) -> Vocabulary:
    tail = _tail_words(TAIL_WORDS + 12_000, seed)
    names = [w.capitalize() for w in tail[TAIL_WORDS:]]
    surnames, org_stems, place_stems = names[:8000], names[8000:11000], names[11000:]
    rng = random.Random(seed * 7919 + 2)
    orgs = [f"{s} {rng.choice(ORG_KINDS)}" for s in org_stems]
    places = PLACES + place_stems
    words = list(dict.fromkeys(COMMON)) + tail[:TAIL_WORDS]
    return Vocabulary(
        words=words, weights=_zipf_cum_weights(len(words)),
        surnames=surnames, surname_weights=_zipf_cum_weights(len(surnames), 1.0, 2.0),
        orgs=orgs, org_weights=_zipf_cum_weights(len(orgs), 1.0, 2.0),
        places=places, place_weights=_zipf_cum_weights(len(places), 1.1, 1.0),
    )


class _Writer:
    """Writes one article from its own seeded generator.

    ``self.pick`` stands in for ``random.choice``: same distribution, a third of the cost, and
    generation of a 1M-passage corpus is all small draws.
    """

    def __init__(self, vocab: Vocabulary, rng: random.Random) -> None:
        self.v = vocab
        self.rng = rng
        pick = rng.choices
        self.topic = pick(vocab.words, cum_weights=vocab.weights, k=6) + [
            vocab.words[rng.randrange(len(COMMON), len(vocab.words))] for _ in range(4)
        ]
        self.people = [
            f"{rng.choice(FIRST_NAMES)} "
            f"{pick(vocab.surnames, cum_weights=vocab.surname_weights)[0]}"
            for _ in range(3)
        ]
        self.org = "the " + pick(vocab.orgs, cum_weights=vocab.org_weights)[0]
        self.place = pick(vocab.places, cum_weights=vocab.place_weights)[0]
        self._pool: list[str] = []

    def pick(self, options: Sequence[T]) -> T:
        return options[int(self.rng.random() * len(options))]

    def word(self) -> str:
        """A content word: the article's topic, else the corpus-wide Zipfian vocabulary."""
        if self.rng.random() < TOPIC_SHARE:
            return self.pick(self.topic)
        if not self._pool:  # drawn in bulk: per-word draws would dominate generation time
            self._pool = self.rng.choices(self.v.words, cum_weights=self.v.weights, k=64)
        return self._pool.pop()

    def noun_phrase(self) -> str:
        r = self.rng.random()
        if r < 0.07:
            return self.number()
        if r < 0.13:
            return self.pick([*self.people, self.org, self.place])
        words = [self.pick(ADJECTIVES)] if self.rng.random() < 0.25 else []
        words.append(self.word())
        if self.rng.random() < 0.45:
            words.append(self.word())
        det = self.pick(DETERMINERS)
        if det == "a" and words[0][0] in "aeiou":
            det = "an"
        return " ".join([det, *words])

    def number(self) -> str:
        r, n = self.rng.random(), self.rng.randint
        if r < 0.4:
            return f"{n(2, 98)} percent"
        if r < 0.7:
            return f"{n(2, 950)} million"
        if r < 0.85:
            return f"${n(1, 40)}.{n(0, 9)} billion"
        return str(n(1990, 2025))

    def clause(self) -> str:
        """Subject, verb, object and up to three prepositional phrases."""
        parts = [self.noun_phrase(), self.pick(VERBS), self.noun_phrase()]
        for _ in range(self.pick((0, 1, 1, 2, 2, 3))):
            parts.append(f"{self.pick(PREPOSITIONS)} {self.noun_phrase()}")
        return " ".join(parts)

    def body(self) -> str:
        text = self.clause()
        if self.rng.random() < 0.3:
            text += f", {self.pick(CONNECTIVES)} {self.clause()}"
        return text

    def sentence(self) -> str:
        r = self.rng.random()
        body = self.body()
        first = body[0].upper() + body[1:]
        person = self.pick(self.people)
        if r < 0.3:
            return f"{first}."
        if r < 0.45:
            return f"{first}, {person} said."
        if r < 0.57:
            return f"“{first},” said {person}, {self.pick(ROLES)} of {self.org}."
        if r < 0.7:
            return f"{first} in {self.place} on {self.pick(WEEKDAYS)}."
        if r < 0.85:
            org = self.org[0].upper() + self.org[1:]
            return (f"{org} said its {self.word()} {self.pick(MOVES)} "
                    f"{self.number()} in {self.pick(MONTHS)}, {self.clause()}.")
        return (f"{person}, the {self.pick(ROLES)} of {self.org}, told reporters "
                f"that {body}.")

    def article(self, i: int) -> dict:
        sentences = [self.sentence() for _ in range(self.rng.randint(5, 21))]
        paragraphs = []
        while sentences:
            take = self.rng.randint(1, 3)
            paragraphs.append(" ".join(sentences[:take]))
            sentences = sentences[take:]
        subject = self.pick([self.org.removeprefix("the "), self.place, self.people[0]])
        day = self.rng.randrange(365 * 6)
        return {
            "key": f"syn-{i}",
            "url": f"https://news.example/{i}",
            "title": f"{subject} {self.pick(HEADLINE_VERBS)} {self.word()} {self.word()}",
            "publisher": self.pick(PUBLISHERS),
            "published": f"{2019 + day // 365}-{day % 365 // 31 % 12 + 1:02d}-{day % 28 + 1:02d}",
            "text": "\n\n".join(paragraphs),
        }


def articles(seed: int = SEED, *, start: int = 0) -> Iterator[dict]:
    """Synthetic articles (JSON-ready dicts), endlessly; article ``i`` depends only on seed, i."""
    vocab = vocabulary(seed)
    for i in itertools.count(start):
        yield _Writer(vocab, random.Random(seed * 1_000_003 + i)).article(i)


def take_passages(records: Iterator[dict], n: int) -> Iterator[tuple[dict, int]]:
    """Records with their passage counts (the engine's own splitter) until ``n`` passages."""
    total = 0
    for record in records:
        if total >= n:
            return
        count = len(passages(record["text"]))
        total += count
        yield record, count


def write_jsonl(path: Path, n_passages: int, *, seed: int = SEED) -> dict:
    """Write a corpus of at least ``n_passages`` passages (cached: reused when up to date).

    Each line carries its passage count (``"passages"``, a field ingest ignores), so a smaller
    corpus is cut from a larger cached one of the same seed instead of generated again (the
    corpora are prefixes of each other). Returns the description: seed, version, articles,
    passages, and how it was made.
    """
    want = {"version": VERSION, "seed": seed, "target_passages": n_passages}
    meta = _read_meta(path)
    if meta and {k: meta.get(k) for k in want} == want:
        return {**meta, "made": "cached"}
    larger = [
        (m["target_passages"], p) for p in path.parent.glob("*.jsonl")
        if (m := _read_meta(p)) and m.get("version") == VERSION and m.get("seed") == seed
        and m.get("target_passages", 0) > n_passages
    ]
    if larger:
        source = min(larger)[1]
        lines = (
            (line, json.loads(line)["passages"])
            for line in source.open(encoding="utf-8") if line.strip()
        )
        made = f"cut from {source.name}"
    else:
        lines = (
            (json.dumps({**r, "passages": count}, ensure_ascii=False) + "\n", count)
            for r, count in take_passages(articles(seed), n_passages)
        )
        made = "generated"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    n_articles = total = 0
    with tmp.open("w", encoding="utf-8") as out:
        for line, count in lines:
            if total >= n_passages:
                break
            out.write(line)
            n_articles += 1
            total += count
    tmp.replace(path)
    meta = {**want, "articles": n_articles, "passages": total}
    path.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2))
    return {**meta, "made": made}


def _read_meta(path: Path) -> dict | None:
    meta_path = path.with_suffix(".meta.json")
    if not (path.exists() and meta_path.exists()):
        return None
    try:
        return json.loads(meta_path.read_text())
    except ValueError:
        return None


def read_records(path: Path, limit: int) -> list[dict]:
    """The first ``limit`` JSON lines of a corpus file (where questions are drawn from)."""
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if len(out) >= limit:
                break
            if line.strip():
                out.append(json.loads(line))
    return out


# -- questions -----------------------------------------------------------------------------------

QUESTION_STOP = frozenset(
    """a an and are as at be but by for if in into is it no not of on or such that the their then
    there these they this to was will with who what which when where why how many much do does did
    has have had were been said says its his her he she we our than more also after over about
    from up would could should can may told new some while because although during before under
    between against million billion percent""".split()
) | set(VERBS) | set(MOVES) | set(ADJECTIVES)
NOT_NAMES = frozenset(WEEKDAYS + MONTHS + ("The", "This", "That", "But", "And", "While", "Its"))
COMMON_NOUNS = ("government", "people", "market", "officials", "company", "country", "police",
                "workers", "bank", "state", "world", "prices")
TIME_WORDS = ("year", "week", "month")
_SENTENCE_END = re.compile(r"(?<=[.!?])[”\"’']?\s+(?=[“\"A-Z])")
_WORD = re.compile(r"(?<![\w$])[a-z][a-z'-]+")
_NAME = re.compile(r"(?<=[a-z,] )[A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})?")

KINDS = ("short", "medium", "long")
KIND_WEIGHTS = (0.4, 0.3, 0.3)
KIND_LENGTH = {"short": (3, 5), "medium": (5, 7), "long": (8, 10)}


@dataclass(frozen=True)
class Question:
    text: str
    kind: str
    """short (3-5 words), medium (5-7) or long (8-10, with many common news words)."""
    source: str
    """The key of the article it was drawn from."""


def _forms(rng: random.Random, kind: str, sentence: str) -> list[str]:
    content = list(dict.fromkeys(
        w for w in (m.group().strip("'-") for m in _WORD.finditer(sentence))
        if len(w) > 3 and w not in QUESTION_STOP
    ))
    names = [m.group() for m in _NAME.finditer(sentence) if m.group() not in NOT_NAMES]
    if len(content) < 2:
        return []
    a, b = rng.sample(content, 2)
    name = rng.choice(names) if names else None
    if kind == "short":
        forms = [f"What happened to {a} {b}?", f"Where is the {a} {b}?", f"Why {a} {b}?"]
        if name:
            forms += [f"What did {name} say?", f"Who is {name}?"]
    elif kind == "medium":
        forms = [f"How many {a} {b} were there?", f"What is the {a} of {b}?",
                 f"Why did the {a} change {b}?"]
        if name:
            forms += [f"What did {name} say about {a}?", f"When did {name} discuss {a}?"]
    else:
        n1, n2 = rng.sample(COMMON_NOUNS, 2)
        t = rng.choice(TIME_WORDS)
        forms = [f"What did the {n1} say last {t} about {a} {b}?",
                 f"How much did {n1} {n2} rise last {t} after the {a}?",
                 f"Why are the {n1} and {n2} worried about {a} {b}?",
                 f"What new {a} did the {n1} announce for {n2} this {t}?"]
        if name:
            forms.append(f"What did {name} tell the {n1} about new {a} {n2}?")
    return forms


def questions(records: Sequence[dict], n: int, *, seed: int = SEED) -> list[Question]:
    """``n`` questions of 3-10 words drawn from sentences of ``records`` (title and text dicts).

    Each question reuses words of one sentence, so it has an answer in the corpus; the long ones
    add several very common news words, the costly case for any BM25 engine (long posting lists
    that prune badly). The same records and seed give the same questions.
    """
    rng = random.Random(seed * 7919 + 3)
    out: dict[str, Question] = {}
    for _ in range(n * 50):
        if len(out) >= n:
            break
        record = rng.choice(records)
        sentences = _SENTENCE_END.split(" ".join(record.get("text", "").split()))
        kind = rng.choices(KINDS, weights=KIND_WEIGHTS)[0]
        forms = _forms(rng, kind, rng.choice(sentences))
        if not forms:
            continue
        text = rng.choice(forms)
        lo, hi = KIND_LENGTH[kind]
        if lo <= len(text.split()) <= hi and text not in out:
            out[text] = Question(text, kind, str(record.get("key") or record.get("newid") or ""))
    return list(out.values())


def fresh_articles(marker: str, n_passages: int, *, seed: int) -> tuple[list[dict], str]:
    """New articles (at least ``n_passages`` passages) for the freshness test, and a question
    only the last of them answers: it names ``marker``, a word no other article has.

    Use a new ``seed`` for each call: the store treats a text it already has as unchanged.
    """
    records = [dict(r) for r, _ in take_passages(articles(seed), n_passages)]
    for r in records:
        r["key"] = f"fresh-{marker}-{r['key']}"
        r["url"] = None
    records[-1]["text"] += f"\n\n{marker} announced a new plan for the harbour on Monday."
    return records, f"What did {marker} announce about the harbour?"
