"""A real HTTP server on 127.0.0.1 that serves the corpus, for tests of every stage that fetches.

Why a real server and not ``httpx.MockTransport``: the bugs that matter in fetching live in
the wire (chunked bodies, gzip, keep-alive, 304s, slow peers, redirects, connection refused),
and a mock skips all of them. The server runs in a background thread, so it serves sync and
async tests alike without touching the test's event loop.

Static files come from ``root`` with a content-hash ETag and an mtime Last-Modified, and
conditional GETs get 304. Content-Type follows the extension *without* a charset unless one is
asked for, because many real servers send none and the parser must sniff the XML prolog.
Programmable routes (status, body, headers, delays, streamed bodies) cover the fault cases;
counters record what was asked so tests can assert "fetched exactly once" or "a 304 was served".
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.httpserver import LocalHTTPServer, TrackedHandler

CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".xml": "text/xml",
    ".rdf": "application/rdf+xml",
    ".atom": "application/atom+xml",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".json": "application/json",
}

Body = bytes | str | Callable[[], Iterable[bytes]]


@dataclass(slots=True)
class Route:
    """A programmed answer for one path (fault tests) or a file served under another path."""

    status: int = 200
    body: Body = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between body chunks: a slow body
    file: Path | None = None  # set by alias(): serve this file with validators


def content_type_for(path: Path | str, charset: str | None = None) -> str:
    """The Content-Type a typical server sends for this file name (no charset unless given)."""
    suffix = Path(str(path)).suffix.lower()
    value = CONTENT_TYPES.get(suffix, "application/octet-stream")
    return f"{value}; charset={charset}" if charset else value


def _etag_of(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:20] + '"'


def _etag_matches(header: str, etag: str) -> bool:
    # Weak comparison (RFC 9110 13.1.2): a W/ prefix does not matter for If-None-Match.
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in wanted or etag in wanted


class FeedServer(LocalHTTPServer):
    """Serve ``root`` (and programmed routes) over real HTTP on an ephemeral 127.0.0.1 port.

    Use as a context manager; ``url(path)`` gives the absolute URL of a path. Counters are
    guarded by one lock because handler threads update them concurrently.
    """

    def __init__(
        self, root: Path | None = None, *, gzip: bool = True, charset: str | None = None
    ) -> None:
        super().__init__()
        self.root = root.resolve() if root is not None else None
        self.gzip = gzip  # compress static files when the client sends Accept-Encoding: gzip
        self.charset = charset  # appended to static Content-Types when set
        self._routes: dict[str, Route] = {}
        self._etags = True
        self._hits: Counter[str] = Counter()
        self._requests: list[tuple[str, str, dict[str, str]]] = []
        self._responses: list[tuple[str, int]] = []
        self._in_flight = 0
        self._max_in_flight = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """Absolute URL of ``path``; ``host="localhost"`` gives a second host name, same server."""
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    # -- programming ----------------------------------------------------------------------
    def route(
        self,
        path: str,
        *,
        status: int = 200,
        body: Body = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
    ) -> None:
        """Answer ``path`` with this status/body/headers. A callable body is called per request
        and its chunks are streamed (chunked encoding unless headers give Content-Length)."""
        self._routes[path] = Route(status, body, dict(headers or {}), delay, chunk_delay)

    def redirect(self, path: str, to: str, status: int = 302) -> None:
        """Redirect ``path`` to ``to`` (a path on this server or an absolute URL)."""
        self.route(path, status=status, headers={"Location": to})

    def alias(self, path: str, file: Path, *, delay: float = 0.0) -> None:
        """Serve ``file`` (with ETag/Last-Modified/304/gzip) under ``path``."""
        self._routes[path] = Route(file=file, delay=delay)

    def slow_feeds(self, names: Iterable[str], *, delay: float) -> None:
        """Serve each corpus feed ``name`` at /slow/``name`` too, answering ``delay`` seconds
        late: a fetch cycle over them lasts long enough to be interrupted or overlapped."""
        assert self.root is not None, "slow_feeds serves the corpus: give root"
        for name in names:
            self.alias(f"/slow/{name}", self.root / "feeds" / name, delay=delay)

    def set_etag_support(self, enabled: bool) -> None:
        """Turn ETags off to test Last-Modified-only servers."""
        self._etags = enabled

    # -- counters -------------------------------------------------------------------------
    @property
    def hits(self) -> Counter[str]:
        """Requests per path (query string excluded); a snapshot."""
        with self._lock:
            return Counter(self._hits)

    @property
    def requests(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, request target, headers) in arrival order; a snapshot."""
        with self._lock:
            return list(self._requests)

    @property
    def responses(self) -> list[tuple[str, int]]:
        """(path, status) of each answer sent, e.g. to assert that a 304 was served."""
        with self._lock:
            return list(self._responses)

    @property
    def max_in_flight(self) -> int:
        """The most requests ever being answered at the same time."""
        with self._lock:
            return self._max_in_flight

    def reset_counters(self) -> None:
        with self._lock:
            self._hits.clear()
            self._requests.clear()
            self._responses.clear()
            self._max_in_flight = self._in_flight

    # -- used by the handler --------------------------------------------------------------
    def _begin(self, method: str, target: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._hits[urlsplit(target).path] += 1
            self._requests.append((method, target, headers))
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _end(self, path: str, status: int) -> None:
        with self._lock:
            self._in_flight -= 1
            self._responses.append((path, status))

    def _sleep(self, seconds: float) -> None:
        # An Event wait, not time.sleep, so close() interrupts slow handlers at once.
        if seconds > 0:
            self._stopping.wait(seconds)


class _Handler(TrackedHandler):
    feedserver: FeedServer

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, *, send_body: bool) -> None:
        srv = self.feedserver
        self._path = urlsplit(self.path).path
        self._recorded = False
        srv._begin(self.command, self.path, dict(self.headers.items()))
        try:
            route = srv._routes.get(self._path)
            if route is not None:
                srv._sleep(route.delay)
            if route is not None and route.file is None:
                self._send_route(route, send_body)
            else:
                file = route.file if route is not None else self._static_file(self._path)
                if file is None:
                    self._send_404()
                else:
                    self._send_file(file, send_body)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        finally:
            if not self._recorded:
                self._record(500)

    def _record(self, status: int) -> None:
        self._recorded = True
        self.feedserver._end(self._path, status)

    def _complete(self, status: int, last: bytes = b"", *, headers: bool = False) -> None:
        """Record the answer, THEN send its final bytes (and the headers if still pending).

        In that order a client that has its whole response always finds the counters up
        to date; recording afterwards would race with the test's next assertion.
        """
        self._record(status)
        if headers:
            self.end_headers()
        if last:
            self.wfile.write(last)

    def _static_file(self, path: str) -> Path | None:
        root = self.feedserver.root
        if root is None:
            return None
        candidate = (root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate

    def _send_404(self) -> None:
        body = b"not found\n"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self._complete(404, body, headers=True)

    def _send_file(self, file: Path, send_body: bool) -> None:
        srv = self.feedserver
        data = file.read_bytes()
        mtime = int(file.stat().st_mtime)
        etag = _etag_of(data) if srv._etags else None
        validators = {"Last-Modified": formatdate(mtime, usegmt=True)}
        if etag:
            validators["ETag"] = etag
        if self._not_modified(etag, mtime):
            self.send_response(304)
            for name, value in validators.items():
                self.send_header(name, value)
            self._complete(304, headers=True)
            return
        headers = {"Content-Type": content_type_for(file, srv.charset), **validators}
        if srv.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
            data = gzip_module.compress(data, compresslevel=5, mtime=0)
            headers["Content-Encoding"] = "gzip"
            headers["Vary"] = "Accept-Encoding"
        headers["Content-Length"] = str(len(data))
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self._complete(200, data if send_body else b"", headers=True)

    def _not_modified(self, etag: str | None, mtime: int) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            # RFC 9110 13.1.3: If-None-Match wins over If-Modified-Since when both are sent.
            return etag is not None and _etag_matches(inm, etag)
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                return mtime <= parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def _send_route(self, route: Route, send_body: bool) -> None:
        srv = self.feedserver
        headers = dict(route.headers)
        location = headers.get("Location")
        if location and location.startswith("/"):
            headers["Location"] = srv.url(location)
        chunks: Iterator[bytes]
        if callable(route.body):
            chunks = iter(route.body())
        else:
            data = route.body.encode() if isinstance(route.body, str) else route.body
            chunks = iter([data])
            headers.setdefault("Content-Length", str(len(data)))
        chunked = "Content-Length" not in headers
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        try:
            phrase = HTTPStatus(route.status).phrase
        except ValueError:
            phrase = ""
        self.send_response(route.status, phrase)
        for name, value in headers.items():
            self.send_header(name, value)
        if not send_body or route.status == 304:
            self._complete(route.status, headers=True)
            return
        self.end_headers()
        # Hold one chunk back so the last bytes go out through _complete.
        pending = b""
        for i, chunk in enumerate(chunks):
            if i and route.chunk_delay:
                srv._sleep(route.chunk_delay)
            if srv._stopping.is_set():
                break
            if pending:
                self.wfile.write(pending)
                self.wfile.flush()
            pending = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked and chunk else chunk
        self._complete(route.status, pending + (b"0\r\n\r\n" if chunked else b""))


FeedServer.handler = _Handler
FeedServer.owner_attr = "feedserver"
