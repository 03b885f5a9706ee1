"""Live delivery: every message a socket gets, from the fan-out's publish to each web
process's own sockets. The one module that knows the live messages' format and their
pub/sub channels.

**Publish** (sync: Celery workers). A message for one user (``like.delivered``) goes to the
pub/sub channel ``<P>:live:user:<id>``, a post's new count (``post.likes``) to
``<P>:live:post:<id>``; each carries the exact text the socket will get, built once here.
Feed items, nearly all the traffic, go by the batch (as Zulip and Baserow send one event
with its user ids): one ``PUBLISH`` per fan-out batch on ``<P>:live:feed``, holding each
event's text around its seq and a flat (follower, seq, liked_by_me) list; the followers'
texts are spliced from those parts, here and in the store's Lua (which logs them), the
same way, so a socket relays exactly what ``resume`` would replay.

**Deliver** (async: each web process, as Mastodon's streaming server does). One ``Hub`` per
event loop holds one Redis subscriber and a map from channel to the local sockets that want
it: it subscribes to a user's or a post's channel when the first socket here needs it and
unsubscribes after the last; the feed channel it always hears, and splits each batch to the
sockets of the followers it names. Each socket has an ``Inbox`` the consumer reads in a
task of its own, one message after another (no task and no ``asyncio.wait`` per message,
as Channels' layer dispatch costs).

**A stalled reader costs a bounded inbox.** The consumer writes with backpressure, so a
client that stops reading stops its consumer, and what keeps arriving waits in its inbox:
at most ``WS_INBOX_CAPACITY`` messages, the oldest dropped first. That is safe for what is
sent: a ``feed.item`` carries its seq and is in the user's event log (when one was dropped,
the inbox says "catch up" once it is drained, and the consumer reads the log); a
``post.likes`` carries the absolute count, so the newest (always kept) is the truth;
``like.delivered`` is informative. After Redis comes back from an outage, every socket is
told to catch up too: what was published meanwhile is in the log.

**Presence.** The hub knows which users have a socket here: it marks a user online at the
handshake and renews the marks of all of them together (``store.still_online``), so a very
big fan-out logs live events only for followers online; a mark lapses ``PRESENCE_TTL_S``
after the user's last socket closed, the grace in which a reconnecting client can resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections import deque
from collections.abc import Iterable
from typing import Any, NamedTuple

import msgpack
from django.conf import settings
from redis import asyncio as aioredis

from config.redis import get_redis

from . import store

log = logging.getLogger(__name__)

# What an inbox holds: (seq, text). seq > 0: a feed.item with that seq; RELAY: a text to
# send as it is; CATCH_UP: messages were lost, read the event log.
Entry = tuple[int, str]
RELAY = 0
CATCH_UP = -1

# --- the messages ------------------------------------------------------------------------------

FEED_ITEM_HEAD = '{"type":"feed.item","seq":'


def _json(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def feed_item_message_parts(item: dict[str, Any]) -> tuple[str, str, str]:
    """Split a ``feed.item`` message around its seq, once per fan-out, for both liked states.

    The message differs per follower only in ``seq`` and ``item.post.liked_by_me``: it is
    ``head + seq + tail`` (``feed_item_text``), the tail chosen by liked_by_me. The store's
    Lua logs it so; this module delivers it so. Python serialises the item twice per
    fan-out, not once per follower.
    """
    tails = [
        ',"item":' + _json({**item, "post": {**item["post"], "liked_by_me": liked}}) + "}"
        for liked in (False, True)
    ]
    return FEED_ITEM_HEAD, tails[0], tails[1]


def feed_item_text(head: str, seq: int, tail: str) -> str:
    """A follower's ``feed.item`` text: the same splice as the store's Lua (``head .. seq ..
    tail``), so what is relayed live is byte for byte what the event log replays."""
    return f"{head}{seq}{tail}"


class Outgoing(NamedTuple):
    """A message for the sockets listening on a pub/sub channel, as they will get it."""

    channel: str
    text: str


def _channel(kind: str, key: int | str) -> str:
    return f"{settings.REDIS_PREFIX}:live:{kind}:{key}"


def user_channel(user_id: int) -> str:
    return _channel("user", user_id)


def post_channel(post_id: int) -> str:
    return _channel("post", post_id)


def feed_channel() -> str:
    return _channel("feed", "batches")


def to_user(user_id: int, message: dict[str, Any]) -> Outgoing:
    """A message for every socket of one user (any type the contract lists)."""
    return Outgoing(user_channel(user_id), _json(message))


def to_post_viewers(post_id: int, message: dict[str, Any]) -> Outgoing:
    """A message for every socket subscribed to one post."""
    return Outgoing(post_channel(post_id), _json(message))


def post_likes(*, post_id: int, like_count: int) -> Outgoing:
    return to_post_viewers(
        post_id, {"type": "post.likes", "post_id": post_id, "like_count": like_count}
    )


def like_delivered(*, liker_id: int, post_id: int, followers: int, ms: float) -> Outgoing:
    message = {
        "type": "like.delivered",
        "post_id": post_id,
        "followers": followers,
        "ms": round(ms, 1),
    }
    return to_user(liker_id, message)


# --- publish (sync code: Celery tasks) ---------------------------------------------------------


def publish(messages: Iterable[Outgoing | tuple[str, str]]) -> None:
    """Publish each (channel, text), all in one pipelined round trip."""
    pipe = get_redis().pipeline(transaction=False)
    for channel, text in messages:
        pipe.publish(channel, text)
    if len(pipe):
        pipe.execute()


def feed_items_publish(
    batches: Iterable[tuple[tuple[str, str, str], Iterable[tuple[int, int, bool]]]],
) -> None:
    """Publish ``feed.item``s to followers' sockets, one pub/sub message for all of them.

    Each batch is an event's message parts (``feed_item_message_parts``) and (follower,
    seq, liked_by_me) for each follower it was logged for under ``seq``. Every web process
    hears the message and hands each item to its own sockets of that follower
    (``Hub._feed_items``): one message per fan-out batch instead of one per follower.
    """
    packed = []
    for (head, unliked, liked), entries in batches:
        flat = [n for uid, seq, by in entries for n in (uid, seq, 1 if by else 0)]
        if flat:
            packed.append((head, unliked, liked, flat))
    if packed:
        # msgpack: a 30-like batch packs in ≈70 µs against ≈1 ms for JSON (which escapes
        # every quote of the texts), and unpacks 3 times faster in each web process.
        get_redis().publish(feed_channel(), msgpack.packb(packed, use_bin_type=True))


# --- deliver (async: each web process) ---------------------------------------------------------


class Inbox:
    """A socket's live messages waiting to be sent, at most ``capacity`` (0: no bound); when
    full, the oldest is dropped. Read by one task (the consumer's)."""

    __slots__ = ("_entries", "_waiter", "behind", "capacity", "dropped")

    def __init__(self, capacity: int) -> None:
        self._entries: deque[Entry] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.capacity = capacity
        self.dropped = 0
        self.behind = False  # a feed.item was dropped: catch up once the rest is sent

    def put(self, entry: Entry) -> None:
        entries = self._entries
        if self.capacity and len(entries) >= self.capacity:
            seq, _ = entries.popleft()
            self.behind = self.behind or seq > 0
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("slow socket: %d live messages dropped (inbox full)", self.dropped)
        entries.append(entry)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def get(self) -> Entry:
        """The oldest entry, waiting for one; (CATCH_UP, "") after dropped feed items."""
        while not self._entries:
            if self.behind:
                self.behind = False
                return CATCH_UP, ""
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._entries.popleft()

    async def get_within(self, timeout: float) -> Entry | None:
        """As ``get``, but None if nothing came within ``timeout`` seconds. A timer on the
        waiter, not ``asyncio.wait_for`` (a task per call): the consumer calls this for
        every message while it holds items ahead of a gap."""
        if self._entries:
            return self._entries.popleft()
        if self.behind:
            self.behind = False
            return CATCH_UP, ""
        if timeout <= 0:
            return None
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
        if self._waiter is waiter:  # timed out: nobody put anything
            self._waiter = None
        return self._entries.popleft() if self._entries else None

    def __len__(self) -> int:
        return len(self._entries)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Listener:
    """One socket's claim on live messages: its user's, and those of the posts it watches."""

    __slots__ = ("hub", "inbox", "posts", "user_id")

    def __init__(self, hub: Hub, user_id: int) -> None:
        self.hub = hub
        self.user_id = user_id
        self.posts: set[int] = set()
        self.inbox = Inbox(settings.WS_INBOX_CAPACITY)

    async def watch_posts(self, post_ids: set[int]) -> set[int]:
        """Replace the posts this socket gets counts of; returns the ones new to it (their
        channels are subscribed when this returns, so a count read now is not stale)."""
        added = post_ids - self.posts
        for post_id in self.posts - post_ids:
            await self.hub.leave(self.hub.posts, post_id, post_channel(post_id), self)
        for post_id in added:
            await self.hub.join(self.hub.posts, post_id, post_channel(post_id), self)
        self.posts = set(post_ids)
        return added

    async def close(self) -> None:
        await self.watch_posts(set())
        await self.hub.leave(self.hub.users, self.user_id, user_channel(self.user_id), self)


class Hub:
    """This process's (this event loop's) one Redis subscriber and its local listeners."""

    def __init__(self) -> None:
        # Named, so ``CLIENT LIST`` tells this process's subscriber apart.
        self.client_name = f"{settings.REDIS_PREFIX}:live:{socket.gethostname()}:{os.getpid()}"
        redis = aioredis.Redis.from_url(
            settings.REDIS_URL, client_name=self.client_name, socket_connect_timeout=3,
            health_check_interval=30,
        )  # fmt: skip
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._lock = asyncio.Lock()  # one (un)subscribe at a time, in order
        self._subscribed: set[str] = set()
        self._feed = feed_channel().encode()
        self.users: dict[int, set[Listener]] = {}
        self.posts: dict[int, set[Listener]] = {}
        self._routes: dict[bytes, set[Listener]] = {}  # channel → the same sets as above
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        async with self._lock:
            if self._tasks:
                return
            await self._pubsub.subscribe(self._feed.decode())
            # Called after each reconnect, once redis-py has subscribed again (its own
            # callback was registered first, at the first subscribe).
            assert self._pubsub.connection is not None
            self._pubsub.connection.register_connect_callback(self._reconnected)
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._read_forever()),
                loop.create_task(self._renew_presence_forever()),
            ]

    async def join(
        self, table: dict[int, set[Listener]], key: int, channel: str, listener: Listener
    ) -> None:
        members = table.get(key)
        if members is None:
            members = table[key] = set()
            self._routes[channel.encode()] = members
        members.add(listener)
        async with self._lock:
            if channel not in self._subscribed and key in table:
                await self._pubsub.subscribe(channel)
                self._subscribed.add(channel)

    async def leave(
        self, table: dict[int, set[Listener]], key: int, channel: str, listener: Listener
    ) -> None:
        members = table.get(key)
        if members is None:
            return
        members.discard(listener)
        if members:
            return
        del table[key], self._routes[channel.encode()]
        async with self._lock:
            if channel in self._subscribed and key not in table:
                self._subscribed.discard(channel)
                try:
                    await self._pubsub.unsubscribe(channel)
                except Exception:  # Redis away: nothing routes that channel here any more
                    log.warning("could not unsubscribe from %s", channel, exc_info=True)

    async def _read_forever(self) -> None:
        failures = 0
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
            except Exception:  # Redis away: the next read reconnects and resubscribes
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    log.warning("live: Redis subscriber lost (%d tries)", failures, exc_info=True)
                await asyncio.sleep(1.0)
                continue
            failures = 0
            if message is not None:
                self._route(message["channel"], message["data"])

    def _route(self, channel: bytes, data: bytes) -> None:
        if channel == self._feed:
            self._feed_items(data)
            return
        members = self._routes.get(channel)
        if members:
            entry = (RELAY, data.decode())
            for listener in members:
                listener.inbox.put(entry)

    def _feed_items(self, data: bytes) -> None:
        """Put each ``feed.item`` of a batch in the inboxes of its follower's sockets here."""
        users = self.users
        for head, unliked, liked, flat in msgpack.unpackb(data, raw=False):
            for i in range(0, len(flat), 3):
                members = users.get(flat[i])
                if members:
                    seq = flat[i + 1]
                    entry = (seq, feed_item_text(head, seq, liked if flat[i + 2] else unliked))
                    for listener in members:
                        listener.inbox.put(entry)

    async def _reconnected(self, connection: Any) -> None:
        """Whatever was published while the subscriber was away is in the event logs."""
        log.warning(
            "live: Redis subscriber reconnected; %d users' sockets catch up", len(self.users)
        )
        for members in self.users.values():
            for listener in members:
                listener.inbox.put((CATCH_UP, ""))

    async def _renew_presence_forever(self) -> None:
        while True:
            await asyncio.sleep(settings.PRESENCE_TTL_S / 3)
            with contextlib.suppress(Exception):  # Redis away: the next round tries again
                await store.still_online(user_ids=list(self.users))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pubsub.aclose()


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """The running event loop's hub (uvicorn runs one loop per process)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found


async def listen(*, user_id: int) -> tuple[Listener, int]:
    """Start live delivery to a new socket of this user: subscribes to what it needs, marks
    the user online (their events are logged from now on) and returns the listener and the
    user's last seq at this moment (the socket's starting point)."""
    current = hub()
    await current.start()
    listener = Listener(current, user_id)
    await current.join(current.users, user_id, user_channel(user_id), listener)
    return listener, await store.go_online(user_id=user_id)


async def close_hub() -> None:
    """Close this event loop's hub (tests that run several loops)."""
    found = _hubs.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.aclose()
