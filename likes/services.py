"""The like hot path: one SQL statement stores (or removes) the row and moves the counter.

A like or unlike is idempotent under any concurrency: the unique ``(user, post)`` row
decides, and the counter moves only when a row was really inserted or deleted, in the same
statement (so in the same transaction). Its fan-out (or the removal of its items) is queued
only after commit, and only when something changed, through the fan-out's one queueing step
(``feed.queue``).

Two edges reach it: the Django view (``likes.apis``, by user id, in a worker thread) and the
event-loop hot path (``likes.asgi``, by API token). Below the edge they share everything:
one statement builder, one runner (``_steps``, written once as the list of statements and
what to do with each answer, driven by Django's cursor or by the event loop's psycopg
connection), one answer, and one way of queueing the fan-out (after commit, or batched in
the event loop). Only the I/O differs.

Why raw SQL: the textbook ``get_or_create`` + ``F()`` update costs 3-5 round trips and ~2.4 ms
here; this statement is one round trip (~0.5 ms). See DESIGN.md, "Figures measured here".
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from django.db import connection

from config.asyncdb import async_pool
from config.exceptions import NotFound
from feed import live, queue
from social.tokens import LIVE_SQL, live_params

from .fanout import KIND


@dataclass(frozen=True, slots=True)
class LikeState:
    post_id: int
    liked: bool
    like_count: int
    likes_version: int  # the post's likes_version that this count belongs to


# One statement for all four cases: like or unlike, by user id (the Django view) or by API
# token (the event-loop path, likes.asgi). ``me`` names the acting user; ``changed`` inserts
# or deletes the row; the counter and the post's ``likes_version`` move only if a row
# changed, together. Answer: (user id, id of the row changed or NULL, count or NULL for an
# unknown post, version); no row for an unknown token.
_STATEMENT = """
WITH me AS ({me}), changed AS ({change}), upd AS (
    UPDATE social_post SET like_count = like_count {sign} 1, likes_version = likes_version + 1
    WHERE id = %(post)s AND EXISTS (SELECT 1 FROM changed)
    RETURNING like_count, likes_version
)
SELECT me.user_id, (SELECT id FROM changed),
       COALESCE(upd.like_count, p.like_count), COALESCE(upd.likes_version, p.likes_version)
FROM me LEFT JOIN upd ON true LEFT JOIN social_post p ON p.id = %(post)s
"""
_BY_USER = "SELECT %(user)s::bigint AS user_id"
# The view's token check (social.tokens.TokenAuth) in SQL: the token's digest is stored, it
# is younger than TOKEN_TTL and its user is active. Checked by each statement, so a token
# revoked or expired a moment ago likes nothing, whatever a process has cached about it.
_BY_TOKEN = f"""SELECT t.user_id FROM social_apitoken t JOIN social_user u ON u.id = t.user_id
    WHERE {LIVE_SQL}"""
_INSERT = """INSERT INTO likes_like (user_id, post_id, created_at)
    SELECT me.user_id, p.id, now() FROM me, social_post p WHERE p.id = %(post)s
    ON CONFLICT (user_id, post_id) DO NOTHING
    RETURNING id"""
_DELETE = """DELETE FROM likes_like WHERE user_id = (SELECT user_id FROM me) AND post_id = %(post)s
    RETURNING id"""

# (liked, by token) → statement
_SQL = {
    (liked, by_token): _STATEMENT.format(
        me=_BY_TOKEN if by_token else _BY_USER,
        change=_INSERT if liked else _DELETE,
        sign="+" if liked else "-",
    )
    for liked in (True, False)
    for by_token in (True, False)
}

_COUNT_SQL = "SELECT like_count, likes_version FROM social_post WHERE id = %(post)s"


@dataclass(frozen=True, slots=True)
class _Outcome:
    user_id: int
    changed_id: int | None  # the like row inserted or deleted; None: nothing changed
    like_count: int
    likes_version: int


Statement = tuple[str, dict[str, Any]]
Row = tuple[Any, ...] | None


def _steps(*, liked: bool, post_id: int, user_id: int | None = None, token: str | None = None
           ) -> Generator[Statement, Row, _Outcome | None]:  # fmt: skip
    """The one SQL runner, as the statements it sends and what it does with each answer
    (each ``yield`` sends one statement and receives its first row). None: the token or the
    post is unknown (nothing was changed).

    When nothing changed, the count comes from the statement's snapshot, which can predate a
    concurrent like of the same pair that this one waited on (ON CONFLICT waits for it to
    commit): the answer would miss that like. FOR KEY SHARE on the read did not prevent it
    under load (tests/likes/test_like_api.py caught a duplicate answered 0 after its twin's
    1), so the unchanged path re-reads the count in a second statement, whose new snapshot
    sees every like committed before it. A fresh like or unlike pays one round trip.
    """
    params: dict[str, Any] = {"post": post_id, "user": user_id}
    if token is not None:
        params.update(live_params(token))
    row = yield _SQL[liked, token is not None], params
    if row is None or row[2] is None:
        return None
    me, changed_id, like_count, version = row
    if changed_id is None:
        row = yield _COUNT_SQL, params
        if row is not None:
            like_count, version = row
    return _Outcome(me, changed_id, like_count, version)


def _run(steps: Generator[Statement, Row, _Outcome | None]) -> _Outcome | None:
    """Drive ``_steps`` on Django's connection. One statement is one transaction under
    autocommit: no BEGIN/COMMIT round trips. Inside an outer atomic block it simply joins
    it, and the fan-out queued on commit waits for that commit."""
    with connection.cursor() as cursor:
        try:
            sql, params = next(steps)
            while True:
                cursor.execute(sql, params)
                sql, params = steps.send(cursor.fetchone())
        except StopIteration as done:
            return done.value


async def _arun(steps: Generator[Statement, Row, _Outcome | None]) -> _Outcome | None:
    """Drive ``_steps`` on the event loop's pool (autocommit: committed when answered)."""
    pool = await async_pool()
    async with pool.connection() as conn:
        try:
            sql, params = next(steps)
            while True:
                cursor = await conn.execute(sql, params)
                sql, params = steps.send(await cursor.fetchone())
        except StopIteration as done:
            return done.value


