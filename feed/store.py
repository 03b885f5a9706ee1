"""The feed store: the only module that knows Likefeed's Redis key layout.

Per user ``u`` (``P`` is ``settings.REDIS_PREFIX``):

- ``P:feed:u``   sorted set, the home feed. Member = the post's one item id ``p:<post>``,
  score = the latest activity that placed it there (the post's writing, or the newest like
  of it by someone u follows) in epoch milliseconds. Bounded by ``FEED_MAX_ITEMS``, trimmed
  lazily (within ``FEED_TRIM_MARGIN``: the fan-out writes one call per follower). Writes
  are ``ZADD GT CH``: a newer like moves the item up (same member), a re-run or an older
  like changes nothing (and then logs no event).
- ``P:seq:u``    integer, the last ``seq`` given to a live event of this user.
- ``P:events:u`` stream of this user's live events, entry id ``<seq>-0``, field ``m`` = the
  JSON message as sent on the socket. Bounded in length and age; ``resume`` reads it.
- ``P:online``   sorted set of the users online: member = user id, score = until when (epoch
  seconds), renewed while a socket of theirs is open, so it lapses ``PRESENCE_TTL_S``
  after the last one closed. A very big fan-out logs live events only for these users.
- ``P:active``   sorted set of the users seen reading their feed: member = user id, score =
  when (epoch seconds; ``feed.activity``). The fan-out skips those seen before
  ``FEED_ACTIVE_DAYS`` ago (Mastodon's rule); a user without a score counts as active.

A post is in a feed at most once, whatever placed it there: the member names only the post,
and who placed it (the author, the followees who like it) is read at page time from
PostgreSQL (``feed.selectors``). A member whose reason to be there is gone is removed with
a ``feed.remove`` event (``unfeed``: an unlike, an unfollow, a deleted post), logged under
the same seq counter as ``feed.item``.

Writes for many users happen inside Redis (one Lua script call per chunk of followers):
DESIGN.md measured ≈590,000 entries/s that way against ≈170,000/s for pipelined ZADDs. The
chunk's follower ids travel as one comma-separated argument and the script builds the keys
(redis-py spends ≈4.5 µs packing each key argument, as much as Redis spends on the writes:
``make bench``). A script that builds its keys needs every key on one server, as the feed
writes of a chunk already do (a Redis Cluster would group followers by hash slot first).

A live event costs far more than a feed entry (a seq, a log entry holding the whole
message, a publish) and only matters to someone with a socket open: a like by an account
with more than ``FANOUT_LIVE_ALL_MAX`` followers (a million, say) writes every feed but
logs and publishes events only for the followers who are online (``P:online``); a follower
who comes back later finds the item in their feed, not in their replay log. Everyone
else's events are logged for every follower, online or not, for ``resume``.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from redis.commands.core import Script

from config.redis import get_async_redis, get_redis

from . import live


def _key(kind: str, user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:{kind}:{user_id}"


def feed_key(user_id: int) -> str:
    return _key("feed", user_id)


def events_key(user_id: int) -> str:
    return _key("events", user_id)


def seq_key(user_id: int) -> str:
    return _key("seq", user_id)


def post_item_id(*, post_id: int) -> str:
    """A post's one item id in every feed that holds it, whatever placed it there (its
    writing, or likes of it by people the reader follows): ``p:<post>``."""
    return f"p:{post_id}"


@dataclass(frozen=True, slots=True)
class ItemRef:
    """What a feed member says: the post. ``legacy`` marks members written before a post
    had one item per feed (``post:<author>:<post>``, ``like:<actor>:<like>:<post>``): a
    page read rewrites them as the post's ``p:`` item (``feed.selectors``)."""

    id: str
    post_id: int
    score: str
    legacy: bool = False

    @classmethod
    def parse(cls, item_id: str, score: str) -> ItemRef:
        parts = item_id.split(":")
        if parts[0] == "p":
            return cls(item_id, int(parts[1]), score)
        return cls(item_id, int(parts[-1]), score, legacy=True)


def score_of(moment: datetime) -> float:
    return moment.timestamp() * 1000.0


