"""The textbook like, kept only as the baseline the benchmarks compare against.

This is what most tutorials write: ``get_or_create`` in a transaction, an ``F()`` update of
the counter, ``.delay()`` on commit. It is correct, and it costs several round trips per
like (SAVEPOINT, SELECT, INSERT, RELEASE, UPDATE, SELECT, plus BEGIN/COMMIT) where
``likes.services.like_create`` needs one statement. Never called by the application.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from feed import tasks as feed_tasks
from social.models import Post

from .models import Like
from .services import LikeState


def textbook_like_create(*, user_id: int, post_id: int) -> LikeState:
    with transaction.atomic():
        like, created = Like.objects.get_or_create(
            user_id=user_id, post_id=post_id, defaults={"created_at": timezone.now()}
        )
        if created:
            Post.objects.filter(pk=post_id).update(like_count=F("like_count") + 1)
            transaction.on_commit(lambda: feed_tasks.fanout_like.delay(like.pk))
        like_count = Post.objects.values_list("like_count", flat=True).get(pk=post_id)
    return LikeState(post_id=post_id, liked=True, like_count=like_count)
