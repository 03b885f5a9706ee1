"""Live events out of sync code (Celery tasks), grouped: one Redis round trip per batch.

Consumers join Channels groups (``user.<id>`` for a person's own events, ``post.<id>`` for
the posts on their screen). The channel layer is channels-redis' pub/sub layer, whose
``group_send`` is one ``PUBLISH`` of the serialised message to the group's channel. A
fan-out sends hundreds of those at a time, so instead of one ``async_to_sync(group_send)``
per follower (≈2.2 ms each, DESIGN.md) this publishes the same bytes through one pipeline.
``tests/feed/test_events.py`` holds the equivalence with the layer's own ``group_send``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from config.redis import get_redis


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def post_group(post_id: int) -> str:
    return f"post.{post_id}"


def _group_channel(group: str) -> str:
    # channels_redis.pubsub.RedisPubSubLoopLayer._get_group_channel_name
    return f"{settings.CHANNEL_LAYER_PREFIX}__group__{group}"


def publish(messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Send each (group, message) as ``group_send`` would, in one pipelined round trip."""
    layer = get_channel_layer()
    assert layer is not None
    pipe = get_redis().pipeline(transaction=False)
    for group, message in messages:
        pipe.publish(_group_channel(group), layer.serialize(message))
    if len(pipe):
        pipe.execute()


def feed_item(*, user_id: int, seq: int, text: str) -> tuple[str, dict[str, Any]]:
    """A ``feed.item`` for a follower's sockets: ``text`` is the message exactly as logged
    under ``seq`` in their event log, so a consumer relays it without re-encoding and can
    tell from ``seq`` whether it missed one (then it reads the log)."""
    return user_group(user_id), {"type": "feed.item", "seq": seq, "text": text}


def post_likes(*, post_id: int, like_count: int) -> tuple[str, dict[str, Any]]:
    return post_group(post_id), {"type": "post.likes", "post_id": post_id, "like_count": like_count}


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
