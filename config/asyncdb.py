"""An asyncio PostgreSQL pool for the few code paths that run in the event loop itself.

Django's ORM is synchronous: under ASGI every ORM call hops to a worker thread, and the
whole request passes Django's handler and middleware (DESIGN.md: ≈1,800 req/s for a bare
view through the ASGI handler against ≈38,000 for a raw ASGI app). The like hot path
(``likes.asgi``) is one SQL statement, so it talks to PostgreSQL here directly, on
psycopg's ``AsyncConnectionPool``: same server, same credentials as ``DATABASES``.
One pool per event loop (a pool belongs to its loop), opened on first use.
"""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.db import connections
from psycopg_pool import AsyncConnectionPool

_pools: dict[int, AsyncConnectionPool] = {}
POOL_MAX = 8  # connections per event loop (make bench's pgbench runs as many clients)


def _conninfo_kwargs() -> dict[str, object]:
    params = connections["default"].get_connection_params()
    # Django's own cursor class and adapters target its sync connection; plain psycopg here.
    for key in ("cursor_factory", "context"):
        params.pop(key, None)
    return params


async def async_pool(*, max_size: int = POOL_MAX) -> AsyncConnectionPool:
    loop = asyncio.get_running_loop()
    pool = _pools.get(id(loop))
    if pool is None:
        pool = AsyncConnectionPool(
            kwargs={**_conninfo_kwargs(), "autocommit": True},
            min_size=1,
            max_size=max_size,
            # As long as Django's own pool waits for a connection (DB_POOL_TIMEOUT): then the
            # caller answers 503, as the synchronous path does.
            timeout=settings.DATABASES["default"]["OPTIONS"]["pool"]["timeout"],
            open=False,
            name="likefeed-async",
        )
        _pools[id(loop)] = pool
        await pool.open()
    return pool
