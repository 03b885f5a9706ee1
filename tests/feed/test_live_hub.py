"""feed.live in one process: what a publish puts in which socket's inbox, over real Redis.

A listener stands for one socket (``live.listen`` is what the consumer calls at the
handshake); its inbox is what the consumer would send, in order.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.test import override_settings

from config.redis import get_redis
from feed import live

RELAY, CATCH_UP = live.RELAY, live.CATCH_UP


def user_ids(n: int) -> list[int]:
    """Ids no real user of the suite has, so no other test's socket is disturbed."""
    base = random.randrange(10**12, 10**13)
    return [base + i for i in range(n)]


async def next_entry(listener: live.Listener, within_s: float = 5.0) -> tuple[int, Any]:
    seq, text = await asyncio.wait_for(listener.inbox.get(), within_s)
    return seq, (json.loads(text) if seq == RELAY else text)


async def nothing_arrives(listener: live.Listener, within_s: float = 0.5) -> bool:
    try:
        await asyncio.wait_for(listener.inbox.get(), within_s)
    except TimeoutError:
        return True
    return False


def in_a_loop(scenario: Callable[[], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        try:
            return await scenario()
        finally:
            await live.close_hub()

    return asyncio.run(run())


def test_post_counts_reach_the_sockets_watching_the_post_and_user_messages_their_user():
    alice, bob = user_ids(2)
    post, other_post = random.randrange(10**12, 10**13), 1

    async def scenario() -> None:
        alice_1, _ = await live.listen(user_id=alice)
        alice_2, _ = await live.listen(user_id=alice)
        bobs, _ = await live.listen(user_id=bob)
        assert await alice_1.watch_posts({post}) == {post}
        await bobs.watch_posts({post, other_post})
        await sync_to_async(live.publish)([
            live.post_likes(post_id=post, like_count=3),
            live.like_delivered(liker_id=alice, post_id=post, followers=2, ms=12.345),
        ])  # fmt: skip
        count = {"type": "post.likes", "post_id": post, "like_count": 3}
        delivered = {"type": "like.delivered", "post_id": post, "followers": 2, "ms": 12.3}
        assert [await next_entry(alice_1) for _ in range(2)] == [(RELAY, count), (RELAY, delivered)]
        assert await next_entry(alice_2) == (RELAY, delivered)  # every socket of the user
        assert await next_entry(bobs) == (RELAY, count)
        assert await nothing_arrives(alice_2) and await nothing_arrives(bobs)

        # A post no socket here watches any more is unsubscribed, and reaches nobody.
        await alice_1.watch_posts(set())
        await bobs.close()
        assert live.post_channel(post) not in live.hub()._subscribed
        await sync_to_async(live.publish)([live.post_likes(post_id=post, like_count=4)])
        assert await nothing_arrives(alice_1)

    in_a_loop(scenario)


def test_a_feed_items_batch_reaches_each_followers_local_sockets_with_their_own_text():
    """One published batch becomes, in each follower's inboxes, exactly the text the store
    logs for them (``head + seq + tail``); followers with no socket here, and sockets of
    other users, get nothing."""
    alice, bob, carol, nobody = user_ids(4)
    head, unliked, liked = '{"type":"feed.item","seq":', ',"x":false}', ',"x":true}'

    async def scenario() -> None:
        alice_1, _ = await live.listen(user_id=alice)
        alice_2, _ = await live.listen(user_id=alice)
        bobs, _ = await live.listen(user_id=bob)
        carols, _ = await live.listen(user_id=carol)
        await sync_to_async(live.feed_items_publish)([
            ((head, unliked, liked), [(alice, 7, False), (bob, 3, True), (nobody, 1, False)]),
            ((head, "!", "?"), [(alice, 8, True)]),
        ])  # fmt: skip
        expected = [(7, f"{head}7{unliked}"), (8, f"{head}8?")]
        assert [await next_entry(alice_1) for _ in range(2)] == expected
        assert [await next_entry(alice_2) for _ in range(2)] == expected
        assert await next_entry(bobs) == (3, f"{head}3{liked}")
        assert await nothing_arrives(carols)

    in_a_loop(scenario)


def test_the_feed_item_text_is_what_the_store_logs():
    from feed import store

    (follower,) = user_ids(1)
    item = {
        "id": "post:1:2",
        "kind": "post",
        "post": {"id": 2, "body": 'a "b"\n', "liked_by_me": 0},
    }
    parts = live.feed_item_message_parts(item)
    try:
        (seq,) = store.fanout_write(
            item_id="post:1:2", score=1.0, message=parts, followers=[follower], liked_by={follower}
        )
        (logged,) = asyncio.run(store.events_after(user_id=follower, after=0))
    finally:
        r = get_redis()
        r.delete(store.feed_key(follower), store.events_key(follower), store.seq_key(follower))
    assert logged == (seq, live.feed_item_text(parts[0], seq, parts[2]))
    message = json.loads(logged[1])
    assert message == {"type": "feed.item", "seq": seq, "item": {**item, "post": {
        "id": 2, "body": 'a "b"\n', "liked_by_me": True}}}  # fmt: skip


def test_an_inbox_keeps_the_newest_and_says_when_it_dropped_a_feed_item():
    inbox = live.Inbox(capacity=3)

    async def drain() -> list[tuple[int, str]]:
        got = []
        while len(inbox) or inbox.behind:
            got.append(await inbox.get())
        return got

    for n in range(5):
        inbox.put((RELAY, f"count {n}"))
    assert (inbox.dropped, asyncio.run(drain())) == (
        2,
        [(RELAY, "count 2"), (RELAY, "count 3"), (RELAY, "count 4")],
    )  # fmt: skip: dropping counts only: nothing to catch up (the newest is the truth)

    for seq in (1, 2, 3, 4):
        inbox.put((seq, f"item {seq}"))
    # Item 1 was dropped: after the newest three, the consumer is told to read the log.
    assert asyncio.run(drain()) == [(2, "item 2"), (3, "item 3"), (4, "item 4"), (CATCH_UP, "")]


def test_a_socket_that_stops_reading_holds_at_most_its_inbox_the_newest_kept():
    (user,) = user_ids(1)
    post = random.randrange(10**12, 10**13)

    async def scenario() -> list[int]:
        with override_settings(WS_INBOX_CAPACITY=5):
            listener, _ = await live.listen(user_id=user)
        await listener.watch_posts({post})
        await sync_to_async(live.publish)(
            live.post_likes(post_id=post, like_count=n) for n in range(50)
        )
        deadline = time.monotonic() + 15
        while listener.inbox.dropped < 45 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return [(await next_entry(listener))[1]["like_count"] for _ in range(len(listener.inbox))]

    assert in_a_loop(scenario) == [45, 46, 47, 48, 49]


def test_after_the_subscriber_reconnects_every_socket_catches_up_and_delivery_goes_on():
    """Messages published while this process's subscriber was cut off are in the event
    logs: once it is back (subscribed again), every socket is told to read its log."""
    alice, bob = user_ids(2)

    async def scenario() -> None:
        alices, _ = await live.listen(user_id=alice)
        bobs, _ = await live.listen(user_id=bob)
        hub = live.hub()
        # Cut this hub's connection as Redis would (CLIENT KILL, of this connection only).
        r = get_redis()
        name = hub.client_name
        (client,) = [c for c in r.client_list(_type="pubsub") if c["name"] == name]
        r.client_kill_filter(_id=client["id"])
        assert await next_entry(alices, within_s=15) == (CATCH_UP, "")
        assert await next_entry(bobs) == (CATCH_UP, "")
        await sync_to_async(live.publish)([
            live.like_delivered(liker_id=bob, post_id=1, followers=0, ms=1.0)
        ])  # fmt: skip
        assert (await next_entry(bobs))[1]["type"] == "like.delivered"

    in_a_loop(scenario)
