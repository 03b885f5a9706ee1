"""A like is its own outbox: ``fanned_out_at IS NULL`` means a fan-out is still owed.

The fan-out marks the like done once every follower's feed holds it; the sweeper re-queues
likes owed for longer than a bound (a task lost to a broker outage or a crashed worker).
This module writes only that one column; ``likes.fanout`` hands it to the pipeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone

from .models import Like


def likes_mark_fanned_out(*, like_ids: list[int]) -> set[int]:
    """Mark these likes' fan-out complete, in one statement: the ids marked by this call (a
    concurrent run of the same likes gets the others, so each is reported once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE likes_like SET fanned_out_at = now() "
            "WHERE id = ANY(%s) AND fanned_out_at IS NULL RETURNING id",
            [list(like_ids)],
        )
        return {row[0] for row in cursor.fetchall()}


def likes_owed(*, older_than: timedelta, limit: int = 1000) -> list[int]:
    """Ids of likes whose fan-out is owed for longer than ``older_than``, oldest first."""
    cutoff = timezone.now() - older_than
    rows = Like.objects.filter(fanned_out_at__isnull=True, created_at__lt=cutoff).order_by(
        F("created_at")
    )
    return list(rows.values_list("pk", flat=True)[:limit])


def likes_owed_summary(*, cap: int = 10_000) -> tuple[datetime | None, int]:
    """When the oldest like still owed a fan-out was made (None: nothing owed) and how many
    are owed, counted up to ``cap`` (both read off the partial index of owed likes)."""
    owed = Like.objects.filter(fanned_out_at__isnull=True)
    oldest = owed.order_by("created_at").values_list("created_at", flat=True).first()
    if oldest is None:
        return None, 0
    return oldest, owed.values("pk")[:cap].count()
