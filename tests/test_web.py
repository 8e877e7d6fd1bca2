"""retrieval.web: safe fetching, against an httpx.MockTransport and a real server on 127.0.0.1."""

from __future__ import annotations

import ipaddress
import socket
import time

import httpx
import pytest

from retrieval import web
from retrieval.errors import FetchError, IngestError, TooLargeError, UnsupportedError
from retrieval.web import HTML_TYPES, FetchLimits, Page, fetch, is_public
from tests.web_fixtures import (  # noqa: F401 - web_server is a fixture
    ETAG,
    GZIP_BOMB,
    LAST_MODIFIED,
    PAGES,
    SLOW_SECONDS,
    web_server,
)

PUBLIC_IP = "93.184.215.14"
"""A public address for MockTransport tests: nothing is ever sent to it."""

LOCAL = FetchLimits(allow_private=True, connect_timeout=2.0, total_timeout=5.0)
"""Reaches the test server, and any other private address: only for routes that stay local."""

LOOPBACK_ONLY = FetchLimits(allowed_networks=("127.0.0.0/8",), total_timeout=5.0)
"""Reaches the test server and nothing else private: for redirects towards blocked addresses."""

ARTICLE = (PAGES / "article.html").read_bytes()


def refusing_client() -> httpx.Client:
    """A client whose transport fails the test if a request ever reaches it."""

    def handler(request: httpx.Request) -> httpx.Response:
        pytest.fail(f"a request was sent to {request.url}")

    return httpx.Client(transport=httpx.MockTransport(handler))


def recording_client(responses: dict[str, httpx.Response]) -> tuple[httpx.Client, list]:
    """A client answering by path, keeping every request it was sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return responses[request.url.path]

    return httpx.Client(transport=httpx.MockTransport(handler)), sent


@pytest.fixture
def public_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Replace the resolver: names map to what the test puts in the returned dict, dotted IPv4
    literals to themselves, anything else is unknown."""
    table: dict[str, list[str]] = {"news.example": [PUBLIC_IP]}

    def resolve(host: str, port: int) -> list:
        if host not in table and host[0].isdigit():
            return [ipaddress.ip_address(host)]
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in table[host]]

    monkeypatch.setattr(web, "resolve", resolve)
    return table


def html(body: bytes = b"<html><body>ok</body></html>", **headers: str) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "text/html", **headers}, content=body)


# --- addresses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("fe80::1", False),
        ("fc00::1", False),
        ("224.0.0.1", False),
        ("ff02::1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:93.184.215.14", True),
        ("2002:a00:1::", False),  # 6to4 wrapping 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 wrapping 169.254.169.254
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://[::1]/", "::1"),
        ("http://[::ffff:127.0.0.1]:8080/", "::ffff:7f00:1"),
        ("http://10.0.0.1/admin", "10.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://0.0.0.0/", "0.0.0.0"),
        ("http://2130706433/", "127.0.0.1"),  # 127.0.0.1 written as one number
        ("https://[fe80::1]/", "fe80::1"),
    ],
)
def test_blocked_literal_addresses_are_refused_before_any_request(url: str, shown: str) -> None:
    with pytest.raises(FetchError) as caught:
        fetch(url, client=refusing_client())
    assert str(caught.value) == f"blocked address {shown} (private networks are not fetched)"


def test_localhost_is_refused_before_any_request() -> None:
    with pytest.raises(FetchError, match=r"^blocked address (127\.0\.0\.1|::1) \(private"):
        fetch("http://localhost/", client=refusing_client())


def test_default_limits_make_no_connection_to_the_local_server(web_server) -> None:  # noqa: F811
    before = web_server.connections
    port = web_server.host.rpartition(":")[2]
    for url in (web_server.url("/article.html"), f"http://localhost:{port}/article.html"):
        with pytest.raises(FetchError, match="blocked address"):
            fetch(url)
    assert web_server.connections == before


def test_a_name_with_any_blocked_address_is_refused(public_dns) -> None:
    public_dns["mixed.example"] = [PUBLIC_IP, "127.0.0.1"]
    with pytest.raises(FetchError, match="blocked address 127.0.0.1"):
        fetch("http://mixed.example/", client=refusing_client())


