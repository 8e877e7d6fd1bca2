"""The benchmark script runs end to end at its smallest size and writes the JSON it promises.

No timing is asserted: speed depends on the machine, and a test that fails on a slow CI runner
would teach people to ignore it. The numbers are for ``docs/scaling.md`` and the issue.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

from .conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "bench.py"


def test_bench_runs_at_smallest_size_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "1k", "--reuters", "none", "--repeat", "1",
         "--questions", "6", "--warmup", "2", "--workdir", str(tmp_path / "work"),
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "synthetic-1k" in done.stdout and "Targets:" in done.stdout

    report = json.loads(out.read_text())
    assert {"schema", "command", "machine", "versions", "settings", "corpora", "results",
            "ratios", "targets"} <= report.keys()
    assert {"nproc", "cpu_model", "parallel_speed"} <= report["machine"].keys()
    [c] = report["corpora"]
    assert c["name"] == "synthetic-1k" and c["passages"] >= 1000
    assert len(c["questions"]) == 6
    assert all(3 <= len(q["text"].split()) <= 10 for q in c["questions"])

    by_engine = {r["engine"]: r for r in report["results"]}
    assert by_engine.keys() == {"tantivy", "rank-bm25"}
    for r in by_engine.values():
        assert r["status"] == "ok"
        for key in ("ingest", "disk", "ask_ms", "search_ms", "cold_start_s", "searchable_s",
                    "serve_rss_mb"):
            assert key in r, key
        assert {"p50", "p95", "p99"} <= r["ask_ms"].keys()
        assert {"p50", "p95", "p99"} <= r["search_ms"].keys()
        assert r["ingest"]["passages_per_s"] > 0 and r["ingest"]["peak_rss_mb"] > 0
        assert not math.isnan(r["ask_ms"]["p50"])
    assert by_engine["tantivy"]["disk"]["index_mb"] > 0
    # the default engine serves before and after rank-bm25: twice the rounds
    assert (by_engine["tantivy"]["ask_ms"]["rounds"], by_engine["rank-bm25"]["ask_ms"]["rounds"]) \
        == (2, 1)

    [ratio] = report["ratios"]
    assert ratio["corpus"] == "synthetic-1k" and ratio["ask_p50"] > 0
    assert {t["target"] for t in report["targets"]} >= {
        "ask p50 at 1M <= 5 ms", "cold newsdesk ask < 1 s", "1,000 new passages searchable < 1 s",
    }
