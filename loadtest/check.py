"""The correctness check after a load test: the data must be exactly right once quiet.

1. Every post's ``like_count`` equals its like rows.
2. Every like made during the run that still stands is in every follower's feed (or was
   trimmed away: the feed is full and everything it kept is newer).
3. No feed holds two items for one event: no two like items of one (actor, post), and no
   like item whose like is gone (an unlike whose cleanup never ran).

"Quiet" first: no fan-out owed and no task waiting, within a bound.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection

from config.redis import get_redis
from feed import fanout, store

MAX_FEEDS_SCANNED = 5_000


@dataclass
class CheckResult:
    quiet: bool = False
    posts_checked: int = 0
    count_mismatches: list[tuple[int, int, int]] = field(default_factory=list)
    likes_checked: int = 0
    deliveries_checked: int = 0
    missing: list[tuple[str, int]] = field(default_factory=list)
    feeds_scanned: int = 0
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    stale: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.quiet and not (
            self.count_mismatches or self.missing or self.duplicates or self.stale
        )

    def lines(self) -> list[str]:
        mark = {True: "ok", False: "FAILED"}
        return [
            f"quiet (no fan-out owed, no task queued): {mark[self.quiet]}",
            f"like_count = like rows, {self.posts_checked} posts: "
            f"{mark[not self.count_mismatches]} ({len(self.count_mismatches)} wrong)",
            f"every like in every follower's feed, {self.likes_checked} likes / "
            f"{self.deliveries_checked} deliveries: {mark[not self.missing]} "
            f"({len(self.missing)} missing)",
            f"no duplicate or stale feed items, {self.feeds_scanned} feeds: "
            f"{mark[not (self.duplicates or self.stale)]} "
            f"({len(self.duplicates)} duplicates, {len(self.stale)} stale)",
        ]


def _rows(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def wait_quiet(timeout_s: float = 180.0) -> bool:
    """Until no like is owed a fan-out and the fan-out queues are empty."""
    r = get_redis()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owed = _rows("SELECT count(*) FROM likes_like WHERE fanned_out_at IS NULL", [])[0][0]
        queued = sum(int(r.llen(q)) for q in ("fanout", "fanout_bulk"))
        if owed == 0 and queued == 0:
            time.sleep(1.0)  # an unlike's cleanup task may be running: let it land
            return True
        time.sleep(0.5)
    return False


def check(*, since: datetime, post_ids: list[int]) -> CheckResult:
    result = CheckResult(quiet=wait_quiet())
    r = get_redis()

    result.posts_checked = len(post_ids)
    result.count_mismatches = [
        (pid, count, rows)
        for pid, count, rows in _rows(
            "SELECT p.id, p.like_count, count(l.id) FROM social_post p "
            "LEFT JOIN likes_like l ON l.post_id = p.id WHERE p.id = ANY(%s) "
            "GROUP BY p.id HAVING p.like_count <> count(l.id)",
            [post_ids],
        )
    ]

    likes = _rows(
        "SELECT id, user_id, post_id, created_at FROM likes_like WHERE created_at >= %s",
        [since],
    )
    result.likes_checked = len(likes)
    likers = {user_id for _, user_id, _, _ in likes}
    followers: dict[int, list[int]] = {uid: [] for uid in likers}
    for followee, follower in _rows(
        "SELECT followee_id, follower_id FROM social_follow WHERE followee_id = ANY(%s)",
        [list(likers)],
    ):
        followers[followee].append(follower)

    pending: list[tuple[str, int, float]] = []

    def flush() -> None:
        pipe = r.pipeline(transaction=False)
        for item, uid, _score in pending:
            pipe.zscore(store.feed_key(uid), item)
        for (item, uid, score), found in zip(pending, pipe.execute(), strict=True):
            if found is None and not _trimmed(uid, score):
                result.missing.append((item, uid))
        pending.clear()

    for _like_id, user_id, post_id, created_at in likes:
        item = store.post_item_id(post_id=post_id)
        for uid in followers[user_id]:
            pending.append((item, uid, store.score_of(created_at)))
            result.deliveries_checked += 1
            if len(pending) >= 10_000:
                flush()
    flush()

    feeds = sorted({uid for fs in followers.values() for uid in fs})[:MAX_FEEDS_SCANNED]
    result.feeds_scanned = len(feeds)
    held: list[tuple[int, store.ItemRef]] = []
    for i in range(0, len(feeds), 500):
        pipe = r.pipeline(transaction=False)
        for uid in feeds[i : i + 500]:
            pipe.zrange(store.feed_key(uid), 0, -1)
        for uid, members in zip(feeds[i : i + 500], pipe.execute(), strict=True):
            held += [(uid, store.ItemRef.parse(m.decode(), "0")) for m in members]
    # A post is one member per feed by construction; an old-style member (one per like)
    # is a duplicate of the post's item. Stale: nothing keeps the post in that feed any more
    # (its author not followed and no followed liker left), the rule a page read applies.
    result.duplicates += [(uid, ref.id) for uid, ref in held if ref.legacy]
    authors = dict(
        _rows(
            "SELECT id, author_id FROM social_post WHERE id = ANY(%s)",
            [list({ref.post_id for _, ref in held})],
        )
    )
    contexts = fanout.post_contexts(
        (uid, ref.post_id, authors[ref.post_id]) for uid, ref in held if ref.post_id in authors
    )
    result.stale += [
        (uid, ref.id)
        for uid, ref in held
        if not ref.legacy and not contexts.get((uid, ref.post_id), fanout.NOTHING).kept
    ]
    return result


def _trimmed(user_id: int, score: float) -> bool:
    """True when a feed is full and the item is older than everything it kept."""
    r = get_redis()
    key = store.feed_key(user_id)
    if int(r.zcard(key)) < settings.FEED_MAX_ITEMS:
        return False
    oldest = r.zrange(key, 0, 0, withscores=True)
    return bool(oldest) and score <= float(oldest[0][1])
