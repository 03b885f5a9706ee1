"""Live delivery alone: what one web process spends per message it pushes to a socket.

``python -m bench.delivery`` starts one uvicorn process, opens ``--sockets`` authenticated
sockets (the seeded users of the bench database: run ``make bench`` once first), and
publishes ``feed.item`` batches straight to Redis at ``--rate`` likes a second, each to
50 of those sockets, as the fan-out does (``feed.live.feed_items_publish``), with no HTTP
and no Celery in the way. It reports the web process's CPU seconds per delivered message
(from ``/proc``: it holds on a machine shared with other work, where wall-clock latencies
do not) and the latency from publish to the socket's read.

Seqs are counted here, per user, from a fresh key prefix, so no socket sees a gap: the
figure is the relay path, not the replay path. Measurement only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLLOWERS = 50  # sockets per like, as in the push phase


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__)
    p.add_argument("--sockets", type=int, default=500)
    p.add_argument("--rate", type=int, default=100, help="likes a second (x 50 messages)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--database", default=os.environ.get("BENCH_DATABASE", "likefeed_bench"))
    args = p.parse_args(argv)

    from loadtest.stack import database_url, free_port

    os.environ["DATABASE_URL"] = database_url(args.database)
    os.environ["REDIS_PREFIX"] = f"lfdeliv{random.randrange(10**6)}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    from bench.wsclient import WsClient, ws_open
    from feed import live

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.user_id, t.key FROM authtoken_token t ORDER BY t.user_id LIMIT %s",
            [args.sockets],
        )
        users: list[tuple[int, str]] = cursor.fetchall()
    if len(users) < FOLLOWERS:
        print(f"{args.database} holds {len(users)} tokens: run `make bench` once first")
        return 1
    port = free_port()
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "bench-only-" + "x" * 50,
           "ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "WARNING"}  # fmt: skip
    web = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    latencies: list[float] = []

    def on_text(payload: bytes, now: float) -> None:
        if payload.startswith(b'{"type":"feed.item"'):
            latencies.append((now - json.loads(payload)["item"]["t"]) * 1000.0)

    async def run() -> tuple[int, float]:
        for _ in range(150):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.2)
        gate = asyncio.Semaphore(64)

        async def one(token: str) -> WsClient:
            async with gate:
                client = await ws_open("127.0.0.1", port, "/ws/", token, on_text)
                client.send_text('{"type":"subscribe","posts":[]}')
                return client

        clients = await asyncio.gather(*(one(token) for _, token in users))
        await asyncio.sleep(1.5)  # every socket past its start
        ids = [uid for uid, _ in users]
        seqs = dict.fromkeys(ids, 0)
        sent = 0

        def publish() -> None:
            nonlocal sent
            per_tick, tick = max(1, args.rate // 50), 0.02  # a batch every 20 ms
            started, n = time.time(), 0
            while time.time() - started < args.seconds:
                batches = []
                for _ in range(per_tick):
                    item = {"id": f"like:{n}", "kind": "like", "t": time.time(),
                            "post": {"id": n, "body": "y" * 200, "liked_by_me": False}}  # fmt: skip
                    entries = []
                    for uid in random.sample(ids, FOLLOWERS):
                        seqs[uid] += 1
                        entries.append((uid, seqs[uid], False))
                    batches.append((live.feed_item_message_parts(item), entries))
                    sent += FOLLOWERS
                    n += 1
                live.feed_items_publish(batches)
                time.sleep(max(0.0, started + (n // per_tick) * tick - time.time()))

        cpu_before = _cpu_seconds(web.pid)
        publisher = threading.Thread(target=publish)
        publisher.start()
        while publisher.is_alive():
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 30
        while len(latencies) < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        cpu = _cpu_seconds(web.pid) - cpu_before
        for client in clients:
            client.close()
        return sent, cpu

    try:
        sent, cpu = asyncio.run(run())
    finally:
        web.terminate()
        web.wait(timeout=20)
    got = sorted(latencies)

    def pct(q: float) -> float:
        return got[min(len(got) - 1, int(q * len(got)))] if got else float("nan")

    print(
        f"{len(got)}/{sent} delivered to {len(users)} sockets at {args.rate * FOLLOWERS}/s; "
        f"web CPU {cpu:.2f} s = {cpu / max(1, len(got)) * 1e6:.1f} µs a message; "
        f"latency p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    return 0 if len(got) == sent else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
