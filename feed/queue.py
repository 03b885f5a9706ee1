"""The one queueing step of the fan-out: every edge hands a kind and ids to ``fanout_send``.

Edges: the like view and post creation (``fanout_on_commit``: after commit), the like hot
path in the event loop (``fanout_soon``: batched, off the loop), the outbox sweeper
(``feed.tasks.sweep_owed_fanouts``); removals (an unlike) go the same way through
``unfanout_send``. Each ends in one Celery message per batch of one kind's ids, handled by
``feed.fanout.fanout`` whatever the edge (a single event is a batch of one).

``on_commit`` is the one "send after commit" helper (Zulip's ``send_event_on_commit``):
nothing leaves for a row that may still roll back, and the arguments are checked to be
JSON now, at the call site, rather than in the broker send after commit where a mistake
would only be logged. It is robust: a broker hiccup after commit is logged, not turned into
a 500 for a row that is stored (a kind with an outbox is swept up later).

Why the event loop batches: one ``.delay()`` costs ≈700 µs of CPU here (DESIGN.md), more
than the like's SQL, and the hot path (``likes.asgi``) must not block on the broker. Each
event loop keeps the ids owed a fan-out and sends them off the loop (a worker thread): a
batch gathers for ``LINGER_S`` and while one send is in flight the next pile up and leave
together, so the broker cost per event shrinks as the load grows. Nothing is lost if a send
fails or the process dies with ids pending: a like row is its own outbox
(``fanned_out_at IS NULL``) and the sweeper re-queues it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from . import live, tasks

log = logging.getLogger(__name__)


def fanout_send(kind: str, ids: list[int]) -> None:
    """Queue the fan-out of these events now: one message for the batch (``feed.tasks``
    says how it is acknowledged)."""
    if ids:
        tasks.fanout.delay(kind, list(ids))


def unfanout_send(kind: str, items: list[tuple[int, int, int]]) -> None:
    """Queue the removal of these events' items: ``(id, actor, post)`` each (rows gone)."""
    if items:
        tasks.unfanout.delay(kind, [list(item) for item in items])


def on_commit(send: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Call ``send(*args, **kwargs)`` once the current transaction commits (at once in
    autocommit), never for one that rolls back; a failure then is logged (``robust``), not
    raised. Arguments are ids: checked to be JSON here, where the caller can see a mistake."""
    json.dumps([args, kwargs])
    transaction.on_commit(lambda: send(*args, **kwargs), robust=True)


Message = tuple[str, dict[str, Any]]  # (group, live message), as ``feed.live`` builds them


def publish_on_commit(messages: list[Message]) -> None:
    """Live messages that announce a change (``me.like``), published once it is committed."""
    on_commit(live.publish, list(messages))


def fanout_on_commit(kind: str, ids: list[int]) -> None:
    on_commit(fanout_send, kind, list(ids))


def unfanout_on_commit(kind: str, items: list[tuple[int, int, int]]) -> None:
    on_commit(unfanout_send, kind, [list(item) for item in items])


# --- from the event loop ---------------------------------------------------------------------

MAX_BATCH = 500
# How long the first event of a batch waits for others before the batch leaves (Kafka's
# linger.ms): a send costs the same for one like or fifty, so under load a few ms of
# waiting turns many sends into one. It delays the fan-out, never the HTTP answer.
LINGER_S = 0.005


class LoopQueue:
    """Ids owed a fan-out (and items owed a removal) in one event loop, by kind."""

    def __init__(self) -> None:
        self.fanouts: dict[str, list[int]] = {}
        self.removals: dict[str, list[tuple[int, int, int]]] = {}
        self.messages: list[Message] = []
        self.sending: asyncio.Task[None] | None = None

    def publish(self, messages: list[Message]) -> None:
        self.messages.extend(messages)
        self._wake()

    def fanout(self, kind: str, ids: list[int]) -> None:
        self.fanouts.setdefault(kind, []).extend(ids)
        self._wake()

    def unfanout(self, kind: str, items: list[tuple[int, int, int]]) -> None:
        self.removals.setdefault(kind, []).extend(items)
        self._wake()

    def _wake(self) -> None:
        if self.sending is None or self.sending.done():
            self.sending = asyncio.get_running_loop().create_task(self._send_all())

    async def _send_all(self) -> None:
        await asyncio.sleep(LINGER_S)
        while self.fanouts or self.removals or self.messages:
            fanouts, self.fanouts = self.fanouts, {}
            removals, self.removals = self.removals, {}
            messages, self.messages = self.messages, []
            try:
                await asyncio.to_thread(_send, fanouts, removals, messages)
            except Exception:  # the outbox has them: logged, swept up later
                log.exception(
                    "could not queue the fan-out of %s", {k: len(v) for k, v in fanouts.items()}
                )


def _send(
    fanouts: dict[str, list[int]],
    removals: dict[str, list[tuple[int, int, int]]],
    messages: list[Message],
) -> None:
    if messages:
        try:
            live.publish(messages)  # one pipelined round trip for the batch's messages
        except Exception:  # a live nicety: the fan-out below must still leave
            log.exception("could not publish %d live messages", len(messages))
    for kind, ids in fanouts.items():
        for i in range(0, len(ids), MAX_BATCH):
            fanout_send(kind, ids[i : i + MAX_BATCH])
    for kind, items in removals.items():
        for i in range(0, len(items), MAX_BATCH):
            unfanout_send(kind, items[i : i + MAX_BATCH])


_queues: dict[int, LoopQueue] = {}


def loop_queue() -> LoopQueue:
    """This event loop's queue."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(id(loop))
    if queue is None:
        queue = _queues[id(loop)] = LoopQueue()
    return queue


def fanout_soon(kind: str, ids: list[int]) -> None:
    """From the event loop: queue these events' fan-out with the loop's next batch."""
    loop_queue().fanout(kind, ids)


def unfanout_soon(kind: str, items: list[tuple[int, int, int]]) -> None:
    loop_queue().unfanout(kind, items)


def publish_soon(messages: list[Message]) -> None:
    """From the event loop: publish these live messages with the loop's next batch."""
    loop_queue().publish(messages)
