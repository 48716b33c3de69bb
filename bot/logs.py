"""Logging set-up: human-readable on stderr, so stdout stays free for --json output."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler


def setup_logging(level: str = "INFO") -> None:
    handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=True)
    logging.basicConfig(level=level.upper(), format="%(message)s", handlers=[handler], force=True)
    # httpx logs every request URL at INFO; Bot API URLs carry the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Alembic narrates every plugin it loads at INFO; only problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
