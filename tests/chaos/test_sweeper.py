"""The outbox sweeper re-queues lost fan-outs, but never floods a queue that is backed up
(the kill -9 scenario at full size once grew the queue to 35,000 duplicate tasks)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from kombu import Connection, Exchange, Queue

from config.celery import app, queue_backlog
from feed.tasks import sweep_owed_fanouts
from likes.models import Like
from social.models import Post, User


@pytest.fixture
def probe_queue():
    """A queue of the suite's broker that no worker consumes."""
    name = f"lftest-probe-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name), routing_key=name)
    with Connection(app.conf.broker_url) as connection:
        yield name, connection.Producer(), queue
        queue.bind(connection).delete()


def test_queue_backlog_counts_waiting_messages_and_an_absent_queue_as_zero(probe_queue):
    name, producer, queue = probe_queue
    assert queue_backlog(name) == 0
    for i in range(3):
        producer.publish({"n": i}, exchange=queue.exchange, routing_key=name, declare=[queue])
    assert queue_backlog(name) == 3


@pytest.fixture
def owed_like(db):
    author, liker = User.objects.create(username="a"), User.objects.create(username="l")
    post = Post.objects.create(author=author, body="x")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    return Like.objects.create(user=liker, post=post, created_at=an_hour_ago)


def test_the_sweeper_holds_back_while_the_fanout_queues_are_backed_up(owed_like):
    # A backlog above the bound (here: any backlog at all, even 0 > -1): nothing re-queued.
    with override_settings(FANOUT_SWEEP_MAX_BACKLOG=-1):
        assert sweep_owed_fanouts() == 0
    owed_like.refresh_from_db()
    assert owed_like.fanned_out_at is None  # still owed: the next sweep takes it
