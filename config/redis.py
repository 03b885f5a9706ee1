"""The process-wide Redis client (redis-py pools reconnect safely after a fork)."""

from __future__ import annotations

import asyncio
import functools

import redis
from django.conf import settings
from redis import asyncio as aioredis


@functools.cache
def get_redis() -> redis.Redis:
    # Timeouts: a Redis that stops answering fails a call in seconds (the caller decides what
    # that means) instead of hanging a request or a task forever.
    return redis.Redis.from_url(
        settings.REDIS_URL, health_check_interval=30, socket_connect_timeout=3, socket_timeout=10
    )


_async_clients: dict[int, aioredis.Redis] = {}


def get_async_redis() -> aioredis.Redis:
    """An asyncio Redis client for the running event loop (one per loop, as pools are)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(id(loop))
    if client is None:
        # Blocking pool: past max_connections a call waits for a free connection (up to
        # `timeout`) instead of failing at once ("Too many connections", redis-py's default
        # pool of 100): a thousand sockets handshaking or replaying together must queue, not
        # fail (make bench's push phase).
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=64, timeout=10,
            socket_connect_timeout=3, socket_timeout=10,
        )  # fmt: skip
        client = _async_clients[id(loop)] = aioredis.Redis(connection_pool=pool)
    return client
