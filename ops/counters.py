"""Running totals of work done, kept in Redis: every worker adds to the same number and
every web process reads the same number (a per-process counter would need Prometheus'
multi-process mode and would say nothing on the ops page).

A leaf module: it imports nothing of the project but the Redis client, so any stage of the
pipeline may count here without an import cycle. Rates are computed by the reader
(``ops.snapshot``, or Prometheus' ``rate()`` over ``/metrics``).
"""

from __future__ import annotations

from django.conf import settings

from config.redis import get_redis

FANOUT_ENTRIES = "fanout_entries"  # feed entries written by fan-outs (a re-run adds none)


def _key(name: str) -> str:
    # One hash tag for every counter: one MGET reads them on a Redis Cluster too.
    return f"{settings.REDIS_PREFIX}:ops:{{ops}}:count:{name}"


def count(name: str, n: int = 1) -> None:
    if n:
        get_redis().incrby(_key(name), n)


def totals(*names: str) -> dict[str, int]:
    values = get_redis().mget([_key(name) for name in names])
    return {name: int(value or 0) for name, value in zip(names, values, strict=True)}
