"""A tiny static HTTP server on 127.0.0.1 for the offline demo's bundled feeds.

The demo runs the real pipeline (real HTTP fetches, conditional GET included), so the feeds are
served rather than read from disk.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

FEEDS_DIR = Path(__file__).resolve().parent / "feeds"


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {  # noqa: RUF012  (the stdlib declares it as a plain class attribute)
        **SimpleHTTPRequestHandler.extensions_map,
        ".rss": "application/rss+xml",
        ".atom": "application/atom+xml",
        ".xml": "application/xml",
    }

    def log_message(self, format: str, *args: object) -> None:
        pass


class DemoFeedServer:
    """``with DemoFeedServer() as server: server.urls()`` serves the demo feeds until exit."""

    def __init__(self, root: Path = FEEDS_DIR) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def urls(self) -> list[str]:
        files = sorted(p for p in self.root.iterdir() if p.suffix in {".rss", ".atom", ".xml"})
        return [f"{self.base_url}/{p.name}" for p in files]

    def __enter__(self) -> DemoFeedServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
