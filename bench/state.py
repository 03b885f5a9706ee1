"""What the bench's phases read from and reset in its own database, store and queue: the
celebrity's followers, the likes still owed a fan-out, fresh posts for a set of likers, the
follows that give each liker an audience of socket holders; and the resets between phases
(every like forgotten, the queued fan-outs purged, feeds deleted). Shared by ``make bench``
(``bench.__main__``) and its cluster phases (``bench.cluster``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from loadtest.seed import Graph


def forget_likes() -> None:
    """Start from no likes at all (this database is the bench's own), so every like the
    bench sends is a new one, as in the first run."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE likes_like")
        cursor.execute(
            "UPDATE social_post SET like_count = 0, likes_version = likes_version + 1"
            " WHERE like_count <> 0"
        )


def purge_and_settle(broker_url: str | None = None) -> None:
    """Drop the fan-outs an HTTP phase queued (its workers were stopped on purpose) from the
    broker (this process's, or ``broker_url``) and mark those likes done, so the next
    phases' workers start on an empty queue."""
    from config.celery import app

    if broker_url is None:
        app.control.purge()
    else:
        with app.connection_for_write(broker_url) as conn:
            app.control.purge(connection=conn)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE likes_like SET fanned_out_at = now() WHERE fanned_out_at IS NULL")


def followers_of(user_id: int | None) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT follower_id FROM social_follow WHERE followee_id = %s ORDER BY follower_id",
            [user_id],
        )
        return [row[0] for row in cursor.fetchall()]


def forget_feeds(user_ids: list[int]) -> None:
    """Delete these users' feeds, seqs and event logs (the store's prefix only)."""
    from config.redis import get_redis
    from feed import store

    r = get_redis()
    for i in range(0, len(user_ids), 10_000):
        keys: list[str] = []
        for uid in user_ids[i : i + 10_000]:
            keys += (store.feed_key(uid), store.seq_key(uid), store.events_key(uid))
        r.unlink(*keys)


# Each lookup in Redis' key table moves one bucket of a resize in progress (dict.c's
# _dictRehashStep): this many lookups per key finish any resize (a bucket a step, at most
# ten empty ones skipped).
_FINISH_RESIZE_LUA = "for i = 1, tonumber(ARGV[1]) do redis.call('EXISTS', ARGV[2]) end"


def key_table_at_rest() -> None:
    """Finish now any resize of Redis' key table that the bench's own writes started.

    Writing a million activity records right before a like (the celebrity phase) grows the
    table past a power of two, and Redis then moves it to its new size a step per command
    plus a millisecond per 100 ms: for about 17 s every lookup reads both tables. Measured
    (1,000 followers a call of the bulk writer, 1.1 M records just written, medians of
    300): 3.25 ms at once, 2.46 ms 30 s later, 1.87 ms at once after this call (1.4 s). A
    deployment's records are written over days; the like should not pay for the bench's
    setup."""
    from config.redis import get_redis

    r = get_redis()
    r.eval(_FINISH_RESIZE_LUA, 0, 2 * int(r.dbsize()) + 1000, "likefeed-bench:no-such-key")


def likes_owed(user_ids: list[int]) -> int:
    """How many likes by these users are not fanned out yet."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM likes_like WHERE user_id = ANY(%s) AND fanned_out_at IS NULL",
            [user_ids],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def fresh_posts(graph: Graph, liker_ids: list[int]) -> list[int]:
    """Posts none of the likers likes yet (so every like of a push phase is new)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM social_post p WHERE id = ANY(%s) AND NOT EXISTS "
            "(SELECT 1 FROM likes_like l WHERE l.post_id = p.id AND l.user_id = ANY(%s))",
            [graph.post_ids, liker_ids],
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass
class Audience:
    """Sockets' holders and likers of a push phase: each liker followed by ``per_liker`` of
    the holders."""

    socket_tokens: list[str]
    liker_ids: list[int]
    liker_tokens: list[str]
    per_liker: int
    followers_per_liker: dict[int, int]  # liker's position -> followers among the holders


def push_audience(graph: Graph, *, sockets: int, likers: range) -> Audience:
    """The graph's first ``sockets`` accounts hold sockets; the accounts at positions
    ``likers`` each get ``min(50, sockets)`` of them as followers (added once, kept)."""
    per_liker = min(50, sockets)
    socket_ids = graph.user_ids[:sockets]
    liker_ids = [graph.user_ids[i] for i in likers]
    with connection.cursor() as cursor:
        rows = [
            (socket_ids[(j * 7 + i * 13) % sockets], liker_ids[j])
            for j in range(len(liker_ids)) for i in range(per_liker)
        ]  # fmt: skip
        cursor.executemany(
            "INSERT INTO social_follow (follower_id, followee_id, created_at) "
            "VALUES (%s, %s, now()) ON CONFLICT DO NOTHING",
            rows,
        )
        cursor.execute(
            "SELECT followee_id, count(*) FROM social_follow WHERE followee_id = ANY(%s) "
            "AND follower_id = ANY(%s) GROUP BY followee_id",
            [liker_ids, socket_ids],
        )
        counts = dict(cursor.fetchall())
    return Audience(
        socket_tokens=graph.tokens[:sockets],
        liker_ids=liker_ids,
        liker_tokens=[graph.tokens[i] for i in likers],
        per_liker=per_liker,
        followers_per_liker={k: counts.get(uid, 0) for k, uid in enumerate(liker_ids)},
    )
