"""Digest times: parsing "08:00,18:00" and deciding whether a digest is due. Pure.

A chat's digest times are wall-clock times in its own time zone; a digest is due when one of
them has passed since the last digest. Computing occurrences in the zone (not adding 24 h in
UTC) keeps 08:00 at 08:00 across daylight-saving changes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_TIMES = 6
_TIME = re.compile(r"^([01]?[0-9]|2[0-3])[:h.]([0-5][0-9])$")  # ASCII digits only


class DigestTimesError(ValueError):
    """The text is not a list of 1–6 HH:MM times."""


def parse_times(text: str) -> list[time]:
    """'8:00, 18:30' → [08:00, 18:30], sorted and de-duplicated; DigestTimesError otherwise."""
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    if not parts:
        raise DigestTimesError("no time given")
    found = set()
    for part in parts:
        match = _TIME.match(part)
        if match is None:
            raise DigestTimesError(f"not a time: {part[:20]}")
        found.add(time(int(match[1]), int(match[2])))
    if len(found) > MAX_TIMES:
        raise DigestTimesError(f"at most {MAX_TIMES} times a day")
    return sorted(found)


def format_times(times: list[time]) -> str:
    return ",".join(f"{t:%H:%M}" for t in times)


def zone(name: str | None) -> ZoneInfo:
    """The chat's zone; an unknown stored name falls back to UTC rather than failing a tick."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def last_occurrence(now: datetime, times: list[time], tz: ZoneInfo) -> datetime | None:
    """The most recent scheduled moment at or before ``now`` (UTC), looking back two days."""
    local_now = now.astimezone(tz)
    best: datetime | None = None
    for days_back in (0, 1, 2):
        day = local_now.date() - timedelta(days=days_back)
        for at in times:
            moment = datetime.combine(day, at, tzinfo=tz)
            if moment <= local_now and (best is None or moment > best):
                best = moment
    return best.astimezone(UTC) if best else None


def digest_due(now: datetime, times_text: str, tz_name: str | None, last: datetime) -> bool:
    """Whether a digest time has passed after ``last`` (the previous digest, or the chat's
    creation), as of ``now``."""
    try:
        times = parse_times(times_text)
    except DigestTimesError:
        times = [time(8, 0)]
    moment = last_occurrence(now, times, zone(tz_name))
    return moment is not None and moment > last
