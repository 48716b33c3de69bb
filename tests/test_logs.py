"""bot/logs.py: human or JSON lines, and the bot token in no log line or error message.

Rich wraps long lines at the console width, which can cut a token in two and make a plain
substring check pass by luck; every check here looks for the secret in the output with all
whitespace and box-drawing removed (``squeezed``).
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.logs import LogFormat, Redactor, make_handler, secrets_of, setup_logging
from bot.settings import Settings
from tests.support.botapi import BotAPIEmulator
from tests.support.process import bot_api, environment, newsbrief, start, terminate

SECRET = "AAH7kq-Xz2_Lm9Np4Rt6Vw8Yb0Cd3Fg5Hj1"
TOKEN = f"7071234567:{SECRET}"
# Another bot's token, as it might come from anywhere (an old .env, a forwarded URL).
OTHER_SECRET = "AAG0zY9xW8vU7tS6rQ5pO4nM3lK2jI1hG_f"
OTHER_TOKEN = f"5550001111:{OTHER_SECRET}"
FORMATS: list[LogFormat] = ["human", "json"]
assert len(SECRET) == len(OTHER_SECRET) == 35  # the length @BotFather gives


def squeezed(text: str) -> str:
    """The text without whitespace or rich's box characters, so wrapped tokens join up again."""
    return re.sub(r"[\s│╭╮╰╯─]", "", text)


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets or (SECRET,):
        assert secret not in squeezed(text), f"secret leaked into:\n{text}"


class Capture:
    """A logger with only the handler under test, writing to a string."""

    def __init__(self, fmt: LogFormat, secrets: list[str]) -> None:
        self.stream = io.StringIO()
        self.logger = logging.getLogger(f"newsbrief.test.{uuid.uuid4().hex[:8]}")
        self.logger.propagate = False
        self.logger.setLevel(logging.DEBUG)
        self.handler = make_handler(fmt, secrets=secrets, stream=self.stream)
        self.logger.addHandler(self.handler)

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.text.splitlines()]

    def close(self) -> None:
        self.logger.removeHandler(self.handler)


@pytest.fixture
def capture() -> Iterator[type[Capture]]:
    made: list[Capture] = []

    class Tracked(Capture):
        def __init__(self, fmt: LogFormat, secrets: list[str] | None = None) -> None:
            super().__init__(fmt, [TOKEN] if secrets is None else secrets)
            made.append(self)

    yield Tracked
    for item in made:
        item.close()


def bot_api_error(token: str) -> RuntimeError:
    url = f"http://127.0.0.1:8081/bot{token}/getMe"
    try:
        try:
            raise ConnectionError(f"connection refused by {url}")
        except ConnectionError as cause:
            raise RuntimeError(f"request to {url} failed") from cause
    except RuntimeError as exc:
        return exc


# --- format -------------------------------------------------------------------------------


def test_json_lines_carry_utc_time_level_logger_message_and_extra_fields(capture) -> None:
    cap = capture("json")
    cap.logger.info("fetched %d feeds", 3, extra={"feed_id": 7, "status": "ok"})
    cap.logger.warning("second line\nwith a newline")

    first, second = cap.records()
    assert {"time", "level", "logger", "message"} <= set(first)
    assert first["level"] == "INFO" and first["logger"] == cap.logger.name
    assert first["message"] == "fetched 3 feeds"
    assert first["feed_id"] == 7 and first["status"] == "ok"
    assert isinstance(first["time"], str) and first["time"].endswith("Z")
    moment = datetime.fromisoformat(first["time"].replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0)
    assert second["message"] == "second line\nwith a newline"  # still one line of output
    assert "exception" not in first


def test_json_exception_text_is_in_the_exception_field(capture) -> None:
    cap = capture("json")
    try:
        raise ValueError("broken feed")
    except ValueError:
        cap.logger.exception("cycle failed")
    [record] = cap.records()
    assert record["level"] == "ERROR" and record["message"] == "cycle failed"
    assert isinstance(record["exception"], str)
    assert "Traceback" in record["exception"] and "ValueError: broken feed" in record["exception"]


def test_human_lines_show_level_and_message(capture) -> None:
    cap = capture("human")
    cap.logger.warning("feed %s is slow", "https://example.org/rss")
    assert "WARNING" in cap.text and "https://example.org/rss" in squeezed(cap.text)


