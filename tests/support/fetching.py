"""A Fetcher with test-friendly defaults (local server allowed, short timeout)."""

from __future__ import annotations

from bot.ingest.fetch import USER_AGENT, Fetcher


def make_fetcher(**overrides: object) -> Fetcher:
    options: dict[str, object] = {
        "timeout": 5.0,
        "max_bytes": 5_000_000,
        "user_agent": USER_AGENT,
        "allow_private_networks": True,
    }
    options.update(overrides)
    return Fetcher(**options)  # type: ignore[arg-type]
