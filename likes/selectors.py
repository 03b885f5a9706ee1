"""Reads of likes, for the API and for the fan-out (which gets ids and calls these)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Count, Max

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


# The social context of posts for their readers, in one statement (``feed.fanout.
# post_contexts``): per (reader, post) the people the reader follows who like the post (the
# newest 3, and how many), whether the reader likes it, and whether they follow its author.
_CONTEXTS_SQL = """
WITH w AS (
    SELECT DISTINCT * FROM unnest(%(u)s::bigint[], %(p)s::bigint[], %(a)s::bigint[])
        AS t(uid, post_id, author_id)
), ranked AS (
    SELECT w.uid, w.post_id, l.user_id, u.username, l.created_at,
           row_number() OVER (PARTITION BY w.uid, w.post_id
                              ORDER BY l.created_at DESC, l.id DESC) AS rn,
           count(*) OVER (PARTITION BY w.uid, w.post_id) AS n
    FROM w
    JOIN social_follow f ON f.follower_id = w.uid
    JOIN likes_like l ON l.user_id = f.followee_id AND l.post_id = w.post_id
    JOIN social_user u ON u.id = l.user_id AND u.is_active
)
SELECT 0, uid, post_id, user_id, username, created_at, n FROM ranked WHERE rn <= 3
UNION ALL
SELECT 1, w.uid, w.post_id, NULL, NULL, NULL, NULL
FROM w JOIN likes_like m ON m.user_id = w.uid AND m.post_id = w.post_id
UNION ALL
SELECT 2, w.uid, w.post_id, NULL, NULL, NULL, NULL
FROM w WHERE w.uid = w.author_id OR EXISTS (
    SELECT 1 FROM social_follow f WHERE f.follower_id = w.uid AND f.followee_id = w.author_id
)
"""


@dataclass(slots=True)
class _Context:
    follows_author: bool = False
    liked_by_me: bool = False
    likers: list[tuple[datetime, int, str]] = field(default_factory=list)
    likers_count: int = 0


def post_contexts(
    *, triples: list[tuple[int, int, int]]
) -> dict[tuple[int, int], tuple[bool, bool, list[tuple[int, str]], int, datetime | None]]:
    """For each (reader, post, author): (follows the author or is them, likes it, the people
    they follow who like it newest first (id, username; at most 3), how many they are, when
    the newest of them liked it). One query whatever the number of readers and posts: a
    feed page (one reader, its posts) or a fan-out chunk (its followers, one post)."""
    if not triples:
        return {}
    found: dict[tuple[int, int], _Context] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _CONTEXTS_SQL,
            {
                "u": [t[0] for t in triples],
                "p": [t[1] for t in triples],
                "a": [t[2] for t in triples],
            },
        )
        for part, uid, post_id, liker, name, at, n in cursor.fetchall():
            context = found.setdefault((uid, post_id), _Context())
            if part == 0:
                context.likers.append((at, liker, name))
                context.likers_count = n
            elif part == 1:
                context.liked_by_me = True
            else:
                context.follows_author = True
    result = {}
    for key, c in found.items():
        c.likers.sort(key=lambda row: (row[0], row[1]), reverse=True)
        result[key] = (
            c.follows_author,
            c.liked_by_me,
            [(liker, name) for _, liker, name in c.likers],
            c.likers_count,
            c.likers[0][0] if c.likers else None,
        )
    return result


def likes_of_posts(*, post_ids: Iterable[int]) -> list[tuple[int, int, int]]:
    """Every like of these posts as (like, liker, post)."""
    rows = Like.objects.filter(post_id__in=set(post_ids)).values_list("pk", "user_id", "post_id")
    return [(r[0], r[1], r[2]) for r in rows]


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
