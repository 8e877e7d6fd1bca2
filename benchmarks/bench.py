"""Speed and scale of newsdesk: one run, the same questions, both engines side by side.

    python benchmarks/bench.py [--sizes 10k,100k,1m] [--reuters PATH] [--repeat N] [--json out.json]

Corpora: Reuters-21578 (real 1987 wire copy, from ../shared/data) and the seeded synthetic corpus
of ``corpus.py`` at each size (generated once, cached in benchmarks/results/, which git ignores).
For each corpus and engine it measures:

- bulk ingest (passages/s) and its peak memory: a fresh process ingests the JSONL file as
  ``newsdesk ingest`` does and reports its own RSS high-water mark (``VmHWM``; not
  ``getrusage(RUSAGE_CHILDREN)``, which on Linux also counts the parent's memory at fork);
- database and index size on disk;
- ``ask`` latency (p50/p95/p99, end to end, in process, warm) and the engine's search alone;
- cold start: a new ``python -m bot --db X ask "..."`` process until it has printed the answer;
- freshness: another process ingests 1,000 new passages while a serving process polls ``ask``
  until it quotes them;
- the RSS of the serving process after warm-up.

Every measurement that matters runs in its own process, so one figure's memory or caches never
flatter another's; the parent only orchestrates. Medians are taken over ``--repeat`` runs
(rounds of all questions for latency), and the ratio of the two engines is computed from
figures of the same run; where rank-bm25 serves, the default engine serves both before and
after it, so that the rounds of both straddle the same stretch of a drifting host.
rank-bm25 is measured up to 100k passages only: it holds the corpus in Python lists and scores
every passage for every question, so beyond that it takes minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import corpus

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
REUTERS = ROOT.parent / "shared" / "data" / "reuters21578" / "reuters21578.jsonl"
ENGINES = ("tantivy", "rank-bm25")
RANK_BM25_MAX = 100_000
"""Largest corpus (passages) rank-bm25 is run on; above it a single run would take minutes."""
QUESTION_ARTICLES = 1000
"""Questions are drawn from the first articles of a corpus: for the synthetic corpus these are
the same articles at every size, so every size answers the same questions."""
FRESH_PASSAGES = 1000
POLL_S = 0.01
"""How often the freshness poller asks (the resolution of the 'searchable after' figure)."""
COLD_RUNS = 5
SCHEMA = 1

TARGETS = {
    "ask_p50_ms_1m": 5.0,
    "ask_p95_ms_1m": 15.0,
    "ask_p50_speedup_100k": 200.0,
    "ingest_passages_per_s": 10_000.0,
    "ingest_peak_mb": 500.0,
    "serve_rss_mb_1m": 250.0,
    "cold_start_s": 1.0,
    "searchable_s": 1.0,
}


class BenchError(RuntimeError):
    """A measurement could not be made (a worker failed); the message says which and why."""


# -- workers: each runs in its own process and prints one JSON object on stdout --------------------


def _rss_mb() -> dict[str, float]:
    """Current and peak resident memory of this process, from the kernel."""
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "hwm_mb": int(fields["VmHWM"].split()[0]) / 1024,
    }


def worker_ingest(args: dict) -> dict:
    """Ingest a JSONL file into a new database, as ``newsdesk ingest FILE`` does (a large file
    in bulk: the index fed by a process of its own, whose peak memory is added to this one's)."""
    from retrieval import Desk
    from retrieval.files import is_bulk, read_paths

    before = _rss_mb()["rss_mb"]
    started = time.perf_counter()
    with Desk(args["db"]) as desk:
        paths = [args["jsonl"]]
        summary = desk.ingest(read_paths(paths), bulk=is_bulk(paths))
    return {
        "seconds": time.perf_counter() - started,
        # The index worker has ended: its high-water mark is in rusage. Added to this
        # process's, as if both peaked at once (they need not).
        "index_worker_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "passages": summary.passages,
        "articles": summary.count("added"),
        "refused": summary.count("refused"),
        "unchanged": summary.count("unchanged"),
        "rss_before_mb": before,
    }


def worker_serve(args: dict) -> dict:
    """A serving process: open, warm up, then time ``ask`` and search over rounds of questions."""
    from retrieval import Desk
    from retrieval.analyze import query_terms
    from retrieval.desk import CANDIDATE_PASSAGES, MAX_TERMS

    questions: list[str] = args["questions"]
    started = time.perf_counter()
    desk = Desk(args["db"], engine=args["engine"])
    opened = time.perf_counter()
    desk.ask(questions[0])  # rank-bm25 builds its in-memory index here
    first = time.perf_counter()
    for q in questions[: args["warmup"]]:
        desk.ask(q)
        desk.engine.search(query_terms(q)[:MAX_TERMS], collections=None, limit=CANDIDATE_PASSAGES)
    ask_rounds, search_rounds = [], []
    answered = 0
    for _ in range(args["rounds"]):
        times = []
        answered = 0
        for q in questions:
            t = time.perf_counter()
            answer = desk.ask(q)
            times.append((time.perf_counter() - t) * 1000)
            answered += bool(answer.quotes)
        ask_rounds.append(times)
        times = []
        for q in questions:
            terms = query_terms(q)[:MAX_TERMS]
            t = time.perf_counter()
            desk.engine.search(terms, collections=None, limit=CANDIDATE_PASSAGES)
            times.append((time.perf_counter() - t) * 1000)
        search_rounds.append(times)
    top = [
        [h.passage_id for h in desk.engine.search(
            query_terms(q)[:MAX_TERMS], collections=None, limit=10)]
        for q in questions
    ]
    memory = _rss_mb()
    desk.close()
    return {
        "open_s": opened - started,
        "first_ask_s": first - opened,
        "ask_ms": ask_rounds,
        "search_ms": search_rounds,
        "answered": answered,
        "top10": top,
        **memory,
    }


def worker_poll(args: dict) -> dict:
    """Ask the same question until a quote names the marker; prints 'ready' once warmed up."""
    from retrieval import Desk

    desk = Desk(args["db"], engine=args["engine"])
    desk.ask(args["question"])
    print("ready", flush=True)
    deadline = time.monotonic() + args["timeout"]
    polls = 0
    while time.monotonic() < deadline:
        polls += 1
        answer = desk.ask(args["question"])
        if any(args["marker"] in q.text for q in answer.quotes):
            return {"found_at": time.monotonic(), "polls": polls}
        time.sleep(POLL_S)
    return {"found_at": None, "polls": polls}


def worker_add(args: dict) -> dict:
    """Ingest the freshness test's new articles, noting when the ingest started and ended."""
    from retrieval import Article, Desk

    records, _ = corpus.fresh_articles(args["marker"], args["passages"], seed=args["seed"])
    articles = [
        Article(title=r["title"], text=r["text"], key=r["key"], publisher=r["publisher"],
                published=r["published"])
        for r in records
    ]
    with Desk(args["db"]) as desk:
        started = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes
        summary = desk.ingest(articles)
        ended = time.monotonic()
    return {"started": started, "ended": ended, "passages": summary.passages}


def worker_spin(args: dict) -> dict:
    """A fixed amount of pure-Python work, to see how much two processes slow each other."""
    started = time.perf_counter()
    total = 0
    for i in range(args["n"]):
        total += i
    return {"seconds": time.perf_counter() - started}


WORKERS: dict[str, Callable[[dict], dict]] = {
    "ingest": worker_ingest, "serve": worker_serve, "poll": worker_poll, "add": worker_add,
    "spin": worker_spin,
}


def run_as_worker(name: str) -> int:
    args = json.loads(sys.stdin.read())
    reply = WORKERS[name](args)
    # The high-water mark of this process alone: exec starts a new address space, so VmHWM
    # excludes the parent, which rusage's ru_maxrss for a child does not.
    reply["peak_rss_mb"] = _rss_mb()["hwm_mb"] + reply.get("index_worker_peak_mb", 0.0)
    print(json.dumps(reply), flush=True)
    return 0


# -- the parent: start workers and collect their answers -------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of every child: no developer settings, the repository importable."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("NEWSDESK_") and k != "DISCORD_TOKEN"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@dataclass
class Worker:
    """A running worker process; ``finish`` waits for it and returns its answer."""

    name: str
    proc: subprocess.Popen
    stderr: tempfile._TemporaryFileWrapper

    @classmethod
    def start(cls, name: str, args: dict) -> Worker:
        err = tempfile.NamedTemporaryFile("w+", prefix=f"bench-{name}-", suffix=".log")
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=ROOT,
            env=child_env(), text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(args))
        proc.stdin.close()
        return cls(name, proc, err)

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def finish(self) -> dict:
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self.proc.wait()
        self.stderr.seek(0)
        log = self.stderr.read()
        self.stderr.close()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if self.proc.returncode != 0 or not lines:
            raise BenchError(f"worker {self.name} failed (exit {self.proc.returncode}):\n"
                             + log[-3000:])
        return json.loads(lines[-1])


