"""Live delivery, in one place: the messages a socket gets, how they are published (one Redis
round trip per batch), and how each web process hands them to its own sockets.

**Names.** Consumers join Channels groups: ``user.<id>`` for a person's own events,
``post.<id>`` for the posts on their screen (``user_group``, ``post_group``). A group's
pub/sub channel is ``group_channel``: channels-redis' own name for it, spelled here once.

**Messages.** One builder per message type a socket receives: ``feed_item_message_parts``
(``feed.item``: made once per event, the seq spliced in per follower by ``feed.store``'s
Lua for the event log and by ``BoundedPubSubLoopLayer.feed_items_deliver`` into
``feed_item``, the inbox message), ``post_likes``, ``like_delivered``, ``error``. The
consumer (``feed.consumers``) relays them.

**Publishing, from sync code (Celery tasks).** The channel layer is channels-redis' pub/sub
layer, whose ``group_send`` is one ``PUBLISH`` of the serialised message to the group's
channel. A fan-out sends hundreds of those at a time, so instead of one
``async_to_sync(group_send)`` per follower (≈2.2 ms each, DESIGN.md) ``publish`` sends the
same bytes through one pipeline. Feed items, nearly all the traffic, go further:
``feed_items_publish`` sends one message per batch for every follower of it.

**Delivery, in each web process** (``BoundedPubSubChannelLayer``, the ``CHANNEL_LAYERS``
backend): channels-redis' pub/sub layer with two changes.

- *A bounded inbox per socket.* In ``RedisPubSubChannelLayer`` each consumer's channel is
  an unbounded ``asyncio.Queue`` that the layer's Redis reader fills as messages are
  published. A consumer writes to its socket with backpressure (``await send`` waits while
  the client does not read), so a client that stops reading stops the consumer, and its
  queue would grow for as long as events keep coming: one stalled phone could hold every
  event of a busy account in the server's memory. Here the queue holds at most
  ``capacity`` messages; when it is full the *oldest* is dropped (``channels_redis``' own
  ``RedisChannelLayer`` also drops, silently, for group sends). That is safe for what we
  send: a ``feed.item`` carries its ``seq`` and is also in the user's event log, so the
  consumer sees the gap at the next item it relays and replays the rest from the log;
  ``post.likes`` carries the absolute count, so the newest one (always kept) is the truth;
  ``like.delivered`` is informative only. Dropping the oldest rather than the newest keeps
  that newest message, which is what lets the consumer notice the gap at all.
- *Feed items arrive by the batch.* Published one ``group_send`` per follower, every web
  process would receive, parse and route one pub/sub message per follower (and Redis would
  send each). Instead ``feed_items_publish`` sends one message per batch on one channel
  (``FEED_ITEMS_CHANNEL``) that every web process subscribes to: the follower ids, seqs
  and the two variants of the item, packed once. Each process unpacks it and puts a
  ``feed.item`` in the inbox of every local socket in the ``user.<id>`` group, exactly the
  message ``group_send`` would have put there (already decoded: ``deserialize`` passes it
  through). Consumers cannot tell the difference.

Both override private names of channels-redis, so this module refuses to load with any
version but the one tested (``TESTED_CHANNELS_REDIS``), and
``tests/feed/test_live_layer.py`` exercises each of those names against a real Redis: an
upgrade that changes one fails a test named after it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from typing import Any

import channels_redis
import msgpack
from channels.layers import get_channel_layer
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.redis import layer_redis

log = logging.getLogger(__name__)

# The channels-redis release whose private internals the layer below overrides (the
# requirements.lock pin); tests/feed/test_live_layer.py checks each of them.
TESTED_CHANNELS_REDIS = "4.3.0"


def check_channels_redis(installed: str) -> None:
    """Refuse any channels-redis but the tested one: the overrides below would break silently."""
    if installed != TESTED_CHANNELS_REDIS:
        raise ImproperlyConfigured(
            f"feed.live overrides private internals of channels-redis {TESTED_CHANNELS_REDIS} "
            f"(the requirements.lock pin) but channels-redis {installed} is installed. "
            f"Install channels-redis=={TESTED_CHANNELS_REDIS}, or run "
            "tests/feed/test_live_layer.py against the new version, fix what fails and "
            "move TESTED_CHANNELS_REDIS and the pin together."
        )


check_channels_redis(channels_redis.__version__)

DEFAULT_CAPACITY = 100
FEED_ITEMS_CHANNEL = "__feed_items__"  # after the layer's prefix
USER_GROUP = "user."
POST_GROUP = "post."


def user_group(user_id: int) -> str:
    return f"{USER_GROUP}{user_id}"


def post_group(post_id: int) -> str:
    return f"{POST_GROUP}{post_id}"


def group_channel(group: str, prefix: str | None = None) -> str:
    """The pub/sub channel of a group: ``RedisPubSubLoopLayer._get_group_channel_name``."""
    return f"{settings.CHANNEL_LAYER_PREFIX if prefix is None else prefix}__group__{group}"


def publish(messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Send each (group, message) as ``group_send`` would, in one pipelined round trip."""
    layer = get_channel_layer()
    assert layer is not None
    pipes: dict[int, Any] = {}  # per channel-layer host (one unless CHANNEL_LAYER_URLS lists more)
    for group, message in messages:
        channel = group_channel(group)
        client = layer_redis(channel)
        pipe = pipes.get(id(client))
        if pipe is None:
            pipe = pipes[id(client)] = client.pipeline(transaction=False)
        pipe.publish(channel, layer.serialize(message))
    for pipe in pipes.values():
        pipe.execute()


