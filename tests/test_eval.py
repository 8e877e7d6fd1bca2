"""The evaluation harness: its metric wiring on literal data, and a regression guard on real data.

The guard runs the CI samples (``retrieval.evaluate.CI_LIMITS``) with the default engine and fails
when a figure falls more than ``TOLERANCE`` below what ``benchmarks/eval_baseline.json`` recorded.
When a change moves the figures on purpose, re-record them:
``python benchmarks/eval.py all --ci --record``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from retrieval import Article
from retrieval.evaluate import (
    CI_LIMITS,
    DATASETS,
    LOWER_IS_BETTER,
    beir_figures,
    document_scores,
    evaluate,
    ingest,
    load,
    rank_articles,
    sample,
)
from retrieval.search import Hit
from tests.conftest import ROOT, shared

BASELINE = ROOT / "benchmarks" / "eval_baseline.json"
TOLERANCE = 0.02


def test_beir_figures_are_ranx_ndcg_and_recall_with_unanswered_queries_as_zero():
    qrels = {"q1": {"d1": 1, "d2": 1}, "q2": {"d9": 2}}
    run = {"q1": {"d1": 3.0, "d3": 2.0, "d2": 1.0}, "q2": {}}
    # q1: DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3); q2 found nothing: 0.
    ndcg_q1 = 1.5 / (1 + 1 / 1.584962500721156)
    assert beir_figures(qrels, run) == pytest.approx(
        {"ndcg@10": ndcg_q1 / 2, "recall@100": 0.5}
    )


def test_graded_judgements_count_by_grade():
    qrels = {"q1": {"d1": 1, "d2": 2}}
    better_first = beir_figures(qrels, {"q1": {"d2": 2.0, "d1": 1.0}})
    worse_first = beir_figures(qrels, {"q1": {"d1": 2.0, "d2": 1.0}})
    assert better_first["ndcg@10"] == pytest.approx(1.0)
    # Linear gain (trec_eval's, which BEIR reports): DCG = 1 + 2/log2(3), ideal = 2 + 1/log2(3).
    log2_3 = 1.584962500721156
    assert worse_first["ndcg@10"] == pytest.approx((1 + 2 / log2_3) / (2 + 1 / log2_3))


def test_a_document_scores_as_its_best_passage():
    hits = [Hit(11, 9.0), Hit(21, 7.5), Hit(12, 7.0), Hit(31, 2.0), Hit(22, 1.0)]
    article_of = {11: 1, 12: 1, 21: 2, 22: 2, 31: 3}
    assert document_scores(hits, article_of) == {1: 9.0, 2: 7.5, 3: 2.0}
    assert list(document_scores(hits, article_of)) == [1, 2, 3]


def test_sample_is_seeded_and_keeps_file_order():
    items = list(range(100))
    chosen = sample(items, 10, seed=7)
    assert chosen == sorted(chosen) and len(set(chosen)) == 10
    assert sample(items, 10, seed=7) == chosen
    assert sample(items, 10, seed=8) != chosen
    assert sample(items, None) == items and sample(items, 500) == items


def test_duplicate_texts_are_found_under_every_record_id(desk):
    text = "Statins lower cholesterol. They may also slow some cancers."
    keys = ingest(desk, [
        Article(title="Statins", text=text, key="id:MED-1"),
        Article(title="Statins again", text=text, key="id:MED-2"),
        Article(title="Other", text="Vitamin D and bone density in the elderly.", key="id:MED-3"),
    ])
    assert sorted(keys.values()) == [["MED-1", "MED-2"], ["MED-3"]]
    passages = {row[0]: row[1] for row in desk.store.index_rows()}
    ranked = rank_articles(desk, ["statin", "cancer"], passages, depth=10)
    assert [keys[a] for a in ranked] == [["MED-1", "MED-2"]]


def test_missing_data_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="NEWSDESK_SHARED"):
        load("beir-scifact", tmp_path)


def test_evaluation_module_does_not_load_ranx_or_numba():
    """numba compiles for seconds on first use: importing the harness must not pay for it."""
    code = "import sys, retrieval.evaluate; print(sorted({'ranx', 'numba'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("dataset", DATASETS)
def test_figures_hold_the_recorded_baseline(dataset, tmp_path):
    recorded = json.loads(BASELINE.read_text())["datasets"][dataset]
    assert recorded["limit"] == CI_LIMITS[dataset], "the baseline was measured on another sample"
    data_dir = shared("data", dataset).parent
    (figures,) = evaluate(
        dataset, data_dir=data_dir, limit=recorded["limit"], seed=recorded["seed"],
        workdir=tmp_path,
    )
    assert figures.queries == recorded["queries"]
    expected = recorded["engines"]["tantivy"]
    worse = {
        m: (round(v, 4), expected[m])
        for m, v in figures.metrics.items()
        if (v - expected[m] if m in LOWER_IS_BETTER else expected[m] - v) > TOLERANCE
    }
    assert not worse, f"{dataset}: figures fell below the baseline (now, recorded): {worse}"


def test_eval_script_records_only_the_defaults():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "eval.py"), "squad-v1.1", "--ci", "--record",
         "--per-article", "1"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "--record measures the defaults" in proc.stderr