# The writer of a very big fan-out (a celebrity's like).
# ARGV: key prefix, item id, score, max items, now (epoch s), follower ids (comma-separated),
# trim every, trim phase (``_trim_args``), the activity cutoff (epoch s; "" for none).
# Skips the followers last seen before the cutoff (``feed.activity``: one ZMSCORE for the
# chunk), then adds the item to each other follower's feed or moves it up (GT CH: a re-run
# or an older activity changes nothing): one write per follower, the trim of feeds past
# their bound only for a random one in ``every`` of them. Returns how many feeds took the
# item, and which of those followers are online (one ZMSCORE for the chunk): the ones that
# get a live event.
_FEEDS_ADD_LUA = """
local prefix, member, score = ARGV[1], ARGV[2], ARGV[3]
local max_items, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local every, phase, cutoff = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local ids = {}
for id in string.gmatch(ARGV[6], '%d+') do
    ids[#ids + 1] = id
end
local seen = {}
if cutoff and #ids > 0 then
    seen = redis.call('ZMSCORE', prefix .. 'active', unpack(ids))
end
local added = {}
for i = 1, #ids do
    local id = ids[i]
    if not (cutoff and seen[i] and tonumber(seen[i]) < cutoff) then
        local feed = prefix .. 'feed:' .. id
        if redis.call('ZADD', feed, 'GT', 'CH', score, member) == 1 then
            added[#added + 1] = id
            if (#added + phase) % every == 0 and redis.call('ZCARD', feed) > max_items then
                redis.call('ZREMRANGEBYRANK', feed, 0, -(max_items + 1))
            end
        end
    end
end
local online = {}
if #added > 0 then
    local until_ = redis.call('ZMSCORE', prefix .. 'online', unpack(added))
    for i = 1, #added do
        if until_[i] and tonumber(until_[i]) > now then
            online[#online + 1] = tonumber(added[i])
        end
    end
end
return {#added, online}
"""

# The writer of every other fan-out: feed entry and live event together, in one script, so
# a worker killed mid-fan-out leaves no entry without its event (a re-run adds neither).
# KEYS: per follower (feed, seq, events). ARGV: item id, score, max items, log length, log
# ttl, message head (JSON up to the seq), the number of message tails n, the n tails (the
# item as each group of followers sees it: ``feed.live.feed_item_tails``), then per follower
# the number of its tail.
# Returns per follower the new seq, or 0 where the feed already held the item at that score
# or later (a re-run, or an older like than the one that placed it).
_FANOUT_LUA = """
local member, score = ARGV[1], ARGV[2]
local max_items, log_len, log_ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local head, ntails = ARGV[6], tonumber(ARGV[7])
local every, phase = tonumber(ARGV[8 + ntails]), tonumber(ARGV[9 + ntails])
local choice = 9 + ntails
local seqs = {}
for i = 1, #KEYS / 3 do
    local feed, seqk, events = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
    if redis.call('ZADD', feed, 'GT', 'CH', score, member) == 1 then
        if (i + phase) % every == 0 and redis.call('ZCARD', feed) > max_items then
            redis.call('ZREMRANGEBYRANK', feed, 0, -(max_items + 1))
        end
        local seq = redis.call('INCR', seqk)
        redis.call('XADD', events, 'MAXLEN', '~', log_len, seq .. '-0',
                   'm', head .. seq .. ARGV[7 + tonumber(ARGV[choice + i])])
        redis.call('EXPIRE', events, log_ttl)
        seqs[i] = seq
    else
        seqs[i] = 0
    end
end
return seqs
"""

# Live events for the online followers of a very big fan-out, after ``_FEEDS_ADD_LUA``.
# KEYS: per user (seq, events). ARGV: log length, log ttl, message head (JSON up to the
# seq), the number of tails n, the n tails, then per user the number of its tail. Returns
# each user's new seq.
_EVENTS_LOG_LUA = """
local log_len, log_ttl = ARGV[1], tonumber(ARGV[2])
local head, ntails = ARGV[3], tonumber(ARGV[4])
local choice = 4 + ntails
local seqs = {}
for i = 1, #KEYS / 2 do
    local seqk, events = KEYS[2 * i - 1], KEYS[2 * i]
    local seq = redis.call('INCR', seqk)
    redis.call('XADD', events, 'MAXLEN', '~', log_len, seq .. '-0',
               'm', head .. seq .. ARGV[4 + tonumber(ARGV[choice + i])])
    redis.call('EXPIRE', events, log_ttl)
    seqs[i] = seq
end
return seqs
"""

