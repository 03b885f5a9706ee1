"""The fan-out's feed writers against a real Redis: one call per follower, feeds trimmed
lazily within their margin, inactive followers skipped (Mastodon's rule)."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Iterator
from typing import cast

import pytest

from config.redis import get_redis
from feed import store

HEAD, TAILS = '{"type":"feed.item","seq":', (',"x":0}', ',"x":1}')


@pytest.fixture
def uids() -> Iterator[list[int]]:
    """User ids nobody else uses in this Redis prefix, their keys deleted after."""
    base = 800_000_000 + uuid.uuid4().int % 100_000_000
    ids = [base + i for i in range(50)]
    yield ids
    r = get_redis()
    kinds = (store.feed_key, store.seq_key, store.events_key, store.seen_key)
    for key in [k(u) for u in ids for k in kinds]:
        r.delete(key)


def _write(path: str, n: int, followers: list[int]) -> None:
    if path == "bulk":
        store.feeds_add(item_id=f"p:{n}", score=float(n), followers=followers)
    else:
        store.fanout_write(
            item_id=f"p:{n}", score=float(n), message=(HEAD, *TAILS), followers=followers,
            liked_by=set(),
        )  # fmt: skip


@pytest.mark.parametrize("path", ["bulk", "with-events"])
def test_a_feed_past_its_bound_is_trimmed_lazily_within_the_margin(settings, uids, path):
    settings.FEED_MAX_ITEMS = 20
    r = get_redis()
    (uid,) = uids[:1]
    sizes = []
    for n in range(1, 1601):
        _write(path, n, [uid])
        sizes.append(r.zcard(store.feed_key(uid)))
    bound = settings.FEED_MAX_ITEMS
    assert max(sizes) <= bound + store.FEED_TRIM_MARGIN
    assert max(sizes) > bound  # lazily: not on every write
    trims = sum(1 for a, b in itertools.pairwise(sizes) if b < a)
    # A check on one write in 16 on average: ≈100 in 1,600 writes (far from both bounds).
    assert 40 <= trims <= 200, trims
    after_trim = [b for a, b in itertools.pairwise(sizes) if b < a]
    assert set(after_trim) == {bound}  # a trim brings the feed back to its bound exactly
    # What a trim keeps is the newest items: the top of the feed is the last writes.
    top = [m.decode() for m in cast(list[bytes], r.zrevrange(store.feed_key(uid), 0, bound - 1))]
    assert top == [f"p:{n}" for n in range(1600, 1600 - bound, -1)]


def test_a_chunk_trims_each_of_its_feeds_lazily(settings, uids):
    settings.FEED_MAX_ITEMS = 5
    r = get_redis()
    for n in range(1, 401):
        store.feeds_add(item_id=f"p:{n}", score=float(n), followers=uids)
    sizes = [r.zcard(store.feed_key(u)) for u in uids]
    assert max(sizes) <= 5 + store.FEED_TRIM_MARGIN
    # 400 writes each: every feed was checked (P(no check in 400) ≈ 6e-12 per feed).
    assert max(sizes) < 400


def test_the_bulk_writer_skips_followers_not_seen_for_the_period(settings, uids):
    settings.FEED_ACTIVE_DAYS = 14
    r = get_redis()
    away, recent, never = uids[0], uids[1], uids[2]
    now = time.time()
    r.set(store.seen_key(away), int(now - 15 * 86400))
    r.set(store.seen_key(recent), int(now - 86400))
    added, _ = store.feeds_add(item_id="p:7", score=7.0, followers=[away, recent, never])
    assert added == 2
    assert r.zscore(store.feed_key(away), "p:7") is None
    assert r.zscore(store.feed_key(recent), "p:7") == 7.0
    assert r.zscore(store.feed_key(never), "p:7") == 7.0  # no record: written
    assert store.active_among([away, recent, never]) == [recent, never]
    # The rule off: everyone is written.
    settings.FEED_ACTIVE_DAYS = 0
    assert store.feeds_add(item_id="p:8", score=8.0, followers=[away, recent])[0] == 2
    assert store.active_among([away, recent]) == [away, recent]


def test_marking_activity_returns_the_previous_sighting_once(uids):
    uid = uids[0]
    assert store.activity_mark(user_id=uid, now=1000.0) is None
    assert store.activity_mark(user_id=uid, now=5000.0) == 1000.0
    assert store.activity_mark(user_id=uid, now=3000.0) == 5000.0  # never goes back
    assert float(get_redis().get(store.seen_key(uid)) or 0) == 5000.0


def test_one_seen_record_is_presence_and_activity(settings, uids):
    """A socket moves ``seen`` PRESENCE_TTL_S ahead: online (the bulk writer reports them,
    a removal logs for them) until it runs out; a feed read never moves it back."""
    import asyncio

    settings.FEED_ACTIVE_DAYS = 14
    settings.PRESENCE_TTL_S = 60
    online, gone, reader = uids[0], uids[1], uids[2]
    r = get_redis()
    r.set(store.seq_key(online), 41)
    assert asyncio.run(store.go_online(user_id=online)) == (None, 41)  # never seen before
    r.set(store.seen_key(gone), int(time.time()) - 1)  # a socket that closed 61 s ago
    store.activity_mark(user_id=reader, now=time.time())  # read the feed just now
    assert store.online_among([online, gone, reader]) == {online}
    added, there = store.feeds_add(item_id="p:9", score=9.0, followers=[online, gone, reader])
    assert (added, there) == (3, [online])
    # A read while the socket is open does not end the presence, nor does the rule skip it.
    before = store.activity_mark(user_id=online, now=time.time())
    assert before is not None and before > time.time()
    assert store.online_among([online]) == {online}
    # The renewal moves it ahead again; the handshake returns the previous sighting.
    settings.PRESENCE_TTL_S = 600
    asyncio.run(store.still_online(user_ids=[online, gone]))
    assert store.online_among([online, gone]) == {online, gone}
    seen, seq = asyncio.run(store.go_online(user_id=gone))
    assert seen is not None and seen > time.time() + 500 and seq == 0
