"""Queue fan-outs from the event loop, grouped: one Celery message per batch of likes.

One ``.delay()`` costs ≈700 µs of CPU here (DESIGN.md), more than the like's SQL. The hot
path (``likes.asgi``) runs in the event loop, so it must not block on the broker either.
Each web process keeps the like ids whose fan-out is owed and sends them, off the loop
(a worker thread), as one ``feed.tasks.fanout_likes`` task per batch: while one send is in
flight, the next likes pile up and leave together. At low load a batch is one like and
leaves at once; at high load the broker cost per like shrinks with the batch.

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