# Taking one item out of feeds, with its ``feed.remove`` event where a feed held it, and
# telling others that it changed in place (its "liked by" line), where their feed holds it.
# KEYS: per user (feed, seq, events). ARGV: item id, log length, log ttl, the online set's
# key ("" to log for everyone), now (epoch s), the removal's message head and tail (JSON
# around the seq), the changed item's message head, the number of its tails n, the n tails
# (``feed.live.feed_item_tails``, per group of users who see the same item), then per user
# its id and what it gets: 0 the removal, k the changed item with tail k. Logs an event only
# where the feed held the item (a removal takes it out; a change leaves it and its score:
# its place) and, for a very big removal, only for the users online (as the fan-out does).
# Returns per user the seq, or 0.
_UNFEED_LUA = """
local member, log_len, log_ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local online, now = ARGV[4], tonumber(ARGV[5])
local heads, rm_tail, ntails = {ARGV[6], ARGV[8]}, ARGV[7], tonumber(ARGV[9])
local base = 9 + ntails
local seqs = {}
for i = 1, #KEYS / 3 do
    seqs[i] = 0
    local feed, what = KEYS[3 * i - 2], tonumber(ARGV[base + 2 * i])
    local held
    if what == 0 then
        held = redis.call('ZREM', feed, member) == 1
    else
        held = redis.call('ZSCORE', feed, member)
    end
    if held then
        local live = online == ''
        if not live then
            local until_ = redis.call('ZSCORE', online, ARGV[base + 2 * i - 1])
            live = until_ and tonumber(until_) > now
        end
        if live then
            local seq = redis.call('INCR', KEYS[3 * i - 1])
            local head, tail = heads[1], rm_tail
            if what > 0 then
                head, tail = heads[2], ARGV[9 + what]
            end
            redis.call('XADD', KEYS[3 * i], 'MAXLEN', '~', log_len, seq .. '-0',
                       'm', head .. seq .. tail)
            redis.call('EXPIRE', KEYS[3 * i], log_ttl)
            seqs[i] = seq
        end
    end
end
return seqs
"""

# KEYS: feeds. ARGV: item ids to remove from each.
_REMOVE_LUA = """
for i = 1, #KEYS do
    redis.call('ZREM', KEYS[i], unpack(ARGV))
end
return #KEYS
"""

_scripts: dict[str, Script] = {}


def _script(source: str) -> Script:
    if source not in _scripts:
        _scripts[source] = get_redis().register_script(source)
    return _scripts[source]


# The fan-out's writers make one Redis call per follower (the ZADD): a feed past its bound is
# trimmed only when the write lands on a random one in FEED_TRIM_EVERY followers of the call
# (a fresh random phase per call, so each write to a feed checks it with probability 1/16,
# independently of the others). A feed then holds at most FEED_MAX_ITEMS + FEED_TRIM_MARGIN
# items except with probability (15/16)^400 ≈ 6e-12 per write (400 writes in a row to one
# feed, none of them checking), and FEED_MAX_ITEMS + 16 on average before a check brings it
# back to FEED_MAX_ITEMS. The ZCARD of every write was a third of the writer's calls on a
# fresh feed and the ZREMRANGEBYRANK another one on a full one (``make bench``,
# fanout_vs_zadd). Pages read the newest items only, so the margin is never seen.
FEED_TRIM_EVERY = 16
FEED_TRIM_MARGIN = 400


def _trim_args() -> list[int]:
    return [FEED_TRIM_EVERY, random.randrange(FEED_TRIM_EVERY)]


def active_key() -> str:
    return f"{settings.REDIS_PREFIX}:active"


def active_cutoff(now: float | None = None) -> int | None:
    """Epoch seconds before which a user last seen counts as inactive (``feed.activity``),
    or None when the rule is off (``FEED_ACTIVE_DAYS`` 0)."""
    days = settings.FEED_ACTIVE_DAYS
    if not days:
        return None
    return int((time.time() if now is None else now) - days * 86400)


def active_among(user_ids: Sequence[int]) -> list[int]:
    """These users less the ones last seen before the cutoff, in order (one ZMSCORE). A user
    never seen counts as active: nobody loses an item for want of a record."""
    cutoff = active_cutoff()
    if cutoff is None or not user_ids:
        return list(user_ids)
    seen = get_redis().zmscore(active_key(), [str(uid) for uid in user_ids])
    return [uid for uid, at in zip(user_ids, seen, strict=True) if at is None or at >= cutoff]


