"""The live socket ``/ws/``: relays a user's events, in ``seq`` order, with no gap.

Live messages come from ``feed.live``: this process's hub puts them in the socket's inbox,
and one task per socket (``_relay_forever``) sends them, in order. Client messages come
through Channels' consumer as usual; the two sides take turns (``_turn``), so a ``resume``
never interleaves with a relay.

Every ``feed.item`` is first logged in the user's event log (``feed.store``), then published.
The consumer keeps ``cursor``, the last seq it sent. An item with the next seq is relayed as
it is. One further ahead nearly always means two fan-out workers' publishes crossed (each
logs its seqs, then publishes): the missing one follows within milliseconds, so the item is
held (``HOLD_S``, at most ``HOLD_MAX``) and the held ones follow the missing one out. Only a
gap still open after that is read from the log, from the cursor (as it is when the inbox
says messages were lost). Reading the log at every crossing instead cost a Redis round trip
and the re-sent items per gap, in the web process that is the bottleneck under load.
``resume`` moves the cursor back to what the client last saw and reads the log, so replay
and live traffic meet without a gap or a duplicate.

Until the client says where it stands, no feed item is relayed: its first message
(``resume`` or ``subscribe``), or a short grace after the handshake, starts delivery, from
the seq that was current at the handshake when it did not ask for more.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from social import selectors as social_selectors

from . import live, store

log = logging.getLogger(__name__)

like_counts = database_sync_to_async(social_selectors.like_counts)

START_GRACE_S = 0.5
# Feed items ahead of the cursor wait this long for the missing seq before the log is read,
# and at most this many (a socket gets a few per second; a crossing closes in milliseconds).
HOLD_S = 0.1
HOLD_MAX = 64
MAX_MESSAGE_BYTES = 16 * 1024


class FeedConsumer(AsyncWebsocketConsumer):
    # No Channels layer: ``get_channel_layer`` answers None for an alias that is not
    # configured, so Channels opens no per-socket channel; ``feed.live`` delivers instead.
    channel_layer_alias = "feed.live (no channel layer)"

    user_id: int
    cursor: int | None
    handshake_seq: int
    listener: live.Listener
    _ahead: dict[int, str]  # held feed items ahead of the cursor, by seq
    _hold_until: float  # the event loop's time when the oldest gap is read from the log
    _tasks: list[asyncio.Task[None]]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is answered 403
            return
        self.user_id, self.cursor = user.pk, None
        self._ahead, self._hold_until = {}, 0.0
        self._turn = asyncio.Lock()
        self.listener, self.handshake_seq = await live.listen(user_id=self.user_id)
        await self.accept()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._guarded(self._relay_forever)),
            loop.create_task(self._guarded(self._start_after_grace)),
        ]

    async def disconnect(self, code: int) -> None:
        for task in getattr(self, "_tasks", ()):
            task.cancel()
        if hasattr(self, "listener"):
            await self.listener.close()

    # --- client to server ----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            await self._error(f"send JSON text messages of at most {MAX_MESSAGE_BYTES} bytes")
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
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            await self._error('"after" must be a seq: an integer ≥ 0')
            return
        async with self._turn:
            self.cursor = after
            await self._replay()

    async def _subscribe(self, posts: Any) -> None:
        limit = settings.WS_MAX_SUBSCRIBED_POSTS
        if not (isinstance(posts, list) and all(type(p) is int for p in posts)):
            await self._error('"posts" must be a list of post ids')
            return
        if len(posts) > limit:
            await self._error(f'"posts" may name at most {limit} posts')
            return
        added = await self.listener.watch_posts(set(posts))
        # Counts may have moved while the client was away: send where they stand now (read
        # after subscribing, so any later change follows as its own post.likes).
        for post_id, like_count in (await like_counts(added) if added else {}).items():
            await self.send(text_data=live.post_likes(post_id=post_id, like_count=like_count).text)
        async with self._turn:
            await self._start()

    async def _error(self, detail: str) -> None:
        await self.send(text_data=json.dumps({"type": "error", "detail": detail}))

    # --- server to client -------------------------------------------------------------------

    async def _start_after_grace(self) -> None:
        await asyncio.sleep(START_GRACE_S)
        async with self._turn:
            await self._start()

    async def _guarded(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run one of the socket's own tasks; if it fails, close the socket rather than
        leave it open and silent (the client reconnects and resumes from the log)."""
        try:
            await work()
        except OSError:
            return  # the client is gone (uvicorn's ClientDisconnected); disconnect follows
        except Exception:
            log.exception("live delivery to a socket failed; closing it")
            await self.close(code=1011)

    async def _relay_forever(self) -> None:
        inbox = self.listener.inbox
        loop = asyncio.get_running_loop()
        while True:
            if self._ahead:
                entry = await inbox.get_within(self._hold_until - loop.time())
                if entry is None:  # the missing seq did not come: the log has it
                    async with self._turn:
                        if self._ahead:
                            await self._replay()
                    continue
                seq, text = entry
            else:
                seq, text = await inbox.get()
            async with self._turn:
                await self._relay(seq, text)

    async def _relay(self, seq: int, text: str) -> None:
        if seq == live.RELAY:
            await self.send(text_data=text)
        elif seq == live.CATCH_UP:
            await self._replay()  # the inbox lost some: the log has them
        elif self.cursor is None or seq <= self.cursor:
            return  # not started yet (the log has it), or already sent
        elif seq == self.cursor + 1:
            self.cursor = seq
            await self.send(text_data=text)
            await self._send_held()
        else:
            # Ahead of the cursor: two fan-out batches' publishes crossed, and the missing
            # seq nearly always follows within milliseconds. Hold this one; read the log
            # only if the gap is still open after HOLD_S, or too much is held.
            if not self._ahead:
                self._hold_until = asyncio.get_running_loop().time() + HOLD_S
            self._ahead[seq] = text
            if len(self._ahead) > HOLD_MAX:
                await self._replay()

    async def _send_held(self) -> None:
        """Send the held items that now follow the cursor; forget those it passed."""
        assert self.cursor is not None
        ahead = self._ahead
        while ahead:
            text = ahead.pop(self.cursor + 1, None)
            if text is None:
                for seq in [seq for seq in ahead if seq <= self.cursor]:
                    del ahead[seq]
                return
            self.cursor += 1
            await self.send(text_data=text)

    async def _start(self) -> None:
        if self.cursor is None:
            self.cursor = self.handshake_seq
            await self._replay()

    async def _replay(self) -> None:
        assert self.cursor is not None
        while True:
            rows = await store.events_after(user_id=self.user_id, after=self.cursor)
            for seq, text in rows:
                await self.send(text_data=text)
                self.cursor = seq
            if len(rows) < 1000:
                # The log was read after every held item was published, so it held them
                # all: they were just sent, or the log no longer has them (as before).
                self._ahead.clear()
                return
