"""The store of record: articles and passage offsets in SQLite, through sqlite-utils.

Everything else (the tantivy index, the in-memory reference engine) is derived from these tables.
Each write is one ``BEGIN IMMEDIATE`` transaction that also appends to ``index_outbox``, so the
index can always be caught up after a crash: an article is either wholly here, passages and
outbox row included, or not at all.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from .errors import NewsdeskError
from .models import Article, IngestResult, Stats

# sqlite-utils imports pandas and numpy, where installed, to convert their values; newsdesk never
# gives it either, and the two imports cost each process 0.4 s and 44 MB (the test extra installs
# pandas, for ranx). So they are hidden while it loads; whoever imports them later gets them.
_hidden = [m for m in ("pandas", "numpy") if m not in sys.modules]
sys.modules.update(dict.fromkeys(_hidden))
try:
    import sqlite_utils
    from sqlite_utils.migrations import Migrations
finally:
    for _m in _hidden:
        del sys.modules[_m]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 15_000
INGEST_CACHE_MB = 32
"""SQLite's page cache while an ingest writes (2 MB by default). Articles go into three
indexes on random keys (key, text hash, URL), whose pages a small cache keeps reading back and
spilling: storing the 1M benchmark passages took 11.8-12.6 s of system time with 2 MB, and
7.4-8.8 s with 16-64 MB in seven of eight runs (one 32 MB run: 12.0)."""

migrations = Migrations("newsdesk")


@migrations()
def m001_articles_and_passages(db: sqlite_utils.Database) -> None:
    db["articles"].create(
        {
            "id": int,
            "collection": str,
            "key": str,
            "url": str,
            "title": str,
            "publisher": str,
            "author": str,
            "published": str,
            "language": str,
            "text": str,
            "content_hash": str,
            "ingested_at": str,
            "ingested_by": str,
        },
        pk="id",
        not_null={"collection", "key", "title", "text", "content_hash", "ingested_at"},
    )
    db["articles"].create_index(["collection", "key"], unique=True)
    db["articles"].create_index(["collection", "content_hash"])
    db["articles"].create_index(["url"])
    db["passages"].create(
        {"id": int, "article_id": int, "ordinal": int, "start": int, "end": int},
        pk="id",
        foreign_keys=[("article_id", "articles", "id")],
        not_null={"article_id", "ordinal", "start", "end"},
    )
    db["passages"].create_index(["article_id", "ordinal"], unique=True)
    # Articles whose passages the index has yet to (re)build; see index.sync().
    db["index_outbox"].create({"id": int, "article_id": int}, pk="id")
    db["collections"].create(
        {"name": str, "articles": int, "passages": int, "last_ingest": str}, pk="name"
    )


@migrations()
def m002_feeds(db: sqlite_utils.Database) -> None:
    db["feeds"].create(
        {
            "id": int,
            "collection": str,
            "url": str,
            "title": str,
            "added_by": str,
            "added_at": str,
            "etag": str,
            "last_modified": str,
            "last_polled": str,
            "next_poll": str,
            "failures": int,
            "last_error": str,
        },
        pk="id",
        not_null={"collection", "url", "added_at"},
        defaults={"failures": 0},
    )
    db["feeds"].create_index(["collection", "url"], unique=True)
    db["feed_entries"].create(
        {"feed_id": int, "entry": str, "article_id": int, "seen_at": str},
        pk=("feed_id", "entry"),
        foreign_keys=[("feed_id", "feeds", "id")],
    )


@migrations()
def m003_passage_sentences(db: sqlite_utils.Database) -> None:
    # Where each sentence of a passage starts and ends (passages.pack); NULL for passages
    # stored before this column, which are split again when asked about.
    db["passages"].add_column("sentences", bytes)


Span = tuple[int, int] | tuple[int, int, bytes | None]
"""A passage's (start, end) in its article, with its packed sentences when known."""


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_ARTICLE_COLUMNS = (
    "collection", "key", "url", "title", "publisher", "author", "published", "language", "text",
    "content_hash", "ingested_at", "ingested_by",
)
_INSERT_ARTICLE = (
    f"insert into articles ({', '.join(f'[{c}]' for c in _ARTICLE_COLUMNS)}) "
    f"values ({', '.join('?' * len(_ARTICLE_COLUMNS))})"
)
_UPDATE_ARTICLE = (
    f"update articles set {', '.join(f'[{c}] = ?' for c in _ARTICLE_COLUMNS)} where id = ?"
)
_COUNT = """insert into collections (name, articles, passages, last_ingest)
            values (?, ?, ?, ?)
            on conflict(name) do update set
              articles = articles + excluded.articles,
              passages = passages + excluded.passages,
              last_ingest = coalesce(excluded.last_ingest, last_ingest)"""


