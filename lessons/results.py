"""Lesson 2: ``ignore_result``, for every task whose return value nobody reads.

The same task (``lessons.tasks.noop``, which returns its argument) is sent N times with its
result stored in the backend (``apply_async(..., ignore_result=False)``) and N times with
it ignored, in alternating rounds, to one worker of two processes. A stored result costs on
three sides:

- the **worker** writes it: one ``SET celery-task-meta-<id>`` with a one-day expiry
  (``result_expires``) and one ``PUBLISH`` to that key's channel per task;
- the **backend** keeps it for a day: measured here as the bytes Redis reports
  (``MEMORY USAGE``) for exactly the keys this run wrote;
- the **sender** subscribes to each task's result channel as it sends
  (``RedisBackend.on_task_call``) and unsubscribes when the ``AsyncResult`` is dropped:
  two more Redis round trips inside ``.delay()``, in the web request.

Measured: tasks per second end to end (first send to last end), the cost of one send, and
the backend's growth per N tasks.
"""

from __future__ import annotations

import time
from statistics import median

import matplotlib.pyplot as plt

from .lab import Lab, Outcome, WorkerSpec


def run(lab: Lab) -> Outcome:
    n, rounds = lab.size((1000, 3), (40, 1))
    app = lab.app()
    noop = app.tasks["lessons.tasks.noop"]
    arms = {"stored": False, "ignored": True}  # arm -> ignore_result
    rates: dict[str, list[float]] = {arm: [] for arm in arms}
    drains: dict[str, list[float]] = {arm: [] for arm in arms}
    send_us: dict[str, list[float]] = {arm: [] for arm in arms}
    last_ids: dict[str, list[str]] = {}

    # End to end: a worker of two processes runs the tasks while this process sends them.
    queue = lab.queue("results")
    with lab.workers(WorkerSpec("results", (queue,), concurrency=2)):
        for r in range(rounds):
            for arm, ignore in arms.items():
                began = time.perf_counter()
                ids = [lab.send(noop, (i,), queue=queue, ignore_result=ignore) for i in range(n)]
                send_us[arm].append((time.perf_counter() - began) / n * 1e6)
                rates[arm].append(n / lab.timeline(ids, timeout=n / 10 + 60).span_s(ids))
                last_ids[arm] = ids
                lab.say(
                    f"  round {r + 1}/{rounds}, results {arm}: {rates[arm][-1]:.0f} tasks/s "
                    f"end to end, {send_us[arm][-1]:.0f} µs per send"
                )

    # The worker's side alone: N tasks already queued, then a worker starts and drains them.
    for r in range(rounds):
        for arm, ignore in arms.items():
            queue = lab.queue(f"results-{arm}")
            ids = [lab.send(noop, (i,), queue=queue, ignore_result=ignore) for i in range(n)]
            with lab.workers(WorkerSpec(f"drain-{arm}", (queue,), concurrency=2)):
                timeline = lab.timeline(ids, timeout=n / 10 + 60)
            drains[arm].append(n / (max(timeline.ended.values()) - min(timeline.started.values())))
            lab.say(
                f"  round {r + 1}/{rounds}, results {arm}: a worker drains "
                f"{drains[arm][-1]:.0f} tasks/s"
            )

    # What the backend holds now: the last stored round's results, and nothing for the other.
    keys = [f"celery-task-meta-{i}" for i in last_ids["stored"]]
    with lab.redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key)
        stored_bytes = int(sum(size or 0 for size in pipe.execute()))
    ttl = lab.redis.ttl(keys[0])
    left_by_ignored = sum(lab.redis.exists(f"celery-task-meta-{i}") for i in last_ids["ignored"])
    # Channels still subscribed by this process (the sender) for those tasks: 0 when every
    # AsyncResult has been dropped, as here; one each for results somebody keeps around.
    open_subscriptions = sum(count for _, count in lab.redis.pubsub_numsub(*keys[:1000]))

    stored, ignored = median(rates["stored"]), median(rates["ignored"])
    drain_stored, drain_ignored = median(drains["stored"]), median(drains["ignored"])
    return Outcome(
        keys={
            "results_stored_tasks_per_s": round(stored, 1),
            "results_ignored_tasks_per_s": round(ignored, 1),
            "results_stored_backend_bytes": stored_bytes,
            "results_stored_send_us": round(median(send_us["stored"]), 1),
            "results_ignored_send_us": round(median(send_us["ignored"]), 1),
            "results_stored_worker_tasks_per_s": round(drain_stored, 1),
            "results_ignored_worker_tasks_per_s": round(drain_ignored, 1),
        },
        rows=[
            (
                "end to end, tasks/s: stored / ignored",
                f"{stored:.0f} / {ignored:.0f}  ({(ignored / stored - 1) * 100:+.0f}%)",
            ),
            (
                "worker alone, tasks/s: stored / ignored",
                f"{drain_stored:.0f} / {drain_ignored:.0f}  "
                f"({(drain_ignored / drain_stored - 1) * 100:+.0f}%)",
            ),
            (
                "one send (.apply_async), stored / ignored",
                f"{median(send_us['stored']):.0f} / {median(send_us['ignored']):.0f} µs",
            ),
            (
                f"backend after {n} tasks: stored / ignored",
                f"{stored_bytes / 1024:.0f} KiB ({stored_bytes / n:.0f} B each, kept "
                f"{ttl / 3600:.0f} h) / {left_by_ignored} keys",
            ),
        ],
        detail={
            "n": n,
            "rounds": rounds,
            "tasks_per_s": rates,
            "worker_tasks_per_s": drains,
            "send_us": send_us,
            "bytes_per_result": stored_bytes / n,
            "result_ttl_s": ttl,
            "ignored_keys_left": left_by_ignored,
            "open_subscriptions_after": open_subscriptions,
        },
    )


def plot(outcome: Outcome, path: str) -> None:
    d = outcome.detail
    fig, (left, worker, middle, right) = plt.subplots(1, 4, figsize=(13, 3.8))
    arms = ["stored", "ignored"]
    colors = ["tab:red", "tab:green"]
    for ax, values, title in (
        (left, d["tasks_per_s"], "tasks/s, end to end\n(higher is better)"),
        (worker, d["worker_tasks_per_s"], "tasks/s, the worker alone\n(queue filled first)"),
        (middle, d["send_us"], "one send, µs\n(the web request pays it)"),
    ):
        ax.bar(arms, [median(values[a]) for a in arms], color=colors)
        for i, a in enumerate(arms):  # every round, as dots over its bar
            ax.plot([i] * len(values[a]), values[a], "k.", markersize=5)
        ax.set_title(title, fontsize=10)
    kib = d["bytes_per_result"] * d["n"] / 1024
    right.bar(arms, [kib, 0], color=colors)
    right.set_title(
        f"backend memory after {d['n']} tasks, KiB\n"
        f"(kept {d['result_ttl_s'] / 3600:.0f} h: result_expires)",
        fontsize=10,
    )
    fig.suptitle("Lesson 2: the same task with its result stored vs ignored", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