def test_allowed_networks_open_only_what_they_name() -> None:
    limits = FetchLimits(allowed_networks=("127.0.0.0/8",))
    with pytest.raises(FetchError, match="blocked address 10.0.0.1"):
        fetch("http://10.0.0.1/", limits=limits, client=refusing_client())
    client, sent = recording_client({"/": html()})
    assert fetch("http://127.0.0.1/", limits=limits, client=client).status == 200
    assert len(sent) == 1


# --- pinning, headers, redirects (MockTransport) -------------------------------------------------


def test_connects_to_the_checked_address_with_the_original_host(public_dns) -> None:
    """The request goes to the IP that passed the check, so DNS cannot answer differently later."""
    client, sent = recording_client({"/story": html()})
    page = fetch("https://news.example/story?id=7#comments", client=client)
    (request,) = sent
    assert request.url == httpx.URL(f"https://{PUBLIC_IP}/story?id=7")
    assert request.headers["Host"] == "news.example"
    assert request.extensions["sni_hostname"] == "news.example"
    assert request.headers["User-Agent"] == FetchLimits().user_agent
    assert "If-None-Match" not in request.headers
    assert page == Page(
        url="https://news.example/story?id=7",
        status=200,
        content_type="text/html",
        body=b"<html><body>ok</body></html>",
    )


def test_credentials_in_the_url_are_not_sent(public_dns) -> None:
    client, sent = recording_client({"/": html()})
    fetch("http://reader:secret@news.example/", client=client)
    assert "Authorization" not in sent[0].headers
    assert sent[0].url.userinfo == b""


def test_nothing_of_the_callers_client_is_sent(public_dns) -> None:
    """An injected client's cookies and default headers stay out of requests to other sites."""
    sent: list[httpx.Request] = []
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: sent.append(request) or html()),
        cookies={"session": "abc"},
        headers={"Authorization": "Bearer secret"},
    )
    fetch("http://news.example/", client=client)
    assert "Cookie" not in sent[0].headers
    assert "Authorization" not in sent[0].headers


def test_a_redirect_to_the_metadata_service_is_refused_before_following(public_dns) -> None:
    client, sent = recording_client(
        {"/go": httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/"})}
    )
    with pytest.raises(FetchError, match=r"^blocked address 169\.254\.169\.254 "):
        fetch("https://news.example/go", client=client)
    assert [r.url.path for r in sent] == ["/go"]


def test_a_redirect_to_a_name_that_resolves_privately_is_refused(public_dns) -> None:
    public_dns["intranet.example"] = ["192.168.0.10"]
    client, sent = recording_client(
        {"/go": httpx.Response(301, headers={"Location": "http://intranet.example/"})}
    )
    with pytest.raises(FetchError, match="blocked address 192.168.0.10"):
        fetch("https://news.example/go", client=client)
    assert len(sent) == 1


def test_conditional_headers_are_sent(public_dns) -> None:
    client, sent = recording_client({"/feed": httpx.Response(304, headers={"ETag": '"b"'})})
    page = fetch("http://news.example/feed", etag='"a"', last_modified=LAST_MODIFIED, client=client)
    assert sent[0].headers["If-None-Match"] == '"a"'
    assert sent[0].headers["If-Modified-Since"] == LAST_MODIFIED
    assert page.not_modified and page.status == 304 and page.body == b""
    assert page.etag == '"b"'


def test_unknown_host_is_not_reachable(public_dns) -> None:
    with pytest.raises(FetchError, match=r"^not reachable: nowhere\.example \(no such host\)$"):
        fetch("https://nowhere.example/", client=refusing_client())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://news.example/file.txt", "unsupported URL scheme ftp (only http and https)"),
        ("file:///etc/passwd", "unsupported URL scheme file (only http and https)"),
        ("javascript:alert(1)", "unsupported URL scheme javascript (only http and https)"),
        ("news.example/story", "unsupported URL scheme (none) (only http and https)"),
    ],
)
def test_only_http_and_https(url: str, message: str) -> None:
    with pytest.raises(UnsupportedError) as caught:
        fetch(url, client=refusing_client())
    assert str(caught.value) == message


def test_a_url_without_a_host_is_refused() -> None:
    with pytest.raises(IngestError, match="not a valid web address"):
        fetch("http:///path-only", client=refusing_client())


# --- limits from the environment --------------------------------------------------------------