def _state(outcome: _Outcome, *, liked: bool, post_id: int) -> LikeState:
    return LikeState(
        post_id=post_id, liked=liked, like_count=outcome.like_count,
        likes_version=outcome.likes_version,
    )  # fmt: skip


def _removal(outcome: _Outcome, post_id: int) -> list[tuple[int, int, int]]:
    assert outcome.changed_id is not None
    return [(outcome.changed_id, outcome.user_id, post_id)]


def _queue_change(
    outcome: _Outcome,
    *,
    liked: bool,
    post_id: int,
    fanout: Callable[[str, list[int]], None],
    unfanout: Callable[[str, list[tuple[int, int, int]]], None],
    publish: Callable[[list[queue.Message]], None],
) -> None:
    """Hand a like that changed a row to the queueing step: its fan-out, or the removal of
    its items, and a ``me.like`` to every socket of the liker (their other tabs and devices
    show the new heart and count at once, not after a reload). Each edge passes its own way
    in (after commit, or the loop's next batch)."""
    if outcome.changed_id is None:
        return
    publish([
        live.me_like(
            user_id=outcome.user_id, post_id=post_id, liked=liked,
            like_count=outcome.like_count, likes_version=outcome.likes_version,
        )
    ])  # fmt: skip
    if liked:
        fanout(KIND, [outcome.changed_id])
    else:
        unfanout(KIND, _removal(outcome, post_id))


def like_set(*, user_id: int, post_id: int, liked: bool) -> LikeState:
    """Like (or take back a like of) a post. Idempotent: doing it again changes nothing and
    answers the same. The fan-out (or removal of its items) is queued after commit."""
    outcome = _run(_steps(liked=liked, post_id=post_id, user_id=user_id))
    if outcome is None:
        raise NotFound(f"post {post_id} does not exist")
    _queue_change(outcome, liked=liked, post_id=post_id, fanout=queue.fanout_on_commit,
                  unfanout=queue.unfanout_on_commit, publish=queue.publish_on_commit)  # fmt: skip
    return _state(outcome, liked=liked, post_id=post_id)


def like_create(*, user_id: int, post_id: int) -> LikeState:
    return like_set(user_id=user_id, post_id=post_id, liked=True)


def like_delete(*, user_id: int, post_id: int) -> LikeState:
    return like_set(user_id=user_id, post_id=post_id, liked=False)


async def like_set_by_token(*, token: str, post_id: int, liked: bool) -> LikeState | None:
    """``like_set`` as the owner of an API token, in the event loop: the token lookup joins
    the statement, so an authenticated like is still one round trip. None when the token or
    the post is unknown (nothing was changed): the caller then hands the request to the
    Django view, which answers those errors exactly as always. Committed when answered, so
    the fan-out leaves with the loop's next batch."""
    outcome = await _arun(_steps(liked=liked, post_id=post_id, token=token))
    if outcome is None:
        return None
    _queue_change(outcome, liked=liked, post_id=post_id, fanout=queue.fanout_soon,
                  unfanout=queue.unfanout_soon, publish=queue.publish_soon)  # fmt: skip
    return _state(outcome, liked=liked, post_id=post_id)


# --- who a token belongs to (the hot path's rate limit) ---------------------------------------

_TOKEN_OWNER_SQL = f"""
SELECT u.id, u.username FROM social_apitoken t JOIN social_user u ON u.id = t.user_id
WHERE {LIVE_SQL}
"""


async def token_owner(*, token: str) -> tuple[int, str] | None:
    """(user id, username) of a live API token's active owner; None otherwise."""
    pool = await async_pool()
    async with pool.connection() as conn:
        cursor = await conn.execute(_TOKEN_OWNER_SQL, live_params(token))
        row = await cursor.fetchone()
    return None if row is None else (row[0], row[1])
