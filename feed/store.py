"""The feed store: the only module that knows Likefeed's Redis key layout.

Per user ``u`` (``P`` is ``settings.REDIS_PREFIX``):

- ``P:feed:u``   sorted set, the home feed. Member = the feed item's stable id, score = the
  event's time in epoch milliseconds. Trimmed to ``FEED_MAX_ITEMS``; ``ZADD NX`` makes a
  re-run fan-out add nothing.
- ``P:seq:u``    integer, the last ``seq`` given to a live event of this user.
- ``P:events:u`` stream of this user's live events, entry id ``<seq>-0``, field ``m`` = the
  JSON message as sent on the socket. Bounded in length and age; ``resume`` reads it.
- ``P:online``   sorted set of the users online: member = user id, score = until when (epoch
  seconds), renewed while a socket of theirs is open, so it lapses ``PRESENCE_TTL_S``
  after the last one closed. A very big fan-out logs live events only for these users.

Item ids carry what removing them needs: ``post:<author>:<post>`` and, for every other kind
of event, ``<kind>:<actor>:<event>:<post>`` (``like:<actor>:<like>:<post>``), so unfollow can
drop an actor's items without a lookup and unlike can name its item exactly.

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
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from redis.commands.core import Script

from config.redis import get_async_redis, get_redis


def _key(kind: str, user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:{kind}:{user_id}"


def feed_key(user_id: int) -> str:
    return _key("feed", user_id)


def events_key(user_id: int) -> str:
    return _key("events", user_id)


def seq_key(user_id: int) -> str:
    return _key("seq", user_id)


def post_item_id(*, author_id: int, post_id: int) -> str:
    return f"post:{author_id}:{post_id}"


def like_item_id(*, actor_id: int, like_id: int, post_id: int) -> str:
    return item_id(kind="like", actor_id=actor_id, event_id=like_id, post_id=post_id)


def item_id(*, kind: str, actor_id: int, event_id: int, post_id: int) -> str:
    """The feed item id of any kind of event: ``<kind>:<actor>:<event>:<post>``; a post's
    own item is ``post:<author>:<post>`` (its event is the post)."""
    if kind == "post":
        return post_item_id(author_id=actor_id, post_id=post_id)
    return f"{kind}:{actor_id}:{event_id}:{post_id}"


@dataclass(frozen=True, slots=True)
class ItemRef:
    """What an item id says: its kind, who acted, the post, and the event (for every kind
    but a post's own item, whose event is the post: None)."""

    id: str
    kind: str
    actor_id: int
    post_id: int
    event_id: int | None
    score: str

    @property
    def like_id(self) -> int | None:
        return self.event_id if self.kind == "like" else None

    @classmethod
    def parse(cls, item_id: str, score: str) -> ItemRef:
        parts = item_id.split(":")
        if parts[0] == "post":
            return cls(item_id, "post", int(parts[1]), int(parts[2]), None, score)
        return cls(item_id, parts[0], int(parts[1]), int(parts[3]), int(parts[2]), score)


def score_of(moment: datetime) -> float:
    return moment.timestamp() * 1000.0


# The writer of a very big fan-out (a celebrity's like).
# ARGV: key prefix, item id, score, max items, now (epoch s), follower ids (comma-separated).
# Adds the item to each follower's feed (NX: a re-run adds nothing) and trims the feed only
# when it grew past its bound. Returns how many feeds took the item, and which of those
# followers are online (one ZMSCORE for the chunk): the ones that get a live event.
_FEEDS_ADD_LUA = """
local prefix, member, score = ARGV[1], ARGV[2], ARGV[3]
local max_items, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local added = {}
for id in string.gmatch(ARGV[6], '%d+') do
    local feed = prefix .. 'feed:' .. id
    if redis.call('ZADD', feed, 'NX', score, member) == 1 then
        added[#added + 1] = id
        if redis.call('ZCARD', feed) > max_items then
            redis.call('ZREMRANGEBYRANK', feed, 0, -(max_items + 1))
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
# ttl, message head (JSON up to the seq), the two message tails (item with liked_by_me
# false / true: ``feed.live.feed_item_message_parts``), then per follower "0" or "1"
# choosing the tail. Returns per follower the new seq, or 0 where the feed already held the
# item (a re-run).
_FANOUT_LUA = """
local member, score = ARGV[1], ARGV[2]
local max_items, log_len, log_ttl = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local head, tails = ARGV[6], {ARGV[7], ARGV[8]}
local seqs = {}
for i = 1, #KEYS / 3 do
    local feed, seqk, events = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
    if redis.call('ZADD', feed, 'NX', score, member) == 1 then
        if redis.call('ZCARD', feed) > max_items then
            redis.call('ZREMRANGEBYRANK', feed, 0, -(max_items + 1))
        end
        local seq = redis.call('INCR', seqk)
        redis.call('XADD', events, 'MAXLEN', '~', log_len, seq .. '-0',
                   'm', head .. seq .. tails[tonumber(ARGV[8 + i]) + 1])
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
# seq), the two message tails (item with liked_by_me false / true), then per user "0" or
# "1" choosing the tail. Returns each user's new seq.
_EVENTS_LOG_LUA = """
local log_len, log_ttl = ARGV[1], tonumber(ARGV[2])
local head, tails = ARGV[3], {ARGV[4], ARGV[5]}
local seqs = {}
for i = 1, #KEYS / 2 do
    local seqk, events = KEYS[2 * i - 1], KEYS[2 * i]
    local seq = redis.call('INCR', seqk)
    redis.call('XADD', events, 'MAXLEN', '~', log_len, seq .. '-0',
               'm', head .. seq .. tails[tonumber(ARGV[5 + i]) + 1])
    redis.call('EXPIRE', events, log_ttl)
    seqs[i] = seq
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

# KEYS[1]: one feed. ARGV[1]: actor id. Removes every item that actor caused, of any kind
# (item ids are ``<kind>:<actor>:…``).
_REMOVE_ACTOR_LUA = """
local actor = ':' .. ARGV[1] .. ':'
local removed = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local colon = string.find(member, ':', 1, true)
    if colon and string.sub(member, colon, colon + #actor - 1) == actor then
        removed = removed + redis.call('ZREM', KEYS[1], member)
    end
end
return removed
"""

_scripts: dict[str, Script] = {}


def _script(source: str) -> Script:
    if source not in _scripts:
        _scripts[source] = get_redis().register_script(source)
    return _scripts[source]


def feeds_add(*, item_id: str, score: float, followers: Sequence[int]) -> tuple[int, list[int]]:
    """Add one item to each follower's feed (a very big fan-out); returns how many feeds
    took it (it was not there yet) and which of those followers are online, in order."""
    return feeds_add_many([(item_id, score, followers)])[0]


def events_log(
    *, message: tuple[str, str, str], user_ids: Sequence[int], liked_by: set[int]
) -> list[int]:
    """Log a ``feed.item`` for each of these users under their next seq; returns the seqs."""
    return events_log_many([(message, user_ids, liked_by)])[0]


def fanout_write(
    *,
    item_id: str,
    score: float,
    message: tuple[str, str, str],
    followers: Sequence[int],
    liked_by: set[int],
) -> list[int]:
    """Add one item to each follower's feed and log its live event, atomically per chunk;
    returns each follower's new seq (0: the feed already had it, nothing logged)."""
    return fanout_write_many([(item_id, score, message, followers, liked_by)])[0]


def fanout_write_many(
    batch: Sequence[tuple[str, float, tuple[str, str, str], Sequence[int], set[int]]],
) -> list[list[int]]:
    """``fanout_write`` for several items in one pipelined round trip."""
    script = _script(_FANOUT_LUA)
    pipe = get_redis().pipeline(transaction=False)
    for item_id, score, (head, tail_unliked, tail_liked), followers, liked_by in batch:
        if not followers:
            continue
        keys: list[str] = []
        for uid in followers:
            keys += (feed_key(uid), seq_key(uid), events_key(uid))
        argv: list[Any] = [
            item_id, repr(score), settings.FEED_MAX_ITEMS, settings.FEED_EVENT_LOG_LENGTH,
            settings.FEED_EVENT_LOG_TTL_S, head, tail_unliked, tail_liked,
        ]  # fmt: skip
        argv += ["1" if uid in liked_by else "0" for uid in followers]
        script(keys=keys, args=argv, client=pipe)
    answers = iter(pipe.execute() if len(pipe) else [])
    return [[int(s) for s in next(answers)] if followers else [] for _, _, _, followers, _ in batch]


def feed_add_quietly(*, user_id: int, items: Iterable[tuple[str, float]]) -> None:
    """Add items to one feed without live events (a follow's backfill of older posts)."""
    mapping = {item_id: score for item_id, score in items}
    if mapping:
        pipe = get_redis().pipeline()
        pipe.zadd(feed_key(user_id), mapping, nx=True)
        pipe.zremrangebyrank(feed_key(user_id), 0, -(settings.FEED_MAX_ITEMS + 1))
        pipe.execute()


def feed_remove(*, item_ids: Sequence[str], user_ids: Sequence[int]) -> None:
    if item_ids and user_ids:
        _script(_REMOVE_LUA)(keys=[feed_key(u) for u in user_ids], args=list(item_ids))


def feed_remove_actor(*, user_id: int, actor_id: int) -> int:
    return int(_script(_REMOVE_ACTOR_LUA)(keys=[feed_key(user_id)], args=[actor_id]))


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
    r"\|(post(?::[0-9]{1,18}){2}|like(?::[0-9]{1,18}){3})"  # the item id
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
    for item_id, score, followers in batch:
        if followers:
            ids = ",".join(map(str, followers))
            argv: list[str | int] = [
                prefix,
                item_id,
                repr(score),
                settings.FEED_MAX_ITEMS,
                now,
                ids,
            ]
            script(keys=[], args=argv, client=pipe)
    answers = iter(pipe.execute() if len(pipe) else [])
    result: list[tuple[int, list[int]]] = []
    for _, _, followers in batch:
        added, online = next(answers) if followers else (0, [])
        result.append((int(added), [int(uid) for uid in online]))
    return result


def events_log_many(
    batch: Sequence[tuple[tuple[str, str, str], Sequence[int], set[int]]],
) -> list[list[int]]:
    """``events_log`` for several (message, users, liked_by) in one pipelined round trip."""
    script = _script(_EVENTS_LOG_LUA)
    pipe = get_redis().pipeline(transaction=False)
    sent = 0
    for (head, tail_unliked, tail_liked), user_ids, liked_by in batch:
        if not user_ids:
            continue
        keys: list[str] = []
        for uid in user_ids:
            keys += (seq_key(uid), events_key(uid))
        argv: list[Any] = [
            settings.FEED_EVENT_LOG_LENGTH, settings.FEED_EVENT_LOG_TTL_S,
            head, tail_unliked, tail_liked,
        ]  # fmt: skip
        argv += ["1" if uid in liked_by else "0" for uid in user_ids]
        script(keys=keys, args=argv, client=pipe)
        sent += 1
    answers = iter(pipe.execute() if sent else [])
    return [[int(s) for s in next(answers)] if user_ids else [] for _, user_ids, _ in batch]