def test_limits_from_an_empty_environment_are_the_defaults() -> None:
    assert FetchLimits.from_env({}) == FetchLimits()


def test_limits_from_the_environment() -> None:
    env = {
        "NEWSDESK_FETCH_TIMEOUT": "7.5",
        "NEWSDESK_FETCH_MAX_BYTES": "250000",
        "NEWSDESK_ALLOW_PRIVATE_URLS": "true",
    }
    assert FetchLimits.from_env(env) == FetchLimits(
        total_timeout=7.5, max_bytes=250_000, allow_private=True
    )
    assert FetchLimits.from_env({"NEWSDESK_ALLOW_PRIVATE_URLS": "1"}).allow_private
    assert not FetchLimits.from_env({"NEWSDESK_ALLOW_PRIVATE_URLS": "no"}).allow_private


def test_limits_read_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDESK_FETCH_MAX_BYTES", "1234")
    assert FetchLimits.from_env().max_bytes == 1234


@pytest.mark.parametrize("value", ["soon", "0", "-3"])
def test_bad_limits_in_the_environment_say_which_variable(value: str) -> None:
    with pytest.raises(ValueError, match="NEWSDESK_FETCH_TIMEOUT"):
        FetchLimits.from_env({"NEWSDESK_FETCH_TIMEOUT": value})


# --- against the real server ----------------------------------------------------------------


def test_fetches_a_page(web_server) -> None:  # noqa: F811
    page = fetch(web_server.url("/article.html"), limits=LOCAL)
    assert page == Page(
        url=web_server.url("/article.html"),
        status=200,
        content_type="text/html",
        body=ARTICLE,
        charset="utf-8",
    )


def test_a_host_name_reaches_the_server_too(web_server) -> None:  # noqa: F811
    """localhost may resolve to ::1 first, where nothing listens: the next address is tried."""
    port = web_server.host.rpartition(":")[2]
    page = fetch(f"http://localhost:{port}/article.html", limits=LOCAL)
    assert page.url == f"http://localhost:{port}/article.html"
    assert page.body == ARTICLE


def test_follows_a_redirect_chain(web_server) -> None:  # noqa: F811
    page = fetch(web_server.url("/chain/3"), limits=LOCAL)
    assert page.url == web_server.url("/article.html")
    assert page.body == ARTICLE


def test_stops_a_redirect_loop(web_server) -> None:  # noqa: F811
    before = web_server.requests_to("/loop")
    with pytest.raises(FetchError, match=r"^too many redirects \(more than 2\)$"):
        fetch(web_server.url("/loop"), limits=FetchLimits(allow_private=True, max_redirects=2))
    assert web_server.requests_to("/loop") - before == 3


def test_a_redirect_chain_longer_than_the_limit_is_refused(web_server) -> None:  # noqa: F811
    with pytest.raises(FetchError, match="too many redirects"):
        fetch(web_server.url("/chain/3"), limits=FetchLimits(allow_private=True, max_redirects=2))


def test_a_redirect_without_location(web_server) -> None:  # noqa: F811
    with pytest.raises(FetchError, match="HTTP 302 without a Location"):
        fetch(web_server.url("/no-location"), limits=LOCAL)


@pytest.mark.parametrize(
    ("path", "blocked"), [("/to-private", "10.0.0.1"), ("/to-metadata", "169.254.169.254")]
)
def test_a_redirect_to_a_blocked_address_is_refused(web_server, path, blocked) -> None:  # noqa: F811
    """LOOPBACK_ONLY reaches the server but not 10/8 or 169.254/16: nothing is sent there."""
    with pytest.raises(FetchError) as caught:
        fetch(web_server.url(path), limits=LOOPBACK_ONLY)
    assert str(caught.value) == f"blocked address {blocked} (private networks are not fetched)"


def test_a_streamed_body_over_the_limit(web_server) -> None:  # noqa: F811
    limits = FetchLimits(allow_private=True, max_bytes=100_000)
    with pytest.raises(TooLargeError, match=r"^too large: over 100 KB$"):
        fetch(web_server.url("/huge"), limits=limits)


def test_the_default_size_limit_message(web_server) -> None:  # noqa: F811
    with pytest.raises(TooLargeError) as caught:
        fetch(web_server.url("/huge"), limits=FetchLimits(allow_private=True))
    assert str(caught.value) == "too large: over 5 MB"


