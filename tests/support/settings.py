"""Settings for tests that run the ingestion in this process (the Ingestor, the bot's jobs).

Built from keywords alone, never from a .env file or NEWSBRIEF_* variables, so what a developer
has configured cannot change a test.
"""

from __future__ import annotations

from typing import Any

from bot.settings import Settings


def ingest_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings that fetch from the local test servers on 127.0.0.1 (private networks allowed),
    extract no teaser pages (tests serve only the feeds they name), and parse in threads
    (no process pool to start); ``overrides`` change or add any setting."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "allow_private_networks": True,
        "extract_teasers": False,
        "parse_workers": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)
