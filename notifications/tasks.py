"""The mail task, on its own slow ``mail`` queue (``CELERY_TASK_ROUTES``) and worker.

In the shape of the seed article's ``send_feedback_email_task``: a task that calls
``send_mail``. An SMTP server that answers slowly, or not at all, holds up this queue's
worker only; the fan-out queues never wait behind a mail.
"""

from __future__ import annotations

import smtplib

from celery import shared_task
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# services queues this task and this task calls services: a cycle that is harmless, since
# each module reads the other's attributes only when called.
from . import services


@shared_task(
    ignore_result=True,
    acks_late=True,  # a worker killed mid-send leaves the message to be delivered again
    # An SMTP server that fails, or a Redis that cannot be reached for the debounce window
    # (a Redis Cluster master being failed over: tests/cluster saw 8 mails given up so).
    autoretry_for=(smtplib.SMTPException, OSError, RedisConnectionError, RedisTimeoutError),
    retry_backoff=10,
    max_retries=6,
)
def send_like_mail(post_id: int) -> None:
    services.like_mail_window_close(post_id=post_id)
    services.like_mail_send(post_id=post_id)
