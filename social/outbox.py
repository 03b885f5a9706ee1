"""A post is its own outbox: ``fanned_out_at IS NULL`` means its fan-out is still owed.

As a like's (``likes.outbox``): the fan-out marks the post done once every follower's feed
holds it, and the sweeper (``feed.tasks.sweep_owed_fanouts``) re-queues posts owed for
longer than a bound (a message lost to a broker outage or a crashed worker), where before
a post's fan-out relied on its task's late ack and the broker's visibility timeout only.
This module writes only that one column; ``feed.fanout``'s post kind hands it to the
pipeline.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone

from .models import Post


def posts_mark_fanned_out(*, post_ids: Collection[int]) -> set[int]:
    """Mark these posts' fan-out complete, in one statement: the ids marked by this call (a
    concurrent run of the same posts gets the others, so each is reported once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE social_post SET fanned_out_at = now() "
            "WHERE id = ANY(%s) AND fanned_out_at IS NULL RETURNING id",
            [list(post_ids)],
        )
        return {row[0] for row in cursor.fetchall()}


def posts_owed(*, older_than: timedelta, limit: int = 1000) -> list[int]:
    """Ids of posts whose fan-out is owed for longer than ``older_than``, oldest first."""
    cutoff = timezone.now() - older_than
    rows = Post.objects.filter(fanned_out_at__isnull=True, created_at__lt=cutoff)
    return list(rows.order_by(F("created_at")).values_list("pk", flat=True)[:limit])
