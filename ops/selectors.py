"""Reads of the pipeline's state for the ops page and ``/metrics``: the broker's queues and
workers, what the like outbox still owes, and what has been done so far. Nothing here
changes anything; every call asks the source afresh (``ops.snapshot`` caches).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from config.celery import app as celery_app

WORKER_REPLY_TIMEOUT_S = 0.5


def queue_names() -> list[str]:
    """Every queue the project routes tasks to: the default one, then each routed one."""
    names = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for route in settings.CELERY_TASK_ROUTES.values():
        if route["queue"] not in names:
            names.append(route["queue"])
    return names


def broker_kind() -> str:
    """``redis`` or ``amqp`` (never the URL: it may carry a password)."""
    return urlsplit(settings.CELERY_BROKER_URL).scheme


def queue_depths(queues: list[str]) -> dict[str, int]:
    """Messages waiting in each queue (not yet taken by a worker), as the broker counts
    them: a passive declare answers the count on RabbitMQ and on kombu's Redis transport
    alike. A queue the broker does not know yet holds nothing (on Redis, an empty queue's
    list does not even exist)."""
    depths = {}
    with celery_app.connection_for_read() as connection:
        for queue in queues:
            channel = connection.channel()  # a refused declare closes its channel (AMQP)
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except connection.channel_errors:
                depths[queue] = 0
            finally:
                channel.close()
    return depths


def workers_by_queue() -> dict[str, list[str]]:
    """The workers that answered within ``WORKER_REPLY_TIMEOUT_S``, by queue consumed.

    A broadcast: it waits the whole timeout for late answers, so callers run it off the
    request thread (see ``ops.views``)."""
    replies = celery_app.control.inspect(timeout=WORKER_REPLY_TIMEOUT_S).active_queues() or {}
    by_queue: dict[str, list[str]] = {}
    for worker, queues in sorted(replies.items()):
        for queue in queues:
            by_queue.setdefault(queue["name"], []).append(worker)
    return by_queue
