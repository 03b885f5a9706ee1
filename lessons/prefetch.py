"""Lesson 1: prefetch, and why short and long tasks get queues of their own.

The article's picture is a queue ``[S][S][S][L][S][S][S][S]``: short tasks (~1 ms, an
ordinary like's fan-out) with now and then a long one (seconds: a celebrity's fan-out).
A worker does not take one message at a time: it *reserves* ``prefetch_multiplier x
concurrency`` of them (4 x 1 here) and runs them in order. A short task reserved by the
worker that just started a long one waits for that long one to end, however idle the other
worker is.

Every set-up below has the same two worker processes and the same stream of tasks (short
ones at a steady rate, a long one every few seconds); only how they meet differs:

1. one queue, two workers, default prefetch (4);
2. one queue, two workers, prefetch 1 and ``acks_late``: a worker holds exactly the task it
   is running (with early acks, prefetch 1 still reserves one more behind it);
3. routed: ``short`` and ``long`` on queues of their own (``CELERY_TASK_ROUTES``), a worker
   each: Likefeed's shape (``fanout`` and ``fanout_bulk``);
4. for reference, one queue and one worker of two processes, default prefetch: inside one
   prefork worker the reserved tasks go to whichever process is free (``-O fair``, the
   default), so one long task blocks nobody; two at once would.

Measured: each short task's wait, from ``apply_async`` to the moment a worker process
starts it (p50, p99, max).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt

from .lab import Lab, Outcome, WorkerSpec, percentile


@dataclass(frozen=True)
class Setup:
    key: str  # results.json: <key>_short_wait_p99_ms
    label: str
    workers: tuple[WorkerSpec, ...]
    routes: dict[str, str]  # task name -> queue, as CELERY_TASK_ROUTES would say


def setups(lab: Lab) -> list[Setup]:
    one, short_q, long_q = lab.queue("mixed"), lab.queue("short"), lab.queue("long")
    mixed = {"lessons.tasks.short": one, "lessons.tasks.long": one}
    return [
        Setup(
            "prefetch_default",
            "one queue, default prefetch (4)",
            (WorkerSpec("mixed-a", (one,)), WorkerSpec("mixed-b", (one,))),
            mixed,
        ),
        Setup(
            "prefetch_one",
            "one queue, prefetch 1 + acks_late",
            (
                WorkerSpec("late-a", (one,), prefetch_multiplier=1, acks_late=True),
                WorkerSpec("late-b", (one,), prefetch_multiplier=1, acks_late=True),
            ),
            mixed,
        ),
        Setup(
            "routed",
            "routed: a queue per task length",
            (WorkerSpec("short", (short_q,)), WorkerSpec("long", (long_q,))),
            {"lessons.tasks.short": short_q, "lessons.tasks.long": long_q},
        ),
        Setup(
            "one_worker_two_processes",
            "one worker of 2 processes, default prefetch",
            (WorkerSpec("pair", (one,), concurrency=2),),
            mixed,
        ),
    ]


def run(lab: Lab) -> Outcome:
    seconds = lab.size(16.0, 2.0)  # how long the stream of tasks lasts
    short_rate = 25.0  # short tasks per second
    long_every, long_s = lab.size((4.0, 2.0), (1.0, 0.5))  # a long task every 4 s, of 2 s
    # The stream: (when to send, task); a long task first at 0.3 s, then every `long_every`.
    stream = [(i / short_rate, "short") for i in range(int(seconds * short_rate))]
    stream += [(0.3 + k * long_every, "long") for k in range(int(seconds / long_every))]
    stream.sort()

    found: dict[str, dict[str, Any]] = {}
    for setup in setups(lab):
        app = lab.app(task_routes=setup.routes)
        short, long = app.tasks["lessons.tasks.short"], app.tasks["lessons.tasks.long"]
        lab.say(f"  {setup.label}: {len(stream)} tasks over {seconds:.0f}s …")
        with lab.workers(*setup.workers):
            start = time.monotonic()
            ids: dict[str, list[str]] = {"short": [], "long": []}
            for at, kind in stream:
                time.sleep(max(0.0, start + at - time.monotonic()))
                if kind == "short":
                    ids["short"].append(lab.send(short))  # routed by task_routes
                else:
                    ids["long"].append(lab.send(long, (long_s,)))
            timeline = lab.timeline(ids["short"] + ids["long"], timeout=seconds * 4 + 60)
        waits = timeline.waits_ms(ids["short"])
        t0 = min(timeline.sent.values())
        found[setup.key] = {
            "label": setup.label,
            "p50": percentile(waits, 50),
            "p99": percentile(waits, 99),
            "max": max(waits),
            "waits_ms": waits,
            "sent_s": [timeline.sent[i] - t0 for i in ids["short"]],
            "long_runs_s": [
                (timeline.started[i] - t0, timeline.ended[i] - t0) for i in ids["long"]
            ],
        }
        lab.say(
            f"    short-task wait p50 {found[setup.key]['p50']:.1f} ms, "
            f"p99 {found[setup.key]['p99']:.1f} ms, max {max(waits):.0f} ms"
        )

    rows = [
        (
            f"{v['label']}: short wait p50 / p99 / max",
            f"{v['p50']:.1f} / {v['p99']:.1f} / {v['max']:.0f} ms",
        )
        for v in found.values()
    ]
    return Outcome(
        keys={f"{k}_short_wait_p99_ms": round(v["p99"], 2) for k, v in found.items()},
        rows=rows,
        detail={
            "stream": {
                "seconds": seconds,
                "short_per_s": short_rate,
                "long_every_s": long_every,
                "long_s": long_s,
            },
            "setups": found,
        },
    )


def plot(outcome: Outcome, path: str) -> None:
    setups = outcome.detail["setups"]
    stream = outcome.detail["stream"]
    fig, axes = plt.subplots(len(setups), 1, figsize=(10, 1.9 * len(setups)), sharex=True)
    top = max(max(v["waits_ms"]) for v in setups.values()) * 2
    for ax, v in zip(axes, setups.values(), strict=True):
        for start, end in v["long_runs_s"]:  # where a long task was running
            ax.axvspan(start, end, color="tab:orange", alpha=0.18, linewidth=0)
        # A wait of 0 cannot sit on a log axis: count it as 0.1 ms, the axis' floor.
        ax.plot(v["sent_s"], [max(w, 0.1) for w in v["waits_ms"]], ".", markersize=4)
        ax.set_yscale("log")
        ax.set_ylim(0.5, top)
        ax.set_ylabel("wait, ms", fontsize=8)
        ax.set_title(
            f"{v['label']}: p50 {v['p50']:.1f} ms, p99 {v['p99']:.1f} ms, max {v['max']:.0f} ms",
            fontsize=9,
            loc="left",
        )
    axes[-1].set_xlabel("when the short task was sent (s); shaded: a long task running")
    fig.suptitle(
        f"Lesson 1: short tasks ({stream['short_per_s']:.0f}/s) and a {stream['long_s']:g} s task "
        f"every {stream['long_every_s']:g} s, two worker processes in every set-up\n"
        "each dot: one short task, how long it waited from apply_async() to starting",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