def run_worker(name: str, args: dict) -> dict:
    return Worker.start(name, args).finish()


# -- statistics ---------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), p in 0..100."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latency(rounds: list[list[float]], kinds: list[str]) -> dict:
    """p50/p95/p99 of each round, then the median over rounds; p50 per question kind too."""
    out = {
        f"p{p}": statistics.median(percentile(r, p) for r in rounds) for p in (50, 95, 99)
    }
    out["mean"] = statistics.median(statistics.fmean(r) for r in rounds)
    out["p50_by_kind"] = {
        kind: statistics.median(
            percentile([t for t, k in zip(r, kinds, strict=True) if k == kind], 50)
            for r in rounds
        )
        for kind in sorted(set(kinds))
    }
    out["rounds"] = len(rounds)
    return out


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    try:
        value = int(float(number) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 10k, 100k or 1m)") from None
    if value < 100:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small (at least 100 passages)")
    return value


def disk_mb(db: Path) -> dict[str, float]:
    """Database (with its WAL) and index sizes on disk."""
    db_bytes = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    index = db.with_suffix(".index")
    index_bytes = sum(p.stat().st_size for p in index.rglob("*") if p.is_file())
    return {"db_mb": db_bytes / 2**20, "index_mb": index_bytes / 2**20}


# -- machine facts ------------------------------------------------------------------------------


