"""Articles from files and folders: text, Markdown, HTML, JSON and JSON lines.

Each source yields ``Article`` objects, or an ``IngestResult`` refusal saying why a file or record
could not be read, so one bad record never stops the rest. JSON lines are streamed (memory stays
bounded whatever the file size); other files are read whole, so they have a size limit that is
checked before reading.
"""

from __future__ import annotations

import codecs
import io
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import IO

import orjson

from .errors import IngestError
from .models import Article, IngestResult

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES

MAX_FILE_BYTES = 50_000_000
"""Whole-file formats over this are refused unread; use JSON lines for big collections."""
MAX_LINE_BYTES = 10_000_000
MAX_JSON_DEPTH = 64

ALIASES = {
    "text": ("text", "body", "content", "article", "full_text", "maintext"),
    "title": ("title", "headline", "name"),
    "url": ("url", "link", "canonical_url", "source_url"),
    "publisher": ("publisher", "source", "site_name", "sitename", "outlet", "domain"),
    "author": ("author", "authors", "byline", "by"),
    "published": ("published", "date", "published_at", "publish_date", "pubdate", "datetime"),
    "language": ("language", "lang"),
    "key": ("key", "id", "newid", "_id", "guid", "uid"),
    "collection": ("collection",),
    "ingested_at": ("ingested_at",),
    "ingested_by": ("ingested_by",),
}


def refuse(source: str, reason: str) -> IngestResult:
    return IngestResult(IngestResult.REFUSED, source, reason=reason)


def walk(paths: Iterable[str | Path]) -> Iterator[Path | IngestResult]:
    """Files under the given paths, folders recursively (hidden files, and anything but regular
    files, skipped), in order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path)
                if p.is_file() and not any(part.startswith(".") for part in rel.parts):
                    yield p
        elif path.is_file():
            yield path
        elif path.exists():  # named outright; a folder's are skipped (reading a pipe would wait)
            yield refuse(str(path), "not a file or folder (a device, pipe or socket)")
        else:
            yield refuse(str(path), "no such file or folder")


BULK_BYTES = 16_000_000
"""Files this large in all are a bulk ingest (``Desk.ingest(bulk=True)``): an index worker
process pays for its start from about here on. The benchmark's files, ingested in one process
and with the worker, alternating: 6.4 MB (10k passages) 1.44-1.63 s and 1.90-2.33 s; Reuters'
24.7 MB (35k) 4.34-5.03 s and 4.19-5.02 s; 64 MB (100k) 12.3 / 12.7 s and 10.3 / 11.8 s.
Since the worker starts without pandas (1091a21), 10k takes as long either way (1.50-1.85 s
and 1.55-1.81 s, eight pairs) and Reuters 4.5-6.0 s and 4.3-4.8 s: below this size one
process keeps the memory in one place (87 MB at 10k, against 48 + 75)."""


def is_bulk(paths: Iterable[str | Path]) -> bool:
    """Do these files and folders hold enough to ingest in bulk?"""
    total = 0
    for item in walk(paths):
        if isinstance(item, Path):
            try:
                total += item.stat().st_size
            except OSError:
                continue  # read_paths reports it
            if total >= BULK_BYTES:
                return True
    return False


def read_paths(paths: Iterable[str | Path]) -> Iterator[Article | IngestResult]:
    for item in walk(paths):
        if isinstance(item, IngestResult):
            yield item
        else:
            yield from read_file(item)


def read_file(path: Path) -> Iterator[Article | IngestResult]:
    """The articles in one file, or why there are none."""
    source = str(path)
    suffix = path.suffix.lower()
    try:
        if suffix in JSONL_SUFFIXES:
            with path.open("rb") as f:
                yield from read_jsonl(f, source=source)
            return
        size = path.stat().st_size
        if suffix in SUFFIXES and size > MAX_FILE_BYTES:
            yield refuse(source, f"too large: {size:,} bytes (limit {MAX_FILE_BYTES:,}); "
                                 "split it or use JSON lines")
            return
        data = path.read_bytes() if suffix in SUFFIXES else b""
    except OSError as e:
        yield refuse(source, f"cannot read: {e.strerror or e}")
        return
    yield from read_data(path.name, data, source=source)


def read_data(
    name: str, data: bytes, *, source: str | None = None
) -> Iterator[Article | IngestResult]:
    """The articles in a file's bytes (an upload, or a file already read), typed by its name."""
    source = source or name
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        yield refuse(source, f"unsupported file type {suffix or '(none)'}: "
                             "use .txt, .md, .html, .json or .jsonl")
        return
    try:
        if suffix in JSONL_SUFFIXES:
            yield from read_jsonl(io.BytesIO(data), source=source)
        elif suffix in HTML_SUFFIXES:
            article = from_html(data, source=source)
            yield article if article.url else replace(article, key=f"file:{Path(name).stem}")
        elif suffix in JSON_SUFFIXES:
            yield from read_json(data, source=source)
        else:
            yield from_text(decode(data, source), source=source, name=Path(name).stem)
    except IngestError as e:
        yield refuse(source, str(e))


