"""Fan-out: put an event (a post, a like) into every follower's feed and push it live.

The walk for one like: read the like and its post (ids in, selectors out), publish the
post's new count to its viewers, then for each chunk of followers (keyset, ascending ids):
one Lua call that writes their feeds and says who of them is online; for those only, which
of them like the post themselves (``liked_by_me``), one Lua call that logs their live
events and one pipelined publish to their sockets. A like whose
liker has more than ``FANOUT_BULK_THRESHOLD`` followers is split by follower-id ranges into
chunk tasks on the bulk queue (see ``feed.tasks``); the chunk that completes the set marks
the like fanned out and tells the liker.

Every step is safe to run twice: ``ZADD NX`` adds nothing the second time (and then logs no
event), the like is marked done only once, and a like or follow that disappeared while its
items were being written is cleaned up by re-checking after the writes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from likes import outbox
from likes import selectors as likes_selectors
from notifications import services as notifications
from ops import counters
from social import selectors as social_selectors
from social.models import Post, User
from social.render import iso, post_json, user_ref

from . import live, store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, ready to be written into followers' feeds."""

    item_id: str
    actor_id: int
    post_id: int
    score: float
    message: tuple[str, str, str]  # feed.item message around its seq, see live


def feed_item_json(
    *, item_id: str, kind: str, actor: User, post: Post, created_at: datetime, liked_by_me: bool
) -> dict[str, Any]:
    return {
        "id": item_id,
        "kind": kind,
        "actor": user_ref(actor),
        "post": post_json(post, liked_by_me=liked_by_me),
        "created_at": iso(created_at),
    }


def _event(*, item_id: str, kind: str, actor: User, post: Post, created_at: datetime) -> Event:
    item = feed_item_json(
        item_id=item_id, kind=kind, actor=actor, post=post, created_at=created_at, liked_by_me=False
    )
    return Event(
        item_id=item_id,
        actor_id=actor.pk,
        post_id=post.pk,
        score=store.score_of(created_at),
        message=live.feed_item_message_parts(item),
    )


def deliver(
    event: Event, followers: Iterable[list[int]], *, live_for_all: bool = True
) -> list[int]:
    """Write the event into each chunk of followers' feeds and push it live: to every
    follower (``live_for_all``: entry and live event written together, one Lua call per
    chunk), or, for a very big fan-out, to the ones online only. Returns who got it."""
    reached: list[int] = []
    for chunk in followers:
        if live_for_all:
            liked_by = likes_selectors.likers_among(post_id=event.post_id, user_ids=chunk)
            seqs = store.fanout_write(
                item_id=event.item_id, score=event.score, message=event.message,
                followers=chunk, liked_by=liked_by,
            )  # fmt: skip
            logged = [(uid, seq) for uid, seq in zip(chunk, seqs, strict=True) if seq]
            counters.count(counters.FANOUT_ENTRIES, len(logged))
        else:
            added, online = store.feeds_add(
                item_id=event.item_id, score=event.score, followers=chunk
            )
            counters.count(counters.FANOUT_ENTRIES, added)
            # liked_by_me differs per follower: asked only for those who get the message.
            liked_by = (
                likes_selectors.likers_among(post_id=event.post_id, user_ids=online)
                if online
                else set()
            )
            seqs = store.events_log(message=event.message, user_ids=online, liked_by=liked_by)
            logged = list(zip(online, seqs, strict=True))
        live.feed_items_publish(
            [(event.message, [(uid, seq, uid in liked_by) for uid, seq in logged])]
        )
        reached += chunk
    return reached


# Followers read per query by the big fan-outs, then written FANOUT_CHUNK_SIZE per Lua call:
# one query per 1,000 followers was a third of a million-follower fan-out's time.
FOLLOWER_PAGE = 10_000


def _slices(pages: Iterable[list[int]], size: int) -> Iterator[list[int]]:
    for page in pages:
        for i in range(0, len(page), size):
            yield page[i : i + size]


# --- likes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LikeFanout:
    """What a like's fan-out needs to know, read once per task."""

    like_id: int
    liker_id: int
    created_at: datetime
    followers: int
    event: Event


