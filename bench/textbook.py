"""The textbook like, kept only as the baseline ``make bench`` compares against.

This is what most tutorials write: ``get_or_create`` in a transaction, an ``F()`` update of
the counter, ``.delay()`` on commit. It is correct, and it costs several round trips per
like (SAVEPOINT, SELECT, INSERT, RELEASE, UPDATE, SELECT, plus BEGIN/COMMIT) where
``likes.services.like_create`` needs one statement. Not part of the application: it lives
under ``bench/`` and is routed only by the bench's own URLconf (``bench.urls``).
"""

from __future__ import annotations

from dataclasses import asdict

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import viewer
from config.throttling import LikeRateThrottle
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
