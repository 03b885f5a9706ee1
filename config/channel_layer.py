"""channels-redis' pub/sub layer with a bounded inbox per socket: a slow reader costs at most
``capacity`` messages of memory, never an unbounded queue.

In ``RedisPubSubChannelLayer`` each consumer's channel is an unbounded ``asyncio.Queue``
that the layer's Redis reader fills as messages are published. A consumer writes to its
socket with backpressure (``await send`` waits while the client does not read), so a client
that stops reading stops the consumer, and its queue would grow for as long as events keep
coming: one stalled phone could hold every event of a busy account in the server's memory.

Here the queue holds at most ``capacity`` messages; when it is full the *oldest* is dropped
(``channels_redis``' own ``RedisChannelLayer`` also drops, silently, for group sends). That
is safe for what we send: a ``feed.item`` carries its ``seq`` and is also in the user's event
log, so the consumer sees the gap at the next item it relays and replays the rest from the
log; ``post.likes`` carries the absolute count, so the newest one (always kept) is the truth;
``like.delivered`` is informative only. Dropping the oldest rather than the newest keeps that
newest message, which is what lets the consumer notice the gap at all.

**Feed items arrive by the batch.** A fan-out delivers one event to hundreds of followers;
published one ``group_send`` per follower, every web process would receive, parse and route
one pub/sub message per follower (and Redis would send each). Instead ``feed.live``
publishes one message per batch on one channel (``FEED_ITEMS_CHANNEL``) that every web
process subscribes to: the follower ids, seqs and the two variants of the item, packed
once. Each process unpacks it and puts a ``feed.item`` in the inbox of every local socket
in the ``user.<id>`` group, exactly the message ``group_send`` would have put there (already
decoded: ``deserialize`` passes it through). Consumers cannot tell the difference.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgpack
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 100
FEED_ITEMS_CHANNEL = "__feed_items__"  # after the layer's prefix; see feed.live


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


def feed_items_pack(batches: list[tuple[str, str, str, list[int]]]) -> bytes:
    """One pub/sub message for many ``feed.item``s: per event its text around the seq
    (head, tail when not liked, tail when liked) and a flat [user, seq, liked, ...] list."""
    packed: bytes = msgpack.packb(batches, use_bin_type=True)
    return packed


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
        self._user_group = f"{self.prefix}__group__user."

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
                text = f"{head}{seq}{liked if flat[i + 2] else unliked}"
                message = {"type": "feed.item", "seq": seq, "text": text}
                for channel in members:
                    inbox = channels.get(channel)
                    if inbox is not None:
                        inbox.put_nowait(message)


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):
    """``RedisPubSubChannelLayer`` whose per-loop layer bounds each channel's inbox
    (``CONFIG: {"capacity": n}``); everything else, wire format included, is unchanged."""

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