# --- redaction ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_token_is_redacted_from_message_args_exception_and_stack(capture, fmt) -> None:
    cap = capture(fmt)
    url = f"http://127.0.0.1:8081/bot{TOKEN}/getUpdates"
    cap.logger.debug(f"Set Bot API URL: {url}")
    cap.logger.info("calling %s", url)
    cap.logger.info("token split over the format %s", TOKEN.split(":")[1])  # the secret alone
    cap.logger.error("request failed", exc_info=bot_api_error(TOKEN))
    cap.logger.handle(
        logging.makeLogRecord(
            {
                "name": cap.logger.name,
                "levelno": logging.INFO,
                "levelname": "INFO",
                "msg": "with a stack",
                "stack_info": f'Stack (most recent call last):\n  File "x.py", in get("{url}")',
            }
        )
    )

    assert_no_secret(cap.text)
    assert "bot<redacted>" in squeezed(cap.text)  # redacted, not dropped
    assert "RuntimeError" in cap.text and "ConnectionError" in cap.text  # both chained errors
    if fmt == "json":
        records = cap.records()
        assert (
            records[0]["message"]
            == "Set Bot API URL: http://127.0.0.1:8081/bot<redacted>/getUpdates"
        )
        assert "bot<redacted>/getMe" in str(records[3]["exception"])
        assert "bot<redacted>" in str(records[4]["stack"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_token_from_another_source_is_redacted_by_its_shape(capture, fmt) -> None:
    cap = capture(fmt, secrets=[])  # nothing configured: only the shapes can catch it
    cap.logger.warning("GET https://api.telegram.org/file/bot%s/photo.jpg", OTHER_TOKEN)
    cap.logger.warning("bare token %s in a message", OTHER_TOKEN)
    cap.logger.warning("encoded /bot%s/getMe", OTHER_TOKEN.replace(":", "%3A"))
    cap.logger.error("boom", exc_info=bot_api_error(OTHER_TOKEN))
    assert_no_secret(cap.text, OTHER_SECRET)
    assert squeezed(cap.text).count("redacted") >= 4


def test_database_url_passwords_are_masked_and_ordinary_text_is_left_alone() -> None:
    redact = Redactor([TOKEN])
    assert (
        redact("connecting to postgresql://newsbrief:s3cr3t@postgres:5432/newsbrief")
        == "connecting to postgresql://newsbrief:***@postgres:5432/newsbrief"
    )
    assert redact("postgresql+psycopg://u:p%40ss@db/x") == "postgresql+psycopg://u:***@db/x"
    untouched = [
        "http://127.0.0.1:8080/feed.xml?a=1@2",
        "digest at 08:30, story 123456:abc, chat -1001234567890",
        "the robot12345:short reply",
        "sqlite:///data/newsbrief.db",
    ]
    for text in untouched:
        assert redact(text) == text


def test_extra_fields_and_dict_messages_are_redacted_and_keep_their_shape(capture) -> None:
    cap = capture("json")
    cap.logger.info(
        "request", extra={"url": f"/bot{TOKEN}/getMe", "attempt": 2, "params": {"t": [TOKEN]}}
    )
    cap.logger.info({"event": "sent", "to": f"bot{TOKEN}", "count": 1})
    first, second = cap.records()
    assert first["url"] == "/bot<redacted>/getMe" and first["attempt"] == 2
    assert first["params"] == {"t": ["<redacted>"]}
    assert second["event"] == "sent" and second["to"] == "bot<redacted>" and second["count"] == 1
    assert_no_secret(cap.text)


def test_a_bad_format_string_does_not_leak_its_arguments(capture) -> None:
    cap = capture("json")
    cap.logger.info("two placeholders %s %s", TOKEN)
    [record] = cap.records()
    assert_no_secret(cap.text)
    assert "<redacted>" in str(record["message"])


def test_secrets_of_settings_is_the_token_or_nothing() -> None:
    assert secrets_of(Settings(_env_file=None, bot_token=TOKEN)) == [TOKEN]  # type: ignore[call-arg]
    assert secrets_of(Settings(_env_file=None, bot_token=None)) == []  # type: ignore[call-arg]


def test_log_format_setting_is_human_by_default_and_json_on_request(monkeypatch) -> None:
    monkeypatch.delenv("NEWSBRIEF_LOG_FORMAT", raising=False)
    assert Settings(_env_file=None).log_format == "human"  # type: ignore[call-arg]
    monkeypatch.setenv("NEWSBRIEF_LOG_FORMAT", "json")
    assert Settings(_env_file=None).log_format == "json"  # type: ignore[call-arg]
    monkeypatch.setenv("NEWSBRIEF_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="human"):
        Settings(_env_file=None)  # type: ignore[call-arg]


# --- setup_logging: the whole process ------------------------------------------------------


@pytest.fixture
def global_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """setup_logging changes process-wide state; put all of it back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    yield
    logging.captureWarnings(False)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    for name in ("httpx", "httpcore", "alembic"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.parametrize("fmt", FORMATS)
def test_uncaught_exceptions_thread_errors_and_warnings_go_through_the_redacting_handler(
    global_logging, fmt
) -> None:
    stream = io.StringIO()
    setup_logging("DEBUG", fmt, secrets=[TOKEN], stream=stream)

    error = bot_api_error(TOKEN)
    sys.excepthook(type(error), error, error.__traceback__)

    def fail_in_thread() -> None:
        raise bot_api_error(TOKEN)

    thread = threading.Thread(target=fail_in_thread)
    thread.start()
    thread.join()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"deprecated call to /bot{TOKEN}/getMe", UserWarning, stacklevel=1)
    logging.getLogger("httpx").info("HTTP Request: POST /bot%s/getMe", TOKEN)  # quietened

    output = stream.getvalue()
    assert_no_secret(output)
    assert "uncaught exception" in output and "in thread" in output
    assert "deprecated call" in output and "HTTP Request" not in output
    if fmt == "json":
        records = [json.loads(line) for line in output.splitlines()]
        assert [r["level"] for r in records] == ["CRITICAL", "CRITICAL", "WARNING"]
        assert all("bot<redacted>" in str(r.get("exception", r["message"])) for r in records)


# --- the real command ---------------------------------------------------------------------


def run_env(workdir: Path, **extra: str) -> dict[str, str]:
    settings = {
        "NEWSBRIEF_DATABASE_URL": f"sqlite:///{workdir / 'logs.db'}",
        "NEWSBRIEF_PARSE_WORKERS": "0",
        "NEWSBRIEF_LOG_LEVEL": "DEBUG",
        # Wide enough that rich truncates nothing: a leak must not hide behind an ellipsis.
        "COLUMNS": "300",
    }
    return environment(settings, extra)


def json_lines(text: str) -> list[dict[str, object]]:
    records = []
    for line in text.splitlines():
        record = json.loads(line)  # fails the test on any line that is not JSON
        assert {"time", "level", "logger", "message"} <= set(record), line
        records.append(record)
    return records


@pytest.mark.parametrize("fmt", FORMATS)
def test_run_against_an_unreachable_bot_api_logs_the_failure_without_the_token(
    tmp_path: Path, fmt: LogFormat
) -> None:
    env = run_env(tmp_path)
    assert newsbrief("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    # Bound but not listening: connections are refused, and no other test can take the port.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        api = f"http://127.0.0.1:{closed.getsockname()[1]}"
        env.update(
            {
                "NEWSBRIEF_BOT_TOKEN": TOKEN,
                "NEWSBRIEF_BOT_API_URL": api,
                "NEWSBRIEF_LOG_FORMAT": fmt,
            }
        )
        result = newsbrief("run", cwd=tmp_path, env=env, timeout=120)

    assert result.returncode == 1, result.stderr[-3000:]
    assert_no_secret(result.stdout + result.stderr)
    assert "bot<redacted>" in squeezed(result.stderr)  # PTB's DEBUG "Set Bot API URL" line
    assert "ConnectError" in result.stderr
    if fmt == "json":
        records = json_lines(result.stderr)
        assert result.stdout == ""
        assert any(r["level"] == "ERROR" and "exception" in r for r in records)
        assert records[-1]["level"] == "CRITICAL" and "NetworkError" in str(
            records[-1]["exception"]
        )


def test_run_with_polling_failing_logs_json_errors_without_the_token_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    env = run_env(tmp_path)
    assert newsbrief("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    with BotAPIEmulator() as emu:
        emu.fail_next("getUpdates", 500, times=10_000)
        env.update({**bot_api(emu), "NEWSBRIEF_LOG_FORMAT": "json"})
        process = start("run", cwd=tmp_path, env=env, stdout=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if sum(method == "getUpdates" for method, _ in emu.calls) >= 2:
                    break
                assert process.poll() is None, process.communicate()[1][-3000:]
                time.sleep(0.2)
        finally:
            out, err = terminate(process)

    assert process.returncode == 0, err[-3000:]
    secret = emu.token.split(":", 1)[1]
    assert_no_secret(out + err, secret)
    assert out == ""
    records = json_lines(err)
    assert any("newsbrief bot" in str(r["message"]) for r in records)
    failures = [r for r in records if r["level"] == "ERROR" and "exception" in r]
    assert failures, "the failing getUpdates calls were not logged"
    assert "Internal Server Error" in str(failures[0]["exception"])


def test_invalid_settings_error_does_not_echo_a_misplaced_token(tmp_path: Path) -> None:
    env = run_env(tmp_path, NEWSBRIEF_CHANNEL_ID=TOKEN)  # the token pasted in the wrong line
    result = newsbrief("stats", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "invalid settings" in result.stderr and "channel_id" in result.stderr
    assert_no_secret(result.stdout + result.stderr)
