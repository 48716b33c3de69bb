"""A stdlib HTTP server answering from a daemon thread.

newsbrief runs two small servers of its own: /metrics and /healthz (bot/observe/server.py) and
the offline demo's feeds (bot/demo/server.py). Neither needs an event loop: a thread keeps a
slow database read or file read off the bot's loop, and daemon threads mean a stuck client
never keeps the process alive.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class BackgroundHTTPServer:
    """Binds on construction (a taken port raises OSError there), serves after ``start()``."""

    def __init__(
        self,
        address: tuple[str, int],
        handler: Callable[..., BaseHTTPRequestHandler],
        *,
        name: str,
    ) -> None:
        server_class = _Server6 if ":" in address[0] else _Server
        self._httpd = server_class(address, handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()
