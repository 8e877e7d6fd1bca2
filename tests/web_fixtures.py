"""A real HTTP server on 127.0.0.1 for the web and ingest tests.

It serves the pages under tests/pages and the awkward cases a fetcher must survive: redirect
chains and loops, redirects to blocked addresses, a body larger than any limit (generated, never
stored), slow and trickling servers, gzip, conditional GET and a non-HTML content type.
Every wait in it is bounded, so a broken client cannot hang the suite.

Use it by importing the fixture (``from tests.web_fixtures import web_server``) into a conftest or
a test module; ``web_server.url("/article.html")`` gives a full URL, ``web_server.paths`` the
paths requested so far and ``web_server.connections`` the connections accepted.

/to-private and /to-metadata redirect to 10.0.0.1 and 169.254.169.254: fetch them only with
limits that block those (``FetchLimits(allowed_networks=("127.0.0.0/8",))``), never with
``allow_private=True``, which would send real traffic there.
"""

from __future__ import annotations

import gzip
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PAGES = Path(__file__).parent / "pages"

ETAG = '"courier-v7"'
LAST_MODIFIED = "Sat, 14 Mar 2026 12:05:00 GMT"
HUGE_BYTES = 20_000_000
"""What /huge would send in all; tests set max_bytes far below it, so it is never all sent."""
SLOW_SECONDS = 1.5
"""How long the slow endpoints stall; tests use total timeouts well under it."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
}
FEED_TYPES = {"atom.xml": "application/atom+xml; charset=utf-8"}

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
# 2 MB of one repeated sentence compresses to a few KB: a small download, a large body.
GZIP_BOMB = gzip.compress(b"All work and no play makes a very dull feed. " * 45_000)


@dataclass
class LocalServer:
    """What a test needs of the running server: its address and what it has seen."""

    base: str
    paths: list[str] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return self.base + path

    @property
    def host(self) -> str:
        return self.base.removeprefix("http://")

    def requests_to(self, path: str) -> int:
        with self.lock:
            return self.paths.count(path)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    record: LocalServer

    def process_request(self, request, client_address):  # noqa: ANN001 - socketserver's API
        with self.record.lock:
            self.record.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):  # noqa: ANN001
        """Clients hang up on purpose (size and time limits): nothing to report."""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # seconds a connection may sit idle: no handler thread waits for ever
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - base signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        with self.server.record.lock:
            self.server.record.paths.append(self.path)
        route = ROUTES.get(self.path.split("?")[0])
        try:
            if route is not None:
                route(self)
            else:
                self._serve_file()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    # --- helpers for the routes ---

    def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, location: str, status: int = 302) -> None:
        self.send(status, headers={"Location": location})

    def _serve_file(self) -> None:
        name = self.path.split("?")[0].lstrip("/")
        path = PAGES / name
        if "/" in name or not name or not path.is_file():
            self.send(404, b"not found", {"Content-Type": "text/plain"})
            return
        content_type = FEED_TYPES.get(name) or CONTENT_TYPES.get(path.suffix, "text/plain")
        self.send(200, path.read_bytes(), {"Content-Type": content_type})


def _article() -> bytes:
    return (PAGES / "article.html").read_bytes()


def _redirect_chain(handler: _Handler) -> None:
    """/chain/3 -> /chain/2 -> /chain/1 -> /article.html, relative and absolute Locations."""
    step = int(handler.path.rsplit("/", 1)[1])
    if step == 1:
        handler.redirect(handler.server.record.url("/article.html"), 301)
    else:
        handler.redirect(f"/chain/{step - 1}", 307)


def _huge(handler: _Handler) -> None:
    """Streams up to HUGE_BYTES without a Content-Length, 64 KB at a time, till the client quits."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Connection", "close")
    handler.end_headers()
    chunk = b"<p>" + b"x" * (64 * 1024 - 7) + b"</p>\n"
    for _ in range(HUGE_BYTES // len(chunk)):
        handler.wfile.write(chunk)
    handler.close_connection = True


def _huge_declared(handler: _Handler) -> None:
    """Declares 50 MB but sends little: a client should refuse on the header alone."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "50000000")
    handler.end_headers()
    handler.wfile.write(b"<html>")
    handler.close_connection = True


def _slow(handler: _Handler) -> None:
    """Stalls before answering at all."""
    time.sleep(SLOW_SECONDS)
    handler.send(200, b"<html><body>late</body></html>", {"Content-Type": "text/html"})


def _trickle_headers(handler: _Handler) -> None:
    """Sends the header block a byte every 50 ms: each read is quick, the whole is not."""
    handler.close_connection = True
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Padding: " + b"y" * 200 + b"\r\n\r\n"
    deadline = time.monotonic() + SLOW_SECONDS * 2
    for byte in head:
        if time.monotonic() > deadline:
            return
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.05)


def _trickle_body(handler: _Handler) -> None:
    """Prompt headers, then a small body a byte every 50 ms."""
    body = _article()[:200]
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    for byte in body:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.05)


def _gzip(handler: _Handler) -> None:
    handler.send(
        200,
        gzip.compress(_article()),
        {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"},
    )


def _gzip_bomb(handler: _Handler) -> None:
    handler.send(200, GZIP_BOMB, {"Content-Type": "text/html", "Content-Encoding": "gzip"})


def _conditional(handler: _Handler) -> None:
    """ETag and Last-Modified, answering 304 when either validator still matches."""
    validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    if (
        handler.headers.get("If-None-Match") == ETAG
        or handler.headers.get("If-Modified-Since") == LAST_MODIFIED
    ):
        handler.send(304, headers=validators)
        return
    handler.send(200, _article(), {"Content-Type": "text/html; charset=utf-8", **validators})


def _local_feed(handler: _Handler) -> None:
    """An RSS feed whose entries are pages of this server: an article, a page that is not one,
    and a link that is missing; with an ETag so a second poll can be answered 304."""
    base = handler.server.record.base
    etag = '"local-feed-1"'
    if handler.headers.get("If-None-Match") == etag:
        handler.send(304, headers={"ETag": etag})
        return
    items = "".join(
        f"<item><title>{title}</title><link>{base}{path}</link><guid>{path}</guid>"
        "<pubDate>Sat, 14 Mar 2026 09:00:00 GMT</pubDate></item>"
        for title, path in [("Library reopens", "/article.html"), ("Home", "/home.html"),
                            ("Gone", "/missing")]
    )
    body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Local news</title>'
            f"<link>{base}/</link>{items}</channel></rss>").encode()
    handler.send(200, body, {"Content-Type": "application/rss+xml", "ETag": etag})


ROUTES = {
    "/local-feed.xml": _local_feed,
    "/chain/1": _redirect_chain,
    "/chain/2": _redirect_chain,
    "/chain/3": _redirect_chain,
    "/loop": lambda h: h.redirect("/loop"),
    "/no-location": lambda h: h.send(302),
    "/to-private": lambda h: h.redirect("http://10.0.0.1/admin"),
    "/to-metadata": lambda h: h.redirect("http://169.254.169.254/latest/meta-data/", 307),
    "/huge": _huge,
    "/huge-declared": _huge_declared,
    "/slow": _slow,
    "/trickle-headers": _trickle_headers,
    "/trickle-body": _trickle_body,
    "/gzip": _gzip,
    "/gzip-bomb": _gzip_bomb,
    "/conditional": _conditional,
    "/image.png": lambda h: h.send(200, PNG, {"Content-Type": "image/png"}),
    "/untyped": lambda h: h.send(200, b"<html></html>"),
    "/missing": lambda h: h.send(404, b"<h1>Not found</h1>", {"Content-Type": "text/html"}),
    "/broken": lambda h: h.send(500, b"oops", {"Content-Type": "text/plain"}),
}


@pytest.fixture(scope="session")
def web_server() -> Iterator[LocalServer]:
    """One server for the session on 127.0.0.1 and a free port, stopped at the end."""
    server = _Server(("127.0.0.1", 0), _Handler)
    host, port = server.server_address[:2]
    server.record = LocalServer(base=f"http://{host}:{port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.record
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
