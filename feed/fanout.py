"""Fan-out: put events (a post, a like, …) into every follower's feed and push them live.

One pipeline for every kind of event; the kind is a parameter (``Kind``), so a new kind of
fanned-out event is one new ``Kind``, not a new path. A single event is a batch of one.

``fanout(kind=…, ids=…)`` takes a batch of one kind's ids and does, for the whole batch at
once (a fixed number of queries and Redis round trips whatever its size; one fan-out per
event cost ≈10 queries, more than two cores do at 500 likes/s, ``make bench``):

1. load what is still owed (``Kind.load``: gone or already done ids drop out);
2. publish the posts' current counts to their viewers (kinds that move a count);
3. set aside the events of accounts above ``FANOUT_BULK_THRESHOLD`` followers: the task
   splits each into chunk tasks on the bulk queue (``fanout_split`` / ``fanout_range``);
4. for the rest: followers, ``liked_by_me`` of every (follower, post) in one query, then per
   event one Lua call writing each follower's feed entry and live event together, one
   publish for the batch (``feed.live``);
5. ``_cleanup``: an event removed while its items were being written (an unlike whose own
   task may already have run) has its items taken out again;
6. ``_complete``: mark the events done (once: ``Kind.done``), tell each actor how long it
   took (kinds that do), then what other apps hooked on (``after_done``: a like's mail).

Steps 5 and 6 are the same functions for a chunk task, so a celebrity's like and a batch of
ordinary ones end the same way. Every step is safe to run twice: ``ZADD NX`` adds nothing the
second time (and then logs no event), and ``Kind.done`` reports an event done only once.

Who provides what (the import direction, one way only): ``feed`` is the engine and imports
nothing from ``likes`` or ``notifications``. The apps above it plug in from their
``AppConfig.ready``: ``likes`` registers the like kind and the ``liked_by_me`` reader
(``register_kind``, ``register_liked_pairs``), ``notifications`` hooks the like mail onto
the like kind (``after_done``), and its notifications on it and on the like's removal
(``after_removed``). ``likes.services`` queues its ids through ``feed.queue``.
So a like reads as one forward walk, ``likes`` → ``feed`` (STYLE.md), and ``feed`` never
reaches into ``likes``: the other direction (feed importing likes' selectors and outbox)
would have needed a queueing entry point below both, outside any app.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ops import counters
from social import outbox as social_outbox
from social import selectors as social_selectors
from social.models import Post, User
from social.render import iso, post_json, user_ref

from . import live, store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Happening:
    """One event of some kind, as the pipeline needs it: ids and a time, nothing else."""

    id: int
    actor_id: int
    post_id: int
    created_at: datetime


@dataclass(slots=True)
class Kind:
    """A kind of fanned-out event: what the pipeline asks of it, and what it does for it.

    ``load(ids)``: the events still owed a fan-out (gone or already done ones left out).
    ``standing(ids)``: which still exist (checked after the writes, for the cleanup).
    ``done(ids)``: mark them fanned out; returns the ids this call marked (each once).
    ``times(ids)``: when each standing event happened (a feed page drops the others).
    ``owed(older_than)``: for a kind whose rows are their own outbox, the ids still owed a
    fan-out after that long (the sweeper re-queues them); None for a kind without one.
    ``moves_count``: publish the post's like count to its viewers when it fans out.
    ``tells_actor``: send the actor a ``like.delivered`` once every feed holds it.
    Other apps add what follows a completed fan-out with ``after_done``.
    """

    name: str
    load: Callable[[Collection[int]], list[Happening]]
    standing: Callable[[Collection[int]], set[int]]
    done: Callable[[list[int]], set[int]]
    times: Callable[[Collection[int]], dict[int, datetime]]
    owed: Callable[[timedelta], list[int]] | None = None
    moves_count: bool = False
    tells_actor: bool = False

    def item_id(self, *, actor_id: int, event_id: int, post_id: int) -> str:
        return store.item_id(kind=self.name, actor_id=actor_id, event_id=event_id, post_id=post_id)


KINDS: dict[str, Kind] = {}


def register_kind(kind: Kind) -> None:
    """Make a kind known to the pipeline (from its app's ``AppConfig.ready``)."""
    KINDS[kind.name] = kind


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise LookupError(f"no fan-out kind {name!r} (known: {sorted(KINDS)})") from None


_AFTER: dict[str, list[Callable[[list[Happening]], None]]] = {}
_REMOVED: dict[str, list[Callable[[list[tuple[int, int, int]]], None]]] = {}


def after_done(kind: str, hook: Callable[[list[Happening]], None]) -> None:
    """Call ``hook(happenings)`` whenever events of ``kind`` have reached every feed (once
    per event: with the events a run marked done)."""
    hooks = _AFTER.setdefault(kind, [])
    if hook not in hooks:
        hooks.append(hook)


def after_removed(kind: str, hook: Callable[[list[tuple[int, int, int]]], None]) -> None:
    """Call ``hook(items)`` once removed events of ``kind`` (``(id, actor, post)``: an
    unlike) have left the feeds: what ``after_done`` added elsewhere goes too."""
    hooks = _REMOVED.setdefault(kind, [])
    if hook not in hooks:
        hooks.append(hook)


# ``liked_by_me``: which (user, post) pairs are likes. The likes app provides the reader;
# without it nobody likes anything.
_liked_pairs: list[Callable[[Iterable[tuple[int, int]]], set[tuple[int, int]]]] = []


def register_liked_pairs(
    reader: Callable[[Iterable[tuple[int, int]]], set[tuple[int, int]]],
) -> None:
    _liked_pairs[:] = [reader]


def liked_pairs(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Which of these (user, post) pairs are likes, in one query (``liked_by_me``)."""
    return _liked_pairs[0](pairs) if _liked_pairs else set()


# --- the message ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event, ready to be written into followers' feeds."""

    item_id: str
    actor_id: int
    post_id: int
    score: float
    message: tuple[str, str, str]  # feed.item message around its seq, see store


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


def _event(kind: Kind, happening: Happening, actor: User, post: Post) -> Event:
    item_id = kind.item_id(
        actor_id=happening.actor_id, event_id=happening.id, post_id=happening.post_id
    )
    item = feed_item_json(
        item_id=item_id, kind=kind.name, actor=actor, post=post,
        created_at=happening.created_at, liked_by_me=False,
    )  # fmt: skip
    return Event(
        item_id=item_id,
        actor_id=actor.pk,
        post_id=post.pk,
        score=store.score_of(happening.created_at),
        message=live.feed_item_message_parts(item),
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """One event's fan-out: the event, its message, how many followers it reaches."""

    happening: Happening
    event: Event
    followers: int


# --- the batch -----------------------------------------------------------------------------


def fanout(*, kind: str, ids: list[int]) -> list[int]:
    """Fan out a batch of one kind's events; returns the ids left to the split path
    (accounts above ``FANOUT_BULK_THRESHOLD`` followers: ``fanout_split``)."""
    k = kind_of(kind)
    owed = k.load(ids)
    if not owed:
        return []
    if k.moves_count:
        _counts_publish({h.post_id for h in owed})
    counts = social_selectors.follower_counts(user_ids={h.actor_id for h in owed})
    threshold = settings.FANOUT_BULK_THRESHOLD
    big = [h.id for h in owed if counts.get(h.actor_id, 0) > threshold]
    small = [h for h in owed if counts.get(h.actor_id, 0) <= threshold]
    if not small:
        return big
    posts = social_selectors.posts_by_id(post_ids={h.post_id for h in small})
    actors = social_selectors.users_by_id(user_ids={h.actor_id for h in small})
    followers = social_selectors.followers_of(user_ids={h.actor_id for h in small})

    planned: list[tuple[Plan, list[int]]] = []
    for h in small:
        post, actor = posts.get(h.post_id), actors.get(h.actor_id)
        if post is None or actor is None:
            continue
        fans = followers.get(h.actor_id, [])
        planned.append((Plan(h, _event(k, h, actor, post), len(fans)), fans))

    # liked_by_me of every (follower, post) of the batch, in one query, before writing:
    # each event's entries and live events then go together in one Lua call.
    liked = liked_pairs((uid, plan.event.post_id) for plan, fans in planned for uid in fans)
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

    _cleanup(k, planned)
    _complete(k, [plan for plan, _ in planned])
    return big


def _counts_publish(post_ids: Collection[int]) -> None:
    """Tell each post's viewers its current count (read now, so it is the latest truth): one
    ``post.likes`` per post of the batch, so a hot post's viewers get one message."""
    live.publish(
        live.post_likes(
            post_id=post_id, like_count=count.like_count, likes_version=count.likes_version
        )
        for post_id, count in social_selectors.like_counts(post_ids).items()
    )


def _cleanup(k: Kind, reached: Sequence[tuple[Plan, list[int]]]) -> None:
    """Removed while we wrote (an unlike whose own task may already have run)? Take its
    items out of the feeds this run put them in."""
    if not reached:
        return
    standing = k.standing([plan.happening.id for plan, _ in reached])
    for plan, fans in reached:
        if plan.happening.id not in standing and fans:
            store.feed_remove(item_ids=[plan.event.item_id], user_ids=fans)


def _complete(k: Kind, plans: Sequence[Plan]) -> None:
    """Mark these events done (each once, whoever else runs them) and, for the ones this
    call marked, tell the actor how long it took, then run the hooks of ``after_done``."""
    if not plans:
        return
    done = k.done([plan.happening.id for plan in plans])
    finished = [plan for plan in plans if plan.happening.id in done]
    if not finished:
        return
    if k.tells_actor:
        now = timezone.now()
        live.publish(
            live.like_delivered(
                liker_id=plan.happening.actor_id, post_id=plan.happening.post_id,
                followers=plan.followers,
                ms=(now - plan.happening.created_at).total_seconds() * 1000.0,
            )
            for plan in finished
        )  # fmt: skip
    for hook in _AFTER.get(k.name, []):
        hook([plan.happening for plan in finished])


# --- big accounts: one event split into chunk tasks ----------------------------------------

# Followers read per query by the split fan-outs, then written FANOUT_CHUNK_SIZE per Lua call:
# one query per 1,000 followers was a third of a million-follower fan-out's time.
FOLLOWER_PAGE = 10_000


def _slices(pages: Iterable[list[int]], size: int) -> Iterator[list[int]]:
    for page in pages:
        for i in range(0, len(page), size):
            yield page[i : i + size]


def fanout_split(*, kind: str, event_id: int) -> tuple[int, list[tuple[int, int]]]:
    """How a big account's event is cut for chunk tasks: (followers, follower-id ranges
    (after, upto]); no ranges when nothing is owed any more."""
    k = kind_of(kind)
    owed = k.load([event_id])
    if not owed:
        return 0, []
    actor_id = owed[0].actor_id
    followers = social_selectors.follower_count(user_id=actor_id)
    bounds = social_selectors.follower_id_boundaries(
        user_id=actor_id, every=settings.FANOUT_BULK_CHUNK
    )
    return followers, list(zip([0, *bounds[:-1]], bounds, strict=True))


def fanout_range(
    *, kind: str, event_id: int, followers: int, index: int, total: int, after: int, upto: int
) -> None:
    """Deliver one event to its actor's followers with ids in (after, upto]: chunk ``index``
    of ``total``. The chunk that completes the set (each is recorded once its feeds are
    written, so a chunk that dies mid-way is not counted) completes the event."""
    k = kind_of(kind)
    owed = k.load([event_id])
    if not owed:
        return
    happening = owed[0]
    post = social_selectors.posts_by_id(post_ids=[happening.post_id]).get(happening.post_id)
    actor = social_selectors.users_by_id(user_ids=[happening.actor_id]).get(happening.actor_id)
    if post is None or actor is None:
        return
    plan = Plan(happening, _event(k, happening, actor, post), followers)
    pages = social_selectors.follower_ids(
        user_id=happening.actor_id, chunk_size=FOLLOWER_PAGE, after=after, upto=upto
    )
    # A celebrity's event is logged as a live event only for the followers online: a
    # million replay-log entries would be written for sockets that mostly do not exist.
    live_for_all = followers <= settings.FANOUT_LIVE_ALL_MAX
    reached = deliver(
        plan.event, _slices(pages, settings.FANOUT_CHUNK_SIZE), live_for_all=live_for_all
    )
    _cleanup(k, [(plan, reached)])
    if store.chunk_done(job=f"{kind}:{event_id}", index=index, total=total):
        _complete(k, [plan])


def deliver(
    event: Event, followers: Iterable[list[int]], *, live_for_all: bool = True
) -> list[int]:
    """Write the event into each chunk of followers' feeds and push it live: to every
    follower (``live_for_all``: entry and live event written together, one Lua call per
    chunk), or, for a very big fan-out, to the ones online only. Returns who got it."""
    reached: list[int] = []
    for chunk in followers:
        if live_for_all:
            liked_by = _likers(event.post_id, chunk)
            seqs = store.fanout_write(
                item_id=event.item_id, score=event.score, message=event.message,
                followers=chunk, liked_by=liked_by,
            )  # fmt: skip
            pushed = [(uid, seq) for uid, seq in zip(chunk, seqs, strict=True) if seq]
            counters.count(counters.FANOUT_ENTRIES, len(pushed))
        else:
            added, online = store.feeds_add(
                item_id=event.item_id, score=event.score, followers=chunk
            )
            counters.count(counters.FANOUT_ENTRIES, added)
            # liked_by_me differs per follower: asked only for those who get the message.
            liked_by = _likers(event.post_id, online)
            seqs = store.events_log(message=event.message, user_ids=online, liked_by=liked_by)
            pushed = list(zip(online, seqs, strict=True))
        live.feed_items_publish(
            [(event.message, [(uid, seq, uid in liked_by) for uid, seq in pushed])]
        )
        reached += chunk
    return reached


def _likers(post_id: int, user_ids: list[int]) -> set[int]:
    if not user_ids:
        return set()
    return {uid for uid, _ in liked_pairs((uid, post_id) for uid in user_ids)}


# --- removals --------------------------------------------------------------------------------


def unfanout(*, kind: str, items: list[tuple[int, int, int]]) -> None:
    """Take removed events (``(id, actor, post)``: the rows are gone) out of the actors'
    followers' feeds; publish the posts' counts (kinds that move one)."""
    k = kind_of(kind)
    for event_id, actor_id, post_id in items:
        item_id = k.item_id(actor_id=actor_id, event_id=event_id, post_id=post_id)
        for chunk in social_selectors.follower_ids(
            user_id=actor_id, chunk_size=settings.FANOUT_CHUNK_SIZE
        ):
            store.feed_remove(item_ids=[item_id], user_ids=chunk)
    if k.moves_count:
        _counts_publish({post_id for _, _, post_id in items})
    for hook in _REMOVED.get(kind, []):
        hook(items)


# --- the post kind ---------------------------------------------------------------------------


def _posts_load(ids: Collection[int]) -> list[Happening]:
    posts = social_selectors.posts_by_id(post_ids=ids)
    return [
        Happening(p.pk, p.author_id, p.pk, p.created_at)
        for p in posts.values()
        if p.fanned_out_at is None
    ]


def _posts_standing(ids: Collection[int]) -> set[int]:
    return set(social_selectors.posts_by_id(post_ids=ids))


def _posts_times(ids: Collection[int]) -> dict[int, datetime]:
    return {p.pk: p.created_at for p in social_selectors.posts_by_id(post_ids=ids).values()}


def _posts_done(ids: list[int]) -> set[int]:
    return social_outbox.posts_mark_fanned_out(post_ids=ids)


def _posts_owed(older_than: timedelta) -> list[int]:
    return social_outbox.posts_owed(older_than=older_than)


# A post is its own outbox, as a like is (``social.outbox``: ``fanned_out_at IS NULL``):
# besides its late-acked task's redelivery, the sweeper re-queues a post still owed.
POST = Kind(
    name="post",
    load=_posts_load,
    standing=_posts_standing,
    done=_posts_done,
    times=_posts_times,
    owed=_posts_owed,
)
register_kind(POST)


# --- follows ---------------------------------------------------------------------------------


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
