"""Who is online, per web process: the users with a socket open here, renewed in Redis.

The fan-out logs and publishes live events only for online users (``feed.store``), so a
socket marks its user online at the handshake (``activity.socket_opened``: their ``seen``
moved ``PRESENCE_TTL_S`` ahead) and this process renews the mark for every user it still
serves, all in one pipeline, well within the TTL. When the last socket closes, the mark
simply runs out: the grace in which a reconnecting client can still ``resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from django.conf import settings

from . import store

_users: Counter[int] = Counter()
_renewer: asyncio.Task[None] | None = None


def count(user_id: int) -> int:
    """How many sockets of this user this process serves (``WS_MAX_SOCKETS_PER_USER``)."""
    return _users.get(user_id, 0)


def joined(user_id: int) -> None:
    global _renewer
    _users[user_id] += 1
    if _renewer is None or _renewer.done():
        _renewer = asyncio.get_running_loop().create_task(_renew_forever())


def left(user_id: int) -> None:
    _users[user_id] -= 1
    if _users[user_id] <= 0:
        del _users[user_id]


async def _renew_forever() -> None:
    while _users:
        await asyncio.sleep(settings.PRESENCE_TTL_S / 3)
        with contextlib.suppress(Exception):  # Redis away: the next round tries again
            await store.still_online(user_ids=list(_users))
