"""The like hot path: one SQL statement stores (or removes) the row and moves the counter.

``like_create`` and ``like_delete`` are idempotent under any concurrency: the unique
``(user, post)`` row decides, and the counter moves only when a row was really inserted or
deleted, in the same statement (so in the same transaction). A fan-out task is queued only
after commit, and only when something changed.

Why raw SQL: the textbook ``get_or_create`` + ``F()`` update costs 3-5 round trips and ~2.4 ms
here; this statement is one round trip (~0.5 ms). See DESIGN.md, "Figures measured here".
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from config.asyncdb import async_pool
from config.exceptions import NotFound
from feed import tasks as feed_tasks

from .fanout_queue import fanout_queue


@dataclass(frozen=True, slots=True)
class LikeState:
    post_id: int
    liked: bool
    like_count: int


# One statement for all four cases: like or unlike, by user id (the Django view) or by API
# token (the event-loop path, likes.asgi). ``me`` names the acting user; ``changed`` inserts
# or deletes the row; the counter moves only if a row changed. Answer: (user id, id of the
# row changed or NULL, count or NULL for an unknown post); no row for an unknown token.
#
# When nothing changed, the count comes from the statement's snapshot, which can predate a
# concurrent like of the same pair that this one waited on (ON CONFLICT waits for it to
# commit): the answer would miss that like. FOR KEY SHARE on the read did not prevent it
# under load (tests/likes/test_like_api.py caught a duplicate answered 0 after its twin's
# 1), so the unchanged path re-reads the count in a second statement, whose new snapshot
# sees every like committed before it. A fresh like or unlike pays one round trip.
_STATEMENT = """
WITH me AS ({me}), changed AS ({change}), upd AS (
    UPDATE social_post SET like_count = like_count {sign} 1
    WHERE id = %(post)s AND EXISTS (SELECT 1 FROM changed)
    RETURNING like_count
)
SELECT (SELECT user_id FROM me), (SELECT id FROM changed),
       COALESCE((SELECT like_count FROM upd),
                (SELECT like_count FROM social_post WHERE id = %(post)s))
FROM me
"""
_BY_USER = "SELECT %(user)s::bigint AS user_id"
# DRF's TokenAuthentication in SQL: the key exists and its user is active.
_BY_TOKEN = """SELECT t.user_id FROM authtoken_token t JOIN social_user u ON u.id = t.user_id
    WHERE t.key = %(token)s AND u.is_active"""
_INSERT = """INSERT INTO likes_like (user_id, post_id, created_at)
    SELECT me.user_id, p.id, now() FROM me, social_post p WHERE p.id = %(post)s
    ON CONFLICT (user_id, post_id) DO NOTHING
    RETURNING id"""
_DELETE = """DELETE FROM likes_like WHERE user_id = (SELECT user_id FROM me) AND post_id = %(post)s
    RETURNING id"""

_COUNT_SQL = "SELECT like_count FROM social_post WHERE id = %(post)s"

_LIKE_SQL = _STATEMENT.format(me=_BY_USER, change=_INSERT, sign="+")
_UNLIKE_SQL = _STATEMENT.format(me=_BY_USER, change=_DELETE, sign="-")
_LIKE_BY_TOKEN_SQL = _STATEMENT.format(me=_BY_TOKEN, change=_INSERT, sign="+")
_UNLIKE_BY_TOKEN_SQL = _STATEMENT.format(me=_BY_TOKEN, change=_DELETE, sign="-")


def _run(sql: str, *, user_id: int, post_id: int) -> tuple[int | None, int]:
    """Run one like/unlike statement: (id of the row inserted/deleted or None, new count)."""
    # One statement is one transaction under autocommit: no BEGIN/COMMIT round trips. Inside
    # an outer atomic block it simply joins it, and on_commit below waits for that commit.
    with connection.cursor() as cursor:
        cursor.execute(sql, {"user": user_id, "post": post_id})
        _, like_id, like_count = cursor.fetchone()
        if like_id is None and like_count is not None:
            cursor.execute(_COUNT_SQL, {"post": post_id})
            (like_count,) = cursor.fetchone()
    if like_count is None:
        raise NotFound(f"post {post_id} does not exist")
    return like_id, like_count


def like_create(*, user_id: int, post_id: int) -> LikeState:
    """Like a post. Idempotent: liking again changes nothing and answers the same."""
    like_id, like_count = _run(_LIKE_SQL, user_id=user_id, post_id=post_id)
    if like_id is not None:
        # robust: the like is stored and is its own outbox (fanned_out_at IS NULL), so a
        # broker hiccup here is logged and swept up later rather than turned into a 500.
        transaction.on_commit(lambda: feed_tasks.fanout_like.delay(like_id), robust=True)
    return LikeState(post_id=post_id, liked=True, like_count=like_count)


def like_delete(*, user_id: int, post_id: int) -> LikeState:
    """Take a like back. Idempotent; a task removes its feed items after commit."""
    like_id, like_count = _run(_UNLIKE_SQL, user_id=user_id, post_id=post_id)
    if like_id is not None:
        transaction.on_commit(
            lambda: feed_tasks.unfanout_like.delay(like_id, user_id, post_id), robust=True
        )
    return LikeState(post_id=post_id, liked=False, like_count=like_count)


# --- the same statements for the event loop (likes.asgi), authenticated by an API token ---
#
# The token lookup joins the statement, so an authenticated like is still one round trip. No
# row comes back for an unknown token; a NULL count for an unknown post: the caller then
# hands the request to the full Django view, which answers those errors exactly as always.


_TOKEN_OWNER_SQL = """
SELECT u.id, u.username FROM authtoken_token t JOIN social_user u ON u.id = t.user_id
WHERE t.key = %(token)s AND u.is_active
"""


async def token_owner(*, token: str) -> tuple[int, str] | None:
    """(user id, username) of an API token's active owner; None for an unknown token."""
    pool = await async_pool()
    async with pool.connection() as conn:
        cursor = await conn.execute(_TOKEN_OWNER_SQL, {"token": token})
        row = await cursor.fetchone()
    return None if row is None else (row[0], row[1])


async def like_set_by_token(*, token: str, post_id: int, liked: bool) -> LikeState | None:
    """Like (or unlike) a post as the owner of an API token, in the event loop.

    Same statement, same idempotence and the same fan-out as ``like_create`` /
    ``like_delete``; None when the token or the post is unknown (nothing was changed).
    The statement commits on its own (autocommit), so the fan-out is queued after commit.
    """
    pool = await async_pool()
    async with pool.connection() as conn:
        cursor = await conn.execute(
            _LIKE_BY_TOKEN_SQL if liked else _UNLIKE_BY_TOKEN_SQL,
            {"token": token, "post": post_id},
        )
        row = await cursor.fetchone()
        if row is None or row[2] is None:
            return None
        user_id, like_id, like_count = row
        if like_id is None:
            cursor = await conn.execute(_COUNT_SQL, {"post": post_id})
            (like_count,) = await cursor.fetchone() or (like_count,)
    if like_id is not None:
        if liked:
            fanout_queue().like(like_id)
        else:
            fanout_queue().unlike(like_id, user_id, post_id)
    return LikeState(post_id=post_id, liked=liked, like_count=like_count)
