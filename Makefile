# newsbrief: the two commands that matter are `make run` and `make test`.
# Both create .venv and install the project (with dev tools) on a fresh machine first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint pytest i18n bench bench-ingest bench-extract bench-summaries bench-stages bench-cluster bench-broadcast bench-search bench-workers bench-fuzz clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: no NEWSBRIEF_BOT_TOKEN → offline demo on SQLite; with a token → the bot.
run: $(STAMP)
	$(BIN)/newsbrief db upgrade
	$(BIN)/newsbrief run

## make test: lint, types, then the whole test suite (PostgreSQL too when
## NEWSBRIEF_TEST_POSTGRES_URL is set, as .ci/run does).
test: $(STAMP) lint pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bot storage

# Three workers on two cores: the bot and fetch tests mostly wait on sockets and pacing.
PYTEST_WORKERS ?= 3
pytest: $(STAMP)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

## make i18n: collect the bot's messages into the template and merge them into each catalogue
## (translators then fill the new entries in bot/chat/locales/<lang>/LC_MESSAGES/newsbrief.po).
LANGUAGES ?= fr de es ru
LOCALES := bot/chat/locales
i18n: $(STAMP)
	$(BIN)/pybabel extract --no-location --sort-output --omit-header -k t:2 -k tn:2,3 -k N_ \
		-o $(LOCALES)/newsbrief.pot bot
	for lang in $(LANGUAGES); do \
		if [ -f $(LOCALES)/$$lang/LC_MESSAGES/newsbrief.po ]; then \
			$(BIN)/pybabel update --no-fuzzy-matching -D newsbrief -i $(LOCALES)/newsbrief.pot -d $(LOCALES) -l $$lang; \
		else \
			$(BIN)/pybabel init -D newsbrief -i $(LOCALES)/newsbrief.pot -d $(LOCALES) -l $$lang; \
		fi; \
	done

bench: bench-ingest bench-extract bench-summaries bench-stages bench-cluster bench-broadcast bench-search bench-workers

bench-ingest: $(STAMP)
	$(BIN)/python -m bench.ingest

bench-extract: $(STAMP)
	$(BIN)/python -m bench.extract

bench-summaries: $(STAMP)
	$(BIN)/python -m bench.summaries

bench-stages: $(STAMP)
	$(BIN)/python -m bench.stages

bench-cluster: $(STAMP)
	$(BIN)/python -m bench.cluster

bench-broadcast: $(STAMP)
	$(BIN)/python -m bench.broadcast

## 100k and 1M articles, SQLite and PostgreSQL (builds are cached in data/bench and on the server).
BENCH_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/test
bench-search: $(STAMP)
	$(BIN)/python -m bench.search --database-url $(BENCH_POSTGRES_URL)

## 1, 2 and 4 `newsbrief worker` processes on throw-away databases of that PostgreSQL server.
bench-workers: $(STAMP)
	$(BIN)/python -m bench.workers --database-url $(BENCH_POSTGRES_URL)

## Mutated corpus feeds through the parse worker's whole path; summary in docs/reliability.md.
FUZZ_EXAMPLES ?= 3000
bench-fuzz: $(STAMP)
	$(BIN)/python -m bench.fuzz --examples $(FUZZ_EXAMPLES)

clean:
	rm -rf $(VENV) data/demo .pytest_cache .mypy_cache .ruff_cache
