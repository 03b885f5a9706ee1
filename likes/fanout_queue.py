"""Queue fan-outs from the event loop, grouped: one Celery message per batch of likes.

One ``.delay()`` costs ≈700 µs of CPU here (DESIGN.md), more than the like's SQL. The hot
path (``likes.asgi``) runs in the event loop, so it must not block on the broker either.
Each web process keeps the like ids whose fan-out is owed and sends them, off the loop
(a worker thread), as one ``feed.tasks.fanout_likes`` task per batch: a batch gathers for
``LINGER_S`` and while one send is in flight the next likes pile up and leave together, so
the broker cost per like shrinks as the load grows.

Nothing is lost if a send fails or the process dies with ids pending: the like row is its
own outbox (``fanned_out_at IS NULL``) and the sweeper re-queues it, as for a failed
``on_commit(robust=True)`` send in the synchronous path.
"""

from __future__ import annotations

import asyncio
import logging

from feed import tasks as feed_tasks

log = logging.getLogger(__name__)

MAX_BATCH = 500
# How long the first like of a batch waits for others before the batch leaves (Kafka's
# linger.ms): a send costs the same for one like or fifty, so under load a few ms of
# waiting turns many sends into one. It delays the fan-out, never the HTTP answer.
LINGER_S = 0.005


class FanoutQueue:
    def __init__(self) -> None:
        self.likes: list[int] = []
        self.unlikes: list[tuple[int, int, int]] = []
        self.sending: asyncio.Task[None] | None = None

    def like(self, like_id: int) -> None:
        self.likes.append(like_id)
        self._wake()

    def unlike(self, like_id: int, user_id: int, post_id: int) -> None:
        self.unlikes.append((like_id, user_id, post_id))
        self._wake()

    def _wake(self) -> None:
        if self.sending is None or self.sending.done():
            self.sending = asyncio.get_running_loop().create_task(self._send_all())

    async def _send_all(self) -> None:
        await asyncio.sleep(LINGER_S)
        while self.likes or self.unlikes:
            likes, self.likes = self.likes[:MAX_BATCH], self.likes[MAX_BATCH:]
            unlikes, self.unlikes = self.unlikes[:MAX_BATCH], self.unlikes[MAX_BATCH:]
            try:
                await asyncio.to_thread(_send, likes, unlikes)
            except Exception:  # the outbox has them: logged, swept up later
                log.exception("could not queue the fan-out of %d likes", len(likes))


def _send(likes: list[int], unlikes: list[tuple[int, int, int]]) -> None:
    if likes:
        feed_tasks.fanout_likes.delay(likes)
    for like_id, user_id, post_id in unlikes:
        feed_tasks.unfanout_like.delay(like_id, user_id, post_id)


_queues: dict[int, FanoutQueue] = {}


def fanout_queue() -> FanoutQueue:
    """This event loop's queue."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(id(loop))
    if queue is None:
        queue = _queues[id(loop)] = FanoutQueue()
    return queue
