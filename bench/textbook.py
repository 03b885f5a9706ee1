"""The textbook like and the textbook live push, kept only as the baselines ``make bench``
compares against.

This is what most tutorials write: ``get_or_create`` in a transaction, an ``F()`` update of
the counter, ``.delay()`` on commit. It is correct, and it costs several round trips per
like (SAVEPOINT, SELECT, INSERT, RELEASE, UPDATE, SELECT, plus BEGIN/COMMIT) where
``likes.services.like_create`` needs one statement. Not part of the application: it lives
under ``bench/`` and is routed only by the bench's own URLconf (``bench.urls``).

The textbook push (``textbook_feed_items_publish``) is what a Channels tutorial's fan-out
task does: ``async_to_sync(channel_layer.group_send)`` once per follower, where
``feed.live.feed_items_publish`` sends one pub/sub message per batch. The bench's push knee
(``push_knee_vs_textbook``) runs it in the stack's own workers, in the same run, by turning
on ``TEXTBOOK_PUSH_KEY`` (``bench.apps`` puts the switch in front of the batch publish): the
same likes, fan-out, event log and sockets, only the publish differs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import viewer
from config.redis import get_redis
from config.throttling import LikeRateThrottle
from feed import live
from feed import tasks as feed_tasks
from likes.models import Like
from likes.services import LikeState
from social.models import Post


def textbook_like_create(*, user_id: int, post_id: int) -> LikeState:
    with transaction.atomic():
        like, created = Like.objects.get_or_create(
            user_id=user_id, post_id=post_id, defaults={"created_at": timezone.now()}
        )
        if created:
            Post.objects.filter(pk=post_id).update(
                like_count=F("like_count") + 1, likes_version=F("likes_version") + 1
            )
            transaction.on_commit(lambda: feed_tasks.fanout.delay("like", [like.pk]))
        like_count, version = Post.objects.values_list("like_count", "likes_version").get(
            pk=post_id
        )
    return LikeState(post_id=post_id, liked=True, like_count=like_count, likes_version=version)


class TextbookLikeApi(APIView):
    """The textbook like *view*: same authentication, permission and answer as
    ``likes.apis.LikeApi``, over ``textbook_like_create``. Routed only by ``bench.urls``."""

    throttle_classes = [LikeRateThrottle]  # as the real view: the same work but the like

    @extend_schema(exclude=True)
    def post(self, request: Request, post_id: int) -> Response:
        return Response(asdict(textbook_like_create(user_id=viewer(request).pk, post_id=post_id)))


def textbook_push_key() -> str:
    """While this Redis key exists, the stack's workers publish feed items the textbook way."""
    return f"{settings.REDIS_PREFIX}:bench:textbook_push"


TEXTBOOK_PUSH_RECHECK_S = 0.2  # how stale a worker's reading of the switch may be
_switch: dict[str, float | bool] = {"read_at": 0.0, "on": False}


def textbook_push_on() -> bool:
    """The switch, read from Redis at most every ``TEXTBOOK_PUSH_RECHECK_S`` per process."""
    now = time.monotonic()
    if now - float(_switch["read_at"]) > TEXTBOOK_PUSH_RECHECK_S:
        _switch.update(read_at=now, on=bool(get_redis().exists(textbook_push_key())))
    return bool(_switch["on"])


def textbook_feed_items_publish(
    batches: Iterable[tuple[tuple[str, str, str], Iterable[tuple[int, int, bool]]]],
) -> None:
    """``feed.live.feed_items_publish``'s batches sent as a tutorial sends them: one
    ``async_to_sync(group_send)`` per follower, the message ``feed_items_deliver`` would
    have put in the follower's sockets' inboxes."""
    layer = get_channel_layer()
    assert layer is not None
    send: Any = async_to_sync(layer.group_send)
    for (head, unliked, liked), entries in batches:
        for user_id, seq, by in entries:
            send(
                live.user_group(user_id),
                live.feed_item(seq, f"{head}{seq}{liked if by else unliked}"),
            )
