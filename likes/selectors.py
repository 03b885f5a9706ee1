"""Reads of likes, for the API and for the fan-out (which gets ids and calls these)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Max

from social import cursors
from social.render import iso, user_ref
from social.selectors import Page, post_get

from .models import Like


@dataclass(frozen=True, slots=True)
class LikeFacts:
    id: int
    user_id: int
    post_id: int
    created_at: datetime
    fanned_out: bool


def likes_facts(*, like_ids: Iterable[int]) -> list[LikeFacts]:
    """What the fan-out needs of these likes, in one query (the gone ones are left out)."""
    rows = Like.objects.filter(pk__in=set(like_ids)).values_list(
        "pk", "user_id", "post_id", "created_at", "fanned_out_at"
    )
    return [LikeFacts(r[0], r[1], r[2], r[3], r[4] is not None) for r in rows]


def likes_existing(*, like_ids: Iterable[int]) -> set[int]:
    return set(Like.objects.filter(pk__in=set(like_ids)).values_list("pk", flat=True))


def liked_pairs(*, pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these (user, post) pairs are likes, in one query: ``liked_by_me`` for one
    viewer's page of posts, one post's chunk of followers, or a batch's followers of many
    posts alike."""
    wanted = set(pairs)
    if not wanted:
        return set()
    users = {u for u, _ in wanted}
    posts = {p for _, p in wanted}
    rows = Like.objects.filter(user_id__in=users, post_id__in=posts).values_list(
        "user_id", "post_id"
    )
    return {pair for pair in rows if pair in wanted}


def like_times(*, like_ids: Iterable[int]) -> dict[int, datetime]:
    """When each of these likes was made; likes that no longer exist are absent."""
    return dict(Like.objects.filter(pk__in=set(like_ids)).values_list("pk", "created_at"))


@dataclass(frozen=True, slots=True)
class LikesSince:
    """The likes of a post above a like id: how many, the newest id, the newest likers."""

    count: int
    last_like_id: int
    recent_usernames: list[str]


def likes_since(
    *, post_id: int, after_like_id: int, exclude_user_id: int, names: int = 2
) -> LikesSince:
    """Likes of a post with an id above ``after_like_id`` (someone's own likes left out),
    for a digest such as "alice and 3 others liked your post"."""
    rows = Like.objects.filter(post_id=post_id, pk__gt=after_like_id).exclude(
        user_id=exclude_user_id
    )
    totals = rows.aggregate(count=Count("pk"), last=Max("pk"))
    recent = rows.order_by("-pk").values_list("user__username", flat=True)[:names]
    return LikesSince(totals["count"], totals["last"] or after_like_id, list(recent))


def likes_stored_total() -> int:
    """Like rows ever inserted into this database, from PostgreSQL's own statistics
    (``pg_stat_user_tables.n_tup_ins``): free on the hot path, where a counter of ours would
    cost a round trip per like. A duplicate like inserts nothing and is not counted. The
    server publishes these figures about once a second under load (within 10 s when idle),
    and resets them with ``pg_stat_reset()``; rates are read off the difference."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = %s", [Like._meta.db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def post_likers_page(*, post_id: int, limit: int, before: str | None) -> Page:
    """Who likes a post, newest first: ``{"user": UserRef, "liked_at"}`` each. Two queries
    whatever the page's length (the post, for its 404; the likes with their users), on the
    index ``(post, created_at, id)``. Deactivated accounts are left out."""
    post_get(post_id=post_id)
    rows = (
        Like.objects.filter(post_id=post_id, user__is_active=True)
        .filter(cursors.older_than(before, time_field="created_at"))
        .select_related("user")
        .only("pk", "created_at", "user__id", "user__username")
        .order_by("-created_at", "-pk")
    )
    likes = list(rows[: limit + 1])
    more = len(likes) > limit
    likes = likes[:limit]
    return Page(
        items=[{"user": user_ref(like.user), "liked_at": iso(like.created_at)} for like in likes],
        next=cursors.encode(likes[-1].created_at, likes[-1].pk) if more else None,
    )
