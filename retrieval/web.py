"""Fetch one web page or feed for ingest, treating the URL as hostile.

A URL typed into chat can point anywhere: at the cloud metadata service, at the machine's own
admin ports, at a file of 10 GB, or at a server that answers one byte a minute. ``fetch`` therefore:

- reads only http and https;
- resolves the host itself, refuses loopback, private, link-local, multicast, reserved and
  unspecified addresses (IPv4-mapped and tunnelled IPv6 judged by their IPv4 address), and then
  connects to the very address it checked, so a DNS answer that changes between the check and the
  connection (DNS rebinding) gains nothing;
- follows redirects itself and checks every hop the same way;
- streams the body and stops as soon as it passes ``max_bytes`` (measured after gzip decoding);
- holds the whole fetch to one deadline: httpx timeouts are per operation, so a watchdog also cuts
  the socket when the deadline passes.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from contextlib import nullcontext, suppress
from dataclasses import dataclass, replace
from typing import Any, Self

import httpx

from retrieval.errors import FetchError, IngestError, TooLargeError, UnsupportedError

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class FetchLimits:
    """How far one fetch may go. ``allowed_networks`` lists CIDR exceptions to the address block
    (say ``("127.0.0.0/8",)`` for a test server) without opening every private range as
    ``allow_private`` does."""

    connect_timeout: float = 5.0
    total_timeout: float = 20.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_private: bool = False
    user_agent: str = "newsdesk/0.1 (+https://github.com/newsdesk/newsdesk)"
    allowed_networks: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FetchLimits:
        """Read NEWSDESK_FETCH_TIMEOUT (seconds), NEWSDESK_FETCH_MAX_BYTES,
        NEWSDESK_ALLOW_PRIVATE_URLS (1/true) and NEWSDESK_ALLOWED_NETWORKS (CIDRs, comma
        separated); unset variables keep the defaults."""
        env = os.environ if environ is None else environ
        limits = cls()
        timeout = _env_number(env, "NEWSDESK_FETCH_TIMEOUT", float, limits.total_timeout)
        max_bytes = _env_number(env, "NEWSDESK_FETCH_MAX_BYTES", int, limits.max_bytes)
        allow = env.get("NEWSDESK_ALLOW_PRIVATE_URLS", "").strip().lower() in {"1", "true"}
        networks = []
        for n in env.get("NEWSDESK_ALLOWED_NETWORKS", "").split(","):
            if not n.strip():
                continue
            try:
                networks.append(str(ipaddress.ip_network(n.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"NEWSDESK_ALLOWED_NETWORKS: {n!r} is not a network") from None
        return cls(total_timeout=timeout, max_bytes=max_bytes, allow_private=allow,
                   allowed_networks=tuple(networks))


@dataclass(frozen=True)
class Page:
    """A fetched resource. ``url`` is the final one, after redirects; ``content_type`` is the bare
    media type (``text/html``) and ``charset`` the parameter the server gave, if any."""

    url: str
    status: int
    content_type: str
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    charset: str | None = None


def fetch(
    url: str,
    *,
    limits: FetchLimits = FetchLimits(),  # frozen, so sharing it is safe
    accept: tuple[str, ...] = HTML_TYPES + FEED_TYPES,
    etag: str | None = None,
    last_modified: str | None = None,
    client: httpx.Client | None = None,
) -> Page:
    """GET ``url`` within ``limits`` and return the page, or raise an ``IngestError`` whose
    message can be shown to the user. ``etag``/``last_modified`` make the request conditional;
    a 304 answer comes back as ``Page(not_modified=True, body=b"")``."""
    deadline = _Deadline(limits.total_timeout)
    headers = _request_headers(limits, accept, etag, last_modified)
    target = _parse_url(url)
    with nullcontext(client) if client is not None else _new_client() as http:
        for _ in range(limits.max_redirects + 1):
            page, target = _fetch_once(http, target, headers, limits, accept, deadline)
            if page is not None:
                if page.not_modified and page.etag is None:
                    page = _with_etag(page, etag)
                return page
    raise FetchError(f"too many redirects (more than {limits.max_redirects})")


def resolve(host: str, port: int) -> list[Address]:
    """The addresses ``host`` stands for, in the resolver's order. IP literals, and odd forms
    such as ``2130706433``, come back as the address the system would connect to."""
    addresses: list[Address] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def is_public(address: Address) -> bool:
    """True only for an address on the public internet. IPv6 forms that carry an IPv4 address
    (mapped, 6to4, Teredo, NAT64) are judged by that IPv4 address too."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # the socket connects to the IPv4 host itself
            return is_public(address.ipv4_mapped)
        inner = _embedded_ipv4(address)
        if inner is not None and not is_public(inner):
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


