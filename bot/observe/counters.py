"""The delivery worker's counters: the only list of them.

bot/chat/delivery.py increments a :class:`DeliveryCounters`; ``/healthz`` (bot/observe/health.py)
and ``/metrics`` (bot/observe/server.py, as ``newsbrief_delivery_<name>_total``) read every
field of it, with the help text kept next to each field. A new counter is one line here (and
its row in docs/operations.md, which a test checks).

It lives in bot/observe rather than next to the worker so that the observe server, which a
fetch worker runs too, never imports the chat stack (telegram, rendering) to know the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

HELP = "help"  # the metadata key of a counter's Prometheus help text


def _counter(help_text: str) -> int:
    return field(default=0, metadata={HELP: help_text})


@dataclass(slots=True)
class DeliveryCounters:
    """What the delivery worker did since it started (tests and /healthz read these)."""

    sent: int = _counter(
        "Outbox rows sent to Telegram (a digest split in several messages counts once)."
    )
    retried: int = _counter(
        "Sends rescheduled with backoff (network errors, timeouts, 5xx, chat not found)."
    )
    rate_limited: int = _counter("429 Too Many Requests answers from Telegram.")
    skipped: int = _counter("Outbox rows skipped: the chat blocked the bot or is gone.")
    failed: int = _counter("Outbox rows Telegram refused for good.")
    migrated: int = _counter("Groups that became supergroups while a message was sent to them.")
    plain_fallbacks: int = _counter(
        "Messages refused as HTML and sent again as plain text (a bug to report)."
    )


DELIVERY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(DeliveryCounters))
DELIVERY_HELP: dict[str, str] = {f.name: f.metadata[HELP] for f in fields(DeliveryCounters)}
