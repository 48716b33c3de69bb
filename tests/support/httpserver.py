"""The lifecycle both local test servers share: a ThreadingHTTPServer on an ephemeral
127.0.0.1 port in a background thread, and a close that leaves nothing running (keep-alive
connections are shut, so a client's pooled socket cannot outlive the server)."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-response is routine in fault tests


class LocalHTTPServer:
    """Subclasses set ``handler`` (a BaseHTTPRequestHandler subclass) and ``owner_attr`` (the
    name under which each handler instance reaches the server object)."""

    handler: type[BaseHTTPRequestHandler]
    owner_attr: str

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        handler = type("Handler", (self.handler,), {self.owner_attr: self, "owner": self})
        self._httpd = QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def _wake(self) -> None:
        """Hook: wake handlers blocked on the server's own conditions before shutdown."""

    def close(self) -> None:
        """Stop serving, wake waiting handlers and drop open keep-alive connections."""
        self._stopping.set()
        self._wake()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):  # already closed by the peer
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def track(self, conn: socket.socket, opened: bool) -> None:
        with self._lock:
            if opened:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])


class TrackedHandler(BaseHTTPRequestHandler):
    """Keep-alive like real servers (so clients' connection pools are exercised), registered
    with its server so close() can shut idle connections, and silent (counters replace an
    access log, and Bot API URLs carry the token)."""

    protocol_version = "HTTP/1.1"
    timeout = 15  # an idle keep-alive connection does not hold a thread forever
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client then
    # waits for the delayed ACK (~40 ms) on every request, which is not how real servers behave.
    disable_nagle_algorithm = True
    owner: LocalHTTPServer

    def setup(self) -> None:
        super().setup()
        self.owner.track(self.connection, opened=True)

    def finish(self) -> None:
        self.owner.track(self.connection, opened=False)
        with contextlib.suppress(OSError):  # the peer hung up before we flushed
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass
