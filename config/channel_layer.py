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
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer
from channels_redis.utils import _wrap_close

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 100


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


class BoundedPubSubLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, capacity: int = DEFAULT_CAPACITY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capacity = capacity

    async def _subscribe_to_channel(self, channel: str) -> None:
        self.channels[channel] = DropOldestQueue(maxsize=self.capacity)
        await self._get_shard(channel).subscribe(channel)


class BoundedPubSubChannelLayer(RedisPubSubChannelLayer):
    """``RedisPubSubChannelLayer`` whose per-loop layer bounds each channel's inbox
    (``CONFIG: {"capacity": n}``); everything else, wire format included, is unchanged."""

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = BoundedPubSubLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
        return layer
