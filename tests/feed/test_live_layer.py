"""The channels-redis internals ``feed.live`` overrides, pinned and exercised in one place.

``feed.live.BoundedPubSubChannelLayer`` subclasses channels-redis' pub/sub layer and
overrides or relies on private names of the release in ``requirements.lock``
(``TESTED_CHANNELS_REDIS``): ``RedisPubSubChannelLayer._get_layer`` (with ``_layers``,
``_args``, ``_kwargs`` and ``utils._wrap_close``), ``RedisPubSubLoopLayer._shards``,
``_subscribe_to_channel``, ``_get_group_channel_name``, its ``channels`` and ``groups`` maps,
and ``RedisSingleShardConnection._receive_message``. Each test below is named after what it
exercises, against a real Redis: an upgrade that changes one of them fails that test
(and ``feed.live`` refuses to load with another version until the pin moves).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import channels_redis
import pytest
from channels.layers import get_channel_layer
from channels_redis.utils import decode_hosts
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.redis import get_redis
from feed import live
from feed.live import (
    FEED_ITEMS_CHANNEL,
    BatchingShardConnection,
    BoundedPubSubChannelLayer,
    BoundedPubSubLoopLayer,
    DropOldestQueue,
)
from tests.conftest import ROOT

HEAD, UNLIKED, LIKED = '{"type":"feed.item","seq":', ',"liked":false}', ',"liked":true}'


def new_layer(capacity: int = 3, hosts: list[str] | None = None) -> BoundedPubSubChannelLayer:
    """A layer of its own (a prefix no other test or process uses)."""
    prefix = f"{settings.REDIS_PREFIX}:livetest:{uuid.uuid4().hex[:8]}:"
    return BoundedPubSubChannelLayer(
        hosts=hosts or [settings.REDIS_URL], prefix=prefix, capacity=capacity
    )


def publish_batch(layer: BoundedPubSubChannelLayer, entries: list[tuple[int, int, bool]]) -> None:
    """What ``feed.live.feed_items_publish`` sends, on this layer's batch channel."""
    flat = [n for uid, seq, by in entries for n in (uid, seq, 1 if by else 0)]
    channel = f"{layer._get_layer().prefix}{FEED_ITEMS_CHANNEL}"
    get_redis().publish(channel, live.feed_items_pack([(HEAD, UNLIKED, LIKED, flat)]))


def subscribers(channel: str) -> int:
    return int(dict(get_redis().pubsub_numsub(channel)).get(channel.encode(), 0))


async def eventually(predicate: Callable[[], Any], within_s: float = 5.0) -> Any:
    deadline = time.monotonic() + within_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"not within {within_s}s: {value!r}"
        await asyncio.sleep(0.02)
    return value


async def receive(layer: BoundedPubSubChannelLayer, channel: str) -> dict[str, Any]:
    message: dict[str, Any] = await asyncio.wait_for(layer.receive(channel), 5)
    return message


async def nothing_arrives(layer: BoundedPubSubChannelLayer, channel: str) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), 0.5)
    except TimeoutError:
        return True
    return False


def test_channels_redis_is_the_pinned_tested_version_and_another_is_refused():
    assert channels_redis.__version__ == live.TESTED_CHANNELS_REDIS
    lock = (ROOT / "requirements.lock").read_text().splitlines()
    assert f"channels_redis=={live.TESTED_CHANNELS_REDIS}" in lock
    live.check_channels_redis(live.TESTED_CHANNELS_REDIS)
    with pytest.raises(ImproperlyConfigured, match=r"channels-redis==4\.3\.0.*test_live_layer"):
        live.check_channels_redis("4.4.0")


def test_settings_use_the_bounded_layer():
    assert settings.CHANNEL_LAYERS["default"]["BACKEND"] == "feed.live.BoundedPubSubChannelLayer"
    assert isinstance(get_channel_layer(), BoundedPubSubChannelLayer)


def test_get_layer_makes_one_bounded_loop_layer_per_loop_and_flushes_it_when_the_loop_closes():
    """``_get_layer``, ``_layers``, ``_args``/``_kwargs`` and ``utils._wrap_close``."""
    layer = new_layer(capacity=3)
    loop = asyncio.new_event_loop()

    async def inside() -> tuple[BoundedPubSubLoopLayer, BoundedPubSubLoopLayer, str]:
        first, again = layer._get_layer(), layer._get_layer()
        return first, again, await layer.new_channel()  # opens the shard's connection

    first, again, channel = loop.run_until_complete(inside())
    assert first is again and type(first) is BoundedPubSubLoopLayer
    assert (first.capacity, first.channel_layer) == (3, layer)
    assert first.prefix == layer._kwargs["prefix"]
    assert layer._layers == {loop: first}
    assert channel in first.channels and first._shards[0]._redis is not None
    loop.close()  # _wrap_close: the loop's layer is flushed and forgotten
    assert layer._layers == {}
    assert first.channels == {} and first._shards[0]._redis is None


