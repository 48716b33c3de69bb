"""Tests for bot.ingest.schedule: each polling rule, the caps, and the header parsers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ingest.schedule import next_check, parse_cache_control_max_age, parse_retry_after

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTES_30 = timedelta(minutes=30)


def _wait(**kwargs: Any) -> timedelta:
    return next_check(NOW, **kwargs) - NOW


# --- success ----------------------------------------------------------------------------------


def test_success_waits_the_feed_interval() -> None:
    assert _wait(interval=MINUTES_30) == MINUTES_30


def test_rss_ttl_longer_than_interval_is_honoured() -> None:
    assert _wait(interval=MINUTES_30, ttl_minutes=120) == timedelta(minutes=120)


def test_rss_ttl_shorter_than_interval_does_not_speed_polling_up() -> None:
    assert _wait(interval=HOUR, ttl_minutes=5) == HOUR


def test_cache_control_max_age_longer_than_interval_is_honoured() -> None:
    assert _wait(interval=MINUTES_30, max_age=7200) == 2 * HOUR
    assert _wait(interval=MINUTES_30, max_age=0) == MINUTES_30


def test_longest_of_interval_ttl_and_max_age_wins() -> None:
    assert _wait(interval=MINUTES_30, ttl_minutes=60, max_age=5400) == timedelta(minutes=90)


def test_success_wait_is_clamped_to_min_and_max_interval() -> None:
    assert _wait(interval=timedelta(minutes=1)) == timedelta(minutes=5)
    assert _wait(interval=HOUR, ttl_minutes=60 * 24 * 7) == timedelta(hours=24)
    assert _wait(interval=HOUR, max_age=10**9, max_interval=6 * HOUR) == 6 * HOUR


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_count", "expected"),
    [(1, MINUTES_30), (2, HOUR), (3, 2 * HOUR), (4, 4 * HOUR), (6, 16 * HOUR)],
)
def test_errors_back_off_exponentially(error_count: int, expected: timedelta) -> None:
    assert _wait(interval=MINUTES_30, error_count=error_count) == expected


@pytest.mark.parametrize("error_count", [7, 20, 10_000])
def test_backoff_is_capped(error_count: int) -> None:
    assert _wait(interval=MINUTES_30, error_count=error_count) == timedelta(hours=24)
    assert _wait(interval=MINUTES_30, error_count=error_count, max_backoff=3 * HOUR) == 3 * HOUR


def test_backoff_ignores_ttl_and_max_age_of_earlier_responses() -> None:
    assert _wait(interval=MINUTES_30, ttl_minutes=600, max_age=36000, error_count=1) == MINUTES_30


def test_first_success_after_errors_returns_to_the_normal_interval() -> None:
    assert _wait(interval=MINUTES_30, error_count=5) == 8 * HOUR
    assert _wait(interval=MINUTES_30, error_count=0) == MINUTES_30


# --- Retry-After ------------------------------------------------------------------------------


def test_retry_after_is_honoured_when_longer_than_the_interval() -> None:
    assert _wait(interval=MINUTES_30, retry_after=7200) == 2 * HOUR
    assert _wait(interval=HOUR, retry_after=60) == HOUR


def test_retry_after_is_a_floor_for_backoff_too() -> None:
    assert _wait(interval=MINUTES_30, error_count=1, retry_after=3 * 3600) == 3 * HOUR
    assert _wait(interval=MINUTES_30, error_count=4, retry_after=60) == 4 * HOUR


def test_absurd_retry_after_is_capped_at_max_backoff() -> None:
    assert _wait(interval=MINUTES_30, error_count=1, retry_after=365 * 86400) == 24 * HOUR


# --- jitter and time zones --------------------------------------------------------------------


def test_jitter_lengthens_the_wait_by_its_fraction() -> None:
    assert _wait(interval=HOUR, jitter=0.25) == timedelta(minutes=75)


@pytest.mark.parametrize("jitter", [-0.1, 1.0, 2.0])
def test_jitter_outside_unit_interval_is_refused(jitter: float) -> None:
    with pytest.raises(ValueError):
        next_check(NOW, interval=HOUR, jitter=jitter)


def test_result_is_timezone_aware_utc() -> None:
    paris = datetime(2024, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    result = next_check(paris, interval=HOUR)
    assert result.tzinfo == UTC
    assert result == datetime(2024, 3, 1, 13, 0, tzinfo=UTC)


def test_naive_now_is_read_as_utc() -> None:
    result = next_check(datetime(2024, 3, 1, 12, 0), interval=HOUR)
    assert result == datetime(2024, 3, 1, 13, 0, tzinfo=UTC)


@given(
    interval_minutes=st.integers(min_value=1, max_value=10_000),
    ttl=st.one_of(st.none(), st.integers(min_value=-10, max_value=10**7)),
    max_age=st.one_of(st.none(), st.integers(min_value=-10, max_value=10**10)),
    retry_after=st.one_of(st.none(), st.integers(min_value=-10, max_value=10**10)),
    error_count=st.integers(min_value=0, max_value=10**6),
    jitter=st.floats(min_value=0.0, max_value=0.999),
)
def test_wait_always_stays_within_the_bounds(
    interval_minutes: int,
    ttl: int | None,
    max_age: int | None,
    retry_after: int | None,
    error_count: int,
    jitter: float,
) -> None:
    wait = _wait(
        interval=timedelta(minutes=interval_minutes),
        ttl_minutes=ttl,
        max_age=max_age,
        retry_after=retry_after,
        error_count=error_count,
        jitter=jitter,
    )
    assert timedelta(minutes=5) <= wait <= timedelta(hours=24) * (1 + jitter)


# --- parse_retry_after ------------------------------------------------------------------------


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after(" 0 ", NOW) == 0


def test_retry_after_as_http_date() -> None:
    now = datetime(2015, 10, 21, 7, 27, 0, tzinfo=UTC)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == 60
    # Rounded up, so a retry never comes early.
    assert (
        parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now.replace(microsecond=500_000)) == 60
    )


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "١٢٠", "Wed, 99 Foo 2015"])
def test_unparsable_retry_after_gives_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


# --- parse_cache_control_max_age --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("max-age=300", 300),
        ("public, max-age=600", 600),
        ("public, max-age=600, s-maxage=1200", 1200),
        ("MAX-AGE=60", 60),
        ('max-age="90"', 90),
        ("max-age=0", 0),
        ("max-age=0, must-revalidate", 0),
    ],
)
def test_max_age_is_read_from_cache_control(header: str, expected: int) -> None:
    assert parse_cache_control_max_age(header) == expected


@pytest.mark.parametrize(
    "header",
    [None, "", "private", "no-cache", "no-store", "no-store, max-age=600", "max-age=abc"],
)
def test_cache_control_without_a_usable_max_age_gives_none(header: str | None) -> None:
    assert parse_cache_control_max_age(header) is None
