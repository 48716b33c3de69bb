"""Dockerfile, .dockerignore and compose.yaml, checked without a Docker daemon.

The image cannot be built here (no daemon, no registry), so these tests check what can drift
silently: the image must install with the Makefile's own install target, copy everything that
install needs (and the build context must let it through), name only real settings and real
commands, and its health check must pass on a healthy /healthz and fail otherwise, run against
the real /healthz server.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.observe.metrics import Metrics
from bot.observe.server import ObserveServer
from bot.settings import Settings
from storage.db import make_engine
from tests.conftest import REPO_ROOT
from tests.support.process import NEWSBRIEF

DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE = REPO_ROOT / "compose.yaml"
NO_YAML = "PyYAML is not installed (add pyyaml to the dev extras to check compose.yaml's shape)"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        result.append((keyword.upper(), " ".join(rest.split())))
        pending = ""
    return result


def makefile_rules(path: Path = REPO_ROOT / "Makefile") -> tuple[dict[str, str], dict[str, Any]]:
    """Variable definitions and rules (target → (prerequisites, recipe lines))."""
    variables: dict[str, str] = {}
    rules: dict[str, Any] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        if line.startswith("\t") and current is not None:
            current.append(line.strip())
            continue
        current = None
        if match := re.match(r"^([A-Z_]+)\s*(\?=|:=|=)\s*(.*)$", line):
            variables[match[1]] = match[3].strip()
        elif match := re.match(r"^([^\s#.:][^:=]*):(?!=)(.*)$", line):
            current = []
            rules[match[1].strip()] = (match[2].split(), current)
    return variables, rules


def healthcheck_code(command: list[str]) -> str:
    """The Python one-liner of a ``["CMD", "python", "-c", code]`` health check."""
    if command and command[0] == "CMD":
        command = command[1:]
    assert command[:2] == ["python", "-c"], command
    return command[2]


def dockerfile_healthcheck() -> str:
    [args] = [args for keyword, args in instructions() if keyword == "HEALTHCHECK"]
    _, _, exec_form = args.partition(" CMD ")
    return healthcheck_code(json.loads(exec_form))


def compose() -> dict[str, Any]:
    yaml = pytest.importorskip("yaml", reason=NO_YAML)
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


# --- the image installs what `make` installs -------------------------------------------------


def test_the_image_installs_with_the_makefiles_own_install_target() -> None:
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    installs = [args for args in runs if "make install" in args]
    assert len(installs) == 1, "the Dockerfile must install with `make install`, once"
    [step] = [s for s in installs[0].split("&&") if "make install" in s]
    make, target, *overrides = shlex.split(step)
    assert (make, target) == ("make", "install")
    assert [o.split("=")[0] for o in overrides] == ["VENV"], "only the venv's place may differ"
    venv = overrides[0].split("=", 1)[1]
    assert not any(re.search(r"\bpip\b.*\binstall\b", args) for args in runs), (
        "a pip install of its own would install something `make` does not"
    )
    env = " ".join(args for keyword, args in instructions() if keyword == "ENV")
    assert f"PATH={venv}/bin:" in env, "the venv's newsbrief must be the one on PATH"

    # The Makefile's install target must honour VENV all the way: venv, pip, stamp.
    variables, rules = makefile_rules()
    assert variables["BIN"] == "$(VENV)/bin" and variables["STAMP"].startswith("$(VENV)/")
    prerequisites, _ = rules["install"]
    assert prerequisites == ["$(STAMP)"]
    _, recipe = rules["$(STAMP)"]
    assert any("-m venv $(VENV)" in line for line in recipe)
    assert any(line.startswith("$(BIN)/pip install") for line in recipe)
    assert not any(".venv" in line for line in recipe), "a hard-coded path ignores VENV"


def test_the_image_copies_what_the_install_needs_and_the_context_lets_it_through() -> None:
    copied: set[str] = set()
    for keyword, args in instructions():
        if keyword == "COPY":
            *sources, _ = shlex.split(args)
            copied.update(s.rstrip("/") for s in sources if not s.startswith("--"))
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    needed = {"Makefile", "pyproject.toml", project["project"]["readme"]}
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {
        path.name
        for path in REPO_ROOT.iterdir()
        if (path / "__init__.py").is_file() and any(path.match(p) for p in includes)
    }
    assert packages >= {"bot", "storage"}
    assert needed | packages <= copied

    ignore = DockerIgnore(REPO_ROOT / ".dockerignore")
    for name in needed:
        assert ignore.included(name), name
    for package in packages:
        for path in (REPO_ROOT / package).rglob("*"):
            relative = path.relative_to(REPO_ROOT).as_posix()
            if path.is_file() and "__pycache__" not in path.parts:
                assert ignore.included(relative), f"{relative} would be missing from the image"
    for secret_or_junk in [
        ".env",
        ".venv/bin/python",
        "data/newsbrief.db",
        ".git/HEAD",
        "bot/__pycache__/cli.cpython-311.pyc",
        "storage/__pycache__/db.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
        "newsbrief.egg-info/PKG-INFO",
        "tests/test_cli.py",
    ]:
        assert not ignore.included(secret_or_junk), f"{secret_or_junk} is sent to the build"


class DockerIgnore:
    """Docker's rules: patterns in order, the last match wins, ``!`` re-includes, and a path
    is matched when it or any of its parent directories matches."""

    def __init__(self, path: Path) -> None:
        lines = [line.strip() for line in path.read_text().splitlines()]
        self.rules = [
            (line.startswith("!"), self._regex(line.lstrip("!").strip("/")))
            for line in lines
            if line and not line.startswith("#")
        ]

    @staticmethod
    def _regex(pattern: str) -> re.Pattern[str]:
        out = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?|\[[^\]]*\])", pattern):
            if token == "**/":
                out += "(?:.*/)?"
            elif token == "**":
                out += ".*"
            elif token == "*":
                out += "[^/]*"
            elif token == "?":
                out += "[^/]"
            elif token.startswith("["):
                out += token
            else:
                out += re.escape(token)
        return re.compile(out + r"\Z")

    def included(self, path: str) -> bool:
        parts = path.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for negated, regex in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not negated
        return not excluded


# --- settings, commands, compose ------------------------------------------------------------


def test_every_newsbrief_variable_in_compose_and_the_dockerfile_is_a_setting() -> None:
    settings = {f"NEWSBRIEF_{name.upper()}" for name in Settings.model_fields}
    for path in (COMPOSE, DOCKERFILE):
        used = set(re.findall(r"\bNEWSBRIEF_[A-Z0-9_]+\b", path.read_text()))
        assert used, path
        assert used - settings == set(), f"{path.name} names variables no setting reads"


def test_compose_runs_postgres_a_one_off_migration_one_bot_and_scalable_workers() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "bot", "worker"}

    postgres = services["postgres"]
    assert postgres["image"] == "postgres:16"
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    db = postgres["environment"]
    database_url = (
        f"postgresql://{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@postgres:5432/"
        f"{db['POSTGRES_DB']}"
    )

    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("migrate", "bot", "worker"):
        service = services[name]
        assert service["build"] == "." and service["env_file"] == ".env"
        assert service["environment"]["NEWSBRIEF_DATABASE_URL"] == database_url
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("bot", "worker"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert services[name]["environment"]["NEWSBRIEF_LOG_FORMAT"] == "json"

    bot, worker = services["bot"], services["worker"]
    assert bot["command"] == ["run", "--no-fetch"]  # the workers fetch
    assert "deploy" not in bot and "scale" not in bot  # one token, one bot
    assert any(v.endswith(":/app/data") for v in bot["volumes"])
    assert worker["command"] == ["worker"]
    assert "ports" not in worker and "container_name" not in worker  # so --scale works
    assert worker["environment"]["NEWSBRIEF_BOT_TOKEN"] == ""  # .env's token overridden
    assert services["migrate"]["environment"]["NEWSBRIEF_BOT_TOKEN"] == ""

    # The commands and the flag exist in this newsbrief.
    for command in (["run"], ["worker"], ["db", "upgrade"]):
        result = subprocess.run(
            [str(NEWSBRIEF), *command, "--help"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        if command == ["run"]:
            assert "--no-fetch" in result.stdout


def test_bot_and_worker_health_checks_are_the_images_and_read_the_metrics_port() -> None:
    services = compose()["services"]
    code = dockerfile_healthcheck()
    assert "/healthz" in code and "NEWSBRIEF_METRICS_PORT" in code
    for name in ("bot", "worker"):
        service = services[name]
        assert healthcheck_code(service["healthcheck"]["test"]) == code
        environment = service["environment"]
        assert int(environment["NEWSBRIEF_METRICS_PORT"]) > 0
        # 127.0.0.1 in the check reaches a server bound to either address.
        assert environment["NEWSBRIEF_METRICS_HOST"] in {"0.0.0.0", "127.0.0.1"}
    image_env = " ".join(args for keyword, args in instructions() if keyword == "ENV")
    assert re.search(r"NEWSBRIEF_METRICS_PORT=\d+", image_env), "the image's check needs a port"


def run_check(code: str, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={"NEWSBRIEF_METRICS_PORT": str(port), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_health_check_passes_on_a_healthy_healthz_and_fails_on_503_or_silence(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    code = dockerfile_healthcheck()
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    with ObserveServer(settings, engine, Metrics(), role="worker", fetching=False, port=0) as ok:
        port = ok.port
        healthy = run_check(code, port)
    assert healthy.returncode == 0, healthy.stderr
    assert run_check(code, port).returncode != 0  # stopped: nothing listens any more

    broken = make_engine(f"sqlite:///{tmp_path}")  # a directory: the database cannot be read
    try:
        with ObserveServer(settings, broken, Metrics(), role="worker", port=0) as sick:
            unhealthy = run_check(code, sick.port)
    finally:
        broken.dispose()
    assert unhealthy.returncode != 0 and "503" in unhealthy.stderr


def docker_compose() -> list[str] | None:
    """The Compose v2 CLI, as the docker plugin or the standalone binary, if installed."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0 and probe.stdout.strip().lstrip("v").startswith("2"):
            return command
    return None


def test_docker_compose_accepts_compose_yaml(tmp_path: Path) -> None:
    command = docker_compose()
    if command is None:
        pytest.skip("Docker Compose v2 is not installed (`docker compose` needs no daemon)")
    for name in ("compose.yaml", "Dockerfile", ".dockerignore"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / ".env").write_text("NEWSBRIEF_BOT_TOKEN=\n")  # compose requires the env_file
    result = subprocess.run(
        [*command, "-f", str(tmp_path / "compose.yaml"), "config", "--quiet"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