def test_shards_are_replaced_by_batching_connections_to_the_same_hosts():
    """``RedisPubSubLoopLayer._shards`` and ``RedisSingleShardConnection(host, layer)``."""
    hosts = [settings.REDIS_URL, settings.REDIS_URL]
    layer = new_layer(hosts=hosts)

    async def scenario() -> BoundedPubSubLoopLayer:
        return layer._get_layer()

    loop_layer = asyncio.run(scenario())
    assert [type(shard) for shard in loop_layer._shards] == [BatchingShardConnection] * 2
    assert [shard.host for shard in loop_layer._shards] == decode_hosts(hosts)
    assert all(shard.channel_layer is loop_layer for shard in loop_layer._shards)


def test_subscribe_to_channel_gives_a_bounded_inbox_that_drops_the_oldest():
    """``_subscribe_to_channel`` and ``channels``, filled by ``_receive_message``: a socket's
    inbox keeps the newest ``capacity`` messages; every channel also subscribes its process
    to the feed-item batches."""

    async def scenario() -> tuple[DropOldestQueue, int, list[int]]:
        layer = new_layer(capacity=3)
        channel = await layer.new_channel()
        loop_layer = layer._get_layer()
        inbox = loop_layer.channels[channel]
        batches = await eventually(lambda: subscribers(loop_layer.feed_items_name))
        for n in range(10):
            await layer.send(channel, {"type": "x", "n": n})
        await eventually(lambda: inbox.dropped == 7)
        kept = [(await receive(layer, channel))["n"] for _ in range(inbox.qsize())]
        await layer.flush()
        return inbox, batches, kept

    inbox, batches, kept = asyncio.run(scenario())
    assert type(inbox) is DropOldestQueue and inbox.maxsize == 3
    assert batches == 1
    assert kept == [7, 8, 9]


def test_receive_message_hands_a_batch_to_exactly_the_local_sockets_of_the_named_users():
    """``RedisSingleShardConnection._receive_message``: a batch becomes a ``feed.item`` in
    the inbox of each local socket of each named user, and nowhere else; every other
    message still goes the library's way (here a ``group_send``)."""

    async def scenario() -> dict[str, list[dict[str, Any]]]:
        layer = new_layer(capacity=10)
        names = ("alice_1", "alice_2", "bob", "carol", "post_viewer")
        sockets = {name: await layer.new_channel() for name in names}
        await layer.group_add("user.1", sockets["alice_1"])
        await layer.group_add("user.1", sockets["alice_2"])
        await layer.group_add("user.2", sockets["bob"])
        await layer.group_add("user.3", sockets["carol"])  # not named in the batch
        await layer.group_add("post.1", sockets["post_viewer"])  # a post group, not a user
        publish_batch(layer, [(1, 7, False), (2, 3, True), (9, 1, False)])  # 9: no socket here
        await layer.group_send("post.1", {"type": "post.likes", "post_id": 1, "like_count": 2})
        got: dict[str, list[dict[str, Any]]] = {}
        for name in ("alice_1", "alice_2", "bob", "post_viewer"):
            got[name] = [await receive(layer, sockets[name])]
            assert await nothing_arrives(layer, sockets[name])
        assert await nothing_arrives(layer, sockets["carol"])
        await layer.flush()
        return got

    got = asyncio.run(scenario())
    alices = [{"type": "feed.item", "seq": 7, "text": f"{HEAD}7{UNLIKED}"}]
    assert got["alice_1"] == got["alice_2"] == alices
    assert got["bob"] == [{"type": "feed.item", "seq": 3, "text": f"{HEAD}3{LIKED}"}]
    assert got["post_viewer"] == [{"type": "post.likes", "post_id": 1, "like_count": 2}]


def test_group_add_and_discard_keep_the_groups_map_the_batch_reads():
    """``_get_group_channel_name`` and ``groups``: the batch finds a user's sockets under
    ``feed.live.group_channel``; after ``group_discard`` it finds none, and the process
    leaves the group's pub/sub channel."""

    async def scenario() -> None:
        layer = new_layer()
        loop_layer = layer._get_layer()
        socket = await layer.new_channel()
        name = live.group_channel(live.user_group(5), loop_layer.prefix)
        assert loop_layer._get_group_channel_name(live.user_group(5)) == name

        await layer.group_add(live.user_group(5), socket)
        assert loop_layer.groups[name] == {socket}
        await eventually(lambda: subscribers(name) == 1)
        publish_batch(layer, [(5, 1, False)])
        assert (await receive(layer, socket))["seq"] == 1

        await layer.group_discard(live.user_group(5), socket)
        assert name not in loop_layer.groups
        await eventually(lambda: subscribers(name) == 0)
        publish_batch(layer, [(5, 2, False)])
        await layer.group_send(live.user_group(5), live.feed_item(3, "t"))
        assert await nothing_arrives(layer, socket)
        await layer.flush()

    asyncio.run(scenario())


def test_group_channel_is_the_layers_own_name_under_the_settings_prefix():
    async def scenario() -> str:
        layer = get_channel_layer()
        assert layer is not None
        name: str = layer._get_layer()._get_group_channel_name(live.post_group(17))
        return name

    assert asyncio.run(scenario()) == live.group_channel(live.post_group(17))
    assert live.group_channel("post.17") == f"{settings.CHANNEL_LAYER_PREFIX}__group__post.17"
