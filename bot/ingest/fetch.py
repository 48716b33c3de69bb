"""HTTP fetching of feeds and article pages: the only place ingestion touches the network.

One shared ``httpx.AsyncClient`` serves every fetch so connections are pooled. Every concern
that turns a hostile or broken server into a stuck or bloated bot lives here:

- a total deadline per fetch (``asyncio.timeout``), because httpx's timeouts are per read and
  a server sending one byte a second never trips them;
- a byte cap counted on *decoded* bytes while streaming, with our own bounded gunzip, because
  httpx inflates a whole network chunk at once (one 64 KB gzip chunk can be 64 MB);
- conditional GET (ETag / Last-Modified → 304) so unchanged feeds cost one round trip;
- redirects followed by hand, each hop re-checked, with a clear error on loops;
- an SSRF guard: unless private networks are allowed, hosts that resolve to loopback, private,
  link-local, reserved, multicast or unspecified addresses are refused. The check runs where
  the socket is opened (a wrapped httpcore network backend), so a DNS answer that changes
  between check and connect (DNS rebinding) cannot slip through;
- a global and a per-host semaphore, so one slow host cannot starve the others.

``fetch`` never raises for network or HTTP trouble: it returns a FetchResult with status
"error" and a reason a feed owner understands. Headers are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from bot.ingest.records import FetchResult
from bot.ingest.schedule import parse_cache_control_max_age, parse_retry_after

log = logging.getLogger(__name__)

USER_AGENT = "newsbrief/0.1 (+https://github.com/newsbrief/newsbrief)"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PRIVATE_HINT = "set NEWSBRIEF_ALLOW_PRIVATE_NETWORKS=true to allow"
# Article pages with these types are never text: refuse before downloading megabytes of video.
NOT_A_PAGE_PREFIXES = ("image/", "audio/", "video/", "font/", "application/pdf", "application/zip")

Resolver = Callable[[str, int], Awaitable[list[str]]]


class FetchFailure(Exception):
    """A fetch that cannot give a body; ``str()`` is the reason shown to the feed owner."""


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, via the event loop's non-blocking getaddrinfo."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchFailure(f"could not resolve host {host}") from exc
    # Keep resolver order (it encodes preference) but drop duplicates and IPv6 scope ids.
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def non_public_kind(address: str) -> str | None:
    """Why ``address`` must not be fetched ("loopback", "private", ...), or None if public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback too (Python 3.11 does not say so)
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),  # before private: Python counts 240.0.0.0/4 as both
        ("private", ip.is_private),
    ):
        if flag:
            return kind
    return None if ip.is_global else "non-public"  # e.g. 100.64.0.0/10 carrier-grade NAT


async def checked_addresses(host: str, port: int, resolver: Resolver) -> list[str]:
    """Resolve ``host`` and refuse it if ANY address is non-public (attackers mix records)."""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = await resolver(host, port)
    if not addresses:
        raise FetchFailure(f"could not resolve host {host}")
    for address in addresses:
        kind = non_public_kind(address)
        if kind is not None:
            who = address if address == host else f"{host} resolves to {address}, which"
            raise FetchFailure(f"refused: {who} is a {kind} address ({PRIVATE_HINT})")
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens sockets only to checked public addresses: the SSRF check at connect time."""

    def __init__(self, resolver: Resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, port, self._resolver)
        last: Exception | None = None
        for address in addresses:  # connect to what was checked, never re-resolve
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _BoundedDecoder:
    """Content-Encoding decoder whose output never exceeds the remaining byte budget.

    httpx's decoders inflate each network chunk without a limit, so a gzip bomb would sit in
    memory before any cap could see it; zlib's ``max_length`` keeps every step bounded.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_fallback = encoding == "deflate"  # servers send zlib or raw deflate
        if encoding in ("", "identity"):
            self._z = None
        elif encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise FetchFailure(f"unsupported Content-Encoding {encoding}")

    def decode(self, data: bytes, room: int) -> bytes:
        """Decode ``data``; raise OverflowError as soon as output would pass ``room`` bytes."""
        if self._z is None:
            if len(data) > room:
                raise OverflowError
            return data
        out = bytearray()
        try:
            while data and not self._z.eof:
                out += self._z.decompress(data, room - len(out) + 1)
                self._raw_fallback = False
                if len(out) > room:
                    raise OverflowError
                data = self._z.unconsumed_tail
        except zlib.error as exc:
            if not self._raw_fallback:
                raise FetchFailure(f"corrupt {self.encoding} body: {exc}") from exc
            self._z, self._raw_fallback = zlib.decompressobj(-zlib.MAX_WBITS), False
            return self.decode(data, room)
        return bytes(out)