class _Pending:
    """The rows of a batch written in one go at its end: passages, outbox, collection counts."""

    def __init__(self) -> None:
        self.now = now()  # one clock reading per batch: ingested_at has one-second resolution
        self.passages: list[tuple[int, int, int, int, bytes | None]] = []
        self.outbox: list[tuple[int]] = []
        self.counts: dict[str, list] = {}

    def add(self, article_id: int, spans: Sequence[Span]) -> None:
        self.passages.extend(
            (article_id, i, s, e, packed[0] if packed else None)
            for i, (s, e, *packed) in enumerate(spans)
        )
        self.outbox.append((article_id,))

    def count(self, collection: str, articles: int, passages: int, when: str) -> None:
        total = self.counts.setdefault(collection, [0, 0, when])
        total[0] += articles
        total[1] += passages
        total[2] = when

    def flush(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            'insert into passages (article_id, ordinal, start, "end", sentences) '
            "values (?, ?, ?, ?, ?)",
            self.passages,
        )
        conn.executemany("insert into index_outbox (article_id) values (?)", self.outbox)
        conn.executemany(_COUNT, [(c, *total) for c, total in self.counts.items()])
        self.passages, self.outbox, self.counts = [], [], {}


class Store:
    """One SQLite connection (use one Store per thread: connections belong to their thread)."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=busy_timeout_ms / 1000)
        self.db = sqlite_utils.Database(conn)
        self._collections: tuple[tuple[int, int], list[dict]] | None = None
        deadline = time.monotonic() + busy_timeout_ms / 1000
        while True:
            try:
                self._prepare(busy_timeout_ms)
                break
            except sqlite3.DatabaseError as e:
                # Switching to WAL upgrades a read lock to an exclusive one; while another
                # connection writes in rollback-journal mode (a new database that another
                # process is setting up), SQLite refuses at once instead of waiting.
                if "locked" in str(e) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                conn.close()
                raise NewsdeskError(f"{self.path} is not a usable newsdesk database ({e})") from e

    def _prepare(self, busy_timeout_ms: int) -> None:
        self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        if migrations.pending(self.db):
            with self.write():
                migrations.apply(self.db)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction that takes the write lock up front (no upgrade deadlocks)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    @contextmanager
    def ingest_cache(self, mb: int = INGEST_CACHE_MB) -> Iterator[None]:
        """A larger page cache for a run of writes, given back afterwards (a serving process
        keeps the small one)."""
        before = self.db.execute("PRAGMA cache_size").fetchone()[0]
        self.db.execute(f"PRAGMA cache_size = {-1024 * int(mb)}")
        try:
            yield
        finally:
            self.db.execute(f"PRAGMA cache_size = {int(before)}")

    # -- writing -------------------------------------------------------------------------------

    def save_all(
        self, batch: Iterable[tuple[Article, Sequence[Span]]], *, by: str | None = None
    ) -> list[IngestResult]:
        """Store a batch of articles in one transaction: all of them, or none if one fails."""
        with self.write():
            pending = _Pending()
            results = [self.save(a, spans, by=by, pending=pending) for a, spans in batch]
            pending.flush(self.db.conn)
        return results

    def save(
        self,
        article: Article,
        spans: Sequence[Span],
        *,
        by: str | None = None,
        pending: _Pending | None = None,
    ) -> IngestResult:
        """Insert or replace one article and its passages; call inside ``write()``.

        With ``pending`` (see ``save_all``) the passages, outbox row and collection counts wait
        there to be written for the whole batch at once: bulk ingest pays per statement.
        """
        rows = pending if pending is not None else _Pending()
        digest = content_hash(article.text)
        key = article.key or article.url or f"sha256:{digest}"
        source = article.url or key
        conn = self.db.conn
        # The article under this key, and any with the same text: one query, not two.
        matches = conn.execute(
            "select id, key, content_hash from articles where collection = ? and key = ? "
            "union all "
            "select id, key, content_hash from articles where collection = ? and content_hash = ?",
            [article.collection, key, article.collection, digest],
        ).fetchall()
        existing = next((m for m in matches if m[1] == key), None)
        if existing and existing[2] == digest:
            return IngestResult(IngestResult.UNCHANGED, source, article.title, existing[0])
        twin = next((m for m in matches if m[2] == digest), None)
        if twin and not existing:
            return IngestResult(
                IngestResult.UNCHANGED, source, article.title, twin[0],
                reason=f"same text as article {twin[0]}",
            )
        when = article.ingested_at or rows.now
        values = [
            article.collection, key, article.url, article.title, article.publisher,
            article.author, article.published, article.language, article.text, digest, when,
            article.ingested_by or by,
        ]
        # The hot path of bulk ingest: plain executes, ~5x faster than a table verb per row.
        if existing:
            article_id = existing[0]
            rows.flush(conn)  # this batch may hold an earlier version of the article
            old = conn.execute(
                "select count(*) from passages where article_id = ?", [article_id]
            ).fetchone()[0]
            conn.execute("delete from passages where article_id = ?", [article_id])
            conn.execute(_UPDATE_ARTICLE, [*values, article_id])
            rows.count(article.collection, 0, len(spans) - old, when)
            status = IngestResult.UPDATED
        else:
            article_id = conn.execute(_INSERT_ARTICLE, values).lastrowid
            rows.count(article.collection, 1, len(spans), when)
            status = IngestResult.ADDED
        rows.add(article_id, spans)
        if pending is None:
            rows.flush(conn)
        return IngestResult(status, source, article.title, article_id, len(spans))

    def delete(self, article_id: int) -> None:
        """Remove an article and its passages; call inside ``write()``."""
        row = self._one("select collection from articles where id = ?", [article_id])
        if not row:
            return
        n = self.db.execute(
            "select count(*) from passages where article_id = ?", [article_id]
        ).fetchone()[0]
        self.db["passages"].delete_where("article_id = ?", [article_id])
        # A forgotten article stays "seen" in its feed, so polling does not bring it back.
        self.db.execute(
            "update feed_entries set article_id = null where article_id = ?", [article_id]
        )
        self.db["articles"].delete(article_id)
        self._count(row["collection"], -1, -n, None)
        self.db["index_outbox"].insert({"article_id": article_id})

    def _count(self, collection: str, articles: int, passages: int, when: str | None) -> None:
        self.db.execute(_COUNT, [collection, articles, passages, when])

    # -- the index outbox ---------------------------------------------------------------------

    def outbox(
        self, limit: int = 5000, *, after: int = 0, up_to: int | None = None
    ) -> list[tuple[int, int]]:
        """Pending (outbox id, article id) pairs, oldest first, with ids in (after, up_to]."""
        bound = "" if up_to is None else "and id <= ?"
        params = [after] + ([] if up_to is None else [up_to]) + [limit]
        return [
            (r[0], r[1])
            for r in self.db.execute(
                f"select id, article_id from index_outbox where id > ? {bound} "
                "order by id limit ?",
                params,
            )
        ]

    def outbox_max(self) -> int:
        return self.db.execute("select coalesce(max(id), 0) from index_outbox").fetchone()[0]

    def clear_outbox(self, up_to: int) -> None:
        with self.write():
            self.db.execute("delete from index_outbox where id <= ?", [up_to])

    def index_rows(self, article_ids: Iterable[int] | None = None) -> Iterator[tuple]:
        """(passage id, article id, collection, title, passage text) to feed the index."""
        if article_ids is None:
            ids: list[int] = [r[0] for r in self.db.execute("select id from articles order by id")]
        else:
            ids = sorted(set(article_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            # Each article's text once, cut in Python: substr() counts characters from the
            # start of the text for every passage (reading back 300k passages 2.1 -> 1.6 s).
            articles = {
                r[0]: r for r in self.db.execute(
                    f"select id, collection, title, text from articles where id in ({marks})",
                    chunk,
                )
            }
            for passage_id, article_id, start, end in self.db.execute(
                f'select id, article_id, start, "end" from passages '
                f"where article_id in ({marks}) order by id",
                chunk,
            ):
                _, collection, title, text = articles[article_id]
                yield passage_id, article_id, collection, title, text[start:end]

    # -- reading ---------------------------------------------------------------------------------

    def passages(self, ids: list[int]) -> dict[int, dict]:
        """Passages with their article's attribution, keyed by passage id."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        # execute, not query: query wraps the statement in a savepoint of its own, which took a
        # third of the time of reading 10 passages (0.12 -> 0.08 ms).
        cursor = self.db.execute(
            f"""select p.id, p.start, p."end", p.sentences, a.id,
                       a.title, a.publisher, a.author, a.published, a.url, a.text
                from passages p join articles a on a.id = p.article_id
                where p.id in ({marks})""",
            ids,
        )
        # Dicts spelled out rather than zipped with the cursor's column names: a third of the
        # time of reading 6 passages (0.110 -> 0.073 ms). The article's text is cut here:
        # SQLite's substr() counts characters from the start of the text and took longer than
        # reading the whole of it (0.094 -> 0.070 ms for 10).
        return {
            passage_id: {
                "start": start, "end": end, "sentences": sentences, "article_id": article_id,
                "title": title, "publisher": publisher, "author": author,
                "published": published, "url": url, "text": text[start:end],
            }
            for (
                passage_id, start, end, sentences, article_id,
                title, publisher, author, published, url, text,
            ) in cursor
        }

    def article(self, article_id: int) -> Article | None:
        row = self._one("select * from articles where id = ?", [article_id])
        return _article(row) if row else None

    def find(self, ref: str, collections: list[str] | None = None) -> list[Article]:
        """Articles by id, URL or key."""
        where, params = "(url = ? or key = ?)", [ref, ref]
        if ref.isdigit():
            where, params = "id = ?", [int(ref)]
        if collections is not None:
            where += f" and collection in ({','.join('?' * len(collections))})"
            params += collections
        return [_article(r) for r in self.db.query(f"select * from articles where {where}", params)]

    def articles(self, collections: list[str] | None = None) -> Iterator[Article]:
        where, params = "", []
        if collections is not None:
            where = f"where collection in ({','.join('?' * len(collections))})"
            params = collections
        for row in self.db.query(f"select * from articles {where} order by id", params):
            yield _article(row)

    def titles(self, text: str, collections: list[str], limit: int = 25) -> list[tuple[int, str]]:
        marks = ",".join("?" * len(collections))
        rows = self.db.execute(
            f"""select id, title from articles
                where collection in ({marks}) and title like ? escape '\\'
                order by ingested_at desc limit ?""",
            [*collections, "%" + _like_escape(text) + "%", limit],
        )
        return [(r[0], r[1]) for r in rows]

    def version(self) -> tuple[int, int]:
        """Equal versions mean no connection wrote in between (other connections' commits move
        ``data_version``, this one's ``total_changes``): what was read may be reused."""
        return self.db.execute("PRAGMA data_version").fetchone()[0], self.db.conn.total_changes

    def stats(self, collections: list[str] | None = None) -> Stats:
        version = self.version()
        if self._collections is None or self._collections[0] != version:
            rows = self.db.query("select * from collections where articles > 0 order by name")
            self._collections = (version, list(rows))
        rows = self._collections[1]
        if collections is not None:
            rows = [r for r in rows if r["name"] in collections]
        return Stats(
            articles=sum(r["articles"] for r in rows),
            passages=sum(r["passages"] for r in rows),
            collections={r["name"]: r["articles"] for r in rows},
            last_ingest=max((r["last_ingest"] for r in rows if r["last_ingest"]), default=None),
        )

    def passage_count(self) -> int:
        return self.db.execute(
            "select coalesce(sum(passages), 0) from collections"
        ).fetchone()[0]

    # -- feeds -----------------------------------------------------------------------------------

    def add_feed(self, url: str, collection: str, title: str | None, by: str | None) -> dict:
        with self.write():
            existing = self._one(
                "select * from feeds where collection = ? and url = ?", [collection, url]
            )
            if existing:
                return existing
            self.db["feeds"].insert({
                "collection": collection, "url": url, "title": title, "added_by": by,
                "added_at": now(), "failures": 0,
            })
        return self._one("select * from feeds where collection = ? and url = ?", [collection, url])

    def feeds(self, collections: list[str] | None = None) -> list[dict]:
        where, params = "", []
        if collections is not None:
            where = f"where collection in ({','.join('?' * len(collections))})"
            params = collections
        return list(self.db.query(f"select * from feeds {where} order by id", params))

    def due_feeds(self, when: str) -> list[dict]:
        return list(self.db.query(
            "select * from feeds where next_poll is null or next_poll <= ? order by id", [when]))

    def remove_feed(self, feed_id: int) -> None:
        with self.write():
            self.db.execute("delete from feed_entries where feed_id = ?", [feed_id])
            self.db.execute("delete from feeds where id = ?", [feed_id])

    def update_feed(self, feed_id: int, **values) -> None:
        with self.write():
            self.db["feeds"].update(feed_id, values)

    def seen_entry(self, feed_id: int, entry: str) -> bool:
        return self._one(
            "select 1 as seen from feed_entries where feed_id = ? and entry = ?", [feed_id, entry]
        ) is not None

    def mark_entry(self, feed_id: int, entry: str, article_id: int | None) -> None:
        with self.write():
            self.db.execute(
                "insert or replace into feed_entries (feed_id, entry, article_id, seen_at) "
                "values (?, ?, ?, ?)", [feed_id, entry, article_id, now()],
            )

    def generation(self) -> tuple[int, int]:
        """Changes whenever any connection commits passages (for in-memory caches)."""
        row = self.db.execute(
            "select coalesce(max(id), 0), count(*) from passages"
        ).fetchone()
        return row[0], row[1]

    def _one(self, sql: str, params: list) -> dict | None:
        cursor = self.db.conn.execute(sql, params)
        row = cursor.fetchone()
        return dict(zip([c[0] for c in cursor.description], row, strict=True)) if row else None


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _article(row: dict) -> Article:
    return Article(
        title=row["title"],
        text=row["text"],
        url=row["url"],
        publisher=row["publisher"],
        author=row["author"],
        published=row["published"],
        language=row["language"],
        key=row["key"],
        collection=row["collection"],
        id=row["id"],
        content_hash=row["content_hash"],
        ingested_at=row["ingested_at"],
        ingested_by=row["ingested_by"],
    )
