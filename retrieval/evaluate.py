"""Answer quality on public test collections, so a change to ranking or quoting is measured.

Two kinds of figures, each against a published baseline (see shared/data/README.md):

- BEIR (SciFact, NFCorpus): document ranking. Every record becomes an article (key
  ``id:<_id>``), each test query is searched like a question, and a document scores as its best
  passage. nDCG@10 and Recall@100 come from ranx, a standard implementation, so the numbers
  compare with Pyserini's and BEIR's.
- SQuAD v1.1 dev as a closed corpus: each paragraph an article under its Wikipedia title. For
  each question: is the gold paragraph the first hit / in the top 5 articles, and does a gold
  answer appear verbatim in the first quote of ``Desk.ask`` / in any of the first three.

Samples are fixed (a seeded choice, kept in file order), so figures recorded once can guard
against regressions in CI. ranx (and numba, which compiles on first use) is imported only when
BEIR figures are computed: never on the answer path.
"""

from __future__ import annotations

import csv
import json
import logging
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .analyze import query_terms
from .answer import PER_ARTICLE
from .desk import MAX_TERMS, Desk
from .errors import QuestionError
from .models import Article, IngestResult
from .search import ENGINES, Hit

log = logging.getLogger(__name__)

T = TypeVar("T")

BEIR = ("beir-scifact", "beir-nfcorpus")
SQUAD = "squad-v1.1"
DATASETS = (*BEIR, SQUAD)

SEED = 20240601
"""The seed of every sample: change it and the recorded baseline no longer applies."""

CI_LIMITS: dict[str, int | None] = {"beir-scifact": None, "beir-nfcorpus": None, SQUAD: 500}
"""The samples CI measures (None: every judged query), each a few seconds with tantivy."""

DOC_DEPTH = 100
"""Documents ranked per query: Recall@100 needs a hundred."""
PASSAGES_PER_DOC = 10
"""Passages fetched per document wanted (1,000 for 100), doubled while too few articles."""
MAX_PASSAGE_DEPTH = 16000
TOP_ARTICLES = 5
"""SQuAD: the gold paragraph counts as found when among this many distinct articles."""
QUOTES = 3

BEIR_METRICS = ("ndcg@10", "recall@100")
ASK_METRICS = (
    "passage@1", "passage@5", "answer@1", "answer@3", "gold_quote@1", "gold_quote@3",
    "no_answer",
)
SQUAD_METRICS = (*ASK_METRICS, "off_corpus_answered")
"""``answer@k``: a gold answer is a substring (exact, case kept) of one of the first k quotes;
``gold_quote@k``: one of the first k quotes is from the gold paragraph (whatever sentence);
``no_answer``: the share of questions that got no quote at all;
``off_corpus_answered``: with every other Wikipedia page left out of the corpus, the share of
questions about a left-out page that still got a quote (the corpus cannot answer them)."""
LOWER_IS_BETTER = frozenset({"no_answer", "off_corpus_answered"})
"""Every question of SQuAD has an answer in the corpus, so fewer refusals is better; a question
about a page that is not there should be refused."""

PUBLISHED = {
    "beir-scifact": {"ndcg@10": 0.679, "recall@100": 0.925},
    "beir-nfcorpus": {"ndcg@10": 0.322, "recall@100": 0.246},
    "squad-v1.1": {"passage@1": 0.80, "answer@1": 0.72, "answer@3": 0.855},
}
"""What to compare with: Pyserini's flat BM25 for BEIR (shared/data/README.md); for SQuAD the
project's own earlier baseline on a 2,000-question sample."""


# -- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    id: str
    text: str


@dataclass(frozen=True)
class BeirSet:
    """A BEIR collection: articles to ingest, the judged test queries, graded judgements."""

    name: str
    articles: list[Article]
    queries: list[Query]
    qrels: dict[str, dict[str, int]]


@dataclass(frozen=True)
class SquadQuestion:
    id: str
    text: str
    answers: tuple[str, ...]
    paragraph: str
    """The key of the gold paragraph's article."""