def activity_mark(*, user_id: int, now: float) -> float | None:
    """Record that the user was seen now; returns when they were seen before (None: never),
    read and written in one transaction, so of two requests only one sees the old time."""
    pipe = get_redis().pipeline(transaction=True)
    pipe.zscore(active_key(), str(user_id))
    pipe.zadd(active_key(), {str(user_id): int(now)}, gt=True)
    before, _ = pipe.execute()
    return None if before is None else float(before)


def feeds_add(*, item_id: str, score: float, followers: Sequence[int]) -> tuple[int, list[int]]:
    """Add one item to each follower's feed or move it up (a very big fan-out); returns how
    many feeds took it (new, or newer than what placed it) and which of those followers are
    online, in order."""
    return feeds_add_many([(item_id, score, followers)])[0]


# One item's write to a group of feeds: item id, score, message head, message tails, the
# followers, and per follower the index of its tail.
Write = tuple[str, float, str, Sequence[str], Sequence[int], Sequence[int]]


def fanout_write(
    *,
    item_id: str,
    score: float,
    message: tuple[str, str, str],
    followers: Sequence[int],
    liked_by: set[int],
) -> list[int]:
    """Add one item to each follower's feed (or move it up) and log its live event,
    atomically per chunk, with a two-variant message (not liked / liked); returns each
    follower's new seq (0: the feed already had it at that score or later, nothing logged)."""
    head, unliked, liked = message
    choice = [1 if uid in liked_by else 0 for uid in followers]
    return fanout_write_many([(item_id, score, head, (unliked, liked), followers, choice)])[0]


def fanout_write_many(batch: Sequence[Write]) -> list[list[int]]:
    """``fanout_write`` for several items, each with its own message variants, in one
    pipelined round trip: one Lua call per item, one write per follower inside it."""
    script = _script(_FANOUT_LUA)
    pipe = get_redis().pipeline(transaction=False)
    for item_id, score, head, tails, followers, choice in batch:
        if not followers:
            continue
        keys: list[str] = []
        for uid in followers:
            keys += (feed_key(uid), seq_key(uid), events_key(uid))
        argv: list[Any] = [
            item_id, repr(score), settings.FEED_MAX_ITEMS, settings.FEED_EVENT_LOG_LENGTH,
            settings.FEED_EVENT_LOG_TTL_S, head, len(tails), *tails, *_trim_args(),
        ]  # fmt: skip
        argv += [c + 1 for c in choice]
        script(keys=keys, args=argv, client=pipe)
    answers = iter(pipe.execute() if len(pipe) else [])
    return [[int(s) for s in next(answers)] if w[4] else [] for w in batch]


# An item changed in place for some users: its message head, tails, the users, and per user
# the index of its tail (``feed.fanout.Grouped``).
Changed = tuple[str, Sequence[str], Sequence[int], Sequence[int]]


def unfeed(
    *,
    item_id: str,
    user_ids: Sequence[int],
    live_all: bool = True,
    changed: Changed | None = None,
) -> tuple[list[int], list[int]]:
    """Take an item out of these users' feeds and, where a feed held it, log a
    ``feed.remove`` under the user's next seq; for the users of ``changed`` (disjoint from
    ``user_ids``), whose feeds keep the item, log the changed item instead (a ``feed.item``
    of the same id) where their feed holds it. Only for the users online unless
    ``live_all``. One Lua call; returns the seqs (0: nothing logged) of the removals and of
    the changes. The caller publishes (``feed.live``)."""
    head, tail = live.feed_remove_message_parts(item_id)
    item_head, tails, kept, choice = changed or (live.FEED_ITEM_HEAD, (), (), ())
    if not user_ids and not kept:
        return [], []
    keys: list[str] = []
    for uid in [*user_ids, *kept]:
        keys += (feed_key(uid), seq_key(uid), events_key(uid))
    argv: list[Any] = [
        item_id, settings.FEED_EVENT_LOG_LENGTH, settings.FEED_EVENT_LOG_TTL_S,
        "" if live_all else online_key(), int(time.time()), head, tail, item_head, len(tails),
        *tails,
    ]  # fmt: skip
    for uid in user_ids:
        argv += (uid, 0)
    for uid, c in zip(kept, choice, strict=True):
        argv += (uid, c + 1)
    seqs = [int(s) for s in _script(_UNFEED_LUA)(keys=keys, args=argv)]
    return seqs[: len(user_ids)], seqs[len(user_ids) :]


