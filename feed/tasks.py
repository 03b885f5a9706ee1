"""Celery tasks: the fan-out's interface. They take ids, call ``feed.fanout``, and are safe
to run twice. Nobody reads their results (``ignore_result`` is the project default).

Routing (``CELERY_TASK_ROUTES`` in settings): everything runs on the ``fanout`` queue except
``fanout_chunk``, which goes to ``fanout_bulk``, served by its own worker with prefetch 1 and
late acks, so a celebrity's million-follower like never sits in front of ordinary ones.

Acknowledgement, chosen per task (tests/chaos/ measured both ways):

- ``fanout_like`` acknowledges on receipt. A worker killed mid-task loses it, and the like's
  outbox (``fanned_out_at IS NULL``) has the sweeper re-queue it within FANOUT_OWED_AFTER_S.
  Late acks would buy little here and cost a lot: when the broker connection drops while
  late-ack tasks are running, each finishes by acking on the dead channel, kombu raises an
  AttributeError there, and the worker exits with "Unrecoverable error" (seen in the Redis
  outage scenario; kombu#582 and celery#4652 show the same class of crash).
- ``fanout_chunk`` (long: up to FANOUT_BULK_CHUNK followers), ``fanout_post`` and
  ``unfanout_like`` (which have no outbox) ack late, and a pool process that dies mid-task
  hands its message back (``reject_on_worker_lost``); a dead worker's unacked messages return
  after the broker's visibility timeout. All are safe to run twice. Their worker can hit the
  crash above in a broker outage, so workers run under a supervisor that restarts them.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from config.celery import queue_backlog
from likes import outbox

from . import fanout

log = logging.getLogger(__name__)

# Safe to run twice (ZADD NX; the like is marked done once), so safe to redeliver.
LATE_ACK = {"ignore_result": True, "acks_late": True, "reject_on_worker_lost": True}


@shared_task(**LATE_ACK)  # a dead pool child's task is redelivered at once (issue 19.3)
def fanout_like(like_id: int) -> None:
    plan = fanout.like_fanout_load(like_id=like_id)
    if plan is None:
        return
    fanout.like_count_publish(post_id=plan.event.post_id)
    ranges = fanout.like_fanout_ranges(plan)
    if not ranges:
        fanout.like_fanout_range(plan, after=0, upto=None)
        fanout.like_fanout_complete(plan)
        return
    for index, (after, upto) in enumerate(ranges):
        fanout_chunk.delay(like_id, plan.followers, index, len(ranges), after, upto)


@shared_task(**LATE_ACK)
def fanout_chunk(
    like_id: int, followers: int, index: int, total: int, after: int, upto: int
) -> None:
    plan = fanout.like_fanout_load(like_id=like_id, followers=followers)
    if plan is None:
        return
    fanout.like_fanout_range(plan, after=after, upto=upto)
    if fanout.store.chunk_done(job=f"like:{like_id}", index=index, total=total):
        fanout.like_fanout_complete(plan)


@shared_task(**LATE_ACK)
def unfanout_like(like_id: int, liker_id: int, post_id: int) -> None:
    fanout.like_unfanout(like_id=like_id, liker_id=liker_id, post_id=post_id)


@shared_task(**LATE_ACK)
def fanout_post(post_id: int) -> None:
    fanout.post_fanout(post_id=post_id)


@shared_task(ignore_result=True)
def sweep_owed_fanouts() -> int:
    """Re-queue the fan-out of likes owed for too long (a task lost with a broker outage or
    a crashed worker). Safe with a fan-out still running: re-running one adds nothing.

    Not while the fan-out queues are backed up: then the owed likes are most likely still
    waiting in them, and re-queueing would only add duplicates behind them, which slow the
    workers, which lengthens the backlog (seen in tests/chaos: 35,000 queued copies within
    minutes). Once the backlog is below FANOUT_SWEEP_MAX_BACKLOG, a like owed for longer than
    FANOUT_OWED_AFTER_S is no longer in a queue that short, so it was lost: re-queue it."""
    backlog = queue_backlog(settings.CELERY_TASK_DEFAULT_QUEUE, "fanout_bulk")
    if backlog > settings.FANOUT_SWEEP_MAX_BACKLOG:
        log.info("sweep skipped: %d fan-out tasks still queued", backlog)
        return 0
    owed = outbox.likes_owed(older_than=timedelta(seconds=settings.FANOUT_OWED_AFTER_S))
    for like_id in owed:
        fanout_like.delay(like_id)
    return len(owed)


@shared_task(**LATE_ACK)  # a dead pool child's batch is redelivered at once (issue 19.3)
def fanout_likes(like_ids: list[int]) -> None:
    """Several likes' fan-outs in one task: what the like hot path sends, one message per
    batch of likes (``likes.fanout_queue``), fanned out together; a like by an account
    with many followers goes the per-like way (split into chunk tasks)."""
    for like_id in fanout.likes_fanout(like_ids=like_ids):
        fanout_like(like_id)
