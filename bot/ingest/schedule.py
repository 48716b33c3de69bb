"""When to fetch a feed next: pure arithmetic over the feed's interval and what the server said.

Polite polling is what keeps a feed reader from being blocked. On success we wait at least
our own interval, longer if the feed's RSS ``<ttl>`` or the response's Cache-Control max-age
asks for it; after errors we back off exponentially; a Retry-After is always honoured. Every
wait is clamped so one odd header can neither hammer a server nor silence a feed for a year.

Nothing here reads a clock or a random generator: the caller passes ``now`` and the jitter,
so the rules are tested directly and the pipeline owns the side effects.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

DEFAULT_MIN_INTERVAL = timedelta(minutes=5)
DEFAULT_MAX_INTERVAL = timedelta(hours=24)
DEFAULT_MAX_BACKOFF = timedelta(hours=24)

# 2**64 times any interval is far past every cap; bounding the exponent (and doing the sum in
# float seconds) keeps a feed that has failed for months from overflowing timedelta.
_MAX_BACKOFF_EXPONENT = 64


def next_check(
    now: datetime,
    *,
    interval: timedelta,
    ttl_minutes: int | None = None,
    max_age: int | None = None,
    retry_after: int | None = None,
    error_count: int = 0,
    min_interval: timedelta = DEFAULT_MIN_INTERVAL,
    max_interval: timedelta = DEFAULT_MAX_INTERVAL,
    max_backoff: timedelta = DEFAULT_MAX_BACKOFF,
    jitter: float = 0.0,
) -> datetime:
    """The time (timezone-aware UTC) at which the feed is due again.

    * Success (``error_count`` 0): the longest of ``interval``, the RSS ttl and the
      Cache-Control max-age, clamped to [``min_interval``, ``max_interval``]. A server may
      slow us down but not speed us up past our own interval, and ``max_interval`` keeps a
      "ttl = one week" feed from going quiet.
    * After ``error_count`` consecutive errors: ``interval * 2**(error_count - 1)``, clamped
      to [``min_interval``, ``max_backoff``]; ttl and max-age are ignored (they came with a
      good response, not this one). The first success resets ``error_count`` to 0, and with
      it the normal interval.
    * ``retry_after`` (seconds, from a 429 or 503) is a floor in both cases, itself capped at
      ``max_backoff`` so a hostile or buggy header cannot park a feed indefinitely.
    * ``jitter`` in [0, 1) lengthens the wait by that fraction, applied last so feeds that
      share an interval (or all sit at a cap) spread out instead of firing together. The
      caller draws it (``random.random() * 0.1``, say) to keep this function pure.

    A naive ``now`` is taken to be UTC (SQLite hands datetimes back without a zone).
    """
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter must be in [0, 1), got {jitter}")
    if interval <= timedelta(0):
        raise ValueError(f"interval must be positive, got {interval}")
    if min_interval > max_interval:
        raise ValueError(f"min_interval {min_interval} exceeds max_interval {max_interval}")

    if error_count > 0:
        exponent = min(error_count - 1, _MAX_BACKOFF_EXPONENT)
        cap = max(max_backoff, min_interval)
        backoff = interval.total_seconds() * 2.0**exponent
        delay = _clamp(timedelta(seconds=min(backoff, cap.total_seconds())), min_interval, cap)
    else:
        hints = [interval]
        if ttl_minutes is not None and ttl_minutes > 0:
            hints.append(timedelta(minutes=ttl_minutes))
        if max_age is not None and max_age > 0:
            hints.append(timedelta(seconds=max_age))
        delay = _clamp(max(hints), min_interval, max_interval)

    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(timedelta(seconds=retry_after), max_backoff))

    delay *= 1.0 + jitter
    return _as_utc(now) + delay


def parse_retry_after(value: str | None, now: datetime) -> int | None:
    """Seconds to wait from a Retry-After header: delta-seconds ("120") or an HTTP date.

    A date already past gives 0 (retry now); a date is rounded up to whole seconds so we never
    come back early. Anything unparsable (including negative or fractional numbers, which
    RFC 9110 does not allow) gives None: no hint rather than a wrong one.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # some Python versions return None instead of raising
        return None
    seconds = (_as_utc(when) - _as_utc(now)).total_seconds()
    return max(0, math.ceil(seconds))


def parse_cache_control_max_age(value: str | None) -> int | None:
    """Freshness lifetime in seconds from a Cache-Control header, or None for no hint.

    ``s-maxage`` wins over ``max-age``: one fetch here serves every subscribed chat, which is
    what a shared cache is. ``no-cache`` and ``no-store`` give None (they ask for revalidation,
    which conditional GETs on our normal interval already do), as does an unparsable value.
    ``max-age=0`` gives 0, which leaves the feed on its normal interval.
    """
    if not value:
        return None
    directives: dict[str, str | None] = {}
    for part in value.split(","):
        name, sep, argument = part.partition("=")
        name = name.strip().lower()
        if name:
            directives[name] = argument.strip().strip('"') if sep else None
    if "no-store" in directives or "no-cache" in directives:
        return None
    for name in ("s-maxage", "max-age"):
        seconds = directives.get(name)
        if seconds is not None and seconds.isascii() and seconds.isdigit():
            return int(seconds)
    return None


def _clamp(delay: timedelta, lowest: timedelta, highest: timedelta) -> timedelta:
    return max(lowest, min(delay, highest))


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
