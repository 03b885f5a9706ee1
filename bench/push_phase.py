"""Live push: like → ``feed.item`` latency at the followers' sockets, under a constant rate
of likes and then at rising rates up to the knee (``PushSession.knee``), the web process's
CPU per socket message beside a bare ``websockets`` server's (``bare_ws_cpu``), and how many
idle sockets one web process holds (and its memory per socket).

Latency is measured where a person sees it: from the like's ``created_at`` (the database's
clock at insert, carried in the item) to the moment the follower's socket read the message,
on the same machine's clock.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psutil

from loadtest.stack import free_port

from .httpload import http_request, open_loop
from .wsclient import WsClient, ws_open


@dataclass
class PushFigures:
    likes_per_s: float
    sockets: int
    expected: int
    received: int
    latencies_ms: list[float] = field(default_factory=list)
    like_errors: int = 0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]

    def within_knee(self) -> bool:
        """Every like answered, every item delivered, p99 within ``KNEE_P99_MS``."""
        return (
            self.like_errors == 0
            and self.received == self.expected > 0
            and self.percentile(99) <= KNEE_P99_MS
        )


async def open_sockets(
    host: str, port: int, tokens: list[str], on_text: Callable[[bytes, float], None],
    *, parallel: int = 64,
) -> list[WsClient]:  # fmt: skip
    """Open one socket per token (bounded handshakes in flight) and start delivery."""
    gate = asyncio.Semaphore(parallel)

    async def one(token: str) -> WsClient:
        async with gate:
            client = await ws_open(host, port, "/ws/", token, on_text)
            client.send_text('{"type":"subscribe","posts":[]}')
            return client

    return list(await asyncio.gather(*(one(t) for t in tokens)))


class PushSession:
    """``socket_tokens`` hold sockets (opened once, by ``open``); ``liker_tokens`` like
    fresh posts (``post_ids``) in steps at a given rate (``step``), the like counter running
    on across steps so every like of the session is a new (liker, post) pair. Each step
    counts only the items of its own likes (created after it started), and a step that
    failed is left to drain (``settle``) before the next series of steps."""

    def __init__(
        self, host: str, port: int, *, socket_tokens: list[str], liker_tokens: list[str],
        followers_per_liker: dict[int, int], post_ids: list[int], log: Callable[[str], None],
        owed: Callable[[], int] | None = None,
    ) -> None:  # fmt: skip
        self.host, self.port, self.log = host, port, log
        self.socket_tokens, self.liker_tokens = socket_tokens, liker_tokens
        self.followers_per_liker, self.post_ids = followers_per_liker, post_ids
        self.clients: list[WsClient] = []
        self.since = 0.0  # the current step's start (wall clock): older items are not its
        self.latencies: list[float] = []
        self.received = 0
        self.last_arrival = 0.0
        self.sample = b""  # a feed.item as a socket got it (the bare server's payload)
        self.next_like = 0
        self.owed = owed  # how many of the likers' likes are not fanned out yet

    def on_text(self, payload: bytes, now: float) -> None:
        if not payload.startswith(b'{"type":"feed.item"'):
            return
        message = json.loads(payload)
        item = message["item"]
        if not item["likers"]:  # placed or moved by a like (its kind says whose post it is)
            return
        self.last_arrival = now
        created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00")).timestamp()
        if created < self.since:
            return
        self.received += 1
        self.sample = payload
        self.latencies.append((now - created) * 1000.0)

    def make(self, k: int) -> bytes:
        n = len(self.liker_tokens)
        token, post = self.liker_tokens[k % n], self.post_ids[(k // n + k) % len(self.post_ids)]
        return http_request("POST", f"/api/posts/{post}/like/", host=f"{self.host}:{self.port}",
                            headers={"Authorization": f"Token {token}"})  # fmt: skip

    async def open(self) -> None:
        self.clients = await open_sockets(self.host, self.port, self.socket_tokens, self.on_text)
        await asyncio.sleep(1.0)  # every socket past its start

    async def step(self, rate: float, duration_s: float, *, drain_s: float) -> PushFigures:
        """Likes at ``rate`` for ``duration_s``; then up to ``drain_s`` for the last items."""
        self.since, self.received, self.latencies = time.time(), 0, []
        first = self.next_like
        result = await open_loop(
            self.host, self.port, self.make, rate=rate, duration_s=duration_s, first=first
        )
        self.next_like += result.sent
        n = len(self.liker_tokens)
        expected = sum(self.followers_per_liker[k % n] for k in range(first, first + result.ok))
        deadline = time.monotonic() + drain_s
        while self.received < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # A copy: items of this step that arrive later (while settling) are not its figures.
        return PushFigures(
            result.rps, len(self.clients), expected, self.received, list(self.latencies),
            like_errors=result.errors,
        )  # fmt: skip

    async def settle(self, quiet_s: float = 0.5, bound_s: float = 120.0) -> None:
        """Wait (at most ``bound_s``) until every like so far is fanned out (``owed``) and
        then no item has arrived for ``quiet_s``: a failed step's backlog is not the next
        step's (a backlog still there after ``bound_s`` is logged: the next steps wait
        behind it)."""
        deadline = time.monotonic() + bound_s
        while self.owed is not None and time.monotonic() < deadline:
            if not await asyncio.to_thread(self.owed):
                break
            await asyncio.sleep(0.2)
        while time.time() - self.last_arrival < quiet_s and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if time.monotonic() >= deadline:
            self.log(
                f"  the backlog did not drain in {bound_s:.0f} s: the next steps wait behind it"
            )

    async def knee(
        self, rates: list[float], duration_s: float, *, label: str, drain_s: float = 2.0
    ) -> float:
        """The highest of ``rates`` (tried in order, up to the first that fails) at which
        every item arrived with push p99 ≤ ``KNEE_P99_MS``; 0 if the first fails."""
        knee = 0.0
        for rate in rates:
            step = await self.step(rate, duration_s, drain_s=drain_s)
            self.log(f"  knee, {label}: {rate:.0f} likes/s: {step.received}/{step.expected} "
                     f"items, p50 {step.percentile(50):.1f} ms, p99 {step.percentile(99):.1f} "
                     f"ms{'' if step.within_knee() else ' (past the knee)'}")  # fmt: skip
            if not step.within_knee():
                await self.settle()
                break
            knee = rate
        return knee

    def close(self) -> None:
        for c in self.clients:
            c.close()


KNEE_P99_MS = 100.0  # issue 16: push p99 ≤ 100 ms with every item delivered


def knee_rates(start: float, *, factor: float, top: float) -> list[float]:
    """The rates the knee tries: ``start``, then ``factor`` times the previous, to ``top``."""
    rates = [start]
    while rates[-1] * factor <= top:
        rates.append(rates[-1] * factor)
    return rates


@dataclass
class SocketFigures:
    sockets: int
    bytes_per_socket: float
    rss_before: int
    rss_after: int


def run_socket_phase(
    host: str, port: int, *, tokens: list[str], web_pid: int, log: Callable[[str], None]
) -> SocketFigures:
    """Open ``len(tokens)`` idle authenticated sockets to one web process; its memory."""
    process = psutil.Process(web_pid)

    async def go() -> SocketFigures:
        before = process.memory_info().rss
        started = time.perf_counter()
        clients = await open_sockets(host, port, tokens, lambda _p, _t: None)
        await asyncio.sleep(2.0)
        alive = sum(1 for c in clients if not c.closed.done())
        after = process.memory_info().rss
        log(f"  {alive} sockets open in {time.perf_counter() - started:.1f} s, "
            f"RSS {before / 2**20:.0f} → {after / 2**20:.0f} MiB")  # fmt: skip
        for c in clients:
            c.close()
        return SocketFigures(alive, (after - before) / max(1, alive), before, after)

    return asyncio.run(go())


async def bare_ws_cpu(
    host: str, *, sockets: int, likes: int, rate: float, per_like: int, payload: bytes,
    log: Callable[[str], None],
) -> tuple[float, int]:  # fmt: skip
    """CPU seconds a bare ``websockets`` server (``bench.bare_ws``) spends sending
    ``payload`` to ``per_like`` of ``sockets`` sockets, ``likes`` times at ``rate`` a
    second, and how many messages the sockets received."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.bare_ws", str(port), stdout=asyncio.subprocess.PIPE
    )
    received = 0

    def on_text(_payload: bytes, _now: float) -> None:
        nonlocal received
        received += 1

    try:
        assert proc.stdout is not None
        await asyncio.wait_for(proc.stdout.readline(), timeout=30)
        clients = await open_sockets(host, port, ["bare"] * sockets, on_text)
        await asyncio.sleep(0.2)
        server = psutil.Process(proc.pid)
        before = _cpu_s(server)
        expected = likes * min(per_like, sockets)
        job = {"likes": likes, "rate": rate, "per_like": per_like, "payload": payload.decode()}
        clients[0].send_text(json.dumps({"bare": job}))
        deadline = time.monotonic() + likes / rate + 30
        while received < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        # psutil reads CPU time in clock ticks: less than one (a toy-size run) counts as one.
        spent = max(_cpu_s(server) - before, CPU_TICK_S)
        log(f"  bare websockets server: {received}/{expected} messages, "
            f"{spent * 1e6 / max(1, received):.1f} µs of CPU each")  # fmt: skip
        for c in clients:
            c.close()
        return spent, received
    finally:
        proc.terminate()
        await proc.wait()


CPU_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far."""
    return _cpu_s(psutil.Process(pid))
