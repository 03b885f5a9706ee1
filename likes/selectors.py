"""Reads of likes, for the API and for the fan-out (which gets ids and calls these)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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


# The social context of posts for their readers, in one statement (``feed.fanout.
# post_contexts``): the people each reader follows who like each post (the newest 3, and how
# many), the readers' own likes of the posts, and which of the posts' authors they follow.
# Readers and posts come as two lists (a page: one reader, its posts; a fan-out chunk: its
# followers, one post; a batch: both), and the pairs not asked for are dropped afterwards.
# The readers' id range bounds the scan of each liker's followers: a chunk's followers are a
# run of ascending ids (keyset pages), so a liker with many followers (the one whose like is
# being fanned out, every time) is read for that run only, not whole for every chunk. The
# same range bounds the third part (which authors each reader follows), on the (followee,
# follower) index: without it that part read every follower of the author (a celebrity's
# million) or every follow of every reader, each checked against the list of readers
# (``post_contexts`` has the figures).
_CONTEXTS_SQL = """
SELECT 0, uid, post_id, user_id, username, created_at, n FROM (
    SELECT f.follower_id AS uid, l.post_id, l.user_id, u.username, l.created_at,
           row_number() OVER (PARTITION BY f.follower_id, l.post_id
                              ORDER BY l.created_at DESC, l.id DESC) AS rn,
           count(*) OVER (PARTITION BY f.follower_id, l.post_id) AS n
    FROM likes_like l
    JOIN social_follow f ON f.followee_id = l.user_id
        AND f.follower_id BETWEEN %(lo)s AND %(hi)s AND f.follower_id = ANY(%(u)s)
    JOIN social_user u ON u.id = l.user_id AND u.is_active
    WHERE l.post_id = ANY(%(p)s)
) ranked WHERE rn <= 3
UNION ALL
SELECT 1, user_id, post_id, NULL, NULL, NULL, NULL FROM likes_like
WHERE user_id = ANY(%(u)s) AND post_id = ANY(%(p)s)
UNION ALL
SELECT 2, follower_id, NULL, followee_id, NULL, NULL, NULL FROM social_follow
WHERE followee_id = ANY(%(a)s) AND follower_id BETWEEN %(lo)s AND %(hi)s
    AND follower_id = ANY(%(u)s)
"""


@dataclass(slots=True)
class _Context:
    liked_by_me: bool = False
    likers: list[tuple[datetime, int, str]] = field(default_factory=list)
    likers_count: int = 0


def post_contexts(
    *, triples: list[tuple[int, int, int]]
) -> dict[tuple[int, int], tuple[bool, bool, list[tuple[int, str]], int, datetime | None]]:
    """For each (reader, post, author): (follows the author or is them, likes it, the people
    they follow who like it newest first (id, username; at most 3), how many they are, when
    the newest of them liked it). One query whatever the number of readers and posts.

    Measured (wall time of ``post_contexts`` with DEBUG off, and EXPLAIN (ANALYZE, BUFFERS);
    medians of 30 runs of the old and the new statement interleaved in one run; PostgreSQL
    15 on a 2-core machine shared with other jobs, load average ~4) on a graph seeded by
    ``loadtest.seed.seed_graph(GraphSpec(users=10_000, posts=20_000, follows_per_user=23))``
    (201,645 follows, Zipf) plus 180,222 likes (20 a user, Zipf over posts), VACUUM
    ANALYZE; a chunk is 1,000 followers (a run of ascending ids) of the most-followed user:

    - chunk x a post with 5-10 likes (the usual like): 7.69 ms → 5.68 ms wall, execution
      2.93 ms → 0.58 ms, 2,243 → 82 buffers (planning 1.6 ms both; ``liked_pairs`` for the
      same pairs: 7.38 ms). The cause was the third part: with no bound on the follower
      side PostgreSQL read every follow of every reader through the follower index and kept
      the author's (20,235 rows for 141; in another run of the planner, every follower of
      the author through (followee, follower), each checked against the 1,000 readers);
      bounded by the readers' id range it reads 161 rows of (followee, follower).
    - chunk x a post with 8,526 likes: 59 ms → 65 ms wall (noise: 41.4 → 42.3 ms execution,
      8,462 buffers both). Dominated by the first part, which is the information itself: the
      16,615 (reader, followed liker) pairs it counts and ranks (``liked_pairs``, which
      computed none of it: 9.9 ms). Left: the single-column indexes Django adds to the
      foreign keys (likes_like.user_id, .post_id, social_follow.follower_id, .followee_id)
      lead the planner into reading all the readers' likes (18,153 rows for 859) where the
      (user, post) unique index would probe; dropped, this case read 7,837 buffers instead
      of 10,830, and each like would update two indexes fewer. Not dropped here (a migration
      of its own).
    - a page, 1 reader x 20 posts: 1.03 ms → 1.04 ms (124 buffers both).

    Command: a script, not committed, timing ``post_contexts`` with ``_CONTEXTS_SQL`` set to
    the old and the new text in turn and running ``EXPLAIN (ANALYZE, BUFFERS)`` on each."""
    if not triples:
        return {}
    readers = sorted({t[0] for t in triples})
    found: dict[tuple[int, int], _Context] = {}
    follows: set[tuple[int, int]] = set()
    with connection.cursor() as cursor:
        cursor.execute(
            _CONTEXTS_SQL,
            {
                "u": readers,
                "lo": readers[0],
                "hi": readers[-1],
                "p": sorted({t[1] for t in triples}),
                "a": sorted({t[2] for t in triples}),
            },
        )
        for part, uid, post_id, other, name, at, n in cursor.fetchall():
            if part == 2:
                follows.add((uid, other))
                continue
            context = found.setdefault((uid, post_id), _Context())
            if part == 0:
                context.likers.append((at, other, name))
                context.likers_count = n
            else:
                context.liked_by_me = True
    result = {}
    for uid, post_id, author_id in triples:
        c = found.get((uid, post_id), _Context())
        c.likers.sort(key=lambda row: (row[0], row[1]), reverse=True)
        follows_author = uid == author_id or (uid, author_id) in follows
        if not (follows_author or c.liked_by_me or c.likers):
            continue
        result[(uid, post_id)] = (
            follows_author,
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


def likes_recent_by(
    *, user_ids: Iterable[int], since: datetime, limit: int
) -> list[tuple[int, datetime]]:
    """The posts these users liked since ``since``, each with its newest like of theirs,
    newest first, at most ``limit``: (post id, liked at)."""
    rows = (
        Like.objects.filter(user_id__in=list(user_ids), created_at__gte=since)
        .values("post_id")
        .annotate(at=Max("created_at"))
        .order_by("-at")
        .values_list("post_id", "at")[:limit]
    )
    return list(rows)