class Fetcher:
    """Fetches feeds and pages over one pooled client; use as ``async with Fetcher(...)``."""

    def __init__(
        self,
        *,
        timeout: float,
        max_bytes: int,
        user_agent: str = USER_AGENT,
        allow_private_networks: bool,
        max_redirects: int = 5,
        concurrency: int = 10,
        per_host: int = 2,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allow_private_networks = allow_private_networks
        self.max_redirects = max_redirects
        self.per_host = per_host
        self._resolver = resolver or system_resolver
        self._global = asyncio.Semaphore(concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._host_users: Counter[str] = Counter()
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        # A caller-supplied transport cannot host the connect-time guard: check before each hop.
        self._precheck = transport is not None and not allow_private_networks
        if transport is None:
            transport = self._default_transport(limits)
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # Proxy variables would defeat the SSRF guard (the proxy resolves, not us).
            trust_env=False,
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        )

    def _default_transport(self, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
        transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
        if not self.allow_private_networks:
            # httpx has no public hook for the network backend; rebuild its pool with the
            # guarded one (httpx < 1 keeps it in ``_pool``, pinned in pyproject).
            transport._pool = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context(),
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=_GuardedBackend(self._resolver),
            )
        return transport

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET a feed, conditionally when validators are given; never raises for I/O trouble.

        On 304 the result carries the server's new validators, or the ones sent when the
        server repeats none, so callers can store them unconditionally.
        """
        headers = {"Accept": FEED_ACCEPT}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        result = await self._fetch(url, headers, page=False)
        if result.status == "not_modified":
            result.etag = result.etag or etag
            result.last_modified = result.last_modified or last_modified
        return result

    async def fetch_page(self, url: str) -> FetchResult:
        """GET an article page (HTML) under the same limits as feeds."""
        return await self._fetch(url, {"Accept": PAGE_ACCEPT}, page=True)

    # -- internals ------------------------------------------------------------------------
    async def _fetch(self, url: str, headers: dict[str, str], *, page: bool) -> FetchResult:
        started = time.monotonic()
        result = FetchResult(url=url, status="error")
        try:
            await self._follow(url, headers, result, page=page)
        except FetchFailure as exc:
            result.status, result.error = "error", str(exc)
        except (TimeoutError, httpx.TimeoutException):
            result.status, result.error = "error", f"timed out after {self.timeout:g}s"
        except httpx.HTTPError as exc:
            result.status, result.error = "error", _describe_http_error(exc)
        except Exception as exc:  # a bug or an exotic failure: report it, keep the cycle going
            log.warning("unexpected error fetching %s", url, exc_info=True)
            result.status, result.error = "error", f"unexpected error: {type(exc).__name__}: {exc}"
        if result.status == "error":  # validators of an error page must not be stored
            result.body = result.etag = result.last_modified = None
        result.elapsed = time.monotonic() - started
        log.debug("fetched %s: %s in %.2fs", url, result.error or result.status, result.elapsed)
        return result

    async def _follow(
        self, url: str, headers: dict[str, str], result: FetchResult, *, page: bool
    ) -> None:
        try:
            target: httpx.URL | None = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchFailure(f"invalid URL: {exc}") from exc
        seen: set[str] = set()
        deadline: float | None = None
        while target is not None:
            if len(seen) > self.max_redirects or str(target) in seen:
                loop = " (redirect loop)" if str(target) in seen else ""
                raise FetchFailure(f"too many redirects (more than {self.max_redirects}){loop}")
            seen.add(str(target))
            if not target.scheme:
                raise FetchFailure(f"invalid URL: {str(target)!r} is not absolute")
            if target.scheme not in ("http", "https"):
                raise FetchFailure(f"refused: scheme {target.scheme!r} is not http or https")
            if not target.host:
                raise FetchFailure(f"invalid URL: no host in {target}")
            # Host slot first, then a global one: a task queued for a busy host must not sit
            # on a global slot that another host could use.
            async with self._host_slot(target), self._global:
                # The deadline starts once a slot is ours: waiting in line is not the server's
                # fault, but every hop after the first counts against the same budget.
                if deadline is None:
                    deadline = asyncio.get_running_loop().time() + self.timeout
                async with asyncio.timeout_at(deadline):
                    target = await self._hop(target, headers, result, page=page)

    @contextlib.asynccontextmanager
    async def _host_slot(self, url: httpx.URL) -> AsyncIterator[None]:
        """Hold one of the host's ``per_host`` slots; forget idle hosts (pages span thousands)."""
        key = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        slot = self._hosts.setdefault(key, asyncio.Semaphore(self.per_host))
        self._host_users[key] += 1
        try:
            async with slot:
                yield
        finally:
            self._host_users[key] -= 1
            if not self._host_users[key]:
                del self._hosts[key], self._host_users[key]

    async def _hop(
        self, url: httpx.URL, headers: dict[str, str], result: FetchResult, *, page: bool
    ) -> httpx.URL | None:
        """One request; returns the next URL on a redirect, else fills ``result``."""
        if self._precheck:
            await checked_addresses(url.host, url.port or 0, self._resolver)
        request = self._client.build_request("GET", url, headers=headers)
        response = await self._client.send(request, stream=True)
        try:
            result.http_status = response.status_code
            result.final_url = str(url)
            location = response.headers.get("Location")
            if response.status_code in REDIRECT_STATUSES and location:
                try:
                    return url.join(location.strip())
                except httpx.InvalidURL as exc:
                    raise FetchFailure(f"invalid redirect Location: {location!r}") from exc
            self._read_headers(response, result)
            if response.status_code == 304:
                result.status = "not_modified"
                return None
            if response.status_code >= 300:
                phrase = response.reason_phrase or ""
                raise FetchFailure(f"HTTP {response.status_code} {phrase}".rstrip())
            if page and (result.content_type or "").lower().startswith(NOT_A_PAGE_PREFIXES):
                raise FetchFailure(f"not an HTML page: Content-Type {result.content_type}")
            result.body = await self._read_capped(response)
            result.status = "ok"
            return None
        finally:
            await response.aclose()

    def _read_headers(self, response: httpx.Response, result: FetchResult) -> None:
        h = response.headers
        result.content_type = h.get("Content-Type")
        result.etag = h.get("ETag")
        result.last_modified = h.get("Last-Modified")
        result.max_age = parse_cache_control_max_age(h.get("Cache-Control"))
        result.retry_after = parse_retry_after(h.get("Retry-After"), datetime.now(UTC))

    async def _read_capped(self, response: httpx.Response) -> bytes:
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        decoder = _BoundedDecoder(encoding)
        too_big = FetchFailure(f"response larger than {self.max_bytes} bytes")
        declared = response.headers.get("Content-Length", "")
        identity = decoder.encoding in ("", "identity")
        if identity and declared.isdigit() and int(declared) > self.max_bytes:
            raise too_big  # no need to download what we would throw away
        body = bytearray()
        try:
            async for chunk in response.aiter_raw():
                body += decoder.decode(chunk, self.max_bytes - len(body))
        except OverflowError:
            raise too_big from None
        return bytes(body)


def _describe_http_error(exc: httpx.HTTPError) -> str:
    """Turn httpx's exception into a short reason for a feed owner.

    The useful cause is often buried (anyio says "All connection attempts failed" and chains
    the ConnectionRefusedError underneath), so look down the whole chain.
    """
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = str(exc) or type(exc).__name__
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return "connection refused"
    if any(isinstance(c, socket.gaierror) for c in chain):
        with contextlib.suppress(RuntimeError):  # RuntimeError: no request attached
            return f"could not resolve host {exc.request.url.host}"
        return "could not resolve host"
    if any(isinstance(c, ssl.SSLError) for c in chain):
        return f"TLS error: {text}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {text}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"server broke the HTTP protocol: {text}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"connection lost: {text}"
    return text
