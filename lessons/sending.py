"""Lesson 3: ``.delay()`` vs ``apply_async()``, and what a send costs.

The article calls ``.delay()`` the fastest way to send a task. Celery's own code says what
``.delay()`` is (``celery/app/task.py``, printed by this lesson from the installed Celery)::

    def delay(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

so it can only cost one Python call more than ``apply_async()``, a fraction of a
microsecond. What a send costs is the same for both: checking the arguments against the
signature, routing, building the message (``app.amqp.as_task_v2``), serializing it to JSON
and one round trip to the broker (on Redis an ``LPUSH``). ``countdown`` only adds turning
seconds into an ETA timestamp; ``queue=`` only skips the router. ``delay()`` is for brevity,
``apply_async()`` for options: choose by what you need to say, not by speed.

Measured: each way of sending, timed one call at a time with no worker running (the
messages pile up in a queue of their own, emptied as they go), interleaved call by call so
the machine's other work falls on all of them alike; and, as a floor, one plain Redis
``LPUSH`` of a message-sized string from the same process.
"""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable
from statistics import median

import matplotlib.pyplot as plt
import numpy as np
from celery.app.task import Task
from matplotlib.ticker import FuncFormatter, NullFormatter

from .lab import Lab, Outcome


def run(lab: Lab) -> Outcome:
    n = lab.size(3000, 200)  # sends of each kind
    queue, other = lab.queue("send"), lab.queue("send-other")
    app = lab.app(task_default_queue=queue)
    noop = app.tasks["lessons.tasks.noop"]  # ignore_result: no backend work on the send
    payload = "x" * 1200  # about the size of this task's message on the wire
    raw = lab.key("raw-lpush")

    ways: dict[str, Callable[[], object]] = {
        "delay": lambda: noop.delay(1),
        "apply_async": lambda: noop.apply_async((1,)),
        "apply_async_countdown": lambda: noop.apply_async((1,), countdown=10),
        "apply_async_queue": lambda: noop.apply_async((1,), queue=other),
        "redis_lpush": lambda: lab.redis.lpush(raw, payload),
    }
    lab._note_queue(app.conf.broker_url, queue, other)
    for send in ways.values():  # connect and declare the queues before timing anything
        send()

    # One call of each way per step, in a shuffled order: a burst of the machine's other
    # work lands on all of them alike, and none always follows the same other one (the
    # first Celery send after a plain Redis call, caches cold, is a few µs slower).
    times: dict[str, list[float]] = {way: [] for way in ways}  # µs per call
    order, shuffle = list(ways), random.Random(11).shuffle
    for step in range(n):
        shuffle(order)
        for way in order:
            began = time.perf_counter_ns()
            ways[way]()
            times[way].append((time.perf_counter_ns() - began) / 1000)
        if (step + 1) % 500 == 0 or step + 1 == n:
            lab.redis.delete(queue, other, raw)  # no worker: empty the queues as we go
        if (step + 1) % max(1, n // 4) == 0:
            lab.say(
                f"  {step + 1}/{n}: "
                + ", ".join(f"{way} {median(times[way]):.0f} µs" for way in ways)
            )

    us = {way: median(values) for way, values in times.items()}
    # delay minus apply_async, step by step: each pair ran within the same step.
    diffs = [d - a for d, a in zip(times["delay"], times["apply_async"], strict=True)]
    q1, q3 = np.percentile(diffs, [25, 75])
    source = inspect.getsource(Task.delay).strip().splitlines()
    body = next(line.strip() for line in reversed(source) if line.strip())
    labels = {
        "delay": "noop.delay(1)",
        "apply_async": "noop.apply_async((1,))",
        "apply_async_countdown": "noop.apply_async((1,), countdown=10)",
        "apply_async_queue": "noop.apply_async((1,), queue=...)",
        "redis_lpush": "floor: one Redis LPUSH, same size",
    }
    rows = [(f"one send, {labels[way]}", f"{us[way]:.0f} µs") for way in ways]
    rows.append(
        (
            "delay - apply_async, paired median",
            f"{median(diffs):+.1f} µs (half the pairs within {q1:+.0f}…{q3:+.0f} µs)",
        )
    )
    rows.append(("why: Task.delay in the installed Celery", body))
    return Outcome(
        keys={
            "delay_send_us": round(us["delay"], 1),
            "apply_async_send_us": round(us["apply_async"], 1),
            "apply_async_countdown_send_us": round(us["apply_async_countdown"], 1),
            "apply_async_queue_send_us": round(us["apply_async_queue"], 1),
            "redis_lpush_us": round(us["redis_lpush"], 1),
            "delay_minus_apply_async_us": round(median(diffs), 2),
        },
        rows=rows,
        detail={
            "n": n,
            "labels": labels,
            "delay_source": source,
            "percentiles_us": {
                way: {p: float(np.percentile(t, p)) for p in (1, 25, 50, 75, 99)}
                for way, t in times.items()
            },
            "times_us": {way: [round(t, 1) for t in ts] for way, ts in times.items()},
        },
    )


def plot(outcome: Outcome, path: str) -> None:
    d = outcome.detail
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for way, times in d["times_us"].items():
        ordered = np.sort(times)
        ax.plot(
            ordered,
            np.arange(1, len(ordered) + 1) / len(ordered),
            label=f"{d['labels'][way]}: median {np.median(ordered):.0f} µs",
        )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("µs per send (log)")
    ax.set_ylabel("fraction of sends at most this long")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(
        f"Lesson 3: the cost of one send, {d['n']} of each, interleaved\n"
        "delay() is apply_async(): " + d["delay_source"][-1].strip(),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