def decode(data: bytes, source: str = "") -> str:
    """UTF-8 text, or a clear refusal for binary data and other encodings."""
    if b"\x00" in data[:8192]:
        raise IngestError("binary file, not text")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:  # not "utf-8-sig": that codec is Python code, twice the time of C's "utf-8"
        return data[bom:].decode()  # a slice from 0 is the same bytes object, not a copy
    except UnicodeDecodeError as e:
        raise IngestError(f"not UTF-8 text (bad byte at offset {e.start + bom})") from None


# -- text and Markdown ----------

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*\n", re.DOTALL)


def from_text(text: str, *, source: str, name: str | None = None) -> Article:
    """A text file: optional front matter (``key: value`` lines), else the first line as title."""
    meta: dict[str, str] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        for line in m.group(1).splitlines():
            k, sep, v = line.partition(":")
            if sep and k.strip():
                meta[k.strip().lower()] = v.strip().strip("\"'")
        text = text[m.end():]
    text = text.strip("\n")
    if not meta.get("title"):
        first, _, rest = text.partition("\n")
        heading = first.lstrip("#").strip()
        if heading and len(heading) <= 200 and not heading.endswith((".", "!", "?", "”", '"')):
            meta["title"] = heading
            text = rest.strip("\n")
    if not text.strip():
        raise IngestError("no article text")
    record = {**meta, "text": text}
    article = from_record(record, source=source)
    if article.key is None and article.url is None and name:
        return replace(article, key=f"file:{name}")
    return article


# -- JSON ----------