def like_fanout_load(*, like_id: int, followers: int | None = None) -> LikeFanout | None:
    """Read what the fan-out of a like needs; None when nothing is owed (the like is gone
    or already fanned out). ``followers`` is passed by chunk tasks, which must not recount."""
    like = likes_selectors.like_facts(like_id=like_id)
    if like is None or like.fanned_out:
        return None
    post = social_selectors.posts_by_id(post_ids=[like.post_id]).get(like.post_id)
    actor = social_selectors.users_by_id(user_ids=[like.user_id]).get(like.user_id)
    if post is None or actor is None:
        return None
    event = _event(
        item_id=store.like_item_id(actor_id=actor.pk, like_id=like.id, post_id=post.pk),
        kind="like", actor=actor, post=post, created_at=like.created_at,
    )  # fmt: skip
    if followers is None:
        followers = social_selectors.follower_count(user_id=actor.pk)
    return LikeFanout(like.id, actor.pk, like.created_at, followers, event)


def like_count_publish(*, post_id: int) -> None:
    """Tell the post's viewers its current count (read now, so it is the latest truth)."""
    like_count = social_selectors.like_count_of(post_id=post_id)
    if like_count is not None:
        live.publish([live.post_likes(post_id=post_id, like_count=like_count)])


def like_fanout_ranges(plan: LikeFanout) -> list[tuple[int, int]]:
    """Follower-id ranges (after, upto] for chunk tasks; [] when the fan-out stays inline."""
    if plan.followers <= settings.FANOUT_BULK_THRESHOLD:
        return []
    bounds = social_selectors.follower_id_boundaries(
        user_id=plan.liker_id, every=settings.FANOUT_BULK_CHUNK
    )
    return list(zip([0, *bounds[:-1]], bounds, strict=True))


def like_fanout_range(plan: LikeFanout, *, after: int, upto: int | None) -> None:
    """Deliver a like to the liker's followers with ids in (after, upto]."""
    pages = social_selectors.follower_ids(
        user_id=plan.liker_id, chunk_size=FOLLOWER_PAGE, after=after, upto=upto
    )
    # A celebrity's like is logged as a live event only for the followers online: a million
    # replay-log entries would be written for sockets that mostly do not exist.
    live_for_all = plan.followers <= settings.FANOUT_LIVE_ALL_MAX
    reached = deliver(
        plan.event, _slices(pages, settings.FANOUT_CHUNK_SIZE), live_for_all=live_for_all
    )
    # Unliked while we wrote? The unlike's own task may already have run: clean up here.
    if reached and not likes_selectors.like_exists(like_id=plan.like_id):
        store.feed_remove(item_ids=[plan.event.item_id], user_ids=reached)


def like_fanout_complete(plan: LikeFanout) -> None:
    """Mark the like fanned out (once) and tell the liker how long it took; then, with every
    feed written, let the post's author's mail know (debounced, on its own queue)."""
    if outbox.like_mark_fanned_out(like_id=plan.like_id):
        ms = (timezone.now() - plan.created_at).total_seconds() * 1000.0
        live.publish([
            live.like_delivered(
                liker_id=plan.liker_id, post_id=plan.event.post_id, followers=plan.followers, ms=ms
            )
        ])  # fmt: skip
        notifications.like_mail_schedule(post_id=plan.event.post_id)