@dataclass(frozen=True)
class SquadSet:
    name: str
    articles: list[Article]
    questions: list[SquadQuestion]


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def load_beir(folder: Path, *, split: str = "test") -> BeirSet:
    """A BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); queries in qrels only."""
    articles = [
        Article(title=d.get("title") or "", text=d.get("text") or "", key=f"id:{d['_id']}")
        for d in _jsonl(folder / "corpus.jsonl")
    ]
    qrels: dict[str, dict[str, int]] = {}
    with (folder / "qrels" / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t")
        next(rows)  # header: query-id, corpus-id, score
        for qid, doc_id, score in rows:
            qrels.setdefault(qid, {})[doc_id] = int(score)
    queries = [
        Query(q["_id"], q["text"]) for q in _jsonl(folder / "queries.jsonl") if q["_id"] in qrels
    ]
    return BeirSet(folder.name, articles, queries, qrels)


def load_squad(path: Path) -> SquadSet:
    """SQuAD v1.1: every paragraph an article titled by its Wikipedia page (underscores read
    as spaces, as the page title reads); every question with its gold answers and paragraph."""
    with path.open(encoding="utf-8") as f:
        data = json.load(f)["data"]
    articles: list[Article] = []
    questions: list[SquadQuestion] = []
    for page in data:
        title = page["title"].replace("_", " ")
        for n, paragraph in enumerate(page["paragraphs"]):
            key = f"id:{page['title']}/{n}"
            articles.append(Article(title=title, text=paragraph["context"], key=key))
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(SquadQuestion(qa["id"], qa["question"], answers, key))
    return SquadSet(path.parent.name, articles, questions)


def load(name: str, data_dir: Path) -> BeirSet | SquadSet:
    """A dataset by its folder name under ``data_dir`` (shared/data)."""
    if name == SQUAD:
        path = data_dir / name / "dev-v1.1.json"
        _require(path)
        return load_squad(path)
    if name in BEIR:
        _require(data_dir / name / "corpus.jsonl")
        return load_beir(data_dir / name)
    raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")


def _require(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(
            f"evaluation data missing: {path} (pass --data-dir, or set NEWSDESK_SHARED to the "
            "shared/ folder)"
        )


def sample(items: Sequence[T], limit: int | None, *, seed: int = SEED) -> list[T]:
    """``limit`` items chosen with a fixed seed, kept in file order (all when limit is None).

    Seeded rather than the first N: SQuAD's first questions all come from one page, and the
    figures of a sample should read like those of the whole set.
    """
    if limit is None or limit >= len(items):
        return list(items)
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


# -- running -----------------------------------------------------------------------------------


def _progress(items: Iterable[T], total: int, label: str) -> Iterable[T]:
    """A progress bar on stderr when a person is watching; silent in CI and pipes."""
    if not sys.stderr.isatty():
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc=label, file=sys.stderr, leave=False)


def ingest(desk: Desk, articles: Iterable[Article]) -> dict[int, list[str]]:
    """Store and index the articles; the record keys (``id:`` dropped) behind each article id.

    One article id can stand for several records: the store keeps one copy of a text it already
    has (NFCorpus repeats 40 abstracts), and each copy must still be found under its own id.
    """
    keys: dict[int, list[str]] = {}

    def note(result: IngestResult) -> None:
        if result.article_id is not None:
            keys.setdefault(result.article_id, []).append(result.source.removeprefix("id:"))
        else:
            log.warning("not ingested: %s (%s)", result.source, result.reason)

    desk.ingest(articles, on_result=note)
    return keys


def passage_articles(desk: Desk) -> dict[int, int]:
    """Passage id -> article id, read once so ranking a query costs no SQL."""
    return {row[0]: row[1] for row in desk.store.index_rows()}


def document_scores(hits: Iterable[Hit], article_of: dict[int, int]) -> dict[int, float]:
    """Each article's best passage score, in ranking order (hits come best first)."""
    scores: dict[int, float] = {}
    for hit in hits:
        article = article_of[hit.passage_id]
        if article not in scores:
            scores[article] = hit.score
    return scores


def rank_articles(
    desk: Desk, terms: list[str], article_of: dict[int, int], *, depth: int
) -> dict[int, float]:
    """The ``depth`` best articles for the terms, scored by their best passage."""
    limit = depth * PASSAGES_PER_DOC
    while True:
        hits = desk.engine.search(terms, collections=None, limit=limit)
        scores = document_scores(hits, article_of)
        if len(scores) >= depth or len(hits) < limit or limit >= MAX_PASSAGE_DEPTH:
            return dict(list(scores.items())[:depth])
        limit *= 2


def _terms(text: str) -> list[str]:
    """The terms ``Desk.ask`` would search for this text."""
    return query_terms(" ".join(text.split()))[:MAX_TERMS]


def beir_run(
    desk: Desk, queries: Sequence[Query], keys: dict[int, list[str]], *, depth: int = DOC_DEPTH
) -> dict[str, dict[str, float]]:
    """query id -> {document id: score} for the ``depth`` best documents (ranx's run format)."""
    passages = passage_articles(desk)
    run: dict[str, dict[str, float]] = {}
    for q in _progress(queries, len(queries), f"{desk.engine.name} queries"):
        ranked = rank_articles(desk, _terms(q.text), passages, depth=depth)
        run[q.id] = {doc: score for a, score in ranked.items() for doc in keys[a]}
    return run


def beir_figures(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]
) -> dict[str, float]:
    """nDCG@10 and Recall@100 by ranx, over the queries of ``run`` (each judged query counts,
    an empty result as zero)."""
    from ranx import Qrels, Run, evaluate  # numba compiles on first use: evaluation only

    judged = {q: qrels[q] for q in run}
    results = {q: docs for q, docs in run.items() if docs}
    if not results:
        return dict.fromkeys(BEIR_METRICS, 0.0)
    figures = evaluate(Qrels(judged), Run(results), list(BEIR_METRICS), make_comparable=True)
    return {m: float(figures[m]) for m in BEIR_METRICS}


