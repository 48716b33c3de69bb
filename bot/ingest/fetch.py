"""HTTP fetching of feeds and article pages: the only place ingestion touches the network.

One shared ``httpx.AsyncClient`` serves every fetch so connections are pooled. Every concern
that turns a hostile or broken server into a stuck or bloated bot lives here:

- a total deadline per fetch (``asyncio.timeout``), because httpx's timeouts are per read and
  a server sending one byte a second never trips them;
- a byte cap counted on *decoded* bytes while streaming, with our own bounded gunzip, because
  httpx inflates a whole network chunk at once (one 64 KB gzip chunk can be 64 MB);
- conditional GET (ETag / Last-Modified → 304) so unchanged feeds cost one round trip;
- redirects followed by hand, each hop re-checked, with a clear error on loops;
- an SSRF guard: unless private networks are allowed, hosts that resolve to non-public
  addresses are refused where the socket is opened, so DNS rebinding cannot slip through
  (``netguard.py`` holds the guard and the guarded connection pool; a caller-supplied
  transport gets the same check before each hop instead);
- a global and a per-host semaphore, so one slow host cannot starve the others.

``fetch`` never raises for network or HTTP trouble: it returns a FetchResult with status
"error" and a reason a feed owner understands. Headers are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx

# The SSRF guard and connection pool live in netguard; their names stay importable from here.
from bot.ingest.netguard import (
    FetchFailure,
    Resolver,
    checked_addresses,
    pooled_transport,
    system_resolver,
)
from bot.ingest.records import FetchResult
from bot.ingest.schedule import parse_cache_control_max_age, parse_retry_after
from storage.models import host_key

log = logging.getLogger(__name__)

USER_AGENT = "newsbrief/0.1 (+https://github.com/newsbrief/newsbrief)"
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Article pages with these types are never text: refuse before downloading megabytes of video.
NOT_A_PAGE_PREFIXES = ("image/", "audio/", "video/", "font/", "application/pdf", "application/zip")


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
            transport = pooled_transport(
                limits, self._resolver, allow_private_networks=allow_private_networks
            )
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # Proxy variables would defeat the SSRF guard (the proxy resolves, not us).
            trust_env=False,
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        )

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
        """Hold one of the host's ``per_host`` slots; forget idle hosts (pages span thousands).
        A host is counted as the cycle's scheduling and the leases count it (``host_key``)."""
        key = host_key(str(url))
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
