# newsbrief: one image for the Telegram bot (`newsbrief run`) and the fetch workers
# (`newsbrief worker`). compose.yaml runs it with PostgreSQL; see docs/operations.md, "Docker".
#
# It installs exactly what `make` installs on a developer's machine, by running the Makefile's
# own install target with the virtualenv at /opt/venv: one command, so the two cannot drift
# (tests/test_docker.py checks it). That includes the dev tools, as `make` does.
#
# Alone, on SQLite in a volume (compose.yaml is the usual way):
#   docker build -t newsbrief .
#   docker run --rm -v newsbrief-data:/app/data --env-file .env newsbrief db upgrade
#   docker run -d --name newsbrief -v newsbrief-data:/app/data --env-file .env newsbrief
FROM python:3.11-slim

# make runs the install target; nothing else is needed (every dependency ships a wheel).
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /app
# Only what the install needs; .dockerignore keeps everything else out of the build context
# (.env and its token, .venv, data/, .git, caches). The project is installed editable, as
# `make` installs it, so these sources stay in /app.
COPY Makefile pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
RUN make install VENV=/opt/venv \
    && python -m compileall -q bot storage

# An unprivileged user that owns only the data directory (the SQLite default lives there).
RUN useradd --system --uid 10001 --no-create-home --home-dir /app \
        --shell /usr/sbin/nologin newsbrief \
    && mkdir -p /app/data \
    && chown newsbrief:newsbrief /app/data
USER newsbrief
VOLUME ["/app/data"]

# GET /metrics and /healthz (bot/observe) on this port inside the container. The address stays
# 127.0.0.1 (enough for the health check below); compose.yaml sets 0.0.0.0 so Prometheus can
# scrape it over the container network. Never publish it to the internet: /healthz names feeds.
ENV NEWSBRIEF_METRICS_PORT=9108
EXPOSE 9108

# The container is healthy while /healthz answers 200 (urlopen raises on 503 or no answer).
# Python, not curl: the slim image has no curl, and this reads the port from the environment.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:' + os.environ['NEWSBRIEF_METRICS_PORT'] + '/healthz', timeout=8)"]

# `newsbrief run` (the bot; it refuses a database whose schema is not current, so run
# `db upgrade` first: compose.yaml's `migrate` service does). Any other command works too:
# `docker run … newsbrief worker`, `… newsbrief feeds add URL`, `… newsbrief stats --json`.
ENTRYPOINT ["newsbrief"]
CMD ["run"]