SPIN = 5_000_000


def spin_seconds() -> float:
    """How long one process takes for a fixed loop, best of three: a shared machine's speed
    changes during a run (here by up to 1.6x), so runs are compared by it."""
    return min(run_worker("spin", {"n": SPIN})["seconds"] for _ in range(3))


def machine() -> dict:
    """What the numbers were measured on; ``parallel_speed`` is how fast each of two CPU-bound
    processes runs compared with one alone (1.0: two real cores; 0.5: one core's worth)."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        mem = int(meminfo.read_text().split("MemTotal:")[1].split()[0]) / 2**20
    alone, together = [], []
    for _ in range(3):  # best of three: other work on the machine only ever slows a run down
        alone.append(run_worker("spin", {"n": SPIN})["seconds"])
        pair = [Worker.start("spin", {"n": SPIN}) for _ in range(2)]
        together.append(max(w.finish()["seconds"] for w in pair))
    return {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "mem_gb": round(mem, 1) if mem else None,
        "parallel_speed": round(min(alone) / min(together), 2),
        "spin_s": round(min(alone), 3),
        "loadavg_at_start": os.getloadavg(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def code_digest() -> str:
    """A digest of the engine's source: the figures belong to exactly this code."""
    h = hashlib.sha256()
    for path in sorted([*ROOT.glob("retrieval/**/*.py"), *ROOT.glob("bot/**/*.py")]):
        h.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def versions() -> dict:
    import sqlite3
    from importlib.metadata import PackageNotFoundError, version

    out = {"sqlite": sqlite3.sqlite_version}
    for package in ("tantivy", "rank-bm25", "sqlite-utils", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "retrieval", "bot"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        out["commit"] = head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        out["commit"] = None
    return out


# -- one corpus -----------------------------------------------------------------------------------


@dataclass
class Corpus:
    name: str
    jsonl: Path
    passages: int
    """Expected (synthetic: exact; Reuters: known after ingest)."""
    questions: list[corpus.Question]
    made: str = ""
    results: dict[str, dict] = field(default_factory=dict)
    loadavg: tuple[float, float, float] | None = None


def synthetic(n: int, workdir: Path, n_questions: int) -> Corpus:
    path = workdir / f"synthetic-{corpus.SEED}-{size_label(n)}.jsonl"
    started = time.perf_counter()
    meta = corpus.write_jsonl(path, n)
    made = f"{meta['made']} in {time.perf_counter() - started:.1f} s"
    records = corpus.read_records(path, QUESTION_ARTICLES)
    return Corpus(f"synthetic-{size_label(n)}", path, meta["passages"],
                  corpus.questions(records, n_questions), made)


def reuters(path: Path, n_questions: int) -> Corpus:
    records = [
        {"key": r.get("newid"), "title": r.get("title", ""), "text": r.get("body", "")}
        for r in corpus.read_records(path, 2 * QUESTION_ARTICLES) if r.get("body")
    ][:QUESTION_ARTICLES]
    return Corpus("reuters21578", path, 0, corpus.questions(records, n_questions), "shared data")


class Bench:
    """Runs every measurement of one invocation and keeps the results."""

    def __init__(self, args: argparse.Namespace, log: Callable[[str], None]) -> None:
        self.args = args
        self.log = log
        self.fresh_runs = 0
        self.rounds: dict[tuple[str, str], tuple[list, list]] = {}
        """Raw (ask, search) rounds of each corpus and engine, for ``serve(again=True)``."""

    def run_corpus(self, c: Corpus) -> None:
        c.loadavg = os.getloadavg()  # other work on the machine skews every figure
        workdir: Path = self.args.workdir / "db" / c.name
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        try:
            db = self.ingest(c, workdir)
            # "100k" is 100,002 passages: whole articles are never cut.
            engines = [e for e in ENGINES if e == "tantivy" or c.passages <= 1.01 * RANK_BM25_MAX]
            for engine in engines:
                self.serve(c, db, engine)
            if len(engines) > 1:
                # rank-bm25 serves for minutes, while the host's speed drifts: serving the
                # default engine again after it puts both engines' rounds on the same stretch.
                self.serve(c, db, "tantivy", again=True)
            for engine in engines:
                self.cold(c, db, engine)
            for engine in engines:
                self.fresh(c, db, engine)
            if "rank-bm25" not in engines:
                c.results["rank-bm25"] = {
                    "status": "skipped",
                    "reason": f"rank-bm25 is not run above {RANK_BM25_MAX:,} passages: it keeps "
                              "every passage in Python lists and scores all of them for each "
                              "question (minutes per run at this size)",
                }
        finally:
            if not self.args.keep:
                shutil.rmtree(workdir, ignore_errors=True)

    def ingest(self, c: Corpus, workdir: Path) -> Path:
        runs = self.args.repeat if c.passages <= self.args.ingest_repeat_max else 1
        records = []
        db = workdir / "run.db"
        for i in range(runs):
            for p in workdir.glob("run.*"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            self.log(f"{c.name}: ingest {i + 1}/{runs} ...")
            reply = run_worker("ingest", {"db": str(db), "jsonl": str(c.jsonl)})
            peak = reply["peak_rss_mb"]
            records.append(reply)
            self.log(f"  {reply['passages']:,} passages in {reply['seconds']:.1f} s, "
                     f"peak {peak:.0f} MB")
        c.passages = records[-1]["passages"]
        seconds = statistics.median(r["seconds"] for r in records)
        c.results["tantivy"] = {
            "status": "ok",
            "passages": c.passages,
            "articles": records[-1]["articles"],
            "ingest": {
                "runs": runs,
                "seconds": seconds,
                "passages_per_s": c.passages / seconds,
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in records),
                "all": records,
            },
            "disk": disk_mb(db),
        }
        return db

    def serve(self, c: Corpus, db: Path, engine: str, *, again: bool = False) -> None:
        """Time ``ask`` and search in a serving process; ``again`` adds its rounds to the
        first serving's (latency is the median over all of them) and keeps the rest."""
        self.log(f"{c.name}: {engine}: serving {len(c.questions)} questions "
                 f"x {self.args.repeat} rounds{' again' if again else ''} ...")
        reply = run_worker("serve", {
            "db": str(db), "engine": engine, "questions": [q.text for q in c.questions],
            "rounds": self.args.repeat, "warmup": self.args.warmup,
        })
        kinds = [q.kind for q in c.questions]
        asks, searches = self.rounds.setdefault((c.name, engine), ([], []))
        asks += reply["ask_ms"]
        searches += reply["search_ms"]
        r = c.results.setdefault(engine, {"status": "ok", "passages": c.passages})
        r.update({"ask_ms": latency(asks, kinds), "search_ms": latency(searches, kinds)})
        if again:
            now = latency(reply["ask_ms"], kinds)["p50"]
            self.log(f"  ask p50 {now:.2f} ms this time, {r['ask_ms']['p50']:.2f} ms over "
                     f"both servings; search p50 {r['search_ms']['p50']:.2f} ms over both")
            return
        r.update({
            "answered": reply["answered"],
            "questions": len(c.questions),
            "open_s": reply["open_s"],
            "first_ask_s": reply["first_ask_s"],
            "serve_rss_mb": reply["rss_mb"],
            "serve_peak_rss_mb": reply["peak_rss_mb"],
            "top10": reply["top10"],
        })
        if engine != "tantivy":
            base = c.results["tantivy"]
            # rank-bm25 writes the same store (Desk always keeps the tantivy index too), then
            # builds its whole in-memory index when first asked: its ingest is both.
            seconds = base["ingest"]["seconds"] + reply["first_ask_s"]
            r["ingest"] = {
                "runs": base["ingest"]["runs"],
                "seconds": seconds,
                "build_s": reply["first_ask_s"],
                "passages_per_s": c.passages / seconds,
                "peak_rss_mb": max(base["ingest"]["peak_rss_mb"], reply["peak_rss_mb"]),
            }
            r["disk"] = {"db_mb": base["disk"]["db_mb"], "index_mb": None}
        self.log(f"  ask p50 {r['ask_ms']['p50']:.2f} ms, p95 {r['ask_ms']['p95']:.2f} ms, "
                 f"search p50 {r['search_ms']['p50']:.2f} ms, RSS {reply['rss_mb']:.0f} MB")

    def cold(self, c: Corpus, db: Path, engine: str) -> None:
        runs = max(COLD_RUNS, self.args.repeat) if engine == "tantivy" else self.args.repeat
        self.log(f"{c.name}: {engine}: {runs} cold starts ...")
        times = []
        for i in range(runs):
            question = c.questions[i % len(c.questions)].text
            cmd = [sys.executable, "-m", "bot", "--db", str(db), "ask", "--engine", engine,
                   question]
            started = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, env=child_env(), capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise BenchError(f"cold start failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")
        c.results[engine]["cold_start_s"] = {"median": statistics.median(times), "all": times}
        self.log(f"  median {statistics.median(times):.2f} s")

    def fresh(self, c: Corpus, db: Path, engine: str) -> None:
        runs = self.args.repeat
        self.log(f"{c.name}: {engine}: {runs} x {FRESH_PASSAGES} new passages until found ...")
        found, ingest = [], []
        for _ in range(runs):
            self.fresh_runs += 1
            marker = f"Quillfresh{self.fresh_runs}x{os.getpid()}"
            seed = 100_000 + self.fresh_runs * 1000 + os.getpid() % 1000
            _, question = corpus.fresh_articles(marker, 1, seed=seed)
            poller = Worker.start("poll", {"db": str(db), "engine": engine, "marker": marker,
                                           "question": question, "timeout": 900})
            if poller.readline() != "ready":
                poller.finish()  # raises with the poller's stderr
                raise BenchError("freshness poller did not start")
            added = run_worker("add", {"db": str(db), "marker": marker, "seed": seed,
                                          "passages": FRESH_PASSAGES})
            reply = poller.finish()
            if reply["found_at"] is None:
                raise BenchError(f"{engine}: new passages never became searchable")
            found.append(reply["found_at"] - added["started"])
            ingest.append(added["ended"] - added["started"])
        c.results[engine]["searchable_s"] = {
            "median": statistics.median(found), "all": found,
            "ingest_s": statistics.median(ingest), "passages": FRESH_PASSAGES,
        }
        self.log(f"  median {statistics.median(found):.2f} s")


# -- summaries ------------------------------------------------------------------------------------

FIGURES: tuple[tuple[str, str, Callable[[dict], float | None], bool], ...] = (
    # (key, heading, getter, higher is better)
    ("ingest_pps", "ingest p/s", lambda r: r["ingest"]["passages_per_s"], True),
    ("ingest_peak_mb", "peak MB", lambda r: r["ingest"]["peak_rss_mb"], False),
    ("db_mb", "db MB", lambda r: r["disk"]["db_mb"], False),
    ("index_mb", "index MB", lambda r: r["disk"]["index_mb"], False),
    ("ask_p50", "ask p50", lambda r: r["ask_ms"]["p50"], False),
    ("ask_p95", "p95", lambda r: r["ask_ms"]["p95"], False),
    ("ask_p99", "p99", lambda r: r["ask_ms"]["p99"], False),
    ("search_p50", "search p50", lambda r: r["search_ms"]["p50"], False),
    ("search_p95", "p95", lambda r: r["search_ms"]["p95"], False),
    ("search_p99", "p99", lambda r: r["search_ms"]["p99"], False),
    ("cold_s", "cold s", lambda r: r["cold_start_s"]["median"], False),
    ("fresh_s", "fresh s", lambda r: r["searchable_s"]["median"], False),
    ("serve_rss_mb", "serve MB", lambda r: r["serve_rss_mb"], False),
)


def figure(result: dict, get: Callable[[dict], float | None]) -> float | None:
    try:
        return get(result)
    except (KeyError, TypeError):
        return None


def ratios(c: Corpus) -> dict | None:
    """How many times better the default engine is, per figure (same run, same questions)."""
    base, ref = c.results.get("tantivy"), c.results.get("rank-bm25")
    if not base or not ref or ref.get("status") != "ok":
        return None
    out: dict[str, float | None] = {}
    for key, _, get, higher in FIGURES:
        a, b = figure(base, get), figure(ref, get)
        if a is None or b is None or a <= 0 or b <= 0 or key in ("db_mb", "index_mb"):
            out[key] = None
        else:
            out[key] = a / b if higher else b / a
    return out


def top_agreement(c: Corpus) -> dict | None:
    """How alike the two engines' rankings are on the same questions (sanity, not speed)."""
    base, ref = c.results.get("tantivy", {}), c.results.get("rank-bm25", {})
    if "top10" not in base or "top10" not in ref:
        return None
    pairs = list(zip(base["top10"], ref["top10"], strict=True))
    same_top = sum(bool(a and b and a[0] == b[0]) for a, b in pairs)
    overlap = [len(set(a) & set(b)) / max(len(a), len(b), 1) for a, b in pairs]
    return {"top1_same": same_top / len(pairs), "top10_overlap": statistics.fmean(overlap)}


def targets(corpora: list[Corpus]) -> list[dict]:
    """The issue's targets, each checked on the corpus it names (or the largest measured)."""
    synth = [c for c in corpora if c.name.startswith("synthetic")]
    out: list[dict] = []

    def check(name: str, c: Corpus | None, value: float | None, limit: float, higher: bool,
              note: str = "") -> None:
        ok = None if value is None else (value >= limit if higher else value <= limit)
        out.append({"target": name, "limit": limit, "value": value, "ok": ok,
                    "corpus": c.name if c else None, "note": note})

    def at(n: int) -> Corpus | None:
        return next((c for c in synth if c.passages >= n and c.passages < 1.1 * n), None)

    largest = max(synth, key=lambda c: c.passages, default=None)
    big = at(1_000_000)
    note = "" if big else f"1M not run; largest measured: {largest.name if largest else 'none'}"
    big = big or largest
    t = big.results.get("tantivy", {}) if big else {}
    check("ask p50 at 1M <= 5 ms", big, figure(t, lambda r: r["ask_ms"]["p50"]),
          TARGETS["ask_p50_ms_1m"], False, note)
    check("ask p95 at 1M <= 15 ms", big, figure(t, lambda r: r["ask_ms"]["p95"]),
          TARGETS["ask_p95_ms_1m"], False, note)
    mid = at(100_000)
    speedup = ratios(mid) if mid else None
    check("ask p50 at 100k >= 200x rank-bm25", mid,
          speedup["ask_p50"] if speedup else None, TARGETS["ask_p50_speedup_100k"], True)
    for c in [*synth, *(x for x in corpora if x not in synth)]:
        r = c.results.get("tantivy", {})
        check("ingest >= 10,000 passages/s", c,
              figure(r, lambda r: r["ingest"]["passages_per_s"]),
              TARGETS["ingest_passages_per_s"], True)
        check("ingest peak memory < 500 MB", c, figure(r, lambda r: r["ingest"]["peak_rss_mb"]),
              TARGETS["ingest_peak_mb"], False)
    check("serving RSS at 1M < 250 MB", big, figure(t, lambda r: r["serve_rss_mb"]),
          TARGETS["serve_rss_mb_1m"], False, note)
    check("cold newsdesk ask < 1 s", big, figure(t, lambda r: r["cold_start_s"]["median"]),
          TARGETS["cold_start_s"], False, note)
    check("1,000 new passages searchable < 1 s", big,
          figure(t, lambda r: r["searchable_s"]["median"]), TARGETS["searchable_s"], False, note)
    return out


def _fmt(value: float | None, key: str) -> str:
    if value is None:
        return "—"
    if key in ("ingest_pps",):
        return f"{value:,.0f}"
    if key.endswith("_mb"):
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(corpora: list[Corpus]) -> str:
    """Rows per corpus and engine, then the default engine's advantage (×) over rank-bm25."""
    head = ["corpus", "engine", "passages"] + [h for _, h, _, _ in FIGURES]
    rows: list[list[str]] = []
    notes: dict[int, str] = {}
    for c in corpora:
        for engine in ENGINES:
            r = c.results.get(engine)
            if r is None:
                continue
            if r.get("status") != "ok":
                notes[len(rows)] = "not run: rank-bm25 is too slow beyond 100k passages"
                rows.append([c.name, engine, f"{c.passages:,}"])
                continue
            rows.append([c.name, engine, f"{c.passages:,}"]
                        + [_fmt(figure(r, get), key) for key, _, get, _ in FIGURES])
        ratio = ratios(c)
        if ratio:
            rows.append([c.name, "default ×", ""]
                        + ["—" if ratio[key] is None else f"{ratio[key]:,.1f}×"
                           for key, _, _, _ in FIGURES])
    widths = [len(h) for h in head]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i])
                         for i, cell in enumerate(cells))

    out = [line(head), "-" * len(line(head))]
    for i, row in enumerate(rows):
        out.append(line(row) + (f"  {notes[i]}" if i in notes else ""))
    return "\n".join(out)


