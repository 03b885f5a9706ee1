"""Live events out of sync code (Celery tasks), grouped: one Redis round trip per batch.

Consumers join Channels groups (``user.<id>`` for a person's own events, ``post.<id>`` for
the posts on their screen). The channel layer is channels-redis' pub/sub layer, whose
``group_send`` is one ``PUBLISH`` of the serialised message to the group's channel. A
fan-out sends hundreds of those at a time, so instead of one ``async_to_sync(group_send)``
per follower (≈2.2 ms each, DESIGN.md) this publishes the same bytes through one pipeline.
``tests/feed/test_events.py`` holds the equivalence with the layer's own ``group_send``.
Feed items, nearly all the traffic, go further: one message per batch for every follower
of it (``feed_items_publish``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from config.channel_layer import FEED_ITEMS_CHANNEL, feed_items_pack
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


def feed_items_publish(
    batches: Iterable[tuple[tuple[str, str, str], Iterable[tuple[int, int, bool]]]],
) -> None:
    """Publish ``feed.item``s to followers' sockets, one pub/sub message for all of them.

    Each batch is an event's message around its seq (``store.feed_item_message_parts``)
    and (follower, seq, liked_by_me) for each follower it was logged for: the text a
    follower's socket gets is ``head + seq + tail``, exactly as logged under ``seq`` in
    their event log, so a consumer relays it without re-encoding and can tell from ``seq``
    whether it missed one (then it reads the log). Every web process receives the batch
    and hands each item to its own sockets of that follower (``config.channel_layer``):
    one message per fan-out chunk instead of one ``group_send`` per follower.
    """
    packed = []
    for (head, unliked, liked), entries in batches:
        flat = [n for uid, seq, by in entries for n in (uid, seq, 1 if by else 0)]
        if flat:
            packed.append((head, unliked, liked, flat))
    if packed:
        channel = f"{settings.CHANNEL_LAYER_PREFIX}{FEED_ITEMS_CHANNEL}"
        get_redis().publish(channel, feed_items_pack(packed))


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


def notification(
    *, user_id: int, notification: dict[str, Any], unread: int
) -> tuple[str, dict[str, Any]]:
    """A notification of this user's is new or changed (``actors_count`` 0: it is gone)."""
    message = {"type": "notification", "notification": notification, "unread": unread}
    return user_group(user_id), message
