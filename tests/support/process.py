"""Running the real `newsbrief` console script from tests: one-shot commands, and long-running
processes (`newsbrief run`, `newsbrief worker`) started, waited on and stopped.

Every environment starts from this process's own without any NEWSBRIEF_* variable, so a
developer's settings never leak into a test; the test then says exactly what it sets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from tests.support.botapi import BotAPIEmulator

NEWSBRIEF = Path(sys.executable).with_name("newsbrief")


def environment(*settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment less its NEWSBRIEF_* variables, then each of ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBRIEF_")}
    for values in settings:
        env.update(values)
    return env


def bot_api(emu: BotAPIEmulator) -> dict[str, str]:
    """The settings that point a bot at the local Bot API emulator."""
    return {"NEWSBRIEF_BOT_TOKEN": emu.token, "NEWSBRIEF_BOT_API_URL": emu.base_url}


def newsbrief(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``newsbrief ARGS`` to the end. Parsing in threads (no process pool to start) and a
    fixed terminal width unless ``env`` says otherwise."""
    return subprocess.run(
        [str(NEWSBRIEF), *args],
        cwd=cwd,
        env=environment({"NEWSBRIEF_PARSE_WORKERS": "0", "COLUMNS": "120"}, env or {}),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(
    *args: str,
    cwd: Path,
    env: Mapping[str, str],
    stdout: int | IO[Any] = subprocess.DEVNULL,
    stderr: int | IO[Any] = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start ``newsbrief ARGS`` in the background with exactly ``env`` (see ``environment``).

    Its stderr is a pipe unless a file is given: a process that logs much should log to a file,
    since nobody reads the pipe until the process has stopped and a full pipe blocks it."""
    return subprocess.Popen(
        [str(NEWSBRIEF), *args],
        cwd=cwd,
        env=dict(env),
        stdout=stdout,
        stderr=stderr,
        text=True,
    )


def wait(
    condition: Callable[[], object],
    process: subprocess.Popen[str],
    timeout: float = 90.0,
    what: str = "the condition holds",
) -> None:
    """Poll ``condition`` until it holds; fail at once, with its stderr, if the process exits
    meanwhile (rather than waiting out the deadline), and fail at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            err = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"newsbrief exited: {err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def terminate(process: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    """SIGTERM, as a service manager stops the bot; then all it wrote: (stdout, stderr)."""
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=timeout)
    return out or "", err or ""


def stop(
    process: subprocess.Popen[str], sig: signal.Signals, timeout: float = 120
) -> tuple[float, str]:
    """Send ``sig``; the seconds until the process exited, and its stderr."""
    sent = time.monotonic()
    process.send_signal(sig)
    process.wait(timeout=timeout)
    took = time.monotonic() - sent
    # Read what it wrote without waiting for EOF (as communicate would): after SIGKILL,
    # children that outlived it would hold the pipe open (left_behind checks that there are none).
    err = ""
    if process.stderr is not None:
        os.set_blocking(process.stderr.fileno(), False)
        err = process.stderr.read() or ""
    return took, err


def left_behind(workdir: Path) -> list[int]:
    """Processes still running in ``workdir``: a stopped bot's children, if any outlived it."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "cwd").resolve() == workdir.resolve():
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return found
