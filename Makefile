# Likefeed: `make run` starts everything, `make test` tests everything.
# Where DATABASE_URL / REDIS_URL are unset, both use an embedded PostgreSQL and Redis (var/).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test chaos lint fmt typecheck check clean loadtest bench

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m config.run

test: $(STAMP)
	$(PY) -m config.services $(PY) -m pytest $(PYTEST_ARGS)

# Crashes and outages at full size (10,000 likes through kill -9s; Redis and PostgreSQL down
# 10 s): prints the table of what was lost (tests/chaos/). `make test` runs them small.
chaos: $(STAMP)
	CHAOS_SCALE=full $(PY) -m config.services $(PY) -m pytest tests/chaos -p no:cacheprovider $(PYTEST_ARGS)

# The Celery lessons, measured on real workers and brokers: docs/lessons/ (QUICK=1: about a minute).
.PHONY: lessons
lessons: $(STAMP)
	$(PY) -m config.services $(PY) -m lessons $(if $(QUICK),--quick) $(LESSONS_ARGS)

# Locust against a stack it starts (or URL=http://host:port, a running one); plots and a
# correctness check under loadtest/reports/<timestamp>/. LOADTEST_ARGS="--rate 500 --web"...
loadtest: $(STAMP)
	$(PY) -m config.services $(PY) -m loadtest $(if $(URL),--url $(URL)) $(LOADTEST_ARGS)

# The figures of DESIGN.md as ratios measured side by side in one run: prints the table and
# writes bench/results.json. BENCH_ARGS="--scale 0.1" for a quick run.
bench: $(STAMP)
	$(PY) -m config.services $(PY) -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy's Django plugin loads the settings, which want the services' URLs (never contacted).
typecheck: $(STAMP)
	DATABASE_URL=$${DATABASE_URL:-postgresql://localhost/typecheck} \
	REDIS_URL=$${REDIS_URL:-redis://localhost/0} $(VENV)/bin/mypy .

check: lint typecheck

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var/