def likes_fanout(*, like_ids: list[int]) -> list[int]:
    """Fan out a batch of likes together; returns the ids left to the per-like path (likes
    by accounts above ``FANOUT_BULK_THRESHOLD``, which are split into chunk tasks).

    The same steps as ``like_fanout_load`` → ``deliver`` → ``like_fanout_complete``, each
    done once for the whole batch: a fixed number of queries and Redis round trips
    whatever the batch size (one fan-out per like costs ≈10 queries: at 500 likes/s that is
    more work than two cores do, ``make bench``). One ``post.likes`` per post of the batch,
    with its count read now, so a hot post's viewers get one message, not one per like.
    """
    likes = [like for like in likes_selectors.likes_facts(like_ids=like_ids) if not like.fanned_out]
    if not likes:
        return []
    counts = social_selectors.follower_counts(user_ids={like.user_id for like in likes})
    threshold = settings.FANOUT_BULK_THRESHOLD
    bulk = [like.id for like in likes if counts.get(like.user_id, 0) > threshold]
    likes = [like for like in likes if counts.get(like.user_id, 0) <= threshold]
    posts = social_selectors.posts_by_id(post_ids={like.post_id for like in likes})
    actors = social_selectors.users_by_id(user_ids={like.user_id for like in likes})
    followers = social_selectors.followers_of(user_ids={like.user_id for like in likes})
    live.publish(
        live.post_likes(post_id=post_id, like_count=like_count)
        for post_id, like_count in social_selectors.like_counts(posts).items()
    )

    planned: list[tuple[LikeFanout, list[int]]] = []
    for like in likes:
        post, actor = posts.get(like.post_id), actors.get(like.user_id)
        if post is None or actor is None:
            continue
        event = _event(
            item_id=store.like_item_id(actor_id=actor.pk, like_id=like.id, post_id=post.pk),
            kind="like", actor=actor, post=post, created_at=like.created_at,
        )  # fmt: skip
        fans = followers.get(actor.pk, [])
        planned.append((LikeFanout(like.id, actor.pk, like.created_at, len(fans), event), fans))

    # liked_by_me of every (follower, post) of the batch, in one query, before writing:
    # each like's entries and live events then go together in one Lua call.
    liked = likes_selectors.liked_pairs(
        pairs=((uid, plan.event.post_id) for plan, fans in planned for uid in fans)
    )
    liked_by = [
        {uid for uid in fans if (uid, plan.event.post_id) in liked} for plan, fans in planned
    ]
    seqs = store.fanout_write_many(
        [
            (plan.event.item_id, plan.event.score, plan.event.message, fans, by)
            for (plan, fans), by in zip(planned, liked_by, strict=True)
        ]
    )
    batches = [
        (
            plan.event.message,
            [(uid, seq, uid in by) for uid, seq in zip(fans, new_seqs, strict=True) if seq],
        )
        for (plan, fans), by, new_seqs in zip(planned, liked_by, seqs, strict=True)
    ]
    counters.count(counters.FANOUT_ENTRIES, sum(len(entries) for _, entries in batches))
    live.feed_items_publish(batches)

    # Unliked while we wrote? The unlike's own task may already have run: clean up here.
    standing = likes_selectors.likes_existing(like_ids=[plan.like_id for plan, _ in planned])
    for plan, fans in planned:
        if plan.like_id not in standing and fans:
            store.feed_remove(item_ids=[plan.event.item_id], user_ids=fans)
    done = outbox.likes_mark_fanned_out(like_ids=[plan.like_id for plan, _ in planned])
    now = timezone.now()
    live.publish(
        live.like_delivered(
            liker_id=plan.liker_id, post_id=plan.event.post_id, followers=plan.followers,
            ms=(now - plan.created_at).total_seconds() * 1000.0,
        )
        for plan, _ in planned
        if plan.like_id in done
    )  # fmt: skip
    # The post's author hears of it by mail (debounced per post: one call per post is
    # what one call per like would do).
    for post_id in sorted({plan.event.post_id for plan, _ in planned if plan.like_id in done}):
        notifications.like_mail_schedule(post_id=post_id)
    return bulk


def like_unfanout(*, like_id: int, liker_id: int, post_id: int) -> None:
    """Remove an unliked like's item from the liker's followers' feeds; publish the count."""
    item_id = store.like_item_id(actor_id=liker_id, like_id=like_id, post_id=post_id)
    for chunk in social_selectors.follower_ids(
        user_id=liker_id, chunk_size=settings.FANOUT_CHUNK_SIZE
    ):
        store.feed_remove(item_ids=[item_id], user_ids=chunk)
    like_count_publish(post_id=post_id)


# --- posts and follows ------------------------------------------------------------------------


def post_fanout(*, post_id: int) -> None:
    post = social_selectors.posts_by_id(post_ids=[post_id]).get(post_id)
    if post is None:
        return
    event = _event(
        item_id=store.post_item_id(author_id=post.author_id, post_id=post.pk),
        kind="post", actor=post.author, post=post, created_at=post.created_at,
    )  # fmt: skip
    deliver(
        event,
        social_selectors.follower_ids(
            user_id=post.author_id, chunk_size=settings.FANOUT_CHUNK_SIZE
        ),
    )


def follow_backfill(*, follower_id: int, followee_id: int) -> None:
    """A new follow brings the followee's recent posts into the follower's feed (no live
    events: they are old news), unless the follow was undone meanwhile."""
    recent = social_selectors.posts_recent(
        author_id=followee_id, limit=settings.FOLLOW_BACKFILL_POSTS
    )
    store.feed_add_quietly(
        user_id=follower_id,
        items=[
            (store.post_item_id(author_id=followee_id, post_id=pid), store.score_of(created))
            for pid, created in recent
        ],
    )
    if not social_selectors.follow_exists(follower_id=follower_id, followee_id=followee_id):
        store.feed_remove_actor(user_id=follower_id, actor_id=followee_id)


def follow_undo(*, follower_id: int, followee_id: int) -> None:
    """An unfollow removes everything the followee put into the follower's feed."""
    if not social_selectors.follow_exists(follower_id=follower_id, followee_id=followee_id):
        store.feed_remove_actor(user_id=follower_id, actor_id=followee_id)
