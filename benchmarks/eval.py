"""Answer quality on real data: both engines side by side, with the published figures.

    python benchmarks/eval.py DATASET [DATASET ...] [--engine tantivy|rank-bm25|both]
        [--limit N | --ci] [--seed S] [--json] [--record] [--data-dir ../shared/data]

DATASET is beir-scifact, beir-nfcorpus, squad-v1.1 or all. Each dataset is ingested once into a
throwaway database and every engine answers the same fixed, seeded sample of its queries
(``--limit``; ``--ci`` takes the sizes that the tests run and eval_baseline.json records).
``--json`` prints the figures as JSON on stdout and the table on stderr; ``--record`` writes
them into eval_baseline.json (after a change that moves them on purpose, say so in the commit).
The loading, running and scoring live in ``retrieval.evaluate``; this script only prints.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from retrieval.answer import PER_ARTICLE
from retrieval.evaluate import CI_LIMITS, DATASETS, PUBLISHED, SEED, Figures, evaluate
from retrieval.search import ENGINES

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "benchmarks" / "eval_baseline.json"
SHARED = Path(os.environ.get("NEWSDESK_SHARED", ROOT.parent / "shared"))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("datasets", nargs="+", metavar="DATASET", choices=[*DATASETS, "all"],
                   help=f"one of {', '.join(DATASETS)}, or all")
    p.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--limit", type=int, help="a seeded sample of N queries (default: all)")
    size.add_argument("--ci", action="store_true",
                      help="the sample sizes CI measures (retrieval.evaluate.CI_LIMITS)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--per-article", type=int, default=PER_ARTICLE, metavar="N",
                   help="SQuAD: at most N of the 3 quotes from one paragraph (default "
                   f"{PER_ARTICLE}, as newsdesk ask)")
    p.add_argument("--json", action="store_true", help="JSON on stdout, the table on stderr")
    p.add_argument("--record", action="store_true", help="write the figures to the baseline")
    p.add_argument("--data-dir", type=Path, default=SHARED / "data")
    args = p.parse_args(argv)
    if "all" in args.datasets:
        args.datasets = list(DATASETS)
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    if args.record and not args.ci:
        p.error("--record needs --ci: the tests compare against the CI samples")
    if args.per_article < 1:
        p.error("--per-article must be at least 1")
    if args.record and args.per_article != PER_ARTICLE:
        p.error("--record measures the defaults: leave out --per-article")
    return args


def read_baseline(path: Path = BASELINE) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"datasets": {}}


def table(figures: list[Figures], out: TextIO) -> None:
    """One block per dataset: its metrics, the time each engine took, the published figures."""
    for dataset in dict.fromkeys(f.dataset for f in figures):
        rows = [f for f in figures if f.dataset == dataset]
        metrics = list(rows[0].metrics)
        head = ["engine", "n", *metrics, "ingest s", "warmup s", "query s", "q/s"]
        lines = [head]
        for f in rows:
            qps = f.queries / f.query_s if f.query_s else 0.0
            lines.append([
                f.engine, str(f.queries), *(f"{f.metrics[m]:.3f}" for m in metrics),
                f"{f.ingest_s:.1f}", f"{f.warmup_s:.1f}", f"{f.query_s:.1f}", f"{qps:.0f}",
            ])
        published = PUBLISHED.get(dataset, {})
        if published:
            lines.append(["published", "", *(f"{published[m]:.3f}" if m in published else ""
                                              for m in metrics), "", "", "", ""])
        widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
        r = rows[0]
        cap = f", up to {r.per_article} quotes per article" if r.per_article != PER_ARTICLE else ""
        print(f"\n{dataset}: {r.articles:,} articles, {r.passages:,} passages, "
              f"{'all' if r.limit is None else 'sample of'} {r.queries:,} queries"
              f"{'' if r.limit is None else f' (seed {r.seed})'}"
              f"{cap}",
              file=out)
        for i, row in enumerate(lines):
            print("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                            for j, (c, w) in enumerate(zip(row, widths, strict=True))), file=out)
            if i == 0:
                print("  ".join("-" * w for w in widths), file=out)


def record(figures: list[Figures], path: Path = BASELINE) -> None:
    """Merge this run's figures into the baseline, dataset by dataset."""
    baseline = {
        "about": "Figures measured by benchmarks/eval.py --ci --record on the fixed samples "
        "below; tests/test_eval.py fails when the default engine falls more than 0.02 below them.",
        "datasets": read_baseline(path)["datasets"],
    }
    for f in figures:
        entry = baseline["datasets"].setdefault(f.dataset, {})
        if (entry.get("limit"), entry.get("seed")) != (f.limit, f.seed):
            entry.clear()
        entry.update(limit=f.limit, seed=f.seed, queries=f.queries)
        entry.setdefault("engines", {})[f.engine] = {
            m: round(v, 4) for m, v in f.metrics.items()
        }
        entry.setdefault("seconds", {})[f.engine] = {
            "ingest": round(f.ingest_s, 1), "query": round(f.query_s, 1)
        }
        entry["recorded"] = datetime.now(UTC).date().isoformat()
        entry["commit"] = _commit()
        entry["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, " \
                           f"Python {platform.python_version()}"
    path.write_text(json.dumps(baseline, indent=2) + "\n")


def _commit() -> str | None:
    """The commit measured (with "+" when the tree had changes): figures move with the code."""
    try:
        run = subprocess.run(["git", "describe", "--always", "--dirty=+"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return run.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    engines = list(ENGINES) if args.engine == "both" else [args.engine]
    figures: list[Figures] = []
    try:
        for dataset in args.datasets:
            limit = CI_LIMITS[dataset] if args.ci else args.limit
            figures += evaluate(
                dataset, data_dir=args.data_dir, engines=engines, limit=limit, seed=args.seed,
                per_article=args.per_article,
            )
    except FileNotFoundError as e:
        print(f"eval: {e}", file=sys.stderr)
        return 2
    table(figures, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps([f.to_dict() for f in figures], indent=2))
    if args.record:
        record(figures)
        print(f"recorded in {BASELINE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
