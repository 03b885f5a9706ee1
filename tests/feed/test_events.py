"""feed.live publishes exactly what the channel layer's own group_send would deliver."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from feed import live


async def anything_arrives(layer, channel: str, within_s: float = 0.5) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), within_s)
    except TimeoutError:
        return False
    return True


def test_pipelined_publish_reaches_group_members_like_group_send():
    async def scenario() -> tuple[dict, dict, bool]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("user.424242", channel)
        await layer.group_add("post.17", channel)
        message = {"type": "post.likes", "post_id": 17, "like_count": 3, "likes_version": 5}
        await sync_to_async(live.publish)(
            [live.post_likes(post_id=17, like_count=3, likes_version=5)]
        )
        ours = await asyncio.wait_for(layer.receive(channel), 5)
        await layer.group_send("post.17", message)
        theirs = await asyncio.wait_for(layer.receive(channel), 5)
        # A group the channel is not in reaches nothing.
        await sync_to_async(live.publish)(
            [live.post_likes(post_id=18, like_count=1, likes_version=1)]
        )
        leaked = await anything_arrives(layer, channel)
        await layer.flush()
        return ours, theirs, leaked

    ours, theirs, leaked = asyncio.run(scenario())
    assert ours == theirs == {
        "type": "post.likes", "post_id": 17, "like_count": 3, "likes_version": 5
    }  # fmt: skip
    assert not leaked


def test_a_feed_items_batch_reaches_each_followers_local_sockets_as_group_send_would():
    """One published batch becomes, in each socket's inbox, the ``feed.item`` that a
    ``group_send`` to ``user.<id>`` would have put there; followers with no socket here, and
    sockets of other users, get nothing."""
    head, unliked, liked = '{"type":"feed.item","seq":', ',"x":false}', ',"x":true}'

    async def scenario() -> tuple[list[list[dict]], list[dict], bool]:
        layer = get_channel_layer()
        alice_1, alice_2, bob, carol = [await layer.new_channel() for _ in range(4)]
        for channel in (alice_1, alice_2):
            await layer.group_add("user.910001", channel)
        await layer.group_add("user.910002", bob)
        await layer.group_add("user.910003", carol)
        await sync_to_async(live.feed_items_publish)([
            ((head, unliked, liked), [(910001, 7, False), (910002, 3, True), (910009, 1, False)]),
            ((head, "!", "?"), [(910001, 8, True)]),
        ])  # fmt: skip
        alices = [
            [await asyncio.wait_for(layer.receive(c), 5) for _ in range(2)]
            for c in (alice_1, alice_2)
        ]
        bobs = await asyncio.wait_for(layer.receive(bob), 5)
        await layer.group_send("user.910002", {"type": "feed.item", "seq": 3, "text": "t"})
        theirs = await asyncio.wait_for(layer.receive(bob), 5)
        leaked = await anything_arrives(layer, carol)
        await layer.flush()
        return alices, [bobs, theirs], leaked

    alices, (bobs, theirs), leaked = asyncio.run(scenario())
    expected = [
        {"type": "feed.item", "seq": 7, "text": f"{head}7{unliked}"},
        {"type": "feed.item", "seq": 8, "text": f"{head}8?"},
    ]
    assert alices == [expected, expected]
    assert bobs == {"type": "feed.item", "seq": 3, "text": f"{head}3{liked}"}
    assert theirs.keys() == bobs.keys()  # the same shape as the layer's own group_send
    assert not leaked
