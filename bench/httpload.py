"""A small HTTP/1.1 load generator on asyncio (uvloop): closed-loop and open-loop.

Why not Locust here: ``make bench`` compares endpoints whose cost per request is a few
hundred µs on a 2-core machine that also runs the generator, so the generator's own cost
per request must be small (a few µs of Python per request here, against ~100 µs for a
Locust user) or it flattens every ratio. ``make loadtest`` uses Locust; this module only
serves ``make bench``.

- ``closed_loop``: ``connections`` keep-alive connections, each sending its next request
  as soon as the answer to the previous one arrived: the peak throughput.
- ``open_loop``: requests are due at a constant ``rate`` whatever the server does (as
  wrk2 does); a request that waits for a free connection counts its wait, so slow answers
  are not hidden by a generator that slows down with the server (coordinated omission).

Requests come from ``make_request(k)`` (k = 0, 1, 2 ... across the run), ready-made bytes,
so a benchmark can give every like a fresh (user, post) pair.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

MakeRequest = Callable[[int], bytes]


def http_request(
    method: str, path: str, *, host: str, headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> bytes:  # fmt: skip
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request in flight, answers parsed just enough to
    find their end (Content-Length or chunked) and status."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        if start >= 0:
            stop = head.find(b"\r\n", start + 2)
            length = int(head[start + 17 : stop if stop > 0 else None])
            total = end + 4 + length
        elif b"transfer-encoding: chunked" in head:
            last = self.buffer.find(b"\r\n0\r\n\r\n", end)
            if last < 0:
                return
            total = last + 7
        else:
            total = end + 4
        if len(self.buffer) < total:
            return
        del self.buffer[:total]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(int(head[9:12]))

    async def request(self, payload: bytes) -> int:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter


async def _connect(host: str, port: int) -> _Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(_Connection, host, port)
    return protocol


def _count(result: LoadResult, status: int) -> None:
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if 200 <= status < 300:
        result.ok += 1
    else:
        result.errors += 1


async def closed_loop(
    host: str, port: int, make_request: MakeRequest, *, connections: int, duration_s: float,
    first: int = 0,
) -> LoadResult:  # fmt: skip
    """As many requests as ``connections`` connections can carry for ``duration_s``."""
    result = LoadResult()
    counter = iter(range(first, first + 10**9))
    conns = [await _connect(host, port) for _ in range(connections)]
    deadline = time.perf_counter() + duration_s

    async def drive(conn: _Connection) -> None:
        while time.perf_counter() < deadline and not conn.lost:
            payload = make_request(next(counter))
            started = time.perf_counter()
            result.sent += 1
            try:
                status = await conn.request(payload)
            except ConnectionError:
                result.errors += 1
                return
            result.latencies_ms.append((time.perf_counter() - started) * 1000.0)
            _count(result, status)

    started = time.perf_counter()
    await asyncio.gather(*(drive(c) for c in conns))
    result.elapsed_s = time.perf_counter() - started
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    return result


async def open_loop(
    host: str, port: int, make_request: MakeRequest, *, rate: float, duration_s: float,
    max_connections: int = 256, first: int = 0,
) -> LoadResult:  # fmt: skip
    """``rate`` requests per second for ``duration_s``; latency counts from when each
    request was due, including any wait for a free connection."""
    result = LoadResult()
    loop = asyncio.get_running_loop()
    idle: list[_Connection] = []
    opened = 0
    free = asyncio.Condition()
    total = int(rate * duration_s)
    tasks: set[asyncio.Task[None]] = set()

    async def take() -> _Connection:
        nonlocal opened
        async with free:
            while True:
                while idle:
                    conn = idle.pop()
                    if not conn.lost:
                        return conn
                if opened < max_connections:
                    opened += 1
                    break
                await free.wait()
        return await _connect(host, port)

    async def give(conn: _Connection) -> None:
        async with free:
            idle.append(conn)
            free.notify()

    async def one(k: int, due: float) -> None:
        conn = await take()
        result.sent += 1
        try:
            status = await conn.request(make_request(k))
        except ConnectionError:
            result.errors += 1
            return
        result.latencies_ms.append((time.perf_counter() - due) * 1000.0)
        _count(result, status)
        await give(conn)

    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        task = loop.create_task(one(first + i, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    scheduled = time.perf_counter() - start
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    # The rate achieved is what was answered per second of the schedule; answers that came
    # late show in the latencies, not as a lower rate.
    result.elapsed_s = max(scheduled, duration_s)
    for conn in idle:
        if conn.transport is not None:
            conn.transport.close()
    return result
