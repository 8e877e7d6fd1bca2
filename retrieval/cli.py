"""The ``newsdesk`` command line: a thin adapter that parses, calls the engine and prints.

User mistakes end as one line on stderr and exit code 1, never a traceback. ``build_parser`` is
public so the bot package can add its own commands (``run``, ``sync``) without this package
importing discord.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from dotenv import load_dotenv

from .answer import PER_ARTICLE
from .config import DEFAULT_DB, Settings
from .desk import Desk
from .errors import NewsdeskError
from .models import GLOBAL, IngestResult, IngestSummary
from .render import NOT_SEARCHABLE_YET, plural, render_answer

log = logging.getLogger("newsdesk")

Handler = Callable[[argparse.Namespace], int]
MAX_REFUSALS_SHOWN = 5
NO_FEEDS = "no feeds yet: add one with `newsdesk feeds add URL`"


def open_desk(args: argparse.Namespace, *, engine: str | None = None) -> Desk:
    """The desk the arguments point at; a new default database starts with the sample."""
    settings: Settings = args.settings
    db = Path(args.db) if args.db else settings.db
    fresh = not db.exists()
    desk = Desk(db, engine=engine or settings.engine)
    if fresh and db == DEFAULT_DB and settings.sample.is_dir():
        from .files import read_paths

        summary = desk.ingest(read_paths([settings.sample]), by="sample")
        print(f"First run: loaded {plural(summary.count('added'), 'sample article')} "
              f"from {settings.sample}/ into {db}.", file=sys.stderr)
    return desk


def named_collections(desk: Desk, args: argparse.Namespace) -> list[str] | None:
    """The ``--collection`` names, each checked: a misspelt one would find nothing, silently."""
    if not args.collection:
        return None
    known = desk.stats().collections
    unknown = [c for c in args.collection if c not in known]
    if unknown:
        raise NewsdeskError(
            f"no collection named {', '.join(map(repr, unknown))} "
            f"(there are: {', '.join(known) or 'none yet'})"
        )
    return args.collection


# -- commands ----------


def cmd_ask(args: argparse.Namespace) -> int:
    with open_desk(args, engine=args.engine) as desk:
        answer = desk.ask(
            " ".join(args.question), k=args.k, per_article=args.per_article,
            collections=named_collections(desk, args),
        )
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_answer(answer, color=sys.stdout.isatty()))
    return 0


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def cmd_ingest(args: argparse.Namespace) -> int:
    from .files import is_bulk, read_paths

    urls = [p for p in args.paths if is_url(p)]
    paths = [p for p in args.paths if not is_url(p)]
    with open_desk(args) as desk:
        bar = _progress(args)
        summary = desk.ingest(
            read_paths(paths), collection=args.collection, by=args.by,
            on_result=lambda r: bar.update(1) if bar else None, bulk=is_bulk(paths),
        )
        if bar:
            bar.close()
        if urls:
            from .sources import ingest_url

            for url in urls:
                summary.add(ingest_url(desk, url, collection=args.collection or GLOBAL,
                                       by=args.by))
    if summary.total <= 3:  # a few sources: say what became of each
        for r in summary.results:
            if r.status != IngestResult.REFUSED:
                print(f"{r.status}: {r.title} ({plural(r.passages, 'passage')}, article "
                      f"{r.article_id})")
    print(describe(summary))
    nothing_read = summary.total and summary.count(IngestResult.REFUSED) == summary.total
    return 1 if nothing_read else 0


def describe(summary: IngestSummary) -> str:
    """The end-of-ingest report: counts, then the refusals grouped by reason."""
    counts = ", ".join(
        f"{summary.count(s)} {s}"
        for s in (IngestResult.ADDED, IngestResult.UPDATED, IngestResult.UNCHANGED,
                  IngestResult.REFUSED)
    )
    done = "stored" if summary.index_busy else "indexed"
    lines = [f"{counts} ({plural(summary.passages, 'passage')} {done})"]
    if summary.index_busy:
        lines.append(NOT_SEARCHABLE_YET)
    by_reason: dict[str, list[str]] = {}
    for r in summary.refused:
        by_reason.setdefault(r.reason or "refused", []).append(r.source)
    for reason, sources in by_reason.items():
        shown = ", ".join(sources[:MAX_REFUSALS_SHOWN])
        more = summary.reasons[reason] - min(len(sources), MAX_REFUSALS_SHOWN)
        lines.append(f"  refused: {reason}: {shown}" + (f" and {more} more" if more > 0 else ""))
    return "\n".join(lines)


def _progress(args: argparse.Namespace):
    if args.quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(unit=" articles", file=sys.stderr, mininterval=0.5)


def cmd_stats(args: argparse.Namespace) -> int:
    with open_desk(args) as desk:
        stats = desk.stats(named_collections(desk, args))
    if args.json:
        print(json.dumps(stats.__dict__, indent=2))
        return 0
    print(f"{plural(stats.articles, 'article')}, {plural(stats.passages, 'passage')}")
    for name, n in stats.collections.items():
        print(f"  {name}: {plural(n, 'article')}")
    print(f"last ingest: {stats.last_ingest or 'never'}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    with open_desk(args) as desk:
        removed = desk.remove(args.ref, collections=named_collections(desk, args))
    for a in removed:
        print(f"removed article {a.id}: {a.title}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with open_desk(args) as desk:
        collections = named_collections(desk, args)
        if args.output == "-":
            n = desk.export(sys.stdout, collections=collections)
        else:
            # Written beside the target and renamed over it when whole: a failed or interrupted
            # export leaves what was there before, not half a file.
            target = Path(args.output)
            part = target.with_name(f".{target.name}.part")
            try:
                with open(part, "w", encoding="utf-8") as out:
                    n = desk.export(out, collections=collections)
                os.replace(part, target)
            except BaseException as e:
                part.unlink(missing_ok=True)
                if isinstance(e, OSError):
                    raise NewsdeskError(f"cannot write {target}: {e.strerror or e}") from e
                raise
    print(f"exported {plural(n, 'article')}", file=sys.stderr)
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    with open_desk(args) as desk:
        n = desk.reindex()
    print(f"reindexed {plural(n, 'passage')}")
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    from . import sources

    collections = [args.collection] if getattr(args, "collection", None) else None
    with open_desk(args) as desk:
        if args.action == "add":
            row = sources.subscribe(desk, args.url, collection=args.collection or GLOBAL,
                                    by=args.by)
            print(f"feed {row['id']}: {row['title'] or row['url']} ({row['collection']})")
        elif args.action == "list":
            rows = desk.store.feeds(collections)
            for row in rows:
                state = f"failing: {row['last_error']}" if row["failures"] else "ok"
                print(f"{row['id']}  {row['url']}  {row['collection']}  "
                      f"last polled {row['last_polled'] or 'never'}  {state}")
            if not rows:
                print(NO_FEEDS)
        elif args.action == "remove":
            row = sources.unsubscribe(desk, args.ref, collections=collections)
            print(f"removed feed {row['id']}: {row['url']}")
        else:
            polled = 0
            for r in sources.poll(desk, force=args.all):
                polled += 1
                outcome = r.error or ("not modified" if r.not_modified else
                                      f"{r.added} added, {r.updated} updated, "
                                      f"{r.unchanged} unchanged, {r.refused} refused")
                print(f"{r.feed}: {outcome}")
            if not polled:
                n = len(desk.store.feeds(None))
                print(f"no feed is due yet ({plural(n, 'feed')}; --all polls them now)" if n
                      else NO_FEEDS)
    return 0


def cmd_run_unavailable(args: argparse.Namespace) -> int:
    raise NewsdeskError("the Discord bot is not part of this install")


# -- parser ----------


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(
        prog="newsdesk",
        description="Answer questions about news articles with quoted, attributed snippets.",
    )
    parser.add_argument("--db", help=f"database file (default: $NEWSDESK_DB or {DEFAULT_DB})")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ask", help="answer a question with quotes from the articles")
    p.add_argument("question", nargs="+", help="the question (quote it in the shell)")
    p.add_argument("-k", type=int, default=None, help="how many quotes (default 3)")
    p.add_argument("--per-article", type=int, default=PER_ARTICLE, metavar="N",
                   help=f"at most N quotes from one article (default {PER_ARTICLE}: a second "
                   "one only when clearly better than the other sources' best)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--engine", choices=("tantivy", "rank-bm25"),
                   help="BM25 engine (default: $NEWSDESK_ENGINE or tantivy)")
    _collections(p)
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser("ingest", help="add articles from files, folders or web pages")
    p.add_argument("paths", nargs="+", metavar="PATH_OR_URL",
                   help=".txt .md .html .json .jsonl files, folders, or http(s) URLs")
    p.add_argument("--collection", help="collection to add to (default: global)")
    p.add_argument("--by", help="who ingests (recorded with each article)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("stats", help="how many articles and passages there are")
    p.add_argument("--json", action="store_true")
    _collections(p)
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser("remove", help="remove an article by id or URL")
    p.add_argument("ref", help="article id, URL or key")
    _collections(p)
    p.set_defaults(handler=cmd_remove)

    p = sub.add_parser("export", help="write the articles as JSON lines")
    p.add_argument("-o", "--output", default="-", help="file to write (default: stdout)")
    _collections(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("reindex", help="rebuild the search index from the database")
    p.set_defaults(handler=cmd_reindex)

    p = sub.add_parser("feeds", help="subscribe to RSS/Atom feeds and poll them")
    feeds = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    f = feeds.add_parser("add", help="subscribe to a feed")
    f.add_argument("url")
    f.add_argument("--collection", help="collection its articles go to (default: global)")
    f.add_argument("--by", help="who subscribes")
    f = feeds.add_parser("list", help="the subscribed feeds")
    f.add_argument("--collection")
    f = feeds.add_parser("remove", help="unsubscribe (its articles stay)")
    f.add_argument("ref", help="feed id or URL")
    f.add_argument("--collection")
    f = feeds.add_parser("poll", help="fetch new entries of the feeds that are due")
    f.add_argument("--all", action="store_true", help="poll every feed now")
    p.set_defaults(handler=cmd_feeds)

    p = sub.add_parser("run", help="start the Discord bot")
    p.set_defaults(handler=cmd_run_unavailable)
    return parser, sub


def _collections(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collection", action="append", metavar="NAME",
                   help="only this collection (repeatable; default: all)")


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    load_dotenv()
    parser = parser or build_parser()[0]
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="newsdesk: %(message)s",
    )
    try:
        args.settings = Settings.from_env()
        if getattr(args, "k", 0) is None:
            args.k = args.settings.quotes
        return args.handler(args)
    except NewsdeskError as e:
        print(f"newsdesk: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("newsdesk: interrupted", file=sys.stderr)
        return 130
