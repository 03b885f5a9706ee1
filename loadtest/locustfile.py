"""Locust users for Likefeed: likers over HTTP and followers on WebSockets.

Run by ``make loadtest`` (``python -m loadtest``), which seeds the graph and writes the plan
this file reads (``LOADTEST_PLAN``: tokens, posts, where to put raw samples). Two users:

- ``LikeUser`` (FastHttpUser): likes and unlikes posts as a seeded account (``Authorization:
  Token``), popular posts more often (Zipf), at a total rate of ``LOADTEST_RATE`` likes/s.
- ``FeedSocketUser``: holds ``/ws/`` open as a seeded account that follows the likers and
  measures, for every ``feed.item`` a like placed or moved (it has ``likers``), the time
  from the like's ``created_at`` (stored by PostgreSQL) to its arrival: the like →
  follower latency. A post is one item that each newer like moves up: the same item with
  the same ``created_at`` seen twice on one socket is reported as a failure.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import websocket  # websocket-client: blocking sockets, which gevent makes cooperative
from locust import FastHttpUser, User, constant, constant_throughput, events, task

PLAN: dict[str, Any] = json.loads(Path(os.environ["LOADTEST_PLAN"]).read_text())
RATE = float(os.environ.get("LOADTEST_RATE", "50"))
LIKERS = int(os.environ.get("LOADTEST_LIKERS", "20"))
SAMPLES: list[float] = []  # like → feed.item, ms (this process's sockets)


def _zipf_pick(rng: random.Random, items: list[int]) -> int:
    """An item, the first ones far more often (popular posts get most likes)."""
    return items[min(len(items) - 1, int(rng.paretovariate(1.2)) - 1)]


class LikeUser(FastHttpUser):
    weight = 1
    wait_time = constant_throughput(RATE / max(1, LIKERS))

    def on_start(self) -> None:
        self.rng = random.Random()
        self.token = self.rng.choice(PLAN["liker_tokens"])
        self.headers = {"Authorization": f"Token {self.token}"}
        self.posts = PLAN["post_ids"][:]
        self.rng.shuffle(self.posts)

    @task(4)
    def like(self) -> None:
        post = _zipf_pick(self.rng, self.posts)
        self.client.post(f"/api/posts/{post}/like/", headers=self.headers, name="like")

    @task(1)
    def unlike(self) -> None:
        post = _zipf_pick(self.rng, self.posts)
        self.client.delete(f"/api/posts/{post}/like/", headers=self.headers, name="unlike")


class FeedSocketUser(User):
    fixed_count = int(os.environ.get("LOADTEST_SOCKETS", "50"))
    wait_time = constant(0)  # recv() blocks (cooperatively) until the next message
    opened = 0

    def on_start(self) -> None:
        token = PLAN["socket_tokens"][FeedSocketUser.opened % len(PLAN["socket_tokens"])]
        FeedSocketUser.opened += 1
        url = (self.host or "").replace("http", "ws", 1) + "/ws/"
        started = time.perf_counter()
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: Token {token}"], timeout=30
        )
        self._fire("connect", (time.perf_counter() - started) * 1000.0, 0)
        self.ws.send('{"type":"subscribe","posts":[]}')
        self.seen: set[str] = set()

    def on_stop(self) -> None:
        self.ws.close()

    def _fire(self, name: str, ms: float, length: int, exc: Exception | None = None) -> None:
        self.environment.events.request.fire(
            request_type="WS", name=name, response_time=ms, response_length=length,
            exception=exc, context={},
        )  # fmt: skip

    @task
    def listen(self) -> None:
        try:
            raw = self.ws.recv()
        except websocket.WebSocketTimeoutException:
            return
        except websocket.WebSocketConnectionClosedException as exc:
            self._fire("closed", 0, 0, exc)
            self.stop()
            return
        message = json.loads(raw)
        if message.get("type") != "feed.item" or not message["item"]["likers"]:
            return
        item = message["item"]
        key = f"{item['id']}@{item['created_at']}"
        if key in self.seen:
            self._fire("duplicate feed.item", 0, len(raw), ValueError(key))
            return
        self.seen.add(key)
        created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
        ms = (time.time() - created.timestamp()) * 1000.0
        SAMPLES.append(ms)
        self._fire("like → feed.item", ms, len(raw))


@events.test_stop.add_listener
def _write_samples(**_kwargs: Any) -> None:
    Path(PLAN["samples_path"]).write_text(json.dumps(SAMPLES))
