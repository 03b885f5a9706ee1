"""The process-wide Redis clients (redis-py pools reconnect safely after a fork).

``get_redis()`` is the deployment's store: a plain client of ``REDIS_URL``, or, with
``FEED_REDIS_CLUSTER_URLS`` set, redis-py's ``RedisCluster`` (``make cluster``), which routes
each single-key command and splits pipelines by slot itself. Calls that span users are
grouped by node by ``feed.store`` (``by_node``); keys are hash-tagged per user on both
layouts, so the calls are the same. ``layer_redis(channel)`` is the channel layer's Redis
host that channels-redis picks for a channel (``CHANNEL_LAYER_URLS``), where publishers send.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, cast
from urllib.parse import urlsplit

import redis
from channels_redis.utils import _consistent_hash
from django.conf import settings
from redis import asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot

# Timeouts: a Redis that stops answering fails a call in seconds (the caller decides what
# that means) instead of hanging a request or a task forever.
_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 3, "socket_timeout": 10}


def cluster_mode() -> bool:
    return bool(settings.FEED_REDIS_CLUSTER_URLS)


def _nodes(urls: Sequence[str]) -> list[tuple[str, int]]:
    return [(str(urlsplit(url).hostname), int(urlsplit(url).port or 6379)) for url in urls]


@functools.cache
def plain_redis(url: str) -> redis.Redis:
    """One client per Redis server URL."""
    return redis.Redis.from_url(url, health_check_interval=30, **_TIMEOUTS)


@functools.cache
def get_redis() -> redis.Redis:
    """The store's client. A ``RedisCluster`` has the same commands (typed as ``Redis`` so
    callers need not know which)."""
    if cluster_mode():
        nodes = [ClusterNode(host, port) for host, port in _nodes(settings.FEED_REDIS_CLUSTER_URLS)]
        return cast(redis.Redis, RedisCluster(startup_nodes=nodes, **_TIMEOUTS))
    return plain_redis(settings.REDIS_URL)


def user_slot_tag(user_id: int) -> str:
    """The hash tag of every key of one user (``{u:<id>}``): a user's keys share a slot."""
    return f"{{u:{user_id}}}"


def by_node(user_ids: Sequence[int]) -> list[tuple[redis.Redis, list[int]]]:
    """The users' positions grouped by the server that holds their keys, with a client of
    that server: one group on a single Redis; on a cluster, one per master that holds any
    of them (looked up in redis-py's slot table, refreshed by ``refresh_nodes``)."""
    client = get_redis()
    if not isinstance(client, RedisCluster):
        return [(client, list(range(len(user_ids))))]
    manager = client.nodes_manager
    groups: dict[str, tuple[redis.Redis, list[int]]] = {}
    for i, uid in enumerate(user_ids):
        node = manager.get_node_from_slot(key_slot(f"u:{uid}".encode()))
        group = groups.get(node.name)
        if group is None:
            group = groups[node.name] = (client.get_redis_connection(node), [])
        group[1].append(i)
    return list(groups.values())


def refresh_nodes() -> None:
    """Read the cluster's slot table again (after a failover moved a master)."""
    client = get_redis()
    if isinstance(client, RedisCluster):
        client.nodes_manager.initialize()


@functools.cache
def _layer_urls() -> tuple[str, ...]:
    return tuple(settings.CHANNEL_LAYER_URLS)


def layer_redis(channel: str) -> redis.Redis:
    """The channel layer's Redis host for this pub/sub channel, as channels-redis picks it
    (``_consistent_hash`` over ``CHANNEL_LAYER_URLS``). With one host on the store's own
    server this is ``get_redis()`` itself."""
    urls = _layer_urls()
    url = urls[_consistent_hash(channel, len(urls))]
    if url == settings.REDIS_URL and not cluster_mode():
        return get_redis()
    return plain_redis(url)


_async_clients: dict[int, aioredis.Redis] = {}


def forget_clients() -> None:
    """Drop this process's store clients (sync and per event loop), so the next call makes
    them from the settings as they are now (a test or the bench switching the store to
    another Redis; ``asyncio.run``'s loops may reuse an id)."""
    get_redis.cache_clear()
    _async_clients.clear()


def get_async_redis() -> aioredis.Redis:
    """An asyncio client of the store for the running event loop (one per loop, as pools are)."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(id(loop))
    if client is None:
        if cluster_mode():
            nodes = [
                AsyncClusterNode(host, port)
                for host, port in _nodes(settings.FEED_REDIS_CLUSTER_URLS)
            ]
            cluster = AsyncRedisCluster(startup_nodes=nodes, max_connections=64, **_TIMEOUTS)
            client = _async_clients[id(loop)] = cast(aioredis.Redis, cluster)
            return client
        # Blocking pool: past max_connections a call waits for a free connection (up to
        # `timeout`) instead of failing at once ("Too many connections", redis-py's default
        # pool of 100): a thousand sockets handshaking or replaying together must queue, not
        # fail (make bench's push phase).
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.REDIS_URL, max_connections=64, timeout=10, **_TIMEOUTS
        )
        client = _async_clients[id(loop)] = aioredis.Redis(connection_pool=pool)
    return client
