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
4. for the rest: followers, the post's context for every (follower, post) in one query
   (``post_contexts``: liked_by_me, whether they follow the author, the people they follow
   who like it), then per event one Lua call writing each follower's feed entry (one item
   per post, ``p:<post>``, moved up by ``ZADD GT``) and live event together, one
   publish for the batch (``feed.live``);
5. ``_cleanup``: an event removed while its items were being written (an unlike whose own
   task may already have run) has its items taken out again where nothing else keeps them;
6. ``_complete``: mark the events done (once: ``Kind.done``), tell each actor how long it
   took (kinds that do), then what other apps hooked on (``after_done``: a like's mail).

A post is in a feed at most once (CONTRACT "Home feed"): the item names the post only, and
every event that concerns it (its writing, a like by someone the reader follows) adds it or
moves it to the top. Taking an event back (``unfanout``: an unlike, a deleted post; an
unfollow: ``follow_undo``) takes the item out only of the feeds where nothing keeps it any
more, with a ``feed.remove`` logged and published like a ``feed.item`` (``unfeed``); the
feeds that keep it are sent the item again (same id), its "liked by" line brought up to date.

Steps 5 and 6 are the same functions for a chunk task, so a celebrity's like and a batch of
ordinary ones end the same way. Every step is safe to run twice: ``ZADD GT CH`` changes nothing the
second time (and then logs no event), and ``Kind.done`` reports an event done only once.

Who provides what (the import direction, one way only): ``feed`` is the engine and imports
nothing from ``likes`` or ``notifications``. The apps above it plug in from their
``AppConfig.ready``: ``likes`` registers the like kind, the ``liked_by_me`` reader and the
posts' social context (``register_kind``, ``register_liked_pairs``, ``register_contexts``),
``notifications`` hooks the like mail onto the like kind (``after_done``), and its
notifications on it and on the like's removal (``after_removed``). ``likes.services`` queues
its ids through ``feed.queue``.
So a like reads as one forward walk, ``likes`` → ``feed`` (STYLE.md), and ``feed`` never
reaches into ``likes``: the other direction (feed importing likes' selectors and outbox)
would have needed a queueing entry point below both, outside any app.
"""

from __future__ import annotations

import itertools
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
from social.models import Post
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
    ``owed(older_than)``: for a kind whose rows are their own outbox, the ids still owed a
    fan-out after that long (the sweeper re-queues them); None for a kind without one.
    ``moves_count``: publish the post's like count to its viewers when it fans out.
    ``tells_actor``: send the actor a ``like.delivered`` once every feed holds it.
    ``reaches_actor``: the actor's own feed gets the item too (a post: one's own posts).
    ``about(post_ids)``: this kind's events about these posts, ``(id, actor, post)``: what a
    post's deletion must take out of the actors' followers' feeds (None: nothing to add).
    ``recent(actor_ids, since, limit)``: the posts of these actors' newest events of this
    kind since that moment, ``(post, time)``, newest first, at most ``limit``: what a
    returning reader's feed is rebuilt from (``feed_rebuild``; None: adds nothing to it).
    Other apps add what follows a completed fan-out with ``after_done``.
    """

    name: str
    load: Callable[[Collection[int]], list[Happening]]
    standing: Callable[[Collection[int]], set[int]]
    done: Callable[[list[int]], set[int]]
    owed: Callable[[timedelta], list[int]] | None = None
    moves_count: bool = False
    tells_actor: bool = False
    reaches_actor: bool = False
    about: Callable[[Collection[int]], list[tuple[int, int, int]]] | None = None
    recent: Callable[[Collection[int], datetime, int], list[tuple[int, datetime]]] | None = None


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


# The social context of a post for its readers (who of the people they follow like it,
# whether they follow its author): the likes app provides the reader, in one query.


@dataclass(frozen=True, slots=True)
class PostContext:
    """What one reader's feed item for one post says beyond the post itself.

    ``follows_author``: the post is the reader's own or by someone they follow (``kind``
    "post"); ``likers``: (id, username) of the people they follow who like it, newest first,
    at most 3, of ``likers_count``; ``last_liked_at``: the newest of those likes. The item
    belongs in the reader's feed while ``kept``."""

    follows_author: bool = False
    liked_by_me: bool = False
    likers: tuple[tuple[int, str], ...] = ()
    likers_count: int = 0
    last_liked_at: datetime | None = None

    @property
    def kept(self) -> bool:
        return self.follows_author or self.likers_count > 0


NOTHING = PostContext()

ContextReader = Callable[[list[tuple[int, int, int]]], dict[tuple[int, int], PostContext]]
_contexts: list[ContextReader] = []


def register_contexts(reader: ContextReader) -> None:
    _contexts[:] = [reader]


def post_contexts(triples: Iterable[tuple[int, int, int]]) -> dict[tuple[int, int], PostContext]:
    """The context of each (reader, post, post's author), keyed (reader, post), in one query
    (``likes.selectors.post_contexts``). Without a reader registered only one's own posts
    have a context (the likes app always registers one)."""
    wanted = list(set(triples))
    if _contexts:
        return _contexts[0](wanted)
    return {(u, p): PostContext(follows_author=True) for u, p, a in wanted if u == a}


# --- the message ---------------------------------------------------------------------------


def feed_item_json(
    *, post: Post, context: PostContext, liked_by_me: bool, at: datetime | None = None
) -> dict[str, Any]:
    """A FeedItem (CONTRACT "Home feed"): ``kind`` "post" when the reader follows the author
    (or is the author), "like" otherwise, with the newest followed liker as ``actor``;
    ``created_at`` the latest activity that placed it: for a live item, ``at``, the time of
    the event being fanned out (the context may already hold a newer like, whose own event
    then says so: two events never carry the same moment); for a page, read from the
    context."""
    own = context.follows_author or not context.likers
    if own:
        actor: dict[str, Any] = user_ref(post.author)
    else:
        actor = {"id": context.likers[0][0], "username": context.likers[0][1]}
    latest = at if at is not None else context.last_liked_at
    moments = [latest] if latest is not None else []
    if context.follows_author or not moments:
        moments.append(post.created_at)
    return {
        "id": store.post_item_id(post_id=post.pk),
        "kind": "post" if own else "like",
        "actor": actor,
        "post": post_json(post, liked_by_me=liked_by_me),
        "likers": [{"id": uid, "username": name} for uid, name in context.likers],
        "likers_count": context.likers_count,
        "created_at": iso(max(moments)),
    }


@dataclass(frozen=True, slots=True)
class Event:
    """One event, ready to be written into followers' feeds: the post's item, moved to the
    event's time."""

    item_id: str
    actor_id: int
    post: Post
    score: float


def _event(happening: Happening, post: Post) -> Event:
    return Event(
        item_id=store.post_item_id(post_id=post.pk),
        actor_id=happening.actor_id,
        post=post,
        score=store.score_of(happening.created_at),
    )


@dataclass(slots=True)
class Grouped:
    """One event's message for a set of followers, built once per group of followers who
    see the same item (same kind, actor, likers, count, time); liked_by_me is the two
    variants of each group. ``followers``: who gets it (the ones it is still kept for, in
    order); ``choice``: per follower, the index of its tail (``2 * group + liked``)."""

    tails: list[str]
    followers: list[int]
    choice: list[int]

    def write(self, event: Event) -> store.Write:
        return (event.item_id, event.score, live.FEED_ITEM_HEAD, self.tails, self.followers,
                self.choice)  # fmt: skip

    def batches(
        self, uids: Sequence[int], seqs: Sequence[int]
    ) -> list[tuple[tuple[str, str, str], list[tuple[int, int, bool]]]]:
        """Per group, its message and (follower, seq, liked) for the followers logged
        (``live.feed_items_publish``): the text each socket gets is exactly what its
        event log holds."""
        where = dict(zip(self.followers, self.choice, strict=True))
        entries: dict[int, list[tuple[int, int, bool]]] = {}
        for uid, seq in zip(uids, seqs, strict=True):
            if seq:
                entries.setdefault(where[uid] // 2, []).append((uid, seq, bool(where[uid] % 2)))
        head = live.FEED_ITEM_HEAD
        return [
            ((head, self.tails[2 * g], self.tails[2 * g + 1]), group)
            for g, group in sorted(entries.items())
        ]


def group(
    post: Post,
    fans: Sequence[int],
    contexts: dict[tuple[int, int], PostContext],
    *,
    at: datetime | None,
) -> Grouped:
    """The live message of one event for each of these followers, grouped: the post's item
    as each sees it, placed at ``at`` (the event's time), or, for an item changed in place
    (``unfeed``: a liker gone), None: at the time its context gives, as a page read says.

    Why per group and not per follower: the item a follower sees depends on whom *they*
    follow (``kind``, ``actor``, ``likers``), read for the whole chunk in the one context
    query the fan-out already made for liked_by_me (``post_contexts``). Most followers of a
    liker follow none of the post's other likers and share one group, so a chunk costs a
    few serialisations, not one per follower, and Redis still writes each follower once in
    the chunk's one Lua call (``store.fanout_write_many``), picking the group's tail. What
    the message says is true when it is built; a page read recomputes it all the same.
    A follower for whom nothing keeps the item (the like was taken back meanwhile, the
    follow undone) is left out: no entry, no event."""
    index: dict[tuple[Any, ...], int] = {}
    grouped = Grouped([], [], [])
    for uid in fans:
        context = contexts.get((uid, post.pk), NOTHING)
        if not context.kept:
            continue
        key = (context.follows_author, context.likers, context.likers_count,
               context.last_liked_at)  # fmt: skip
        g = index.get(key)
        if g is None:
            g = index[key] = len(index)
            item = feed_item_json(post=post, context=context, liked_by_me=False, at=at)
            grouped.tails += live.feed_item_tails(item)
        grouped.followers.append(uid)
        grouped.choice.append(2 * g + (1 if context.liked_by_me else 0))
    return grouped


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
    followers = _active(social_selectors.followers_of(user_ids={h.actor_id for h in small}))

    planned: list[tuple[Plan, list[int]]] = []
    for h in small:
        post = posts.get(h.post_id)
        if post is None:
            continue
        fans = followers.get(h.actor_id, [])
        if k.reaches_actor:
            fans = [*fans, h.actor_id]
        planned.append((Plan(h, _event(h, post), len(fans)), fans))

    # The context of every (follower, post) of the batch, in one query, before writing:
    # each event's entries and live events then go together in one Lua call.
    contexts = post_contexts(
        (uid, plan.event.post.pk, plan.event.post.author_id)
        for plan, fans in planned
        for uid in fans
    )
    groups = [
        group(plan.event.post, fans, contexts, at=plan.happening.created_at)
        for plan, fans in planned
    ]
    seqs = store.fanout_write_many(
        [g.write(plan.event) for (plan, _), g in zip(planned, groups, strict=True)]
    )
    batches = [
        batch
        for g, new_seqs in zip(groups, seqs, strict=True)
        for batch in g.batches(g.followers, new_seqs)
    ]
    counters.count(counters.FANOUT_ENTRIES, sum(len(entries) for _, entries in batches))
    live.feed_items_publish(batches)

    _cleanup(k, planned)
    _complete(k, [plan for plan, _ in planned])
    return big


def _active(followers: dict[int, list[int]]) -> dict[int, list[int]]:
    """Each actor's followers less the ones not seen for ``FEED_ACTIVE_DAYS`` (Mastodon's
    rule, ``feed.activity``): one call per Redis node for the whole batch."""
    if store.active_cutoff() is None:
        return followers
    active = set(store.active_among(sorted({u for fans in followers.values() for u in fans})))
    return {actor: [u for u in fans if u in active] for actor, fans in followers.items()}


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
    item out of the feeds this run put it in, where nothing else keeps it."""
    if not reached:
        return
    standing = k.standing([plan.happening.id for plan, _ in reached])
    for plan, fans in reached:
        if plan.happening.id not in standing and fans:
            unfeed(post_id=plan.event.post.pk, user_ids=fans)


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
    if post is None:
        return
    plan = Plan(happening, _event(happening, post), followers)
    pages: Iterable[list[int]] = social_selectors.follower_ids(
        user_id=happening.actor_id, chunk_size=FOLLOWER_PAGE, after=after, upto=upto
    )
    if k.reaches_actor and index == 0:
        pages = itertools.chain([[happening.actor_id]], pages)
    # A celebrity's event is logged as a live event only for the followers online: a
    # million replay-log entries would be written for sockets that mostly do not exist.
    live_for_all = followers <= settings.FANOUT_LIVE_ALL_MAX
    reached = deliver(
        plan.event, happening, _slices(pages, settings.FANOUT_CHUNK_SIZE), live_for_all=live_for_all
    )
    _cleanup(k, [(plan, reached)])
    if store.chunk_done(job=f"{kind}:{event_id}", index=index, total=total):
        _complete(k, [plan])


def deliver(
    event: Event,
    happening: Happening,
    followers: Iterable[list[int]],
    *,
    live_for_all: bool = True,
) -> list[int]:
    """Write the event into each chunk of followers' feeds and push it live: to every
    follower (``live_for_all``: entry and live event written together, one Lua call per
    chunk, after one context query per chunk), or, for a very big fan-out, to the ones
    online only (the context asked only for them). Returns who got it."""
    reached: list[int] = []
    post = event.post
    for chunk in followers:
        if live_for_all:
            # Mastodon's rule, read here (the bulk writer below applies it in Redis); the
            # actor's own chunk (a post reaches its author's feed) is written as it is.
            active = store.active_among(chunk) if chunk != [happening.actor_id] else chunk
            grouped = group(post, active, _contexts_of(post, active), at=happening.created_at)
            (seqs,) = store.fanout_write_many([grouped.write(event)])
            batches = grouped.batches(grouped.followers, seqs)
            counters.count(counters.FANOUT_ENTRIES, sum(1 for s in seqs if s))
        else:
            # Every follower of the actor follows someone who likes the post (or its
            # author): the item is kept for each while the event stands (``_cleanup``).
            added, online = store.feeds_add(
                item_id=event.item_id, score=event.score, followers=chunk
            )
            counters.count(counters.FANOUT_ENTRIES, added)
            grouped = group(post, online, _contexts_of(post, online), at=happening.created_at)
            seqs = store.events_log(
                head=live.FEED_ITEM_HEAD, tails=grouped.tails, user_ids=grouped.followers,
                choice=grouped.choice,
            )  # fmt: skip
            batches = grouped.batches(grouped.followers, seqs)
        live.feed_items_publish(batches)
        reached += chunk
    return reached


def _contexts_of(post: Post, user_ids: Sequence[int]) -> dict[tuple[int, int], PostContext]:
    if not user_ids:
        return {}
    return post_contexts((uid, post.pk, post.author_id) for uid in user_ids)


# --- a returning reader ---------------------------------------------------------------------


def feed_rebuild(*, user_id: int, since: datetime) -> int:
    """Rebuild the feed of a reader who comes back after ``FEED_ACTIVE_DAYS`` away (the
    fan-out skipped them meanwhile, ``feed.activity``), from the people they follow, as
    Mastodon's ``FeedManager#populate_home`` does: each kind's newest events by them (and,
    for a kind that reaches its actor, by the reader: their own posts) since the reader was
    last seen (what came before reached their feed then), at most ``FEED_MAX_ITEMS`` per
    kind, one query each, merged per post at its latest activity
    (``created_at`` of CONTRACT "Home feed": the writing, or the newest followed like),
    the newest ``FEED_MAX_ITEMS`` written quietly (``ZADD GT``: what the fan-out writes
    meanwhile is kept at its own time). What nothing keeps any more is dropped by the page
    read, as for any feed. Returns how many items were written."""
    limit = settings.FEED_MAX_ITEMS
    followees = social_selectors.followee_ids(user_id=user_id)
    latest: dict[int, datetime] = {}
    for k in KINDS.values():
        actors = [*followees, user_id] if k.reaches_actor else followees
        if k.recent is None or not actors:
            continue
        for post_id, at in k.recent(actors, since, limit):
            if post_id not in latest or at > latest[post_id]:
                latest[post_id] = at
    newest = sorted(latest.items(), key=lambda item: item[1], reverse=True)[:limit]
    store.feed_add_quietly(
        user_id=user_id,
        items=[(store.post_item_id(post_id=p), store.score_of(at)) for p, at in newest],
    )
    return len(newest)


# --- removals --------------------------------------------------------------------------------


def unfeed(*, post_id: int, user_ids: Sequence[int], live_all: bool = True) -> list[int]:
    """Take a post's item out of these users' feeds where nothing keeps it there any more
    (CONTRACT: the post is gone, or they follow neither its author nor anyone who likes
    it), each with a ``feed.remove`` logged under their next seq and published; where
    something still keeps it (an unlike by one of two followed likers, or of a followed
    author's post), bring its "liked by" line up to date in place with a ``feed.item`` of
    the same id, as a page read would show it (``group``, ``at`` None: the item keeps its
    place in Redis, ``ZADD GT`` never moves it down; ``created_at`` is the context's). For a
    very big removal (``live_all`` False) events go to the users online only. Two queries
    and one Lua call; returns who lost it."""
    if not user_ids:
        return []
    post = social_selectors.posts_by_id(post_ids=[post_id]).get(post_id)
    item_id = store.post_item_id(post_id=post_id)
    if post is None:
        gone, changed = list(user_ids), Grouped([], [], [])
    else:
        contexts = _contexts_of(post, user_ids)
        gone = [uid for uid in user_ids if not contexts.get((uid, post_id), NOTHING).kept]
        changed = group(post, user_ids, contexts, at=None)
    _unfeed_write(item_id=item_id, gone=gone, changed=changed, live_all=live_all)
    return gone


def _unfeed_write(
    *, item_id: str, gone: Sequence[int], changed: Grouped, live_all: bool = True
) -> None:
    """Take the item out of the feeds of ``gone`` (a ``feed.remove`` each) and send the
    users of ``changed`` its item as they now see it (a ``feed.item`` of the same id), where
    their feeds hold it: one Lua call (``store.unfeed``), one publish."""
    removed, updated = store.unfeed(
        item_id=item_id, user_ids=gone, live_all=live_all,
        changed=(live.FEED_ITEM_HEAD, changed.tails, changed.followers, changed.choice),
    )  # fmt: skip
    head, tail = live.feed_remove_message_parts(item_id)
    logged = [(uid, seq, False) for uid, seq in zip(gone, removed, strict=True) if seq]
    batches = [((head, tail, tail), logged)] if logged else []
    live.feed_items_publish([*batches, *changed.batches(changed.followers, updated)])


def unfeed_stale(*, user_id: int, item_ids: Sequence[str]) -> None:
    """Take items that a read of the user's feed found with no reason to be there (the post
    deleted, or nothing keeps it) out of that feed, each with its ``feed.remove``, as
    ``unfeed`` does. The change's own removal may not have reached this feed yet; whichever
    of the two comes first takes the item out and tells the user's open pages, once (the
    other finds it gone). Taken out quietly, a read between the change and its removal left
    the user's other pages holding the item: no event was ever logged for it."""
    for item_id in item_ids:
        _unfeed_write(item_id=item_id, gone=[user_id], changed=Grouped([], [], []))


def unfanout(
    *, kind: str, items: list[tuple[int, int, int]], counts_of: Collection[int] | None = None
) -> None:
    """Take removed events (``(id, actor, post)``: the rows are gone) back: the post's item
    leaves the feeds of the actor's followers (and the actor's own, for a kind that reaches
    it) where nothing else keeps it; publish the counts of the posts (``counts_of``, default
    the items' posts) for kinds that move one. Big accounts' items are split into chunk
    tasks before this (``feed.tasks.unfanout``, ``unfanout_range``)."""
    k = kind_of(kind)
    for _, actor_id, post_id in items:
        live_all = live_for_all(actor_id)
        for chunk in removal_audience(kind=kind, actor_id=actor_id):
            unfeed(post_id=post_id, user_ids=chunk, live_all=live_all)
    if k.moves_count:
        _counts_publish(set(counts_of) if counts_of is not None else {p for _, _, p in items})
    for hook in _REMOVED.get(kind, []):
        hook(items)


def live_for_all(actor_id: int) -> bool:
    return social_selectors.follower_count(user_id=actor_id) <= settings.FANOUT_LIVE_ALL_MAX


def removal_audience(
    *, kind: str, actor_id: int, after: int = 0, upto: int | None = None
) -> Iterator[list[int]]:
    """Whose feeds an event's removal visits, in chunks: the actor's followers with ids in
    (after, upto] (and the actor, in the first range, for a kind that reaches the actor)."""
    if kind_of(kind).reaches_actor and after == 0:
        yield [actor_id]
    pages = social_selectors.follower_ids(
        user_id=actor_id, chunk_size=FOLLOWER_PAGE, after=after, upto=upto
    )
    yield from _slices(pages, settings.FANOUT_CHUNK_SIZE)


def unfanout_split(*, actor_id: int) -> list[tuple[int, int]]:
    """How a big account's removal is cut for chunk tasks (as ``fanout_split``): follower
    id ranges (after, upto]; none for an account at or below ``FANOUT_BULK_THRESHOLD``."""
    if social_selectors.follower_count(user_id=actor_id) <= settings.FANOUT_BULK_THRESHOLD:
        return []
    bounds = social_selectors.follower_id_boundaries(
        user_id=actor_id, every=settings.FANOUT_BULK_CHUNK
    )
    return list(zip([0, *bounds[:-1]], bounds, strict=True))


def unfanout_range(*, kind: str, item: tuple[int, int, int], after: int, upto: int) -> None:
    """One chunk task of a big account's removal: followers with ids in (after, upto]."""
    _, actor_id, post_id = item
    live_all = live_for_all(actor_id)
    for chunk in removal_audience(kind=kind, actor_id=actor_id, after=after, upto=upto):
        unfeed(post_id=post_id, user_ids=chunk, live_all=live_all)


def events_about(post_ids: Collection[int]) -> dict[str, list[tuple[int, int, int]]]:
    """Every kind's events about these posts, ``(id, actor, post)`` (read before a post's
    deletion takes them with it): whose followers' feeds its removal must visit."""
    found = {k.name: k.about(post_ids) for k in KINDS.values() if k.about is not None}
    return {name: items for name, items in found.items() if items}


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


def _posts_done(ids: list[int]) -> set[int]:
    return social_outbox.posts_outbox.mark_done(ids)


def _posts_recent(
    author_ids: Collection[int], since: datetime, limit: int
) -> list[tuple[int, datetime]]:
    return social_selectors.posts_recent_by(author_ids=author_ids, since=since, limit=limit)


def _posts_owed(older_than: timedelta) -> list[int]:
    return social_outbox.posts_outbox.owed(older_than=older_than)


# A post is its own outbox, as a like is (``social.outbox``: ``fanned_out_at IS NULL``):
# besides its late-acked task's redelivery, the sweeper re-queues a post still owed. It
# reaches its author's own feed too.
POST = Kind(
    name="post",
    load=_posts_load,
    standing=_posts_standing,
    done=_posts_done,
    owed=_posts_owed,
    reaches_actor=True,
    recent=_posts_recent,
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
            (store.post_item_id(post_id=pid), store.score_of(created)) for pid, created in recent
        ],
    )
    if not social_selectors.follow_exists(follower_id=follower_id, followee_id=followee_id):
        follow_undo(follower_id=follower_id, followee_id=followee_id)


def follow_undo(*, follower_id: int, followee_id: int) -> None:
    """An unfollow takes out of the follower's feed every post nothing keeps there any more
    (the followee's, unless someone they still follow likes it; the ones the followee liked,
    unless by someone they follow or liked by another), each with a ``feed.remove``; a post
    that stays but whose item named the followee (its author, or among its likers) is sent
    again as the follower now sees it (a ``feed.item`` of the same id: "liked by" without
    them, or a "like" where it was their "post"). The item names only the post, so the whole
    feed (at most FEED_MAX_ITEMS) is checked: one read, three queries."""
    if social_selectors.follow_exists(follower_id=follower_id, followee_id=followee_id):
        return
    post_ids = store.feed_post_ids(user_id=follower_id)
    if not post_ids:
        return
    posts = social_selectors.posts_by_id(post_ids=post_ids)
    contexts = post_contexts((follower_id, p.pk, p.author_id) for p in posts.values())
    liked = liked_pairs((followee_id, post_id) for post_id in posts)
    for post_id in dict.fromkeys(post_ids):
        post = posts.get(post_id)
        if post is None:
            continue
        item_id = store.post_item_id(post_id=post_id)
        if not contexts.get((follower_id, post_id), NOTHING).kept:
            _unfeed_write(item_id=item_id, gone=[follower_id], changed=Grouped([], [], []))
        elif post.author_id == followee_id or (followee_id, post_id) in liked:
            changed = group(post, [follower_id], contexts, at=None)
            _unfeed_write(item_id=item_id, gone=[], changed=changed)