def feed_add_quietly(*, user_id: int, items: Iterable[tuple[str, float]]) -> None:
    """Add items to one feed without live events (a follow's backfill of older posts)."""
    mapping = {item_id: score for item_id, score in items}
    if mapping:
        pipe = get_redis().pipeline()
        pipe.zadd(feed_key(user_id), mapping, gt=True)
        pipe.zremrangebyrank(feed_key(user_id), 0, -(settings.FEED_MAX_ITEMS + 1))
        pipe.execute()


def feed_remove(*, item_ids: Sequence[str], user_ids: Sequence[int]) -> None:
    """Take items out quietly (stale ones a page read found: nothing to tell anyone)."""
    if item_ids and user_ids:
        _script(_REMOVE_LUA)(keys=[feed_key(u) for u in user_ids], args=list(item_ids))


def feed_post_ids(*, user_id: int) -> list[int]:
    """The posts one feed holds (at most ``FEED_MAX_ITEMS``), legacy members included."""
    members = get_redis().zrange(feed_key(user_id), 0, -1)
    return [ItemRef.parse(m.decode(), "0").post_id for m in cast(list[bytes], members)]


def feed_page(*, user_id: int, limit: int, before: str | None) -> tuple[list[ItemRef], str | None]:
    """Newest first, strictly older than the cursor; returns the refs and the next cursor."""
    r = get_redis()
    if before is None:
        rows = r.zrevrange(feed_key(user_id), 0, limit, withscores=True, score_cast_func=bytes)
        refs = [ItemRef.parse(m, s) for m, s in _decoded(rows)]
    else:
        score, member = decode_cursor(before)
        # Items of the cursor's own score (ties) come in reverse member order; skip the ones
        # at or above the cursor's member, then take limit + 1 to know if there is more.
        rows = r.zrevrangebyscore(
            feed_key(user_id), score, "-inf", start=0, num=limit + 64,
            withscores=True, score_cast_func=bytes,
        )  # fmt: skip
        refs = [ItemRef.parse(m, s) for m, s in _decoded(rows) if not (s == score and m >= member)][
            : limit + 1
        ]
    more = len(refs) > limit
    refs = refs[:limit]
    return refs, (encode_cursor(refs[-1]) if more and refs else None)


def _decoded(rows: Any) -> list[tuple[str, str]]:
    """(member, score) pairs as text; scores exactly as Redis printed them (cursors compare
    them as strings, so no float round trip)."""
    return [(m.decode(), s.decode()) for m, s in cast(list[tuple[bytes, bytes]], rows)]


class BadCursor(ValueError):
    pass


def encode_cursor(ref: ItemRef) -> str:
    return base64.urlsafe_b64encode(f"{ref.score}|{ref.id}".encode()).decode().rstrip("=")


# What encode_cursor writes: a score as Redis prints one (a finite number) and an item id.
# Checked whole before Redis sees it: Python's float() also takes "nan", "1_0" and " 1",
# which Redis refuses (a 500), and int() takes "١٢" or "+1" in an id.
_CURSOR = re.compile(
    r"(-?[0-9]{1,20}(?:\.[0-9]{1,20})?(?:e[-+]?[0-9]{1,3})?)"  # the score
    r"\|(p:[0-9]{1,18}|post(?::[0-9]{1,18}){2}|like(?::[0-9]{1,18}){3})"  # the item id
)


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadCursor(cursor) from exc
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise BadCursor(cursor)
    return match[1], match[2]


async def events_after(*, user_id: int, after: int, count: int = 1000) -> list[tuple[int, str]]:
    """Kept live events with seq > after, oldest first: (seq, JSON message as sent)."""
    rows = await get_async_redis().xrange(
        events_key(user_id), min=f"({after}-0", max="+", count=count
    )
    entries = cast(list[tuple[bytes, dict[bytes, bytes]]], rows)
    return [(int(entry_id.split(b"-")[0]), fields[b"m"].decode()) for entry_id, fields in entries]


async def last_seq(*, user_id: int) -> int:
    value = await get_async_redis().get(seq_key(user_id))
    return int(value) if value else 0


def online_key() -> str:
    return f"{settings.REDIS_PREFIX}:online"


