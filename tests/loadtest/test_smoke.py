"""``make loadtest`` and ``make bench`` at toy sizes, so they cannot rot. No timing is
asserted: only that they run end to end, write what they promise, and that the load
test's correctness check passes.

Each runs as a real command, as a person would run it, with its own database on the
suite's PostgreSQL and its own embedded Redis (REDIS_URL unset for it): its Celery workers
must never share queues with the suite's live stack.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.conftest import ROOT
from tests.environment import TEST_ENV


@pytest.fixture
def isolated_env(tmp_path: Path) -> Iterator[Callable[..., dict[str, str]]]:
    """The environment of a command run as a person would: the suite's PostgreSQL, an
    embedded Redis of its own (REDIS_URL unset), none of the suite's own settings."""
    var = ROOT / "var" / f"smoke-{os.getpid()}-{tmp_path.name}"  # embedded Redis' data

    def make(**extra: str) -> dict[str, str]:
        dropped = {"REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", *TEST_ENV}
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        return {**env, "LIKEFEED_VAR": str(var), "LOG_LEVEL": "WARNING", **extra}

    yield make
    shutil.rmtree(var, ignore_errors=True)


def fresh_database(purpose: str) -> str:
    """The name of a database of this suite's own for the command, dropped first so the
    command creates and migrates it from nothing: named after the suite's database, so two
    suites on one server (CI and a developer's run) never share it, and never one left
    behind by a run of other code (other migrations)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    name = f"{parts.path.lstrip('/') or 'likefeed'}_{purpose}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return name


@pytest.mark.timeout(400)
def test_make_bench_at_toy_size_writes_every_figure(tmp_path, isolated_env):
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "0.01", "--rounds", "1", "--duration", "1",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=380,
        env=isolated_env(BENCH_DATABASE=fresh_database("bench_smoke")),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    for key in (
        "like_rps", "textbook_like_rps", "bare_json_rps", "like_p99_ms_at_80pct",
        "fanout_entries_per_s", "redis_zadd_p32_per_s", "celebrity_followers",
        "celebrity_all_feeds_s", "push_p50_ms", "push_p99_ms", "push_likes_per_s",
        "push_sockets", "sockets_per_process", "bytes_per_socket", "pgbench_like_tps",
        "push_knee_likes_per_s", "push_knee_textbook_likes_per_s", "push_knee_vs_textbook",
        "ws_cpu_us_per_msg", "bare_ws_cpu_us_per_msg", "ws_cpu_per_msg_vs_bare",
    ):  # fmt: skip
        assert isinstance(results[key], int | float), key
    # Every endpoint of the HTTP rounds, the WSGI server and the like without the fast path.
    for name in (
        "bare_json", "bare_wsgi", "like", "django_like", "cookie_like", "textbook_like", "feed",
        "profile", "profile_posts", "post", "post_likes", "notifications", "post_create",
        "follow",
    ):  # fmt: skip
        assert results[f"{name}_rps"] > 0, name
        assert results[f"{name}_p99_ms"] > 0, name
    assert results["bare_vs_wsgi"] > 0 and results["like_fast_vs_django"] > 0
    assert results["like_vs_pgbench"] > 0  # the like endpoint over its statement's pgbench
    assert results["http_errors"] == 0  # every request of every endpoint answered 2xx
    assert results["celebrity_feeds_holding"] == results["celebrity_followers"]
    # Every follower with a record of a read a minute ago: every feed is written too.
    assert isinstance(results["celebrity_seen_feeds_s"], float)
    assert results["celebrity_seen_feeds_holding"] == results["celebrity_followers"]
    # Mastodon's rule: with a tenth of the followers active, only their feeds hold it.
    assert isinstance(results["celebrity_active_feeds_s"], float)
    assert results["celebrity_active_feeds_holding"] == results["celebrity_active_followers"]
    assert 0 < results["celebrity_active_followers"] < results["celebrity_followers"]
    assert results["push_received"] == results["push_expected"] > 0
    # The push knee's figures: CPU is spent on both sides (the bare server's, at least a tick).
    assert results["ws_cpu_per_msg_vs_bare"] > 0 and results["bare_ws_cpu_us_per_msg"] > 0
    assert "| like / textbook like view (req/s) |" in run.stdout
    assert "| bare view: project's server / WSGI server (req/s) |" in run.stdout
    assert "| GET /api/feed/ |" in run.stdout
    assert "| like endpoint / pgbench running the like's statement | " in run.stdout
    for label in ("push knee / textbook push's knee", "push knee: likes/s at p99 ≤ 100 ms",
                  "web CPU per socket message / bare websockets"):  # fmt: skip
        assert f"| {label}" in run.stdout, label
    assert "like fast path / the same token like through Django's view" in run.stdout


@pytest.mark.timeout(400)
def test_make_loadtest_at_toy_size_reports_and_passes_its_check(tmp_path, isolated_env):
    out = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "loadtest", "--users", "300", "--posts", "300", "--follows", "8",
         "--likers", "3", "--sockets", "5", "--rate", "15", "--duration", "6",
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=380,
        env=isolated_env(LOADTEST_DATABASE=fresh_database("loadtest_smoke")),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for name in ("report.html", "locust_stats.csv", "throughput.png", "latency.png", "check.txt"):
        assert (out / name).exists(), name
    check = (out / "check.txt").read_text()
    assert "FAILED" not in check and check.count(": ok") == 4, check


@pytest.mark.timeout(600)
def test_make_bench_cluster_at_toy_size_writes_the_cluster_figures_and_keeps_the_others(
    tmp_path, isolated_env
):
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"like_rps": 1234.0, "cluster_stale": 1}))
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--cluster", "--scale", "0.01", "--rounds", "1",
         "--duration", "1", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=580,
        env=isolated_env(BENCH_DATABASE=fresh_database("bench_cluster_smoke")),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["like_rps"] == 1234.0 and "cluster_stale" not in results  # others kept
    for target in ("single", "lb", "web1", "web2"):
        for endpoint in ("like", "feed"):
            assert results[f"cluster_http_{target}_{endpoint}_rps"] > 0, (target, endpoint)
            assert results[f"cluster_http_{target}_{endpoint}_p99_ms"] > 0, (target, endpoint)
    assert results["cluster_http_errors"] == 0  # every request through HAProxy and direct 2xx
    assert results["cluster_haproxy_cpu_us_per_req"] >= 0
    for key in ("cluster_fanout_single_entries_per_s", "cluster_fanout_entries_per_s",
                "cluster_fanout_chunk_wait_ms", "cluster_fanout_chunk_nowait_ms",
                "cluster_fanout_wait_vs_nowait",
                "cluster_lb_vs_web_like", "cluster_lb_vs_single_like"):  # fmt: skip
        assert results[key] > 0, key
    # Three masters, the followers spread over all of them, every one counted once.
    masters = results["cluster_fanout_masters"]
    assert len(masters) == 3 and all(m["entries"] > 0 for m in masters)
    assert sum(m["entries"] for m in masters) == results["cluster_fanout_followers"]
    for name in ("single", "cluster"):  # every item delivered on both stacks
        assert results[f"cluster_push_{name}_received"] == results[f"cluster_push_{name}_expected"]
        assert results[f"cluster_push_{name}_expected"] > 0
        assert results[f"cluster_push_{name}_p99_ms"] > 0
    assert "| like, HAProxy over 2 web processes (req/s) |" in run.stdout
    assert "| WAIT 1: writer's rate with / without |" in run.stdout
