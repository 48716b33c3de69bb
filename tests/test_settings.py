"""Settings: environment names, list parsing, and .env.example documenting every one."""

from __future__ import annotations

import re

import pytest

from bot.settings import Settings
from tests.conftest import REPO_ROOT


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(
        re.findall(r"^#?\s*(NEWSBRIEF_[A-Z_]+)=", (REPO_ROOT / ".env.example").read_text(), re.M)
    )
    expected = {f"NEWSBRIEF_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "add these to .env.example"
    assert documented - expected == set(), "these in .env.example are not settings"


def test_lists_are_read_from_comma_separated_environment_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSBRIEF_FEEDS", "https://a.example/feed, https://b.example/rss")
    monkeypatch.setenv("NEWSBRIEF_ADMIN_IDS", "12345,67890")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.feeds == ["https://a.example/feed", "https://b.example/rss"]
    assert settings.admin_ids == [12345, 67890]


def test_an_empty_token_means_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBRIEF_BOT_TOKEN", "")
    assert Settings(_env_file=None).bot_token is None  # type: ignore[call-arg]


def test_defaults_are_the_embedded_sqlite_and_no_private_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"NEWSBRIEF_{name.upper()}", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite:///data/newsbrief.db"
    assert settings.allow_private_networks is False


def test_the_token_is_not_shown_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBRIEF_BOT_TOKEN", "123456:SECRET-token")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert "SECRET" not in repr(settings) and "SECRET" not in str(settings.model_dump())


def test_env_example_copied_as_env_loads_with_its_documented_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(f"NEWSBRIEF_{name.upper()}", raising=False)
    settings = Settings(_env_file=REPO_ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.bot_token is None and settings.feeds == [] and settings.admin_ids == []
    assert settings.fetch_interval == 900
