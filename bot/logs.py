"""Logging set-up: human-readable (rich) or one JSON object per line, always on stderr so stdout
stays free for --json output, and never showing the bot token.

The token travels in every Bot API URL (``…/bot<token>/getMe``), and libraries log those URLs
(python-telegram-bot at DEBUG, httpx at INFO) or carry them in exception messages. So rather
than trusting each call site, a filter on the handler rewrites every record before it is
formatted: the final message, the exception text, the stack and any ``extra`` fields. Uncaught
exceptions are sent through the same path (``sys.excepthook``), so a crash cannot print the
token either, and tracebacks never show local variables (where URLs sit in clear).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TextIO
from urllib.parse import quote

from pythonjsonlogger.json import JsonFormatter
from rich.console import Console
from rich.logging import RichHandler

if TYPE_CHECKING:
    from types import TracebackType

    from bot.settings import Settings

LogFormat = Literal["human", "json"]
REDACTED = "<redacted>"

# A Bot API URL path (``/bot<id>:<secret>/``), whatever token it carries: one read from another
# source (a file id URL, an old token in an error) must not leak either.
_BOT_URL_TOKEN = re.compile(r"(?<![A-Za-z0-9])bot\d{3,}(?::|%3[Aa])[A-Za-z0-9_-]{8,}")
# A bare token as @BotFather issues them: the bot id, a colon, 35 URL-safe characters.
_BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])\d{5,}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])")
# The password of any URL with credentials (postgresql://user:secret@host → user:***@host).
_URL_PASSWORD = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):[^\s@/]+@")
# Shorter pieces of a configured token are not redacted on their own: they could be common words.
_MIN_SECRET_PART = 16

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class Redactor:
    """Replaces the configured secrets and anything shaped like a token or URL password."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        literals: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            literals.update({secret, quote(secret, safe="")})
            # The secret half of a token may appear alone (after a URL-encoded colon, say).
            _, _, part = secret.partition(":")
            if len(part) >= _MIN_SECRET_PART:
                literals.add(part)
        ordered = sorted(literals, key=len, reverse=True)  # longest first: no partial leftovers
        self._literals = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._literals is not None:
            text = self._literals.sub(REDACTED, text)
        text = _BOT_URL_TOKEN.sub("bot" + REDACTED, text)
        text = _BARE_TOKEN.sub(REDACTED, text)
        return _URL_PASSWORD.sub(r"\1:***@", text)

    def value(self, value: Any) -> Any:
        """``value`` with every string inside redacted; other objects become redacted text."""
        if isinstance(value, str):
            return self(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {key: self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(item) for item in value]
        return self(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites each record so no handler can format a secret out of it.

    Installed on handlers (not loggers), because records propagated from child loggers skip
    their ancestors' logger filters but always pass the handler's.
    """

    _formatter = logging.Formatter()

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):  # structured message: keep its shape
            record.msg = self.redact.value(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string; logging would print msg and args raw
                message = f"{record.msg} {record.args!r}"
            # Merged into one string: a token split between the format and its args is caught.
            record.msg = self.redact(message)
            record.args = None
        if "message" in record.__dict__:
            record.message = self.redact(str(record.message))
        self._redact_exception(record)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, self.redact.value(value))
        return True

    def _redact_exception(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            text = self._formatter.formatException(record.exc_info)
        elif record.exc_text:
            text = record.exc_text
        else:
            return
        record.exc_text = self.redact(text)
        if record.exc_text != text:
            # Formatters (rich's traceback renderer, JsonFormatter) re-read the live exception
            # when exc_info is set; dropping it leaves them only the redacted text.
            record.exc_info = None


class UTCJsonFormatter(JsonFormatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, ``exception``
    and ``stack`` when present, and every ``extra`` field."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_handler(
    fmt: LogFormat = "human", *, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> logging.Handler:
    """A stderr (or ``stream``) handler in the given format, with the redacting filter."""
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(UTCJsonFormatter())
    else:
        console = Console(file=stream) if stream is not None else Console(stderr=True)
        # Locals stay hidden: the frames of an HTTP call hold the Bot API URL, token included.
        handler = RichHandler(
            console=console, show_path=False, rich_tracebacks=True, tracebacks_show_locals=False
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    return handler


def setup_logging(
    level: str = "INFO",
    fmt: LogFormat = "human",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Route all logging, warnings and uncaught exceptions through one redacting handler."""
    handler = make_handler(fmt, secrets=secrets, stream=stream)
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # httpx logs every request URL at INFO; Bot API URLs carry the token (redacted anyway, but
    # a line per request is noise).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Alembic narrates every plugin it loads at INFO; only problems matter here.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Library warnings (PTB's among them) would otherwise bypass the format and the filter.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def secrets_of(settings: Settings) -> list[str]:
    """What the logs must never show, from the settings (URL passwords are caught by shape)."""
    return [settings.bot_token.get_secret_value()] if settings.bot_token else []


def _log_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("newsbrief").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("newsbrief").critical(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
