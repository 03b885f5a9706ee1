"""A client that stops reading cannot make the server buffer without limit.

The consumer writes with backpressure, so a stalled client stalls its consumer; what keeps
arriving for it waits in its channel-layer inbox, which holds ``WS_INBOX_CAPACITY`` messages
(100) and then drops the oldest (``feed.live``). Shown on the layer itself and on
a real server, next to a server started with the bound switched off, which keeps everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from feed import live
from feed.live import BoundedPubSubChannelLayer
from tests.conftest import ROOT, _database_url, free_port, wait_until
from tests.ws import receive, ws_connect

MESSAGES = 1200  # of PAD bytes each: ~19 MB, several times what the kernel's buffers hold
PAD = 16 * 1024


def test_the_layer_keeps_the_newest_capacity_messages_and_drops_the_oldest():
    async def scenario() -> list[int]:
        layer = BoundedPubSubChannelLayer(
            hosts=[settings.REDIS_URL], prefix=f"{settings.REDIS_PREFIX}:layertest", capacity=5
        )
        channel = await layer.new_channel()
        await layer.group_add("g", channel)
        for n in range(50):
            await layer.group_send("g", {"type": "x", "n": n})
        inbox = layer._get_layer().channels[channel]
        deadline = time.monotonic() + 15
        while inbox.dropped < 45 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        kept = [(await layer.receive(channel))["n"] for _ in range(inbox.qsize())]
        await layer.flush()
        return kept

    assert asyncio.run(scenario()) == [45, 46, 47, 48, 49]


@pytest.fixture
def unbounded_server(live_stack, tmp_path: Path) -> Iterator[str]:
    """The same web process with the inbox bound switched off (capacity 0: unbounded, as
    channels-redis' pub/sub layer is by itself): the baseline the bound is measured against."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(settings.DATABASES["default"]["NAME"]),
        "WS_INBOX_CAPACITY": "0",
    }
    with open(tmp_path / "web.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--ws-ping-interval", "30", "--no-access-log"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.poll() is None, (tmp_path / "web.log").read_text()
            try:
                return httpx.get(f"{url}/api/health/", timeout=3).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, timeout=60, interval=0.2)
        yield url.replace("http://", "ws://") + "/ws/"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def flood_a_stalled_socket(ws_url: str, token: str, post_id: int) -> list[int]:
    """Subscribe to a post, stop reading, publish MESSAGES counts for it, then read: the
    numbers of the messages that reached the client, up to the last one published."""
    sock = socket.create_connection(("127.0.0.1", int(ws_url.split(":")[2].split("/")[0])))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    pad = "x" * PAD
    with ws_connect(ws_url, token=token, sock=sock, max_queue=1) as ws:
        ws.send(json.dumps({"type": "subscribe", "posts": [post_id]}))
        assert receive(ws)["type"] == "post.likes"  # subscribed: the current count came
        for start in range(0, MESSAGES, 100):
            live.publish(
                (
                    live.post_group(post_id),
                    {"type": "post.likes", "post_id": post_id, "like_count": n, "pad": pad},
                )
                for n in range(start, min(start + 100, MESSAGES))
            )
        got: list[int] = []
        while not got or got[-1] != MESSAGES - 1:
            message = receive(ws, timeout=30)
            got.append(message["like_count"])
    return got


@pytest.mark.timeout(300)
def test_a_stalled_socket_costs_a_bounded_inbox_not_everything_sent(
    make_user, api, live_stack, unbounded_server
):
    author, reader = make_user(), make_user()
    post = api(author).post("/api/posts/", json={"body": "hot"}).json()

    got = flood_a_stalled_socket(live_stack.ws_url, reader["token"], post["id"])
    # What reached the client: what the kernel's socket buffers held when the consumer
    # stalled, then the newest WS_INBOX_CAPACITY messages. Everything between was dropped
    # instead of piling up in the server.
    assert len(got) <= MESSAGES // 2, len(got)
    assert got == sorted(got) and got[-1] == MESSAGES - 1  # in order; the newest kept

    baseline = flood_a_stalled_socket(unbounded_server, reader["token"], post["id"])
    assert baseline == list(range(MESSAGES))  # unbounded: the server held every message


def test_a_users_feed_and_event_log_stay_bounded_in_length_and_age():
    """What a busy account's followers cost in Redis does not grow with its activity: the
    feed is trimmed to FEED_MAX_ITEMS (within FEED_TRIM_MARGIN), the resume log to about
    FEED_EVENT_LOG_LENGTH entries (``MAXLEN ~`` trims whole stream nodes of 100) and expires
    FEED_EVENT_LOG_TTL_S after its last event."""
    import random

    from django.test import override_settings

    from config.redis import get_redis
    from feed import store

    follower = random.randrange(10**12, 10**13)  # no real user has such an id
    message = live.feed_item_message_parts({"id": "x", "post": {"liked_by_me": False}})
    with override_settings(FEED_MAX_ITEMS=50, FEED_EVENT_LOG_LENGTH=10, FEED_EVENT_LOG_TTL_S=60):
        for n in range(1000):
            store.fanout_write(
                item_id=store.post_item_id(post_id=n), score=float(n),
                message=message, followers=[follower], liked_by=set(),
            )  # fmt: skip
        r = get_redis()
        try:
            # Trimmed lazily, one write in 16 checking (feed/store.py; the margin is tested
            # in tests/feed/test_store_writer.py): past the bound, never past its margin.
            assert 50 <= r.zcard(store.feed_key(follower)) <= 50 + store.FEED_TRIM_MARGIN
            assert r.xlen(store.events_key(follower)) <= 10 + 100
            assert 0 < r.ttl(store.events_key(follower)) <= 60
        finally:
            r.delete(store.feed_key(follower), store.events_key(follower), store.seq_key(follower))
