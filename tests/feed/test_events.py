"""feed.events publishes exactly what the channel layer's own group_send would deliver."""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from feed import events


def test_pipelined_publish_reaches_group_members_like_group_send():
    async def scenario() -> tuple[dict, dict, bool]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("user.424242", channel)
        await layer.group_add("post.17", channel)
        message = {"type": "post.likes", "post_id": 17, "like_count": 3}
        await sync_to_async(events.publish)([events.post_likes(post_id=17, like_count=3)])
        ours = await asyncio.wait_for(layer.receive(channel), 5)
        await layer.group_send("post.17", message)
        theirs = await asyncio.wait_for(layer.receive(channel), 5)
        # A group the channel is not in reaches nothing.
        await sync_to_async(events.publish)([events.post_likes(post_id=18, like_count=1)])
        try:
            await asyncio.wait_for(layer.receive(channel), 0.5)
            leaked = True
        except TimeoutError:
            leaked = False
        await layer.flush()
        return ours, theirs, leaked

    ours, theirs, leaked = asyncio.run(scenario())
    assert ours == theirs == {"type": "post.likes", "post_id": 17, "like_count": 3}
    assert not leaked