def online_among(user_ids: Iterable[int]) -> set[int]:
    """Which of these users are online (a socket open, or closed less than PRESENCE_TTL_S
    ago), in one round trip: live events for the others need not even be built."""
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    scores = get_redis().zmscore(online_key(), [str(uid) for uid in ids])
    now = time.time()
    return {uid for uid, score in zip(ids, scores, strict=True) if score and score > now}


async def go_online(*, user_id: int) -> int:
    """Mark the user online (their events are logged from now on) and return their last
    seq, in one round trip."""
    pipe = get_async_redis().pipeline(transaction=False)
    pipe.zadd(online_key(), {str(user_id): time.time() + settings.PRESENCE_TTL_S})
    pipe.get(seq_key(user_id))
    _, value = await pipe.execute()
    return int(value) if value else 0


async def still_online(*, user_ids: Iterable[int]) -> None:
    """Renew the presence of users who still have a socket open here, and forget the ones
    whose presence lapsed."""
    now = time.time()
    pipe = get_async_redis().pipeline(transaction=False)
    mapping = {str(uid): now + settings.PRESENCE_TTL_S for uid in user_ids}
    if mapping:
        pipe.zadd(online_key(), mapping)
    pipe.zremrangebyscore(online_key(), "-inf", now)
    await pipe.execute()


def chunk_done(*, job: str, index: int, total: int) -> bool:
    """Record that chunk ``index`` of a split job is done; True for every call that finds
    the job complete, a chunk run again included. Not only for the call that added the last
    chunk: that task's process may die before it completes the job (a pool child killed
    between this and the completion; tests/chaos), and the redelivered chunk or the sweeper's
    re-run must then complete it. The completion itself happens once (the like is marked
    fanned out once, and only that call tells the liker)."""
    key = f"{settings.REDIS_PREFIX}:job:{job}"
    pipe = get_redis().pipeline()
    pipe.sadd(key, index)
    pipe.scard(key)
    pipe.expire(key, 24 * 3600)
    _, done, _ = pipe.execute()
    return int(done) == total


def feeds_add_many(
    batch: Sequence[tuple[str, float, Sequence[int]]],
) -> list[tuple[int, list[int]]]:
    """``feeds_add`` for several (item id, score, followers) in one pipelined round trip."""
    script = _script(_FEEDS_ADD_LUA)
    pipe = get_redis().pipeline(transaction=False)
    prefix, now = f"{settings.REDIS_PREFIX}:", int(time.time())
    rule = active_cutoff()
    cutoff: str | int = "" if rule is None else rule
    for item_id, score, followers in batch:
        if followers:
            ids = ",".join(map(str, followers))
            argv: list[str | int] = [
                prefix, item_id, repr(score), settings.FEED_MAX_ITEMS, now, ids, *_trim_args(),
                cutoff,
            ]  # fmt: skip
            script(keys=[], args=argv, client=pipe)
    answers = iter(pipe.execute() if len(pipe) else [])
    result: list[tuple[int, list[int]]] = []
    for _, _, followers in batch:
        added, online = next(answers) if followers else (0, [])
        result.append((int(added), [int(uid) for uid in online]))
    return result


def events_log(
    *, head: str, tails: Sequence[str], user_ids: Sequence[int], choice: Sequence[int]
) -> list[int]:
    """Log a live event for each of these users under their next seq (``head + seq +
    tails[choice[i]]``); returns the seqs."""
    return events_log_many([(head, tails, user_ids, choice)])[0]


def events_log_many(
    batch: Sequence[tuple[str, Sequence[str], Sequence[int], Sequence[int]]],
) -> list[list[int]]:
    """``events_log`` for several (head, tails, users, choice) in one pipelined round trip."""
    script = _script(_EVENTS_LOG_LUA)
    pipe = get_redis().pipeline(transaction=False)
    sent = 0
    for head, tails, user_ids, choice in batch:
        if not user_ids:
            continue
        keys: list[str] = []
        for uid in user_ids:
            keys += (seq_key(uid), events_key(uid))
        argv: list[Any] = [
            settings.FEED_EVENT_LOG_LENGTH, settings.FEED_EVENT_LOG_TTL_S, head, len(tails),
            *tails,
        ]  # fmt: skip
        argv += [c + 1 for c in choice]
        script(keys=keys, args=argv, client=pipe)
        sent += 1
    answers = iter(pipe.execute() if sent else [])
    return [[int(s) for s in next(answers)] if b[2] else [] for b in batch]
