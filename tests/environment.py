"""Environment of the test run, loaded with ``-p tests.environment`` (see pyproject.toml) so
it is in place before pytest-django imports the settings.

The live stack's processes inherit it too: small fan-out chunks so a test can see a like
split into chunk tasks, and the suite's own Redis key prefix (its keys are deleted at the
start of a run; nothing else in Redis is touched).

Under pytest-xdist (``make test`` runs two workers: README, "Tests") each worker is a suite
of its own: pytest-django gives it a test database of its own (``test_<name>_gw<n>``), and
here it gets a Redis DB number of its own (the given one plus ``n``: its Celery broker, so
one worker's stack never takes the other's tasks) and a key prefix of its own (the channel
layer's pub/sub ignores DB numbers).

``LIKEFEED_TEST_LAYOUT=cluster`` (``make test LAYOUT=cluster``; README, "Tests") runs the
suite against ``make cluster``'s layout instead of the single-node stack: its ports are
picked here and its services' URLs (the Redis Cluster's, the two channel-layer hosts', the
broker's as ``REDIS_URL`` and ``CELERY_BROKER_URL``) put in the environment, so the test
process's own settings use the same servers as the layout's processes; the ports go to
``config.cluster`` in ``LIKEFEED_CLUSTER_LAYOUT``, and ``live_stack`` starts the layout on
them (tests/conftest.py).
"""

import os
import re

TEST_ENV = {
    "REDIS_PREFIX": "lftest",
    "FANOUT_BULK_THRESHOLD": "6",
    "FANOUT_BULK_CHUNK": "4",
    "FANOUT_CHUNK_SIZE": "3",
    "LOG_LEVEL": "WARNING",
    # Accounts named exempt-… are never rate-limited (tests that need volume use them).
    "THROTTLE_EXEMPT_USERS": "exempt-*",
    # The suite signs up, posts and follows from one address far faster than any person:
    # these limits are tested with their own rates (tests/test_hostile_limits.py).
    "THROTTLE_RATE_REGISTER": "100000/hour",
    "THROTTLE_RATE_POST": "100000/min",
    "THROTTLE_RATE_FOLLOW": "100000/min",
    "LIKE_MAIL_DEBOUNCE_S": "3",  # a burst of likes within 3 s becomes one mail
}

REDIS_DATABASES = 16  # Redis' default `databases`
LAYOUT = "LIKEFEED_TEST_LAYOUT"
LAYOUTS = ("single", "cluster")


def redis_url_for_worker(url: str, worker: int) -> str:
    """``url`` moved ``worker`` Redis DB numbers up (``redis://host:port/N``; none is 0)."""
    match = re.fullmatch(r"(rediss?://[^/?#]*)(?:/(\d*))?(\?.*)?", url)
    if match is None:
        raise ValueError(f"cannot give each test worker a Redis DB of its own in {url!r}")
    base, number, query = match.groups()
    moved = int(number or 0) + worker
    if moved >= REDIS_DATABASES:
        raise ValueError(
            f"test worker {worker} would use Redis DB {moved} (of {url!r}): pick a lower DB "
            "number in REDIS_URL, or fewer workers (make test XDIST=...)"
        )
    return f"{base}/{moved}{query or ''}"


def isolate_worker(environ: "os._Environ[str] | dict[str, str]", worker_id: str) -> None:
    """Give the xdist worker ``gw<n>`` its own Redis DB and key prefix (see the docstring)."""
    worker = int(worker_id.removeprefix("gw"))
    environ["REDIS_PREFIX"] = f"{environ['REDIS_PREFIX']}-{worker_id}"
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        url = environ.get(name, "")
        if url.startswith(("redis://", "rediss://")):
            environ[name] = redis_url_for_worker(url, worker)
        elif url and worker:
            raise ValueError(f"{name}={url!r}: run this broker's suite in one worker (-n 0)")


def cluster_mode(environ: "os._Environ[str] | dict[str, str]") -> bool:
    """Whether the suite runs against ``make cluster``'s layout (``LAYOUT``)."""
    layout = environ.get(LAYOUT) or "single"
    if layout not in LAYOUTS:
        raise ValueError(f"{LAYOUT}={layout!r}: one of {', '.join(LAYOUTS)}")
    return layout == "cluster"


def choose_cluster_layout(environ: "os._Environ[str] | dict[str, str]") -> None:
    """Pick the cluster layout's ports; its services' URLs and the ports into ``environ``."""
    # The config package loads its Celery app, which makes the local settings the default
    # where DJANGO_SETTINGS_MODULE is unset; pytest-django must still read pyproject.toml's.
    settings_module = environ.get("DJANGO_SETTINGS_MODULE")
    from config.cluster import LAYOUT_VARIABLE, Layout

    if settings_module is None:
        environ.pop("DJANGO_SETTINGS_MODULE", None)
    layout = Layout()
    environ.update(layout.environment())
    environ[LAYOUT_VARIABLE] = layout.to_json()


for name, value in TEST_ENV.items():
    os.environ.setdefault(name, value)

if os.environ.get("PYTEST_XDIST_WORKER"):
    isolate_worker(os.environ, os.environ["PYTEST_XDIST_WORKER"])

if cluster_mode(os.environ):
    choose_cluster_layout(os.environ)
