"""The layout of ``make cluster`` (``python -m config.cluster``), started once for the whole
of tests/cluster: its API tests (test_cluster.py) run first, then the fault scenarios
(test_faults.py), which kill its nodes and start them again. The chaos scenarios' sizes and
table (``scale``, ``record``) are tests/chaos' own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from config.cluster import LAYOUT_VARIABLE, ClusterDidNotStart, started
from tests.chaos.conftest import record, scale
from tests.chaos.harness import EXEMPT
from tests.conftest import _database_url

__all__ = ["cluster", "record", "scale"]

UP_WITHIN_S = 90  # make cluster on a fresh database: healthy after 48 s here (2 busy cores)


def _recreate(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``make cluster`` on a database of its own, its files under a temporary folder;
    yields ``var/run/cluster.json`` (plus its key ``prefix``, ``database`` URL and ``var``
    folder), and stops it all (SIGTERM, as Ctrl-C) after. The chaos accounts are exempt from
    the rate limit and the sweeper acts within seconds, as on the chaos stacks
    (``tests.chaos.harness.stack_env``)."""
    var = tmp_path_factory.mktemp("cluster-var")
    base = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
    database = _database_url(f"{base}_layout")
    _recreate(database)
    print(f"make cluster's output: {var / 'make-cluster.out'}")
    env = {
        **os.environ, "DATABASE_URL": database, "REDIS_PREFIX": f"lfc{uuid.uuid4().hex[:6]}",
        "WS_HEARTBEAT_S": "1",
        "LIKEFEED_NODE_SUFFIX": f"-c{uuid.uuid4().hex[:6]}",
        "LIKEFEED_WORKER_FLAGS": "--without-heartbeat --without-gossip --without-mingle",
        "THROTTLE_EXEMPT_USERS": f"{EXEMPT}*", "FANOUT_OWED_AFTER_S": "5",
        "FANOUT_SWEEP_EVERY_S": "2", "FEED_MAX_ITEMS": "100000",
        "FEED_EVENT_LOG_LENGTH": "100000",
    }  # fmt: skip
    # Its own ports and servers, also when the suite's live stack is a layout (LAYOUT_VARIABLE).
    for name in ("FEED_REDIS_CLUSTER_URLS", "CHANNEL_LAYER_URLS", "CELERY_BROKER_URL",
                 LAYOUT_VARIABLE):  # fmt: skip
        env.pop(name, None)
    try:
        with started(env, var, within_s=UP_WITHIN_S) as layout:
            yield {**layout, "prefix": env["REDIS_PREFIX"], "database": database, "var": str(var)}
    except ClusterDidNotStart as failed:
        pytest.fail(str(failed))
