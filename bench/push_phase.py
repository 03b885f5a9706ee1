"""Live push: like → ``feed.item`` latency at the followers' sockets, under a constant rate
of likes, and how many idle sockets one web process holds (and its memory per socket).

Latency is measured where a person sees it: from the like's ``created_at`` (the database's
clock at insert, carried in the item) to the moment the follower's socket read the message,
on the same machine's clock.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import psutil

from .httpload import http_request, open_loop
from .wsclient import WsClient, ws_open


@dataclass
class PushFigures:
    likes_per_s: float
    sockets: int
    expected: int
    received: int
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]


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


def run_push_phase(
    host: str, port: int, *, socket_tokens: list[str], liker_tokens: list[str],
    followers_per_liker: dict[int, int], post_ids: list[int], rate: float, duration_s: float,
    log: Callable[[str], None],
) -> PushFigures:  # fmt: skip
    """``socket_tokens`` hold sockets; ``liker_tokens`` like fresh posts at ``rate``."""
    latencies: list[float] = []
    received = 0

    def on_text(payload: bytes, now: float) -> None:
        nonlocal received
        if not payload.startswith(b'{"type":"feed.item"'):
            return
        message = json.loads(payload)
        item = message["item"]
        if not item["likers"]:  # placed or moved by a like (its kind says whose post it is)
            return
        received += 1
        created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
        latencies.append((now - created.timestamp()) * 1000.0)

    hostport = f"{host}:{port}"
    n = len(liker_tokens)

    def make(k: int) -> bytes:
        token, post = liker_tokens[k % n], post_ids[(k // n + k) % len(post_ids)]
        return http_request("POST", f"/api/posts/{post}/like/", host=hostport,
                            headers={"Authorization": f"Token {token}"})  # fmt: skip

    async def go() -> tuple[int, float]:
        clients = await open_sockets(host, port, socket_tokens, on_text)
        await asyncio.sleep(1.0)  # every socket past its start
        log(f"  {len(clients)} sockets open; liking at {rate:.0f}/s for {duration_s:.0f} s")
        result = await open_loop(host, port, make, rate=rate, duration_s=duration_s)
        # Let the fan-out finish, up to a bound, before counting what arrived.
        deadline = time.monotonic() + 30
        expected = sum(followers_per_liker[k % n] for k in range(result.ok))
        while received < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        for c in clients:
            c.close()
        return expected, result.rps

    expected, achieved = asyncio.run(go())
    return PushFigures(achieved, len(socket_tokens), expected, received, latencies)


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
