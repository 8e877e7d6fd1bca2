"""The default engine (tantivy) ranks like the rank-bm25 reference on the same passages."""

import json

import pytest

from retrieval import Article, Desk
from retrieval.analyze import query_terms
from retrieval.reference import ReferenceEngine

from .conftest import shared
from .test_answers import SAMPLE_QUESTIONS


def overlap(desk: Desk, reference: ReferenceEngine, questions: list[str], k: int = 10) -> float:
    scores = []
    for q in questions:
        terms = query_terms(q)
        ours = [h.passage_id for h in desk.engine.search(terms, collections=None, limit=k)]
        theirs = [h.passage_id for h in reference.search(terms, collections=None, limit=k)]
        if theirs:
            scores.append(len(set(ours) & set(theirs)) / len(theirs))
    return sum(scores) / len(scores)


def test_same_first_passage_on_the_sample(sample_desk):
    reference = ReferenceEngine(lambda: sample_desk.store)
    for question, _ in SAMPLE_QUESTIONS:
        terms = query_terms(question)
        ours = sample_desk.engine.search(terms, collections=None, limit=10)
        theirs = reference.search(terms, collections=None, limit=10)
        assert ours[0].passage_id == theirs[0].passage_id
        assert ours[0].score == pytest.approx(theirs[0].score, rel=0.05)
    assert overlap(sample_desk, reference, [q for q, _ in SAMPLE_QUESTIONS]) >= 0.8


def test_top10_overlap_on_scifact(desk):
    folder = shared("data", "beir-scifact")
    with (folder / "corpus.jsonl").open() as f:
        desk.ingest(
            Article(title=d["title"], text=d["text"], key=f"id:{d['_id']}")
            for d in map(json.loads, f)
        )
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").open()]
    tested = {line.split("\t")[0] for line in (folder / "qrels" / "test.tsv").open()}
    with (folder / "queries.jsonl").open() as f:
        questions = [q["text"] for q in map(json.loads, f) if q["_id"] in tested]
    assert len(questions) == 300 and queries
    score = overlap(desk, ReferenceEngine(lambda: desk.store), questions)
    print(f"scifact top-10 overlap tantivy vs rank-bm25: {score:.3f}")
    assert score >= 0.8
