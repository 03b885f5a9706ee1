"""Celery tasks: the fan-out's interface. They take a kind and ids, call ``feed.fanout``, and
are safe to run twice. Nobody reads their results (``ignore_result`` is the project default).

Every edge queues through ``feed.queue``; whatever the kind, a batch of ids goes to
``fanout`` and removals to ``unfanout``.

Routing (``CELERY_TASK_ROUTES`` in settings): everything runs on the ``fanout`` queue except
``fanout_chunk`` and ``unfanout_chunk``, which go to ``fanout_bulk``, served by its own worker
with prefetch 1, so a celebrity's million-follower like never sits in front of ordinary ones.

Acknowledgement: every fan-out task acks late, and a pool process that dies mid-task hands
its message back (``reject_on_worker_lost``), so its batch is redelivered at once: after a
kill -9 of a pool child every feed is complete within seconds (``make chaos``, "s to
consistent"), where an early ack left it to the sweeper's minute (60-90 s). All are safe to
run twice (``ZADD GT CH``; an event is marked done once). A dead worker's unacked messages
return after the broker's visibility timeout; likes and posts, whose rows are their own
outbox (``fanned_out_at IS NULL``), are also re-queued by the sweeper after
FANOUT_OWED_AFTER_S.

Late acks have one known cost: when the broker connection drops while late-ack tasks run,
each finishes by acking on the dead channel, kombu raises there, and the worker logs
"Unrecoverable error" and may hang in its warm shutdown (the Redis outage scenario; kombu#582
and celery#4652 show the same class of crash). The supervision every stack runs under
(``supervisord.conf``: autorestart, and ``config.processes``' liveness listener, which
kills a worker still running 10 s after that line) restarts it.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from config.celery import queue_backlog

from . import fanout as pipeline

log = logging.getLogger(__name__)

# Safe to run twice (ZADD GT CH; an event is marked done once), so safe to redeliver.
LATE_ACK = {"ignore_result": True, "acks_late": True, "reject_on_worker_lost": True}


def _fanout(kind: str, ids: list[int]) -> None:
    """The batch, then each big account's event split into chunk tasks."""
    for event_id in pipeline.fanout(kind=kind, ids=ids):
        followers, ranges = pipeline.fanout_split(kind=kind, event_id=event_id)
        for index, (after, upto) in enumerate(ranges):
            fanout_chunk.delay(kind, event_id, followers, index, len(ranges), after, upto)


@shared_task(**LATE_ACK)  # a dead pool child's batch is redelivered at once (issue 19.3)
def fanout(kind: str, ids: list[int]) -> None:
    _fanout(kind, ids)


@shared_task(**LATE_ACK)
def fanout_chunk(
    kind: str, event_id: int, followers: int, index: int, total: int, after: int, upto: int
) -> None:
    pipeline.fanout_range(
        kind=kind, event_id=event_id, followers=followers, index=index, total=total,
        after=after, upto=upto,
    )  # fmt: skip


@shared_task(**LATE_ACK)
def unfanout(kind: str, items: list[list[int]]) -> None:
    """Removals, as the fan-out: a big account's event split into chunk tasks on the bulk
    queue (``fanout_bulk``), the rest done here as one batch."""
    small: list[tuple[int, int, int]] = []
    for event_id, actor, post in items:
        ranges = pipeline.unfanout_split(actor_id=actor)
        for after, upto in ranges:
            unfanout_chunk.delay(kind, [event_id, actor, post], after, upto)
        if not ranges:
            small.append((event_id, actor, post))
    pipeline.unfanout(kind=kind, items=small, counts_of=[post for _, _, post in items])


@shared_task(**LATE_ACK)
def unfanout_chunk(kind: str, item: list[int], after: int, upto: int) -> None:
    event_id, actor, post = item
    pipeline.unfanout_range(kind=kind, item=(event_id, actor, post), after=after, upto=upto)


@shared_task(ignore_result=True)
def sweep_owed_fanouts() -> int:
    """Re-queue the fan-out of events owed for too long (a task lost with a broker outage or
    a crashed worker), for every kind with an outbox. Safe with a fan-out still running:
    re-running one adds nothing.

    Not while the fan-out queues are backed up: then the owed events are most likely still
    waiting in them, and re-queueing would only add duplicates behind them, which slow the
    workers, which lengthens the backlog (seen in tests/chaos: 35,000 queued copies within
    minutes). Once the backlog is below FANOUT_SWEEP_MAX_BACKLOG, an event owed for longer
    than FANOUT_OWED_AFTER_S is no longer in a queue that short, so it was lost: re-queue it.
    """
    from .queue import MAX_BATCH, fanout_send

    backlog = queue_backlog(settings.CELERY_TASK_DEFAULT_QUEUE, "fanout_bulk")
    if backlog > settings.FANOUT_SWEEP_MAX_BACKLOG:
        log.info("sweep skipped: %d fan-out tasks still queued", backlog)
        return 0
    swept = 0
    for kind in list(pipeline.KINDS.values()):
        if kind.owed is None:
            continue
        owed = kind.owed(timedelta(seconds=settings.FANOUT_OWED_AFTER_S))
        for i in range(0, len(owed), MAX_BATCH):
            fanout_send(kind.name, owed[i : i + MAX_BATCH])
        swept += len(owed)
    return swept