# --- one hop ---------------------------------------------------------------------------------


def _fetch_once(
    http: httpx.Client,
    target: httpx.URL,
    headers: dict[str, str],
    limits: FetchLimits,
    accept: tuple[str, ...],
    deadline: _Deadline,
) -> tuple[Page | None, httpx.URL]:
    """Request ``target`` once: a page, or ``(None, next_url)`` when it redirects."""
    with _Watchdog(deadline) as watchdog:
        response = _send(http, target, headers, limits, deadline, watchdog)
        try:
            if response.status_code in REDIRECT_STATUSES:
                following = _redirect_target(target, response)
                log.debug("redirect %s %s -> %s", response.status_code, target, following)
                return None, following
            return _read_page(target, response, limits, accept, deadline, watchdog), target
        finally:
            response.close()


def _send(
    http: httpx.Client,
    target: httpx.URL,
    headers: dict[str, str],
    limits: FetchLimits,
    deadline: _Deadline,
    watchdog: _Watchdog,
) -> httpx.Response:
    """Check every address of the host, then connect to them in turn (pinned, not re-resolved)."""
    host = target.raw_host.decode("ascii")
    addresses = _resolve_within(host, target.port or _default_port(target), deadline)
    for address in addresses:
        _check_address(address, limits)
    failure: Exception | None = None
    for address in addresses:
        # A bare Request, not client.build_request: nothing of a caller's client (cookies
        # stored under a shared IP, default headers) is merged into what we send.
        timeout = httpx.Timeout(
            deadline.left(), connect=min(limits.connect_timeout, deadline.left())
        )
        request = httpx.Request(
            "GET",
            target.copy_with(host=str(address), userinfo=b""),
            headers={**headers, "Host": _host_header(target)},
            extensions={
                "timeout": timeout.as_dict(),
                "sni_hostname": host,
                "trace": watchdog.trace,
            },
        )
        try:
            return http.send(request, stream=True, follow_redirects=False)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            log.debug("connect to %s (%s) failed: %r", host, address, exc)
            failure = exc
        except httpx.TimeoutException as exc:
            raise deadline.error() from exc
        except httpx.TransportError as exc:
            raise _transport_error(host, exc, deadline, watchdog) from exc
    if deadline.expired():
        raise deadline.error() from failure
    if isinstance(failure, httpx.ConnectTimeout):
        reason = f"no answer within {limits.connect_timeout:g} s"
    else:
        reason = _reason(failure)
    raise FetchError(f"not reachable: {host} ({reason})") from failure


def _read_page(
    target: httpx.URL,
    response: httpx.Response,
    limits: FetchLimits,
    accept: tuple[str, ...],
    deadline: _Deadline,
    watchdog: _Watchdog,
) -> Page:
    """Turn a final (non-redirect) response into a Page, refusing what we do not want early."""
    status = response.status_code
    media_type, charset = _content_type(response.headers.get("content-type", ""))
    etag, last_modified = response.headers.get("etag"), response.headers.get("last-modified")
    page = Page(str(target), status, media_type, b"", etag, last_modified, charset=charset)
    if status == 304:
        return replace(page, not_modified=True)
    if not 200 <= status < 300:
        raise FetchError(f"HTTP {status}")
    if media_type not in accept:
        raise UnsupportedError(f"unsupported content type {media_type or '(none given)'}")
    _check_declared_length(response, limits)
    return replace(page, body=_read_body(target, response, limits, deadline, watchdog))