def feed_items_publish(
    batches: Iterable[tuple[tuple[str, str, str], Iterable[tuple[int, int, bool]]]],
) -> None:
    """Publish ``feed.item``s to followers' sockets, one pub/sub message for all of them.

    Each batch is an event's message around its seq (``feed_item_message_parts``) and
    (follower, seq, liked_by_me) for each follower it was logged for: the text a
    follower's socket gets is ``head + seq + tail``, exactly as logged under ``seq`` in
    their event log, so a consumer relays it without re-encoding and can tell from ``seq``
    whether it missed one (then it reads the log). Every web process receives the batch
    and hands each item to its own sockets of that follower (``feed_items_deliver``):
    one message per fan-out chunk instead of one ``group_send`` per follower.
    """
    packed = []
    for (head, unliked, liked), entries in batches:
        flat = [n for uid, seq, by in entries for n in (uid, seq, 1 if by else 0)]
        if flat:
            packed.append((head, unliked, liked, flat))
    if packed:
        channel = f"{settings.CHANNEL_LAYER_PREFIX}{FEED_ITEMS_CHANNEL}"
        layer_redis(channel).publish(channel, feed_items_pack(packed))


def feed_items_pack(batches: list[tuple[str, str, str, list[int]]]) -> bytes:
    """One pub/sub message for many ``feed.item``s: per event its text around the seq
    (head, tail when not liked, tail when liked) and a flat [user, seq, liked, ...] list."""
    packed: bytes = msgpack.packb(batches, use_bin_type=True)
    return packed


# --- delivery to this process's sockets: channels-redis' pub/sub layer, two changes ------


class DropOldestQueue(asyncio.Queue[Any]):
    """An ``asyncio.Queue`` whose ``put_nowait`` makes room by dropping the oldest item."""

    dropped = 0

    def put_nowait(self, item: Any) -> None:
        if self.full():
            self.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("slow socket: %d live messages dropped (inbox full)", self.dropped)
        super().put_nowait(item)


class BatchingShardConnection(RedisSingleShardConnection):
    """The layer's connection to Redis, which hands feed-item batches to the layer."""

    def _receive_message(self, message: dict[str, Any] | None) -> None:
        layer = self.channel_layer
        if message is not None and message["channel"] in layer.feed_items_names:
            layer.feed_items_deliver(message["data"])
        else:
            super()._receive_message(message)


class BoundedPubSubLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, capacity: int = DEFAULT_CAPACITY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity
        shards: list[RedisSingleShardConnection] = self._shards  # type: ignore[has-type]
        self._shards = [BatchingShardConnection(shard.host, self) for shard in shards]
        self.feed_items_name = f"{self.prefix}{FEED_ITEMS_CHANNEL}"
        self.feed_items_names = (self.feed_items_name, self.feed_items_name.encode())
        self._user_group = group_channel(USER_GROUP, self.prefix)

    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = DropOldestQueue(maxsize=self.capacity)
        await self._get_shard(channel).subscribe(channel)
        # Every process with a socket listens to the batches (subscribe is idempotent).
        await self._get_shard(self.feed_items_name).subscribe(self.feed_items_name)

    def feed_items_deliver(self, data: bytes) -> None:
        """Put each ``feed.item`` of a batch in the inbox of the local sockets it is for."""
        groups, channels = self.groups, self.channels
        for head, unliked, liked, flat in msgpack.unpackb(data, raw=False):
            for i in range(0, len(flat), 3):
                members = groups.get(f"{self._user_group}{flat[i]}")
                if not members:
                    continue
                seq = flat[i + 1]
                message = feed_item(seq, f"{head}{seq}{liked if flat[i + 2] else unliked}")
                for channel in members:
                    inbox = channels.get(channel)
                    if inbox is not None:
                        inbox.put_nowait(message)


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):
    """``RedisPubSubChannelLayer`` whose per-loop layer bounds each channel's inbox
    (``CONFIG: {"capacity": n}``; 0: unbounded) and takes feed items by the batch;
    everything else, wire format included, is unchanged."""

    def deserialize(self, message: Any) -> Any:
        # Feed items from a batch are put in the inbox already decoded.
        return message if isinstance(message, dict) else super().deserialize(message)

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = BoundedPubSubLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer


# --- the messages a socket gets: one builder per type --------------------------------------


FEED_ITEM_HEAD = '{"type":"feed.item","seq":'
FEED_REMOVE_HEAD = '{"type":"feed.remove","seq":'


def feed_item_tails(item: dict[str, Any]) -> tuple[str, str]:
    """A ``feed.item`` message after its seq, for both liked states (not liked, liked)."""
    tails = []
    for liked in (False, True):
        variant = {**item, "post": {**item["post"], "liked_by_me": liked}}
        tails.append(',"item":' + json.dumps(variant, separators=(",", ":")) + "}")
    return tails[0], tails[1]


def feed_item_message_parts(item: dict[str, Any]) -> tuple[str, str, str]:
    """Split a ``feed.item`` message around its seq, once per group of followers who see the
    same item, for both liked states.

    The message differs per follower only in ``seq`` and ``item.post.liked_by_me`` (and,
    for a like, in the social context: ``feed.fanout`` groups followers by it); Redis
    (``feed.store``'s Lua, for the event log) and ``feed_items_deliver`` (for the socket)
    splice them in, so Python serialises an item twice per group, not once per follower.
    """
    return (FEED_ITEM_HEAD, *feed_item_tails(item))


def feed_remove_message_parts(item_id: str) -> tuple[str, str]:
    """A ``feed.remove`` message around its seq: (head, tail), logged and delivered as a
    ``feed.item`` is (the same seq counter, log and batch channel)."""
    return FEED_REMOVE_HEAD, ',"id":' + json.dumps(item_id) + "}"


def feed_item(seq: int, text: str) -> dict[str, Any]:
    """A ``feed.item`` in a socket's inbox: its seq, and its text as the socket sends it
    (``head + seq + tail`` of ``feed_item_message_parts``, as logged under that seq)."""
    return {"type": "feed.item", "seq": seq, "text": text}


def error(detail: str) -> dict[str, Any]:
    """What a socket answers a client message it cannot act on."""
    return {"type": "error", "detail": detail}


def post_likes(*, post_id: int, like_count: int, likes_version: int) -> tuple[str, dict[str, Any]]:
    message = {
        "type": "post.likes",
        "post_id": post_id,
        "like_count": like_count,
        "likes_version": likes_version,
    }
    return post_group(post_id), message


def me_like(
    *, user_id: int, post_id: int, liked: bool, like_count: int, likes_version: int
) -> tuple[str, dict[str, Any]]:
    """To every socket of the person who liked or unliked (each tab, each device), so their
    heart and count follow everywhere (Mastodon #28125: a like in one tab did not show in
    the others)."""
    message = {
        "type": "me.like",
        "post_id": post_id,
        "liked": liked,
        "like_count": like_count,
        "likes_version": likes_version,
    }
    return user_group(user_id), message


def like_delivered(
    *, liker_id: int, post_id: int, followers: int, ms: float
) -> tuple[str, dict[str, Any]]:
    message = {
        "type": "like.delivered",
        "post_id": post_id,
        "followers": followers,
        "ms": round(ms, 1),
    }
    return user_group(liker_id), message


def notification(
    *, user_id: int, notification: dict[str, Any], unread: int
) -> tuple[str, dict[str, Any]]:
    """A notification of this user's is new or changed (``actors_count`` 0: it is gone)."""
    message = {"type": "notification", "notification": notification, "unread": unread}
    return user_group(user_id), message


def access_ended(
    *, user_id: int, token: int | None, session: str | None
) -> tuple[str, dict[str, Any]]:
    """To the user's sockets, not relayed: some access of theirs ended (this token, this
    session, or, with neither, the account); each socket opened with it closes
    (``feed.ws_auth.access_ended_for``)."""
    message = {"type": "access.ended", "token": token, "session": session}
    return user_group(user_id), message
