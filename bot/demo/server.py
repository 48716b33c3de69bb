"""A tiny static HTTP server on 127.0.0.1 for the offline demo's bundled feeds.

The demo runs the real pipeline (real HTTP fetches, conditional GET included), so the feeds are
served rather than read from disk.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from types import TracebackType

from bot.httpthread import BackgroundHTTPServer

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
        self._server = BackgroundHTTPServer(("127.0.0.1", 0), handler, name="newsbrief-demo")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def urls(self) -> list[str]:
        files = sorted(p for p in self.root.iterdir() if p.suffix in {".rss", ".atom", ".xml"})
        return [f"{self.base_url}/{p.name}" for p in files]

    def __enter__(self) -> DemoFeedServer:
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()
