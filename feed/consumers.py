"""The live socket ``/ws/``: relays a user's events, in ``seq`` order, with no gap.

Every ``feed.item`` is first logged in the user's event log (``feed.store``), then published.
The consumer keeps ``cursor``, the last seq it sent. A published event with the next seq is
relayed as it is; one further ahead means something was missed, so the log is read from the
cursor. ``resume`` moves the cursor back to what the client last saw and reads the log,
so replay and live traffic meet without a gap or a duplicate. ``feed.remove`` travels the
same way as ``feed.item`` (logged under the same seq counter, relayed as its logged text).

When the log no longer holds what a client asks for (trimmed, expired, or Redis lost its
data and the seq counter started again), the client is told ``resume.gap`` (``after``: the
seq it asked from, ``oldest``: the oldest seq still kept) and should reload its feed;
delivery goes on from the kept events.

Until the client says where it stands, nothing is relayed: its first message (``resume``
or ``subscribe``), or ``START_GRACE_S`` after the handshake, starts delivery, from the seq that
was current at the handshake when it did not ask for more.

A thin relay: the messages, their publishing and their delivery to this process's sockets
(the channel layer, each socket's inbox bounded) are ``feed.live``'s; this module only keeps
them in order.

A socket closes (code ``CLOSE_ACCESS_ENDED``, 4401) when what opened it ends: an
``access.ended`` message to the user's group (``feed.ws_auth``) for its token, its session or
the whole account, or its token's expiry, by a timer of its own.

What a socket may cost is bounded: at most ``WS_MAX_SOCKETS_PER_USER`` sockets per user in
one web process (one more is accepted only to be told why and closed, code
``CLOSE_TOO_MANY``, 4429: refusing the newest rather than closing the oldest, so two tabs
over the cap cannot take turns closing each other), ``WS_MAX_SUBSCRIBED_POSTS`` subscribed
posts, ``MAX_MESSAGE_BYTES`` per message nested at most ``JSON_MAX_DEPTH`` deep, and ids and
seqs that fit PostgreSQL's and Redis' 64-bit integers. A message outside those is answered
with ``{"type": "error"}`` and the socket stays open.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from config.parsers import JSON_MAX_DEPTH, json_depth_exceeds
from social import selectors as social_selectors

from . import activity, presence, store
from .live import error, post_group, post_likes, user_group
from .ws_auth import CLOSE_ACCESS_ENDED, access_ended_for

like_counts = database_sync_to_async(social_selectors.like_counts)

# How long a socket waits for its client to say where it stands before it starts delivery
# on its own, from the handshake's seq (for a client that never sends a first message).
# It is a race with the client's ``resume``, which leaves an RTT after the handshake's
# answer: once delivery has started, a late resume can only replay, out of order, what the
# socket just sent. 0.5 s lost that race on a slow link (a phone's RTT) and on a loaded
# machine (CI's cluster web-kill scenario: 159 events missed, 169 doubled; the test is
# tests/feed/test_live.py's ``test_a_resume_that_arrives_late_still_gets_every_event_once...``).
# Every client that matters says something at once (the web page and the load test send
# ``subscribe`` on open), so only a silent client waits this long, and only at its start.
START_GRACE_S = 5.0
MAX_MESSAGE_BYTES = 16 * 1024
# Post ids and seqs are PostgreSQL bigints and Redis stream ids: past this, a 64-bit
# integer overflows in either (a bigint parameter, a stream id) and the socket would die.
MAX_ID = 2**63 - 1
CLOSE_TOO_MANY = 4429  # over WS_MAX_SOCKETS_PER_USER in this process (reads as HTTP's 429)


class FeedConsumer(AsyncWebsocketConsumer):
    user_id: int
    cursor: int | None
    handshake_seq: int
    posts: set[int]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is answered 403
            return
        if presence.count(user.pk) >= settings.WS_MAX_SOCKETS_PER_USER:
            await self.accept()
            limit = settings.WS_MAX_SOCKETS_PER_USER
            await self._error(f"at most {limit} open sockets per user: close one first")
            await self.close(code=CLOSE_TOO_MANY)
            return
        # Counted at once (no await between the check and this), so a burst of handshakes
        # cannot all pass the check.
        presence.joined(user.pk)
        self.user_id, self.cursor, self.posts = user.pk, None, set()
        await self.channel_layer.group_add(user_group(self.user_id), self.channel_name)
        self.handshake_seq = await activity.socket_opened(user_id=self.user_id)
        await self.accept()
        self._grace = asyncio.create_task(self._start_after_grace())
        expires = self.scope.get("api_token_expires")
        if expires is not None:
            self._expiry = asyncio.create_task(self._end_at(expires))

    async def _start_after_grace(self) -> None:
        await asyncio.sleep(START_GRACE_S)
        # Through the layer, so it is handled in turn with every other message.
        await self.channel_layer.send(self.channel_name, {"type": "live.start"})

    async def _end_at(self, expires: Any) -> None:
        # Closed from here, not through the layer: a socket's inbox drops its oldest
        # messages when the client stops reading (feed.live), and the close of a
        # stalled socket must not be one of them.
        await asyncio.sleep(max(0.0, (expires - timezone.now()).total_seconds()))
        await self.close(code=CLOSE_ACCESS_ENDED)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "_grace"):
            self._grace.cancel()
        if hasattr(self, "_expiry"):
            self._expiry.cancel()
        if hasattr(self, "user_id"):
            presence.left(self.user_id)
            await self.channel_layer.group_discard(user_group(self.user_id), self.channel_name)
            for post_id in self.posts:
                await self.channel_layer.group_discard(post_group(post_id), self.channel_name)

    # --- client to server ----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "user_id"):
            return  # a socket refused (over the cap) and closing
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            await self._error(f"send JSON text messages of at most {MAX_MESSAGE_BYTES} bytes")
            return
        if json_depth_exceeds(text_data.encode("utf-8", "surrogatepass")):
            await self._error(f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
            return
        try:
            message = json.loads(text_data)
        except ValueError:
            await self._error("not JSON")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "resume":
            await self._resume(message.get("after"))
        elif kind == "subscribe":
            await self._subscribe(message.get("posts"))
        else:
            await self._error('"type" must be "subscribe" or "resume"')

    async def _resume(self, after: Any) -> None:
        if type(after) is not int or not 0 <= after <= MAX_ID:
            await self._error(f'"after" must be a seq: an integer from 0 to {MAX_ID}')
            return
        last = await store.last_seq(user_id=self.user_id)
        if after > last:
            # The counter is behind the client (Redis lost its data): everything it will
            # count from now is new to the client, which must reload what it missed.
            await self._gap(after=after, oldest=last + 1)
            after = last
        self.cursor = after
        if not await self._replay() and after < last:
            await self._gap(after=after, oldest=last + 1)  # the log expired as a whole
            self.cursor = last

    async def _subscribe(self, posts: Any) -> None:
        limit = settings.WS_MAX_SUBSCRIBED_POSTS
        if not (isinstance(posts, list) and all(type(p) is int and 0 < p <= MAX_ID for p in posts)):
            await self._error(f'"posts" must be a list of post ids (integers from 1 to {MAX_ID})')
            return
        if len(posts) > limit:
            await self._error(f'"posts" may name at most {limit} posts')
            return
        wanted = set(posts)
        for post_id in self.posts - wanted:
            await self.channel_layer.group_discard(post_group(post_id), self.channel_name)
        added = wanted - self.posts
        for post_id in added:
            await self.channel_layer.group_add(post_group(post_id), self.channel_name)
        self.posts = wanted
        # Counts may have moved while the client was away: send where they stand now (read
        # after joining the groups, so any later change follows as its own post.likes).
        for post_id, count in (await like_counts(added) if added else {}).items():
            message = post_likes(
                post_id=post_id, like_count=count.like_count, likes_version=count.likes_version
            )[1]
            await self.send(text_data=json.dumps(message))
        await self._start()

    async def _error(self, detail: str) -> None:
        await self.send(text_data=json.dumps(error(detail)))

    # --- server to client (one short handler per event type) ----------------------------

    # Channels' ``AsyncConsumer.dispatch`` closes stale database connections before every
    # handler (``aclose_old_connections``: a hop to the one thread Django's async database
    # calls share, and back). No handler here uses Django's connection in the event loop:
    # the only query (``like_counts``, on ``subscribe``) goes through
    # ``database_sync_to_async``, which closes stale connections itself in that thread. So
    # every message from the channel layer is dispatched straight, and only the socket's own
    # events (``websocket.connect``, ``.receive``, ``.disconnect``: a few per socket) keep
    # Channels' path. A list of relays once named the types dispatched straight; a type added
    # later (``notification``, one per like for the post's author) was missing from it and
    # paid the hop: under ``make bench``'s push phase, that author's socket waited for the
    # shared thread once per like, and the hops were ~4% of the web process's samples, with
    # each hop's thread wake-up on top (README, "The like's ceiling, the push knee, a socket
    # message's cost"). A message type without a handler still fails as Channels fails it.
    async def dispatch(self, message: dict[str, Any]) -> None:
        if not message["type"].startswith("websocket."):
            handler = getattr(self, get_handler_name(message), None)
            if handler is not None:
                await handler(message)
                return
        await super().dispatch(message)

    async def live_start(self, event: dict[str, Any]) -> None:
        await self._start()

    async def access_ended(self, event: dict[str, Any]) -> None:
        if access_ended_for(self.scope, event):
            await self.close(code=CLOSE_ACCESS_ENDED)

    async def feed_item(self, event: dict[str, Any]) -> None:
        seq = event["seq"]
        if self.cursor is None or seq <= self.cursor:
            return  # not started yet (the log has it), or already sent
        if seq == self.cursor + 1:
            self.cursor = seq
            await self.send(text_data=event["text"])
        else:
            await self._replay()  # we missed one: the log has them all, in order

    async def post_likes(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))

    async def like_delivered(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))

    async def me_like(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))

    async def notification(self, event: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(event))

    # --- delivery ---------------------------------------------------------------------------

    async def _start(self) -> None:
        if self.cursor is None:
            self.cursor = self.handshake_seq
            await self._replay()

    async def _replay(self) -> bool:
        """Send the logged events after the cursor; says whether the log had any. A first
        kept event past the cursor's next seq means the log lost some: ``resume.gap``."""
        assert self.cursor is not None
        found = False
        while True:
            rows = await store.events_after(user_id=self.user_id, after=self.cursor)
            if rows and not found and rows[0][0] > self.cursor + 1:
                await self._gap(after=self.cursor, oldest=rows[0][0])
            for seq, text in rows:
                await self.send(text_data=text)
                self.cursor = seq
            found = found or bool(rows)
            if len(rows) < 1000:
                return found

    async def _gap(self, *, after: int, oldest: int) -> None:
        await self.send(
            text_data=json.dumps({"type": "resume.gap", "after": after, "oldest": oldest})
        )
