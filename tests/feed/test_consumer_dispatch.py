"""The socket relays every message from the channel layer in its event loop: none waits for
the one thread Django's async database calls share (Channels' per-handler
``close_old_connections`` hop), so a slow query elsewhere in the process holds up no
socket's live messages, and a message costs no thread hand-off.

On the code before (a list of relay types dispatched straight, ``notification`` not on it)
the notification test failed: the message waited until the shared thread was free.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer

from feed import live
from feed.consumers import FeedConsumer
from social.models import User

# Channels' own path (the handshake's ``websocket.connect``) still runs
# ``close_old_connections`` in the shared thread, which checks the connection an earlier test
# left open there (a consumer's ``database_sync_to_async``): database access must be allowed
# whatever ran before in this process.
pytestmark = pytest.mark.django_db

ARRIVES_WITHIN_S = 5.0  # a bound on a failure, not a timing: the message is already published


async def _connected(user: User) -> ApplicationCommunicator:
    """The consumer on an ASGI WebSocket scope, handshake answered (Channels'
    ``WebsocketCommunicator`` needs daphne, which the project does not install)."""
    scope = {"type": "websocket", "path": "/ws/", "headers": [], "subprotocols": [], "user": user}
    communicator = ApplicationCommunicator(FeedConsumer.as_asgi(), scope)
    await communicator.send_input({"type": "websocket.connect"})
    assert (await communicator.receive_output(ARRIVES_WITHIN_S))["type"] == "websocket.accept"
    return communicator


async def _with_the_shared_thread_busy(send: Any) -> dict[str, Any]:
    """Connect a socket, occupy the thread Django's async database calls share, ``send``
    through the layer, and return what the socket receives while that thread is busy."""
    user = User(pk=987_654_321, username="dispatch-probe")
    communicator = await _connected(user)
    release = threading.Event()
    busy = asyncio.ensure_future(sync_to_async(release.wait)())  # thread-sensitive: that thread
    try:
        await send(get_channel_layer(), user.pk)
        sent = await communicator.receive_output(ARRIVES_WITHIN_S)
        assert sent["type"] == "websocket.send", sent
        return dict(json.loads(sent["text"]))
    finally:
        release.set()
        await busy
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(ARRIVES_WITHIN_S)


@pytest.mark.parametrize(
    "message",
    [
        live.notification(user_id=987_654_321, notification={"id": 1}, unread=1)[1],
        live.me_like(user_id=987_654_321, post_id=5, liked=True, like_count=1, likes_version=1)[1],
    ],
    ids=["notification", "me.like"],
)
def test_a_layer_message_reaches_the_socket_while_the_database_thread_is_busy(
    message: dict[str, Any],
) -> None:
    async def send(layer: Any, user_id: int) -> None:
        await layer.group_send(live.user_group(user_id), message)

    assert asyncio.run(_with_the_shared_thread_busy(send)) == message
