"""Who reads their feed, and the rebuild of a feed whose reader comes back: Mastodon's rule.

Fan-out on write costs one feed write per follower, and most followers of a very big
account are not reading (Mastodon: ``followers_for_local_distribution``, the accounts signed
in within the last two weeks). So the fan-out skips the followers last seen more than
``FEED_ACTIVE_DAYS`` ago (``store.active_among`` and the bulk writer's read of ``seen`` per
follower), and their feed is rebuilt from the people they follow when they come back
(``fanout.feed_rebuild``, as Mastodon's ``FeedManager#populate_home`` run by its
``RegenerationWorker``), here in the request or socket that finds them back: the events
since they were last seen, at most ``FEED_MAX_ITEMS`` per kind of event.

"Seen" is a read of one's own feed (``GET /api/feed/``, which every page showing it makes
first: the feed is what the rule keeps fresh, and reading it is the moment a stale one
would show), or a socket of theirs open (any page's bell: Mastodon counts any sign-in).
The record is one key per user (``P:seen:{u:<id>}``, epoch s, only ever moved forward),
which is also their presence: a read sets it to now (at most once an hour per user per web
process), an open socket to ``PRESENCE_TTL_S`` ahead, renewed (``feed.presence``). A user
with no record counts as active: nobody loses an item for want of a record (every account
of the bench, and every account before this rule existed, until its first read).

Why the order is safe: the request (or the socket's handshake) records the reader first,
then reads PostgreSQL for the rebuild. An event committed before that read is in the
rebuild; one committed after it is fanned out by a task that checks activity after its
commit, so after the record: it writes this feed. Either way the item is there; ``ZADD GT``
makes the two meet without doubles.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from channels.db import database_sync_to_async

from . import fanout, store

# Per web process: when each user was last recorded here, so that a reader's requests cost
# a dict lookup, and Redis one write an hour per user.
MARK_EVERY_S = 3600.0
_MARKED_MAX = 100_000
_marked: dict[int, float] = {}


def feed_read(*, user_id: int) -> bool:
    """The user is reading their feed: record it and, if they were away (last seen before
    the rule's cutoff), rebuild their feed first. Returns True when it rebuilt."""
    now = time.time()
    last = _marked.get(user_id)
    if last is not None and now - last < MARK_EVERY_S:
        return False
    before = store.activity_mark(user_id=user_id, now=now)
    if len(_marked) >= _MARKED_MAX:
        _marked.clear()
    _marked[user_id] = now
    since = _away_since(before, now)
    if since is None:
        return False
    fanout.feed_rebuild(user_id=user_id, since=since)
    return True


async def socket_opened(*, user_id: int) -> int:
    """A socket of the user's is open: mark them online (and so seen) and, if they were
    away, rebuild their feed first; returns their last seq (the handshake's)."""
    before, seq = await store.go_online(user_id=user_id)
    since = _away_since(before, time.time())
    if since is not None:
        await database_sync_to_async(fanout.feed_rebuild)(user_id=user_id, since=since)
    return seq


def _away_since(before: float | None, now: float) -> datetime | None:
    """When a user last seen at ``before`` was last seen, if that was before the rule's
    cutoff (they are back from away: their feed is rebuilt since then); else None."""
    cutoff = store.active_cutoff(now)
    if cutoff is None or before is None or before >= cutoff:
        return None
    return datetime.fromtimestamp(before, tz=UTC)