def squad_figures(
    desk: Desk,
    questions: Sequence[SquadQuestion],
    keys: dict[int, list[str]],
    *,
    per_article: int = PER_ARTICLE,
) -> dict[str, float]:
    """The shares of questions for each of ``ASK_METRICS``, with the quotes ``ask`` gives
    (at most ``per_article`` from one paragraph, as ``newsdesk ask --per-article``)."""
    passages = passage_articles(desk)
    gold_articles = {f"id:{k}": a for a, ks in keys.items() for k in ks}
    counts = dict.fromkeys(ASK_METRICS, 0)
    for q in _progress(questions, len(questions), f"{desk.engine.name} questions"):
        gold = gold_articles[q.paragraph]
        top = list(rank_articles(desk, _terms(q.text), passages, depth=TOP_ARTICLES))
        counts["passage@1"] += top[:1] == [gold]
        counts["passage@5"] += gold in top
        try:
            quotes = desk.ask(q.text, k=QUOTES, per_article=per_article).quotes
        except QuestionError:  # only stop words: the user is asked to rephrase, no quote
            quotes = ()
        found = [any(a in quote.text for a in q.answers) for quote in quotes]
        counts["answer@1"] += found[:1] == [True]
        counts["answer@3"] += any(found)
        counts["gold_quote@1"] += bool(quotes) and quotes[0].article_id == gold
        counts["gold_quote@3"] += any(quote.article_id == gold for quote in quotes)
        counts["no_answer"] += not quotes
    n = max(len(questions), 1)
    return {m: c / n for m, c in counts.items()}


def leave_out_pages(data: SquadSet) -> tuple[list[Article], list[SquadQuestion]]:
    """Every other Wikipedia page of the set, and the questions about the pages left out."""
    pages = list(dict.fromkeys(a.title for a in data.articles))
    kept = set(pages[::2])
    articles = [a for a in data.articles if a.title in kept]
    kept_keys = {a.key for a in articles}
    return articles, [q for q in data.questions if q.paragraph not in kept_keys]


