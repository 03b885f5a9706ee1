# Likefeed: `make run` starts everything, `make test` tests everything.
# Where DATABASE_URL / REDIS_URL are unset, both use an embedded PostgreSQL and Redis (var/).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The project, its embedded servers and the dev tools; each optional group (pyproject.toml)
# has its own stamp: bench (locust, plots, ...: make bench, make loadtest), lessons (plots).
STAMP := $(VENV)/.installed
BENCH := $(VENV)/.installed-bench
LESSONS := $(VENV)/.installed-lessons
REQUIREMENTS := compose/runtime_requirements.py
# pip install these requirements ($(1): runtime_requirements.py's arguments) at the exact
# versions of requirements.lock.
pip_install = $(PY) $(REQUIREMENTS) $(1) > $@.txt && \
	$(PY) -m pip install --quiet --disable-pip-version-check -r $@.txt -c requirements.lock

.PHONY: run cluster test chaos lint fmt typecheck check clean loadtest bench install system-packages

$(STAMP): requirements.lock pyproject.toml $(REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(call pip_install,--embedded --group dev)
	touch $@

$(VENV)/.installed-%: $(STAMP)
	$(call pip_install,--embedded --group $*)
	touch $@

install: $(STAMP)

run: $(STAMP)
	$(PY) -m config.run

# The layout past one machine, on this one: a load balancer, two web processes, a Redis
# Cluster (3 masters + 3 replicas), a sharded channel layer, a broker of its own, two worker
# groups (config/cluster.py). Prints the load balancer's URL; var/run/cluster.json names
# every node with its pid.
cluster: $(STAMP)
	$(PY) -m config.cluster

# The Debian packages the suite drives, installed with apt-get where missing: Chromium (the
# browser tests, through Playwright), HAProxy (make cluster's load balancer, tests/cluster)
# and Compose (validates docker-compose.yml; no engine
# needed). A command already on PATH (or Compose v2's `docker compose`) is left alone.
APT_GET ?= apt-get
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || missing="$$missing haproxy"; \
	command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 \
		|| missing="$$missing docker-compose"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "likefeed: installing the Debian packages the tests need:$$missing (apt-get)"; \
	sudo=""; if [ "$$(id -u)" != 0 ]; then sudo="sudo"; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "likefeed: no apt-get here; install$$missing yourself, then run make test again" >&2; \
		exit 1; \
	fi; \
	$$sudo $(APT_GET) update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo $(APT_GET) install -y -qq$$missing

# The whole suite, on a fresh machine too: every Python group (it runs make bench, make
# loadtest and make lessons at toy size) and the Debian packages above. README, "Tests".
# Three pytest-xdist workers, each a suite of its own (tests/environment.py: its own test
# database, Redis DB and key prefix, so its own live stack); a test file runs whole on one
# worker, and the tests that start stacks of their own one after another (tests/conftest.py:
# OWN_STACKS, as xdist groups). Three, on two cores: the suite mostly waits on processes
# (README, "Tests": 548 s against 663 s with two). XDIST= runs one process.
# LAYOUT=cluster: the API tests (API_TESTS, or TESTS=...) against make cluster's layout as the
# live stack, in one process (tests/environment.py; README, "Tests").
LAYOUT ?= single
API_TESTS = tests/social/test_auth_api.py tests/social/test_lists_api.py \
	tests/social/test_social_api.py tests/social/test_tokens.py tests/likes/test_like_api.py \
	tests/likes/test_like_edges.py tests/notifications/test_api_live.py tests/feed/test_live.py \
	tests/test_schema_conformance.py tests/feed/test_fanout.py tests/feed/test_returning_reader.py \
	tests/notifications/test_mail_live.py tests/test_state_machine.py tests/test_hostile_sockets.py
ifeq ($(LAYOUT),cluster)
XDIST ?=
TESTS ?= $(API_TESTS)
endif
XDIST ?= -n 3 --dist loadgroup
test: $(STAMP) $(BENCH) $(LESSONS) system-packages
	LIKEFEED_TEST_LAYOUT=$(LAYOUT) $(PY) -m config.services $(PY) -m pytest $(XDIST) $(TESTS) $(PYTEST_ARGS)

# Crashes and outages at full size (10,000 likes through kill -9s; Redis and PostgreSQL down
# 10 s): prints the table of what was lost (tests/chaos/). `make test` runs them small.
# CLUSTER=1: the faults of make cluster's layout instead (a Redis Cluster master, a web
# process, a worker group killed; a channel-layer shard restarted: tests/cluster/test_faults.py).
CHAOS_TESTS = $(if $(CLUSTER),tests/cluster/test_faults.py,tests/chaos)
chaos: $(STAMP)
	CHAOS_SCALE=full $(PY) -m config.services $(PY) -m pytest $(CHAOS_TESTS) -p no:cacheprovider $(PYTEST_ARGS)

# The Celery lessons, measured on real workers and brokers: docs/lessons/ (QUICK=1: about a minute).
.PHONY: lessons
lessons: $(STAMP) $(LESSONS)
	$(PY) -m config.services $(PY) -m lessons $(if $(QUICK),--quick) $(LESSONS_ARGS)

# Locust against a stack it starts (or URL=http://host:port, a running one); plots and a
# correctness check under loadtest/reports/<timestamp>/. LOADTEST_ARGS="--rate 500 --web"...
loadtest: $(STAMP) $(BENCH)
	$(PY) -m config.services $(PY) -m loadtest $(if $(URL),--url $(URL)) $(LOADTEST_ARGS)

# The figures of DESIGN.md as ratios measured side by side in one run: prints the table and
# writes bench/results.json. BENCH_ARGS="--scale 0.1" for a quick run. CLUSTER=1: make
# cluster's layout beside the single node instead (bench/cluster.py: the cluster_ keys).
bench: $(STAMP) $(BENCH)
	$(PY) -m config.services $(PY) -m bench $(if $(CLUSTER),--cluster) $(BENCH_ARGS)

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