def test_a_declared_length_over_the_limit_is_refused_before_reading(web_server) -> None:  # noqa: F811
    """The server sends 6 of the 50 MB it declares: reading would fail differently."""
    with pytest.raises(TooLargeError, match="too large: over 5 MB"):
        fetch(web_server.url("/huge-declared"), limits=LOCAL)


def test_gzip_is_decoded(web_server) -> None:  # noqa: F811
    page = fetch(web_server.url("/gzip"), limits=LOCAL)
    assert page.body == ARTICLE


def test_the_size_limit_counts_decoded_bytes(web_server) -> None:  # noqa: F811
    assert len(GZIP_BOMB) < 100_000
    limits = FetchLimits(allow_private=True, max_bytes=1_000_000)
    with pytest.raises(TooLargeError, match="too large: over 1 MB"):
        fetch(web_server.url("/gzip-bomb"), limits=limits)


@pytest.mark.parametrize("path", ["/slow", "/trickle-headers", "/trickle-body"])
def test_the_whole_fetch_keeps_one_deadline(web_server, path: str) -> None:  # noqa: F811
    """A stalled answer, and answers that trickle a byte at a time (each read within httpx's
    per-read timeout), all end at the total deadline rather than when the server is done."""
    limits = FetchLimits(allow_private=True, connect_timeout=0.5, total_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch(web_server.url(path), limits=limits)
    assert str(caught.value) == "timed out after 0.5 s"
    assert time.monotonic() - started < SLOW_SECONDS


def test_conditional_get(web_server) -> None:  # noqa: F811
    first = fetch(web_server.url("/conditional"), limits=LOCAL)
    assert (first.status, first.etag, first.last_modified) == (200, ETAG, LAST_MODIFIED)
    assert not first.not_modified and first.body == ARTICLE

    by_etag = fetch(web_server.url("/conditional"), limits=LOCAL, etag=first.etag)
    by_date = fetch(web_server.url("/conditional"), limits=LOCAL, last_modified=LAST_MODIFIED)
    for page in (by_etag, by_date):
        assert (page.status, page.not_modified, page.body, page.etag) == (304, True, b"", ETAG)

    stale = fetch(web_server.url("/conditional"), limits=LOCAL, etag='"courier-v6"')
    assert (stale.status, stale.not_modified, stale.body) == (200, False, ARTICLE)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/image.png", "unsupported content type image/png"),
        ("/untyped", "unsupported content type (none given)"),
    ],
)
def test_content_types_we_do_not_read(web_server, path: str, message: str) -> None:  # noqa: F811
    with pytest.raises(UnsupportedError) as caught:
        fetch(web_server.url(path), limits=LOCAL)
    assert str(caught.value) == message


def test_accept_narrows_the_content_types(web_server) -> None:  # noqa: F811
    feed = fetch(web_server.url("/rss.xml"), limits=LOCAL)
    assert feed.content_type == "application/rss+xml"
    with pytest.raises(UnsupportedError, match="unsupported content type application/rss"):
        fetch(web_server.url("/rss.xml"), limits=LOCAL, accept=HTML_TYPES)


@pytest.mark.parametrize(("path", "status"), [("/missing", 404), ("/broken", 500)])
def test_http_errors(web_server, path: str, status: int) -> None:  # noqa: F811
    with pytest.raises(FetchError) as caught:
        fetch(web_server.url(path), limits=LOCAL)
    assert str(caught.value) == f"HTTP {status}"


def test_a_closed_port_is_not_reachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match=r"^not reachable: 127\.0\.0\.1 \("):
        fetch(f"http://127.0.0.1:{port}/", limits=LOCAL)


def test_the_deadline_is_checked_between_chunks(public_dns) -> None:
    """Without a socket to cut (here a mock transport), the loop itself notices the deadline."""

    def slow_chunks():
        for _ in range(20):
            time.sleep(0.05)
            yield b"<p>more</p>"

    client, _ = recording_client(
        {"/drip": httpx.Response(200, headers={"Content-Type": "text/html"}, content=slow_chunks())}
    )
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^timed out after 0\.3 s$"):
        fetch("http://news.example/drip", limits=FetchLimits(total_timeout=0.3), client=client)
    assert time.monotonic() - started < 0.9
