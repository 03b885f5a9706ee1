"""Chaos scenarios: sizes (``CHAOS_SCALE``: small in ``make test``, full in ``make chaos``)
and the table every scenario adds a row to, printed at the end of the run.

A scenario's rows travel in its test report (``user_properties``), so the table is printed
whichever process ran the scenario: pytest-xdist's workers send their reports to the
process that prints the summary (tests/conftest.py, the one conftest that process loads)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from .harness import Audit, OwnRedis

AUDIT_PROPERTY = "chaos_audit"  # tests/conftest.py gathers them and prints the table


@dataclass(frozen=True)
class Scale:
    name: str
    kill_likers: int  # kill -9: likers x posts likes, at kill_rate per second
    kill_posts: int
    kill_rate: float
    pool_likers: int  # kill -9 of pool children: likers x posts likes, at pool_rate per second
    pool_posts: int
    pool_rate: float
    redis_likers: int
    redis_posts: int
    redis_rate: float
    pg_likers: int
    pg_posts: int
    pg_rate: float
    outage_s: float  # how long Redis stays down
    pg_outage_s: float  # how long PostgreSQL stays down (longer than DB_POOL_TIMEOUT, 5 s)
    settle_s: float  # how long recovery may take before what is undone is counted
    kill_writes: int  # kill -9: posts written by each liker, mixed in among the likes
    # tests/cluster's fault scenarios: each sends likers x posts likes at cluster_rate per
    # second, every liker followed by the same cluster_fans (each with a socket open).
    cluster_likers: int = 4
    cluster_posts: int = 40
    cluster_rate: float = 30
    cluster_fans: int = 6


SCALES = {
    # `make test`: a few hundred likes per scenario, well under a minute each.
    "small": Scale("small", 4, 40, 80, 4, 40, 80, 4, 40, 40, 4, 30, 30, 3, 7, 120, 5),
    # `make chaos`: the issues' figures (10,000 likes and 500 posts through kill -9s; 3,000
    # likes at 150/s through pool-process kills, issue 19; 10 s outages).
    "full": Scale(
        "full",
        20,
        500,
        250,
        6,
        500,
        150,
        20,
        150,
        100,
        10,
        100,
        50,
        10,
        10,
        900,
        25,
        cluster_likers=20,
        cluster_posts=150,
        cluster_rate=100,
    ),
}


@pytest.fixture(scope="session")
def scale() -> Scale:
    return SCALES[os.environ.get("CHAOS_SCALE", "small")]


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Iterator[list[Audit]]:
    """Scenarios append their audit here; the table is printed after the run."""
    mine: list[Audit] = []
    yield mine
    request.node.user_properties.extend((AUDIT_PROPERTY, asdict(audit)) for audit in mine)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
