"""The Celery app the experiments' workers run: the project's own app, plus the setting
under test and a trace of when each task started and ended.

A worker is started as ``celery -A lessons.worker worker -Q <queues> --prefetch-multiplier N``
with the lessons' environment (see ``lessons.lab.Lab.workers``). ``app`` is
``config.celery.app`` itself, configured from Django's settings like every Likefeed worker;
only what an experiment varies is changed here, before the app is finalized:

- ``LESSONS_ACKS_LATE=1``: ``task_acks_late`` (acknowledge after the task ran, not before);
- remote control off: experiment workers create no ``celery.pidbox`` queues in the broker;
- every task a worker sends goes to the run's spill queue (``LESSONS_SPILL_QUEUE``).

Importing ``lessons.tasks`` registers the experiment tasks in this app only: the project's
workers never see them.
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery.signals import task_postrun, task_prerun

from config.celery import app

app.conf.task_acks_late = os.environ.get("LESSONS_ACKS_LATE") == "1"
app.conf.worker_enable_remote_control = False
# What a measured task sends itself (the like mail after a fan-out, a celebrity's chunks)
# goes to the run's own spill queue, which no worker reads and the clean-up deletes: never
# to the application's "mail" or "fanout_bulk" on a shared broker.
app.conf.task_routes = {"*": {"queue": os.environ["LESSONS_SPILL_QUEUE"]}}

import lessons.tasks  # noqa: E402, F401  (registers the experiment tasks)

# --- the trace: when each task started and ended, one Redis call per task ---------------
# HSET <LESSONS_TRACE_KEY> <task id> "<start> <end>" (epoch seconds), written when the task
# ends; the start waits in this process' memory until then.

_client: redis.Redis | None = None
_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str, **_: Any) -> None:
    _started[task_id] = time.time()


@task_postrun.connect
def _task_ended(task_id: str, **_: Any) -> None:
    global _client
    ended = time.time()
    if _client is None:  # one connection per pool process, made after the fork
        _client = redis.Redis.from_url(os.environ["LESSONS_TRACE_URL"])
    started = _started.pop(task_id, ended)
    _client.hset(os.environ["LESSONS_TRACE_KEY"], task_id, f"{started!r} {ended!r}")
