"""Open WebSockets, counted per web process and summed across processes through Redis.

``count_sockets`` wraps the WebSocket side of the ASGI application: a socket counts from
the moment the server accepts its handshake until the application returns (the client
left, or the server closed it). Refused handshakes never count. The consumer itself knows
nothing of this.

Each process writes its own number under its own key with a short expiry, at most a few
times a second however many sockets come and go, and again every few seconds while
nothing changes; a process that dies stops refreshing, and its key (so its sockets)
disappears from the sum within ``TTL_S``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from django.conf import settings

from config.redis import get_async_redis, get_redis

log = logging.getLogger(__name__)

REFRESH_S = 5.0  # rewrite the count this often while nothing changes
COALESCE_S = 0.2  # a burst of connects within this becomes one write
TTL_S = 20

Scope = dict[str, Any]


class _Reporter:
    """This process's count and the task that writes it (one per event loop)."""

    def __init__(self) -> None:
        self.open = 0
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def moved(self, delta: int) -> None:
        self.open += delta
        self.changed.set()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._report_forever())

    async def _report_forever(self) -> None:
        key = process_key()
        while True:
            self.changed.clear()
            try:
                await get_async_redis().set(key, self.open, ex=TTL_S)
            except Exception:  # Redis away: the live path reports it; try again later
                log.warning("could not report the open socket count", exc_info=True)
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=REFRESH_S)
            except TimeoutError:
                continue
            await asyncio.sleep(COALESCE_S)


_reporters: dict[int, _Reporter] = {}


def _reporter() -> _Reporter:
    loop = asyncio.get_running_loop()
    reporter = _reporters.get(id(loop))
    if reporter is None:
        reporter = _reporters[id(loop)] = _Reporter()
    return reporter


def _prefix() -> str:
    # One hash tag for every process: one MGET reads them on a Redis Cluster too.
    return f"{settings.REDIS_PREFIX}:ops:{{ops}}:sockets:"


def process_key() -> str:
    return f"{_prefix()}{socket.gethostname()}:{os.getpid()}"


def count_sockets(app: Any) -> Any:
    """Wrap a WebSocket ASGI application so that its accepted sockets are counted."""

    async def counted(scope: Scope, receive: Any, send: Any) -> Any:
        accepted = False

        async def counting_send(message: dict[str, Any]) -> None:
            nonlocal accepted
            if not accepted and message["type"] == "websocket.accept":
                accepted = True
                _reporter().moved(+1)
            await send(message)

        try:
            return await app(scope, receive, counting_send)
        finally:
            if accepted:
                _reporter().moved(-1)

    return counted


def open_sockets() -> int:
    """Open sockets across every live web process."""
    r = get_redis()
    keys = list(r.scan_iter(match=f"{_prefix()}*", count=1000))
    return sum(int(v) for v in r.mget(keys) if v is not None) if keys else 0
