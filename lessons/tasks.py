"""The experiments' own tasks, registered only in the experiments' workers (``lessons.worker``)
and in the process that runs the lessons. They model work by its length and nothing else:
``time.sleep`` holds a worker process the way a task waiting on I/O does, and leaves the
CPU to the others on a small machine.
"""

from __future__ import annotations

import time

from celery import shared_task


@shared_task(name="lessons.tasks.short", ignore_result=True)
def short() -> None:
    """A ~1 ms task: the like fan-out of an ordinary account."""
    time.sleep(0.001)


@shared_task(name="lessons.tasks.long", ignore_result=True)
def long(seconds: float) -> None:
    """A task of ``seconds``: a celebrity's fan-out, an export, a report."""
    time.sleep(seconds)


@shared_task(name="lessons.tasks.noop")
def noop(n: int) -> int:
    """Does nothing and returns its argument: the cheapest task there is, so the cost of
    whatever surrounds it (sending, acknowledging, storing a result) is what shows."""
    return n
