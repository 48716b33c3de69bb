"""Digest times: parsing what users type, and "is a digest due" across zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.chat.digests import (
    DigestTimesError,
    digest_due,
    format_times,
    last_occurrence,
    parse_times,
    zone,
)


def test_times_are_parsed_sorted_and_deduplicated() -> None:
    assert parse_times("18:00, 8:00,08:00") == [time(8, 0), time(18, 0)]
    assert format_times(parse_times("7h30 23.59")) == "07:30,23:59"


@pytest.mark.parametrize(
    "text", ["", "24:00", "8", "08:60", "noon", "1:00 2:00 3:00 4:00 5:00 6:00 7:00"]
)
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(DigestTimesError):
        parse_times(text)


def test_unknown_zone_falls_back_to_utc() -> None:
    assert zone("Mars/Olympus") == zone("UTC")
    assert zone(None) == zone("UTC")


def test_digest_is_due_once_a_time_has_passed_since_the_last_one() -> None:
    last = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 08:00 Paris is 07:00 UTC in winter
    before = datetime(2026, 3, 10, 6, 59, tzinfo=UTC)
    after = datetime(2026, 3, 10, 7, 1, tzinfo=UTC)
    assert not digest_due(after, "08:00", "Europe/Paris", last)  # that one was sent
    assert not digest_due(before, "08:00", "Europe/Paris", datetime(2026, 3, 9, 20, tzinfo=UTC))
    assert digest_due(after, "08:00", "Europe/Paris", datetime(2026, 3, 9, 20, tzinfo=UTC))


def test_local_time_survives_daylight_saving_change() -> None:
    paris = zone("Europe/Paris")
    # 29 March 2026: clocks go forward; 08:00 in Paris becomes 06:00 UTC.
    summer = last_occurrence(datetime(2026, 3, 30, 6, 30, tzinfo=UTC), [time(8, 0)], paris)
    winter = last_occurrence(datetime(2026, 3, 27, 7, 30, tzinfo=UTC), [time(8, 0)], paris)
    assert summer == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert winter == datetime(2026, 3, 27, 7, 0, tzinfo=UTC)


def test_a_chat_that_was_away_for_days_gets_one_digest_not_many() -> None:
    now = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    assert digest_due(now, "08:00,18:00", "UTC", datetime(2026, 5, 1, tzinfo=UTC))
    assert not digest_due(now, "08:00,18:00", "UTC", now)


def test_stored_garbage_times_default_to_eight_in_the_morning() -> None:
    now = datetime(2026, 5, 10, 8, 5, tzinfo=UTC)
    assert digest_due(now, "garbage", "UTC", datetime(2026, 5, 10, 7, 0, tzinfo=UTC))
