"""Fan-out write rate against Redis' own ceiling, measured one after the other on the same
Redis server: ``redis-benchmark -P 32 -t zadd`` and the fan-out's writer (``feed.store``:
one Lua call per chunk of followers) writing one item into many feeds."""

from __future__ import annotations

import shutil
import subprocess
import time
from urllib.parse import urlsplit

from django.conf import settings

from config.redis import get_redis
from feed import store


def redis_benchmark_zadd(redis_url: str, requests: int = 1_000_000) -> float:
    """ZADDs per second by ``redis-benchmark -P 32 -t zadd`` (its key: ``myzset``)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise SystemExit(
            "bench: redis-benchmark not found; install Debian's redis-tools "
            "(apt-get install redis-tools)"
        )
    parts = urlsplit(redis_url)
    db = (parts.path or "/0").strip("/") or "0"
    out = subprocess.run(
        [binary, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379),
         "--dbnum", db, "-n", str(requests), "-P", "32", "-t", "zadd", "-q", "--csv"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    get_redis().delete("myzset")
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells and cells[0].upper().startswith("ZADD"):
            return float(cells[1])
    raise RuntimeError(f"no ZADD line in redis-benchmark's output: {out!r}")


def fanout_write_rate(follower_ids: list[int]) -> float:
    """Feed entries per second written by the big fan-out's writer (``store.feeds_add``,
    one Lua call per ``FANOUT_CHUNK_SIZE`` followers), from this process, as a chunk task
    writes them (no one online: entries only)."""
    chunk = settings.FANOUT_CHUNK_SIZE
    item_id = store.post_item_id(post_id=time.time_ns())
    started = time.perf_counter()
    for i in range(0, len(follower_ids), chunk):
        store.feeds_add(
            item_id=item_id, score=time.time() * 1000.0, followers=follower_ids[i : i + chunk]
        )
    elapsed = time.perf_counter() - started
    return len(follower_ids) / elapsed