def _parse_json(data: bytes, source: str = "") -> object:
    """orjson, in a third of the time of ``json.loads``; what it refuses goes to the standard
    library, which also reads NaN and integers beyond 64 bits, and whose errors (``decode``'s
    for binary and non-UTF-8 data) are the ones reported."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(decode(data, source))


def read_jsonl(lines: IO[bytes], *, source: str) -> Iterator[Article | IngestResult]:
    """One article per line, streamed; bad lines are refused one by one."""
    for n, line in enumerate(lines, 1):
        where = f"{source}:{n}"
        if not line.strip():
            continue
        if len(line) > MAX_LINE_BYTES:
            yield refuse(where, f"line too long ({len(line):,} bytes)")
            continue
        try:
            yield from_record(_parse_json(line, where), source=where)
        except json.JSONDecodeError as e:
            yield refuse(where, f"not JSON: {e.msg}")
        except RecursionError:
            yield refuse(where, "JSON nested too deeply")
        except IngestError as e:
            yield refuse(where, str(e))


def read_json(data: bytes, *, source: str) -> Iterator[Article | IngestResult]:
    """A JSON object (one article) or a list of them (or ``{"articles": [...]}``)."""
    try:
        doc = _parse_json(data, source)
    except json.JSONDecodeError as e:
        yield refuse(source, f"not JSON: {e.msg} (line {e.lineno})")
        return
    except RecursionError:
        yield refuse(source, "JSON nested too deeply")
        return
    if isinstance(doc, dict) and isinstance(doc.get("articles"), list):
        doc = doc["articles"]
    records = doc if isinstance(doc, list) else [doc]
    for n, record in enumerate(records, 1):
        where = f"{source}[{n}]" if isinstance(doc, list) else source
        try:
            yield from_record(record, source=where)
        except IngestError as e:
            yield refuse(where, str(e))


_FIELD_OF = {name: (field, rank) for field, names in ALIASES.items()
             for rank, name in enumerate(names)}


def _fields(record: dict) -> dict[str, object]:
    """Each field's value under the first of its names (``ALIASES``) the record fills. One
    pass over the record's own keys: trying every alias of every field was a tenth of the time
    a bulk ingest spent per article."""
    found: dict[str, tuple[int, object]] = {}
    for name, value in record.items():
        hit = _FIELD_OF.get(name)
        if hit is None or value in (None, "", []):
            continue
        field, rank = hit
        if field not in found or rank < found[field][0]:
            found[field] = (rank, value)
    return {field: value for field, (_, value) in found.items()}


def _as_text(value, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"]
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value).strip()
    raise IngestError(f"field {field!r} has an unusable value")


def from_record(record: object, *, source: str) -> Article:
    """An article from a dict with any of the usual field names (see ``ALIASES``)."""
    if not isinstance(record, dict):
        raise IngestError("not a JSON object")
    fields = _fields(record)
    text = fields.pop("text", None)
    if not isinstance(text, str) or not text.strip():
        raise IngestError("no text (expected a 'text', 'body' or 'content' field)")
    values = {f: _as_text(v, f) for f, v in fields.items()}
    published = values.get("published")
    key = values.get("key")
    return Article(
        title=values.get("title") or "",
        text=text,
        url=values.get("url"),
        publisher=values.get("publisher"),
        author=values.get("author"),
        published=normalise_date(published) if published else None,
        language=values.get("language"),
        key=f"id:{key}" if key and not key.startswith(("id:", "file:", "sha256:", "http")) else key,
        collection=values.get("collection") or "global",
        ingested_at=values.get("ingested_at"),
        ingested_by=values.get("ingested_by"),
    )


_DATE_FORMATS = ("%d-%b-%Y %H:%M:%S.%f", "%d-%b-%Y %H:%M:%S", "%d %B %Y", "%B %d, %Y",
                 "%d %b %Y", "%b %d, %Y", "%a, %d %b %Y %H:%M:%S %z", "%Y/%m/%d")


_WIRE_DATE = re.compile(
    r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4}) ([0-9]{2}):([0-9]{2}):([0-9]{2})\.([0-9]{1,6})"
)
"""The first of ``_DATE_FORMATS`` (Reuters' dates), read without ``strptime``: at ~10 us a call
it was a tenth of the time bulk ingest of Reuters spent per article."""
_MONTHS = {m: n for n, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}


def normalise_date(raw: str) -> str:
    """ISO 8601 where the date can be read (Reuters' ``26-FEB-1987 15:01:01.79`` too)."""
    value = raw.strip()
    wire = _WIRE_DATE.fullmatch(value)
    month = _MONTHS.get(wire[2].lower()) if wire else None
    if month:
        d, _, y, h, m, s, fraction = wire.groups()
        try:
            return datetime(int(y), month, int(d), int(h), int(m), int(s),
                            int(fraction.ljust(6, "0"))).isoformat()
        except ValueError:
            pass  # no such day or time: the formats below decide, as before
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    for fmt in _DATE_FORMATS:
        try:
            when = datetime.strptime(value.title() if "%b" in fmt else value, fmt)
        except ValueError:
            continue
        return when.isoformat() if "%H" in fmt else when.date().isoformat()
    return value


def from_html(data: bytes | str, *, source: str, url: str | None = None) -> Article:
    """A saved web page: the article's main text and metadata, boilerplate left out."""
    from .extract import extract_article  # trafilatura is slow to import: only when needed

    return extract_article(data, url=url)


