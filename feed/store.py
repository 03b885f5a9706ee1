"""The feed store: the only module that knows Likefeed's Redis key layout.

Per user ``u`` (``P`` is ``settings.REDIS_PREFIX``; each key of a user ends in the hash
tag ``{u:<id>}``, so on a Redis Cluster a user's keys share a slot and every Lua call that
touches one user touches one slot, on either layout: ``config.redis``):

- ``P:feed:{u:<id>}``   sorted set, the home feed. Member = the post's one item id ``p:<post>``,
  score = the latest activity that placed it there (the post's writing, or the newest like
  of it by someone u follows) in epoch milliseconds. Bounded by ``FEED_MAX_ITEMS``, trimmed
  lazily (within ``FEED_TRIM_MARGIN``: the fan-out writes one call per follower). Writes
  are ``ZADD GT CH``: a newer like moves the item up (same member), a re-run or an older
  like changes nothing (and then logs no event).
- ``P:seq:{u:<id>}``    integer, the last ``seq`` given to a live event of this user.
- ``P:events:{u:<id>}`` stream of this user's live events, entry id ``<seq>-0``, field ``m`` = the
  JSON message as sent on the socket. Bounded in length and age; ``resume`` reads it.
- ``P:seen:{u:<id>}``   when the user was last seen, epoch seconds, only ever moved forward:
  a read of their feed sets it to that moment, an open socket of theirs to
  ``PRESENCE_TTL_S`` ahead (renewed while it stays open, ``feed.presence``). So the user
  is *online* while it lies in the future (``PRESENCE_TTL_S`` after their last socket
  closed, the grace in which a client can still ``resume``), and *active* while it is
  later than ``FEED_ACTIVE_DAYS`` ago: the fan-out skips the others (Mastodon's rule,
  ``feed.activity``); a user without one counts as active. A very big fan-out logs live
  events only for the online ones. One key for both, because the bulk writer reads it for
  every follower: two keys (``P:online`` and ``P:active``, dfd10b4 to 87237fe) were two
  lookups per follower in a keyspace of millions (README, "Load testing and benchmarks").

A post is in a feed at most once, whatever placed it there: the member names only the post,
and who placed it (the author, the followees who like it) is read at page time from
PostgreSQL (``feed.selectors``). A member whose reason to be there is gone is removed with
a ``feed.remove`` event (``unfeed``: an unlike, an unfollow, a deleted post), logged under
the same seq counter as ``feed.item``.

Writes for many users happen inside Redis (one Lua script call per chunk of followers):
DESIGN.md measured ≈590,000 entries/s that way against ≈170,000/s for pipelined ZADDs. The
chunk's follower ids travel as one comma-separated argument and the script builds the keys
(redis-py spends ≈4.5 µs packing each key argument, as much as Redis spends on the writes:
``make bench``). Every script that writes for several users takes their ids that way, so it
declares no keys: on a Redis Cluster the chunk is first grouped by the master that holds
each user's slot (``config.redis.by_node``) and each master gets its part in one call, which
Redis allows for a script without a shebang (it touches only keys of its own node). On a
single Redis the chunk is one group: the same calls.

A live event costs far more than a feed entry (a seq, a log entry holding the whole
message, a publish) and only matters to someone with a socket open: a like by an account
with more than ``FANOUT_LIVE_ALL_MAX`` followers (a million, say) writes every feed but
logs and publishes events only for the followers who are online (``P:seen:{u:<id>}`` in the
future); a follower who comes back later finds the item in their feed, not in their replay
log. Everyone else's events are logged for every follower, online or not, for ``resume``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.redis import by_node, cluster_mode, get_async_redis, get_redis, refresh_nodes

from . import live

log = logging.getLogger(__name__)


def _key(kind: str, user_id: int) -> str:
    return f"{settings.REDIS_PREFIX}:{kind}:{{u:{user_id}}}"


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


# Every script below that writes for several users takes them as one comma-separated
# argument of ids and builds their keys (``prefix .. kind .. ':{u:' .. id .. '}'``, what
# ``_key`` spells): it declares no keys, and is sent to each node with its part of the users
# (``_per_node``). Measured side by side against the scripts that took keys (83983ed's,
# loaded beside these in one run; 1,000 followers per call, every follower with an activity
# record and one in ten online, median of 30 calls each): the ordinary writer takes 0.73x
# the time (no key packing in redis-py), the bulk writer 0.96x (its MGETs on a single
# Redis; on a cluster, where one command may not span slots, a GET per follower instead).

# The writer of a very big fan-out (a celebrity's like).
# ARGV: key prefix, item id, score, max items, follower ids (comma-separated), trim every,
# trim phase (``_trim_args``), the activity cutoff (epoch s; "" for none), now (epoch s),
# "1" on a single Redis ("" on a cluster).
# Reads each follower's ``seen`` (one MGET; on a cluster, where one command may not span
# slots, a GET each), skips the ones last seen before the cutoff (``feed.activity``), then
# adds the item to each other follower's feed or moves it up (GT CH: a re-run or an older
# activity changes nothing): one write per follower, the trim of feeds past their bound only
# for a random one in ``every`` of them. Returns how many feeds took the item, and which of
# those followers are online (``seen`` after now): the ones that get a live event.
_FEEDS_ADD_LUA = """
local prefix, member, score = ARGV[1], ARGV[2], ARGV[3]
local max_items = tonumber(ARGV[4])
local every, phase, cutoff = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local now, one_server = tonumber(ARGV[9]), ARGV[10] == '1'
local ids, keys = {}, {}
local seen_head = prefix .. 'seen:{u:'
for id in string.gmatch(ARGV[5], '%d+') do
    ids[#ids + 1] = id
    keys[#keys + 1] = seen_head .. id .. '}'
end
local seen
if #keys == 0 then
    seen = {}
elseif one_server then
    seen = redis.call('MGET', unpack(keys))
else
    seen = {}
    for i = 1, #keys do
        seen[i] = redis.call('GET', keys[i])
    end
end
local added, online = 0, {}
local feed_head = prefix .. 'feed:{u:'
for i = 1, #ids do
    local at = seen[i] and tonumber(seen[i])
    if not (at and cutoff and at < cutoff) then
        local feed = feed_head .. ids[i] .. '}'
        if redis.call('ZADD', feed, 'GT', 'CH', score, member) == 1 then
            added = added + 1
            if (added + phase) % every == 0 and redis.call('ZCARD', feed) > max_items then
                redis.call('ZREMRANGEBYRANK', feed, 0, -(max_items + 1))
            end
            if at and at > now then
                online[#online + 1] = tonumber(ids[i])
            end
        end
    end
end
return {added, online}
"""

# The writer of every other fan-out: feed entry and live event together, in one script, so
# a worker killed mid-fan-out leaves no entry without its event (a re-run adds neither).
# ARGV: key prefix, item id, score, max items, log length, log ttl, message head (JSON up to
# the seq), the number of message tails n, the n tails (the item as each group of followers
# sees it: ``feed.live.feed_item_tails``), trim every, trim phase, the follower ids, and per
# follower the number of its tail (both comma-separated).
# Returns per follower the new seq, or 0 where the feed already held the item at that score
# or later (a re-run, or an older like than the one that placed it).
_FANOUT_LUA = """
local prefix, member, score = ARGV[1], ARGV[2], ARGV[3]
local max_items, log_len, log_ttl = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local head, ntails = ARGV[7], tonumber(ARGV[8])
local every, phase = tonumber(ARGV[9 + ntails]), tonumber(ARGV[10 + ntails])
local choices = {}
for c in string.gmatch(ARGV[12 + ntails], '%d+') do
    choices[#choices + 1] = tonumber(c)
end
local seqs = {}
local i = 0
for id in string.gmatch(ARGV[11 + ntails], '%d+') do
    i = i + 1
    local tag = ':{u:' .. id .. '}'
    local feed = prefix .. 'feed' .. tag
    if redis.call('ZADD', feed, 'GT', 'CH', score, member) == 1 then
        if (i + phase) % every == 0 and redis.call('ZCARD', feed) > max_items then
            redis.call('ZREMRANGEBYRANK', feed, 0, -(max_items + 1))
        end
        local seq = redis.call('INCR', prefix .. 'seq' .. tag)
        local events = prefix .. 'events' .. tag
        redis.call('XADD', events, 'MAXLEN', '~', log_len, seq .. '-0',
                   'm', head .. seq .. ARGV[8 + choices[i]])
        redis.call('EXPIRE', events, log_ttl)
        seqs[i] = seq
    else
        seqs[i] = 0
    end
end
return seqs
"""

# Live events for the online followers of a very big fan-out, after ``_FEEDS_ADD_LUA``.
# ARGV: key prefix, log length, log ttl, message head (JSON up to the seq), the number of
# tails n, the n tails, the user ids, and per user the number of its tail (both
# comma-separated). Returns each user's new seq.
_EVENTS_LOG_LUA = """
local prefix, log_len, log_ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local head, ntails = ARGV[4], tonumber(ARGV[5])
local choices = {}
for c in string.gmatch(ARGV[7 + ntails], '%d+') do
    choices[#choices + 1] = tonumber(c)
end
local seqs = {}
local i = 0
for id in string.gmatch(ARGV[6 + ntails], '%d+') do
    i = i + 1
    local tag = ':{u:' .. id .. '}'
    local seq = redis.call('INCR', prefix .. 'seq' .. tag)
    local events = prefix .. 'events' .. tag
    redis.call('XADD', events, 'MAXLEN', '~', log_len, seq .. '-0',
               'm', head .. seq .. ARGV[5 + choices[i]])
    redis.call('EXPIRE', events, log_ttl)
    seqs[i] = seq
end
return seqs
"""

# Taking one item out of feeds, with its ``feed.remove`` event where a feed held it, and
# telling others that it changed in place (its "liked by" line), where their feed holds it.
# ARGV: key prefix, item id, log length, log ttl, "1" to log for everyone (else now, epoch
# s: for the users online only, their ``seen`` after it), the removal's message head and
# tail (JSON around the seq), the changed item's message head, the number of its tails n,
# the n tails (``feed.live.feed_item_tails``, per group of users who see the same item), the
# user ids, and per user what it gets (both comma-separated): 0 the removal, k the changed
# item with tail k. Logs an event only where the feed held the item (a removal takes it out;
# a change leaves it and its score: its place) and, for a very big removal, only for the
# users online (as the fan-out does).
# Returns per user the seq, or 0.
_UNFEED_LUA = """
local prefix, member, log_len, log_ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local all = ARGV[5] == '1'
local now = tonumber(ARGV[5])
local heads, rm_tail, ntails = {ARGV[6], ARGV[8]}, ARGV[7], tonumber(ARGV[9])
local whats = {}
for w in string.gmatch(ARGV[11 + ntails], '%d+') do
    whats[#whats + 1] = tonumber(w)
end
local seqs = {}
local i = 0
for id in string.gmatch(ARGV[10 + ntails], '%d+') do
    i = i + 1
    seqs[i] = 0
    local tag = ':{u:' .. id .. '}'
    local feed, what = prefix .. 'feed' .. tag, whats[i]
    local held
    if what == 0 then
        held = redis.call('ZREM', feed, member) == 1
    else
        held = redis.call('ZSCORE', feed, member)
    end
    if held and (all or (tonumber(redis.call('GET', prefix .. 'seen' .. tag)) or 0) > now) then
        local seq = redis.call('INCR', prefix .. 'seq' .. tag)
        local events = prefix .. 'events' .. tag
        local head, tail = heads[1], rm_tail
        if what > 0 then
            head, tail = heads[2], ARGV[9 + what]
        end
        redis.call('XADD', events, 'MAXLEN', '~', log_len, seq .. '-0',
                   'm', head .. seq .. tail)
        redis.call('EXPIRE', events, log_ttl)
        seqs[i] = seq
    end
end
return seqs
"""

# ARGV: key prefix, user ids, then the item ids to remove from each user's feed.
_REMOVE_LUA = """
for id in string.gmatch(ARGV[2], '%d+') do
    redis.call('ZREM', ARGV[1] .. 'feed:{u:' .. id .. '}', unpack(ARGV, 3))
end
return 0
"""

# One value per user: ARGV: the keys' start (``P:<kind>``), the user ids. Returns each
# user's value, "" where there is none.
_VALUES_LUA = """
local values = {}
for id in string.gmatch(ARGV[2], '%d+') do
    values[#values + 1] = redis.call('GET', ARGV[1] .. ':{u:' .. id .. '}') or ''
end
return values
"""

# KEYS: one user's ``seen`` key, then optionally their ``seq`` key. ARGV: a time (epoch s).
# Moves ``seen`` forward to it, never back; returns the time it held before (false: never
# seen) and the seq (0 without the key).
_SEEN_LUA = """
local before = redis.call('GET', KEYS[1])
if not before or tonumber(before) < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[1])
end
local seq = 0
if KEYS[2] then
    seq = tonumber(redis.call('GET', KEYS[2]) or '0')
end
return {before or false, seq}
"""

_scripts: dict[str, Script] = {}


def _script(source: str) -> Script:
    if source not in _scripts:
        _scripts[source] = get_redis().register_script(source)
    return _scripts[source]


# A node that fails a call while the cluster moves a master (its replica is being promoted:
# the old one is gone, read-only, or no longer holds the slot) is asked again once the slot
# table is read again, for this long at most; on a single Redis the error is the caller's.
CLUSTER_RETRY_S = 30.0
_MOVING = ("CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK", "Script attempted to access a non local")

# One script call for several users: the users, and the arguments for the ones at these
# positions of them.
Call = tuple[Sequence[int], Callable[[list[int]], list[Any]]]

# On a Redis Cluster a write that a master acknowledged can still be lost: replication is
# asynchronous, and a master killed before its replica had the write is replaced by that
# replica without it (seq counters one step back included). The outbox mark of a fan-out
# (``fanned_out_at``) is set after its writes returned, so a write lost that way would never
# be made again. Each node's part of a write therefore ends with ``WAIT 1``: it returns once
# the node's replica holds the writes, and one that times out with a replica connected is
# asked again, as a moving master is (every script here can run twice: ZADD GT CH). A master
# with no replica connected (its replica dead, or just promoted) has nothing to wait for:
# its writes go on unreplicated rather than stop, and it is not asked to wait again for
# REPLICA_RECHECK_S (a WAIT there costs REPLICA_WAIT_MS). On a single Redis nothing waits.
REPLICA_WAIT_MS = 500
REPLICA_RECHECK_S = 5.0
# Whether a cluster's writes wait for the replica (above). Always on, except in ``make bench
# CLUSTER=1``'s own process, which turns it off around the same writes to measure what the
# wait costs (``bench.cluster``); no setting reaches it.
WAIT_FOR_REPLICA = True
_unreplicated: dict[str, float] = {}  # node ("host:port") -> until when its writes do not wait


def _node_name(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def _replicated(client: Any, acked: int) -> bool:
    """Whether a node's writes reached its replica (``WAIT``'s count); a node without a
    connected replica counts as replicated, and is not waited for a while."""
    if acked >= 1:
        return True
    if int(client.info("replication").get("connected_slaves", 0)):
        return False
    _unreplicated[_node_name(client)] = time.monotonic() + REPLICA_RECHECK_S
    log.warning("Redis Cluster node %s has no replica: writes go on unreplicated",
                _node_name(client))  # fmt: skip
    return True


def _pick(values: Sequence[Any], positions: list[int]) -> Sequence[Any]:
    return values if len(positions) == len(values) else [values[p] for p in positions]


def _ids(values: Sequence[Any], positions: list[int]) -> str:
    return ",".join(map(str, _pick(values, positions)))


def _per_node(
    source: str, calls: Sequence[Call], *, writes: bool = True
) -> list[list[tuple[list[int], Any]]]:
    """Run a script for each call's users, each node (``config.redis.by_node``: one on a
    single Redis) getting its part of every call in one pipelined round trip, which on a
    cluster ends with ``WAIT 1`` where the script ``writes``. Returns per call its
    (positions, answer) pairs, one per node."""
    script = _script(source)
    replicate = writes and cluster_mode() and WAIT_FOR_REPLICA
    results: list[list[tuple[list[int], Any]]] = [[] for _ in calls]
    pending = [(c, list(range(len(users)))) for c, (users, _) in enumerate(calls) if users]
    deadline = time.monotonic() + CLUSTER_RETRY_S
    while pending:
        work: dict[int, tuple[Any, list[tuple[int, list[int]]]]] = {}
        for c, positions in pending:
            for client, sub in by_node(_pick(calls[c][0], positions)):
                part = [positions[s] for s in sub] if len(sub) != len(positions) else positions
                work.setdefault(id(client), (client, []))[1].append((c, part))
        pending = []
        for client, parts in work.values():
            pipe = client.pipeline(transaction=False)
            for c, part in parts:
                script(keys=[], args=calls[c][1](part), client=pipe)
            wait = replicate and _unreplicated.get(_node_name(client), 0.0) < time.monotonic()
            if wait:
                pipe.execute_command("WAIT", 1, REPLICA_WAIT_MS)
            try:
                answers = pipe.execute()
                if wait and not _replicated(client, int(answers.pop())):
                    raise RedisTimeoutError("WAIT 1: the replica did not acknowledge in time")
            except RedisError as exc:
                if not _moving(exc) or time.monotonic() > deadline:
                    raise
                log.warning("a Redis Cluster node failed (%s): asking again", exc)
                pending += parts
                continue
            for (c, part), answer in zip(parts, answers, strict=True):
                results[c].append((part, answer))
        if pending:
            time.sleep(0.5)
            refresh_nodes()
    return results


def _moving(exc: RedisError) -> bool:
    """Whether an error is a cluster moving a master (worth asking again)."""
    if not cluster_mode():
        return False
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError, ReadOnlyError)):
        return True
    return str(exc).startswith(_MOVING)


def _seqs(count: int, parts: list[tuple[list[int], Any]]) -> list[int]:
    seqs = [0] * count
    for positions, answer in parts:
        for p, seq in zip(positions, answer, strict=True):
            seqs[p] = int(seq)
    return seqs


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


def seen_key(user_id: int) -> str:
    return _key("seen", user_id)


def active_cutoff(now: float | None = None) -> int | None:
    """Epoch seconds before which a user last seen counts as inactive (``feed.activity``),
    or None when the rule is off (``FEED_ACTIVE_DAYS`` 0)."""
    days = settings.FEED_ACTIVE_DAYS
    if not days:
        return None
    return int((time.time() if now is None else now) - days * 86400)


def active_among(user_ids: Sequence[int]) -> list[int]:
    """These users less the ones last seen before the cutoff, in order (one call per node).
    A user never seen counts as active: nobody loses an item for want of a record."""
    cutoff = active_cutoff()
    if cutoff is None or not user_ids:
        return list(user_ids)
    seen = _values("seen", user_ids)
    return [uid for uid, at in zip(user_ids, seen, strict=True) if not at or int(at) >= cutoff]


def _values(kind: str, user_ids: Sequence[int]) -> list[bytes]:
    """Each user's ``P:<kind>:{u:<id>}`` value (b"" where none), one call per node."""
    start = f"{settings.REDIS_PREFIX}:{kind}"
    values: list[bytes] = [b""] * len(user_ids)
    calls: list[Call] = [(user_ids, lambda part: [start, _ids(user_ids, part)])]
    for positions, answer in _per_node(_VALUES_LUA, calls, writes=False)[0]:
        for p, value in zip(positions, answer, strict=True):
            values[p] = value
    return values


def activity_mark(*, user_id: int, now: float) -> float | None:
    """Record that the user was seen now; returns when they were seen before (None: never),
    read and written in one script, so of two requests only one sees the old time."""
    before, _ = _script(_SEEN_LUA)(keys=[seen_key(user_id)], args=[int(now)])
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
    prefix = f"{settings.REDIS_PREFIX}:"
    calls: list[Call] = []
    for item_id, score, head, tails, followers, choice in batch:
        fixed: list[Any] = [
            prefix, item_id, repr(score), settings.FEED_MAX_ITEMS,
            settings.FEED_EVENT_LOG_LENGTH, settings.FEED_EVENT_LOG_TTL_S, head, len(tails),
            *tails,
        ]  # fmt: skip
        tail_numbers = [c + 1 for c in choice]

        def argv(part: list[int], fixed: list[Any] = fixed, followers: Sequence[int] = followers,
                 numbers: list[int] = tail_numbers) -> list[Any]:  # fmt: skip
            return [*fixed, *_trim_args(), _ids(followers, part), _ids(numbers, part)]

        calls.append((followers, argv))
    results = _per_node(_FANOUT_LUA, calls)
    return [_seqs(len(call[0]), parts) for call, parts in zip(calls, results, strict=True)]


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
    users = [*user_ids, *kept]
    whats = [0] * len(user_ids) + [c + 1 for c in choice]
    fixed: list[Any] = [
        f"{settings.REDIS_PREFIX}:", item_id, settings.FEED_EVENT_LOG_LENGTH,
        settings.FEED_EVENT_LOG_TTL_S, "1" if live_all else int(time.time()), head, tail, item_head,
        len(tails), *tails,
    ]  # fmt: skip
    calls: list[Call] = [(users, lambda part: [*fixed, _ids(users, part), _ids(whats, part)])]
    seqs = _seqs(len(users), _per_node(_UNFEED_LUA, calls)[0])
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
        prefix = f"{settings.REDIS_PREFIX}:"
        _per_node(_REMOVE_LUA, [(user_ids, lambda part: [prefix, _ids(user_ids, part), *item_ids])])


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


def online_among(user_ids: Iterable[int]) -> set[int]:
    """Which of these users are online (a socket open, or closed less than PRESENCE_TTL_S
    ago: ``seen`` in the future), in one round trip: live events for the others need not
    even be built."""
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    now = time.time()
    values = _values("seen", ids)
    return {uid for uid, at in zip(ids, values, strict=True) if at and int(at) > now}


def _online_until() -> int:
    return int(time.time()) + settings.PRESENCE_TTL_S


async def go_online(*, user_id: int) -> tuple[float | None, int]:
    """Mark the user online (their events are logged from now on: ``seen`` moved
    ``PRESENCE_TTL_S`` ahead) in one script call; returns when they were seen before (None:
    never; ``feed.activity`` rebuilds the feed of one back from long away) and their last
    seq. (EVAL, not EVALSHA: the script is short, and a cluster node that has not loaded it
    cannot fail the call.)"""
    keys = [seen_key(user_id), seq_key(user_id)]
    before, seq = await get_async_redis().eval(_SEEN_LUA, 2, *keys, _online_until())
    return (None if before is None else float(before)), int(seq)


async def still_online(*, user_ids: Iterable[int]) -> None:
    """Renew the presence of users who still have a socket open here, in one pipeline (the
    others' lapses by itself)."""
    until = _online_until()
    pipe = get_async_redis().pipeline(transaction=False)
    for uid in user_ids:
        pipe.eval(_SEEN_LUA, 1, seen_key(uid), until)
    if len(pipe):
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
    prefix = f"{settings.REDIS_PREFIX}:"
    rule = active_cutoff()
    cutoff: str | int = "" if rule is None else rule
    one_server = "" if cluster_mode() else "1"
    now = int(time.time())
    calls: list[Call] = []
    for item_id, score, followers in batch:
        fixed: list[Any] = [prefix, item_id, repr(score), settings.FEED_MAX_ITEMS]

        def argv(part: list[int], fixed: list[Any] = fixed,
                 followers: Sequence[int] = followers) -> list[Any]:  # fmt: skip
            return [*fixed, _ids(followers, part), *_trim_args(), cutoff, now, one_server]

        calls.append((followers, argv))
    result: list[tuple[int, list[int]]] = []
    for (_, _, followers), parts in zip(batch, _per_node(_FEEDS_ADD_LUA, calls), strict=True):
        added = sum(int(answer[0]) for _, answer in parts)
        online = [int(uid) for _, answer in parts for uid in answer[1]]
        if len(parts) > 1:  # in the followers' order, as one node returns them
            order = {uid: i for i, uid in enumerate(followers)}
            online.sort(key=order.__getitem__)
        result.append((added, online))
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
    prefix = f"{settings.REDIS_PREFIX}:"
    calls: list[Call] = []
    for head, tails, user_ids, choice in batch:
        fixed: list[Any] = [
            prefix, settings.FEED_EVENT_LOG_LENGTH, settings.FEED_EVENT_LOG_TTL_S, head,
            len(tails), *tails,
        ]  # fmt: skip
        tail_numbers = [c + 1 for c in choice]

        def argv(part: list[int], fixed: list[Any] = fixed, user_ids: Sequence[int] = user_ids,
                 numbers: list[int] = tail_numbers) -> list[Any]:  # fmt: skip
            return [*fixed, _ids(user_ids, part), _ids(numbers, part)]

        calls.append((user_ids, argv))
    results = _per_node(_EVENTS_LOG_LUA, calls)
    return [_seqs(len(call[0]), parts) for call, parts in zip(calls, results, strict=True)]
