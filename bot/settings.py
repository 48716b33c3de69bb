"""One settings object for the whole application, read from the environment and `.env`.

Every name is prefixed ``NEWSBRIEF_`` and documented in `.env.example`. The object is built once
at the edge (the CLI) and passed down; nothing reads the environment anywhere else, so tests can
build a ``Settings(...)`` with exactly the values they need.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_USER_AGENT = "newsbrief/0.1 (+https://github.com/newsbrief/newsbrief; self-hosted news bot)"


class Settings(BaseSettings):
    """All runtime configuration. Field names map to ``NEWSBRIEF_<NAME>`` variables."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSBRIEF_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # Storage
    database_url: str = "sqlite:///data/newsbrief.db"

    # Fetching
    fetch_interval: int = Field(900, ge=60, description="seconds between checks of one feed")
    fetch_timeout: float = Field(20.0, gt=0, description="total seconds allowed per request")
    max_feed_bytes: int = Field(10_000_000, ge=1024, description="byte cap per response body")
    allow_private_networks: bool = False
    fetch_concurrency: int = Field(10, ge=1, le=100)
    fetch_per_host: int = Field(2, ge=1, le=20)
    user_agent: str = DEFAULT_USER_AGENT
    extract_teasers: bool = True
    teaser_chars: int = Field(400, ge=0, description="shorter entries get their page extracted")
    feeds: Annotated[list[str], NoDecode] = Field(default_factory=list)
    parse_workers: int = Field(
        default_factory=lambda: min(4, os.cpu_count() or 1),
        ge=0,
        le=32,
        description="processes that parse and clean feeds; 0 runs them in threads",
    )
    # Fetch workers (PostgreSQL): how long a claim on a feed lasts unless renewed. A live
    # process renews it every third of this; a dead one's feeds are fetched by others after it.
    lease_seconds: int = Field(180, ge=2, le=3600, description="feed lease without renewal")

    # Telegram (used by the bot; unset token means the offline demo)
    bot_token: SecretStr | None = None
    bot_api_url: str = "https://api.telegram.org"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    channel_id: int | None = Field(None, description="also post every new story to this channel")
    fetch_tick: float = Field(60.0, gt=0, le=3600, description="seconds between due-feed checks")
    # False: `newsbrief run` is the bot and delivery only, fetch workers do the fetching.
    fetch_in_bot: bool = True
    delivery_concurrency: int = Field(4, ge=1, le=5, description="messages in flight at once")
    backlog_digest: int = Field(
        5, ge=1, description="an instant chat owed more stories at once gets one digest"
    )

    # The offline demo (`make run` without a token): default feeds when reachable, else bundled.
    demo_source: Literal["auto", "online", "bundled"] = "auto"

    # Metrics and health (bot/observe, docs/operations.md): GET /metrics and /healthz.
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="unset: no server; 0: any free port"
    )
    metrics_host: str = "127.0.0.1"

    # Logging
    log_level: str = "INFO"
    log_format: Literal["human", "json"] = "human"

    @field_validator("feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        # A comma- or whitespace-separated list is easier to write in .env than JSON.
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("channel_id", "metrics_port", mode="before")
    @classmethod
    def _empty_channel_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("bot_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def data_dir(self) -> Path:
        """Where a SQLite database lives (created on demand)."""
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///")).parent
        return Path("data")