def answered_share(desk: Desk, questions: Sequence[SquadQuestion]) -> float:
    """The share of the questions that get at least one quote."""
    answered = 0
    for q in _progress(questions, len(questions), f"{desk.engine.name} off-corpus questions"):
        try:
            answered += bool(desk.ask(q.text, k=1).quotes)
        except QuestionError:
            pass
    return answered / max(len(questions), 1)


@dataclass(frozen=True)
class Figures:
    """One engine's figures on one sample, with where the time went."""

    dataset: str
    engine: str
    queries: int
    limit: int | None
    metrics: dict[str, float]
    articles: int
    passages: int
    ingest_s: float
    """Storing and indexing the corpus (tantivy's index is built as part of it)."""
    warmup_s: float
    """The engine's first search: rank-bm25 builds its in-memory index then."""
    query_s: float
    seed: int = SEED
    per_article: int = PER_ARTICLE

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset, "engine": self.engine, "queries": self.queries,
            "limit": self.limit, "seed": self.seed, "metrics": self.metrics,
            "articles": self.articles, "passages": self.passages,
            "ingest_s": round(self.ingest_s, 2), "warmup_s": round(self.warmup_s, 2),
            "query_s": round(self.query_s, 2), "per_article": self.per_article,
        }


def evaluate(
    name: str,
    *,
    data_dir: Path,
    engines: Sequence[str] = ("tantivy",),
    limit: int | None = None,
    seed: int = SEED,
    workdir: Path | None = None,
    data: BeirSet | SquadSet | None = None,
    on_figures: Callable[[Figures], None] | None = None,
    per_article: int = PER_ARTICLE,
) -> list[Figures]:
    """Ingest ``name`` once into a fresh database, then measure each engine on the same sample.

    ``workdir`` holds the throwaway database (a temporary folder when None); ``data`` skips
    loading when the caller already has the set.
    """
    for engine in engines:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}: choose from {', '.join(ENGINES)}")
    data = data or load(name, data_dir)
    items = data.questions if isinstance(data, SquadSet) else data.queries
    chosen = sample(items, limit, seed=seed)
    out: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="newsdesk-eval-", dir=workdir) as tmp:
        db = Path(tmp) / "eval.db"
        started = time.perf_counter()
        with Desk(db) as desk:
            keys = ingest(desk, _progress(data.articles, len(data.articles), "ingest"))
            stats = desk.stats()
        ingest_s = time.perf_counter() - started
        if isinstance(data, SquadSet):
            kept, off_corpus = leave_out_pages(data)
            off_corpus = sample(off_corpus, limit, seed=seed)
            with Desk(Path(tmp) / "left-out.db") as desk:
                ingest(desk, kept)
        for engine in engines:
            with Desk(db, engine=engine) as desk:
                started = time.perf_counter()
                desk.engine.search(["the"], collections=None, limit=1)
                warmup_s = time.perf_counter() - started
                started = time.perf_counter()
                if isinstance(data, SquadSet):
                    metrics = squad_figures(desk, chosen, keys, per_article=per_article)
                    query_s = time.perf_counter() - started
                    with Desk(Path(tmp) / "left-out.db", engine=engine) as left_out:
                        metrics["off_corpus_answered"] = answered_share(left_out, off_corpus)
                else:
                    run = beir_run(desk, chosen, keys)
                    query_s = time.perf_counter() - started
                    metrics = beir_figures(data.qrels, run)
            figures = Figures(
                dataset=name, engine=engine, queries=len(chosen), limit=limit, metrics=metrics,
                articles=stats.articles, passages=stats.passages, ingest_s=ingest_s,
                warmup_s=warmup_s, query_s=query_s, seed=seed, per_article=per_article,
            )
            if on_figures:
                on_figures(figures)
            out.append(figures)
    return out