def target_lines(checks: list[dict]) -> str:
    lines = []
    for t in checks:
        mark = {True: "PASS", False: "FAIL", None: "n/a "}[t["ok"]]
        value = "not measured" if t["value"] is None else f"{t['value']:,.2f}"
        where = f" [{t['corpus']}]" if t["corpus"] else ""
        note = f" ({t['note']})" if t["note"] else ""
        lines.append(f"  {mark}  {t['target']}: {value}{where}{note}")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench.py",
        description="Measure newsdesk's ingest, ask latency, memory, cold start and freshness "
                    "on Reuters-21578 and synthetic corpora, tantivy vs rank-bm25.",
    )
    p.add_argument("--sizes", default="10k,100k,1m",
                   help="synthetic corpus sizes in passages, comma-separated "
                        "(default: %(default)s)")
    p.add_argument("--reuters", default=str(REUTERS),
                   help="Reuters-21578 JSONL, or 'none' to skip (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per figure, the median is reported (default: %(default)s)")
    p.add_argument("--questions", type=int, default=300,
                   help="questions per corpus, the same for both engines (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=10,
                   help="questions asked before timing starts (default: %(default)s)")
    p.add_argument("--ingest-repeat-max", type=parse_size, default=200_000,
                   help="larger corpora are ingested once, not --repeat times "
                        "(default: 200k: a 1M ingest takes minutes)")
    p.add_argument("--json", type=Path, help="write the results here as JSON")
    p.add_argument("--workdir", type=Path, default=RESULTS,
                   help="where corpora are cached and databases built (default: %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = p.parse_args(argv)
    try:
        args.sizes = sorted({parse_size(s) for s in args.sizes.split(",") if s.strip()})
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    if args.repeat < 1 or args.questions < 3:
        p.error("--repeat must be at least 1 and --questions at least 3")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        return run_as_worker(argv[1])
    args = parse_args(argv)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    args.workdir.mkdir(parents=True, exist_ok=True)
    code_at_start = code_digest()
    facts = machine()
    log(f"{facts['nproc']} CPUs ({facts['cpu_model']}), two busy processes each run at "
        f"{facts['parallel_speed']:.0%} of one alone; a {SPIN:,}-step loop takes "
        f"{facts['spin_s']:.2f} s")
    real: list[Corpus] = []
    skipped: list[str] = []
    if args.reuters.lower() != "none":
        path = Path(args.reuters)
        if path.exists():
            real.append(reuters(path, args.questions))
        else:
            skipped.append(f"Reuters-21578 not found at {path} (pass --reuters PATH, or none)")
            log(skipped[-1])
    made: list[Corpus] = []
    # The largest first: smaller synthetic corpora are cut from its cached file.
    for n in sorted(args.sizes, reverse=True):
        log(f"synthetic corpus of {n:,} passages ...")
        made.append(synthetic(n, args.workdir, args.questions))
        log(f"  {made[-1].made}")
    corpora = real + made[::-1]
    bench = Bench(args, log)
    for c in corpora:
        bench.run_corpus(c)

    checks = targets(corpora)
    facts["spin_s_at_end"] = round(spin_seconds(), 3)
    code = {"at_start": code_at_start, "at_end": code_digest()}
    if code["at_start"] != code["at_end"]:
        log("WARNING: retrieval/ or bot/ changed during the run: figures mix two versions")
    report = {
        "schema": SCHEMA,
        "command": " ".join(["python", "benchmarks/bench.py", *argv]),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "took_s": time.perf_counter() - started,
        "loadavg_at_end": os.getloadavg(),
        "machine": facts,
        "versions": versions(),
        "code_digest": code,
        "settings": {
            "sizes": args.sizes, "repeat": args.repeat, "questions": args.questions,
            "warmup": args.warmup, "ingest_repeat_max": args.ingest_repeat_max,
            "fresh_passages": FRESH_PASSAGES, "poll_s": POLL_S, "rank_bm25_max": RANK_BM25_MAX,
        },
        "skipped": skipped,
        "corpora": [
            {"name": c.name, "source": str(c.jsonl), "passages": c.passages, "made": c.made,
             "loadavg_at_start": c.loadavg,
             "questions": [{"text": q.text, "kind": q.kind, "source": q.source}
                           for q in c.questions],
             "agreement": top_agreement(c)}
            for c in corpora
        ],
        "results": [
            {"corpus": c.name, "engine": engine,
             **{k: v for k, v in c.results[engine].items() if k != "top10"}}
            for c in corpora for engine in ENGINES if engine in c.results
        ],
        "ratios": [{"corpus": c.name, **r} for c in corpora if (r := ratios(c))],
        "targets": checks,
    }
    print(table(corpora))
    print("\nms for ask/search; ingest for rank-bm25 = the same store ingest + its in-memory "
          "build on the first question;\n'default ×' = how many times better tantivy is "
          "(faster, smaller) than rank-bm25, same run, same questions.")
    print(f"\nThis machine's speed: a {SPIN:,}-step Python loop took {facts['spin_s']:.2f} s at "
          f"the start and {facts['spin_s_at_end']:.2f} s at the end (compare runs by it).")
    print("\nTargets:\n" + target_lines(checks))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