def _read_body(
    target: httpx.URL,
    response: httpx.Response,
    limits: FetchLimits,
    deadline: _Deadline,
    watchdog: _Watchdog,
) -> bytes:
    """Stream the decoded body, stopping at the first chunk past the size or time limit."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limits.max_bytes:
                raise TooLargeError(f"too large: over {_human_size(limits.max_bytes)}")
            if deadline.expired():
                raise deadline.error()
            chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise deadline.error() from exc
    except httpx.DecodingError as exc:
        raise FetchError(f"could not decode the response from {target.host}") from exc
    except httpx.TransportError as exc:
        raise _transport_error(target.host, exc, deadline, watchdog) from exc
    return b"".join(chunks)


# --- checks and small helpers ------------------------------------------------------------------


def _parse_url(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise IngestError(f"not a valid web address: {url!r}") from exc
    if parsed.scheme not in ("http", "https"):
        shown = parsed.scheme or "(none)"
        raise UnsupportedError(f"unsupported URL scheme {shown} (only http and https)")
    if not parsed.host:
        raise IngestError(f"not a valid web address: {url!r}")
    return parsed.copy_with(fragment=None)


def _redirect_target(current: httpx.URL, response: httpx.Response) -> httpx.URL:
    location = response.headers.get("location")
    if not location:
        raise FetchError(f"HTTP {response.status_code} without a Location to follow")
    try:
        following = current.join(location)
    except httpx.InvalidURL as exc:
        raise FetchError(f"redirect to an invalid address: {location!r}") from exc
    return _parse_url(str(following))


def _check_address(address: Address, limits: FetchLimits) -> None:
    if limits.allow_private or is_public(address):
        return
    if any(address in ipaddress.ip_network(net) for net in limits.allowed_networks):
        return
    raise FetchError(f"blocked address {address} (private networks are not fetched)")


def _resolve_within(host: str, port: int, deadline: _Deadline) -> list[Address]:
    """``resolve`` in a helper thread, because getaddrinfo has no timeout of its own."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["addresses"] = resolve(host, port)
        except (OSError, UnicodeError, ValueError) as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(deadline.left())
    if worker.is_alive():
        raise deadline.error()
    if "error" in outcome or not outcome.get("addresses"):
        raise FetchError(f"not reachable: {host} (no such host)") from outcome.get("error")
    return outcome["addresses"]


def _check_declared_length(response: httpx.Response, limits: FetchLimits) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise TooLargeError(f"too large: over {_human_size(limits.max_bytes)}")


def _request_headers(
    limits: FetchLimits, accept: tuple[str, ...], etag: str | None, last_modified: str | None
) -> dict[str, str]:
    # Connection: close, because every hop is pinned to an IP: a kept-alive TLS connection to a
    # shared IP could otherwise be reused for another host name than its certificate's.
    headers = {
        "User-Agent": limits.user_agent,
        "Accept": ", ".join(accept),
        "Accept-Encoding": "gzip, deflate",
        "Connection": "close",
    }
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _new_client() -> httpx.Client:
    # trust_env=False: no proxy or .netrc from the environment may route around the checks.
    return httpx.Client(follow_redirects=False, trust_env=False)


def _content_type(header: str) -> tuple[str, str | None]:
    media_type, _, params = header.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return media_type.strip().lower(), charset


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _host_header(target: httpx.URL) -> str:
    return target.netloc.decode("ascii").rpartition("@")[2]


def _default_port(target: httpx.URL) -> int:
    return 443 if target.scheme == "https" else 80


def _with_etag(page: Page, etag: str | None) -> Page:
    """A 304 need not repeat the ETag; the one we sent is still the current one."""
    return replace(page, etag=etag)


def _transport_error(
    host: str, exc: Exception, deadline: _Deadline, watchdog: _Watchdog
) -> FetchError:
    if watchdog.fired or deadline.expired():
        return deadline.error()
    return FetchError(f"not reachable: {host} ({_reason(exc)})")


def _reason(exc: Exception | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return text or (type(exc).__name__ if exc is not None else "no address to connect to")


def _human_size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    if n >= 1_000:
        return f"{n / 1_000:g} KB"
    return f"{n} bytes"


def _env_number(env: Mapping[str, str], name: str, kind: type, default: Any) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {raw!r}")
    return value


class _Deadline:
    """The wall-clock budget of one fetch, shared by resolving, connecting and reading."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left, raising the timeout error once there are none."""
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise self.error()
        return remaining

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def error(self) -> FetchError:
        return FetchError(f"timed out after {self.seconds:g} s")


class _Watchdog:
    """Shuts the sockets of one request down when the deadline passes.

    httpx's read timeout restarts with every read, so a server that trickles a byte at a time
    (in the headers as well as the body) would otherwise hold the fetch far past the deadline.
    httpcore's documented ``trace`` extension hands us each new connection's socket.
    """

    def __init__(self, deadline: _Deadline) -> None:
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(deadline.end - time.monotonic(), 0.0), self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if not event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            return
        sock = info["return_value"].get_extra_info("socket")
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    # The plain socket method: SSLSocket.shutdown would also reset TLS state under the reader.
    with suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
