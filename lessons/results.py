"""Lesson 2: ``ignore_result``, for every task whose return value nobody reads.

The same task (``lessons.tasks.noop``, which returns its argument) is sent N times with its
result stored in the backend (``apply_async(..., ignore_result=False)``) and N times with
it ignored, in alternating rounds, to one worker of two processes. A stored result costs on
three sides:

- the **worker** writes it: a ``GET celery-task-meta-<id>`` first (a result already
  ``SUCCESS`` is never overwritten by a duplicate run), then ``SETEX`` with a one-day expiry
  (``result_expires``) and a ``PUBLISH`` to that key's channel, in one ``MULTI``: two round
  trips per task (``celery/backends/base.py: _store_result``, ``redis.py: _set``);
- the **backend** keeps it for a day: measured here as the bytes Redis reports
  (``MEMORY USAGE``) for exactly the keys this run wrote;
- the **sender** subscribes to each task's result channel as it sends
  (``RedisBackend.on_task_call``) and unsubscribes when the ``AsyncResult`` is dropped:
  two more Redis round trips inside ``.delay()``, in the web request.

Measured, in short rounds with the two arms back to back: tasks per second end to end
(first send to last end), the cost of one send, each task's time in the worker (from
``task_prerun`` to ``task_postrun``, which Celery sends after storing the result), and the
backend's growth.
"""

from __future__ import annotations

import time
from statistics import median

import matplotlib.pyplot as plt

from .lab import Lab, Outcome, WorkerSpec, percentile


def run(lab: Lab) -> Outcome:
    n, rounds = lab.size((250, 8), (30, 2))  # tasks per arm per round
    queue = lab.queue("results")
    noop = lab.app().tasks["lessons.tasks.noop"]
    arms = {"stored": False, "ignored": True}  # arm -> ignore_result
    rates: dict[str, list[float]] = {arm: [] for arm in arms}  # tasks/s, one per round
    send_us: dict[str, list[float]] = {arm: [] for arm in arms}  # µs per send, one per round
    worker_us: dict[str, list[float]] = {arm: [] for arm in arms}  # µs per task, every task
    stored_ids: list[str] = []
    ignored_ids: list[str] = []

    # Short rounds, the two arms back to back in alternating order: a burst of the machine's
    # other work lands on both alike.
    with lab.workers(WorkerSpec("results", (queue,), concurrency=2)):
        for r in range(rounds):
            for arm in list(arms)[:: 1 if r % 2 == 0 else -1]:
                began = time.perf_counter()
                ids = [lab.send(noop, (i,), queue=queue, ignore_result=arms[arm]) for i in range(n)]
                send_us[arm].append((time.perf_counter() - began) / n * 1e6)
                timeline = lab.timeline(ids, timeout=n / 10 + 60)
                rates[arm].append(n / timeline.span_s(ids))
                # In the worker, from task_prerun to task_postrun: the task, and the storing
                # of its result (Celery stores it before it sends task_postrun).
                worker_us[arm] += [(timeline.ended[i] - timeline.started[i]) * 1e6 for i in ids]
                (stored_ids if arm == "stored" else ignored_ids).extend(ids)
            lab.say(
                f"  round {r + 1}/{rounds}: "
                + ", ".join(f"{a} {rates[a][-1]:.0f} tasks/s" for a in arms)
            )

    # What the backend holds now: every stored result of the run, and none of the others.
    keys = [f"celery-task-meta-{i}" for i in stored_ids]
    with lab.redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.memory_usage(key)
        stored_bytes = int(sum(size or 0 for size in pipe.execute()))
    ttl = lab.redis.ttl(keys[0])
    left_by_ignored = sum(lab.redis.exists(f"celery-task-meta-{i}") for i in ignored_ids)
    # Channels still subscribed by this process (the sender) for those tasks: 0 when every
    # AsyncResult has been dropped, as here; one each for results somebody keeps around.
    open_subscriptions = sum(count for _, count in lab.redis.pubsub_numsub(*keys[:1000]))

    med = {
        name: {a: median(v[a]) for a in arms}
        for name, v in (("rate", rates), ("send", send_us), ("worker", worker_us))
    }
    per_result = stored_bytes / len(keys)
    return Outcome(
        keys={
            "results_stored_tasks_per_s": round(med["rate"]["stored"], 1),
            "results_ignored_tasks_per_s": round(med["rate"]["ignored"], 1),
            "results_stored_backend_bytes": stored_bytes,
            "results_stored_send_us": round(med["send"]["stored"], 1),
            "results_ignored_send_us": round(med["send"]["ignored"], 1),
            "results_stored_worker_us": round(med["worker"]["stored"], 1),
            "results_ignored_worker_us": round(med["worker"]["ignored"], 1),
        },
        rows=[
            (
                "end to end, tasks/s: stored / ignored",
                f"{med['rate']['stored']:.0f} / {med['rate']['ignored']:.0f}  "
                f"({(med['rate']['ignored'] / med['rate']['stored'] - 1) * 100:+.0f}%)",
            ),
            (
                "one send (.apply_async), stored / ignored",
                f"{med['send']['stored']:.0f} / {med['send']['ignored']:.0f} µs",
            ),
            (
                "in the worker, per task: stored / ignored",
                f"{med['worker']['stored']:.0f} / {med['worker']['ignored']:.0f} µs",
            ),
            (
                f"backend after {len(keys)} stored results",
                f"{stored_bytes / 1024:.0f} KiB ({per_result:.0f} B each, kept {ttl / 3600:.0f} h)",
            ),
            (f"backend after {len(ignored_ids)} ignored results", f"{left_by_ignored} keys"),
        ],
        detail={
            "n": n,
            "rounds": rounds,
            "tasks_per_s": rates,
            "send_us": send_us,
            "worker_us_percentiles": {
                a: {p: percentile(worker_us[a], p) for p in (25, 50, 75, 99)} for a in arms
            },
            "stored_results": len(keys),
            "bytes_per_result": per_result,
            "result_ttl_s": ttl,
            "ignored_keys_left": left_by_ignored,
            "open_subscriptions_after": open_subscriptions,
        },
    )


def plot(outcome: Outcome, path: str) -> None:
    d = outcome.detail
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.8))
    arms = ["stored", "ignored"]
    colors = ["tab:red", "tab:green"]
    for ax, values, title in (
        (axes[0], d["tasks_per_s"], "tasks/s, end to end\n(higher is better)"),
        (axes[1], d["send_us"], "one send, µs\n(the web request pays it)"),
    ):
        ax.bar(arms, [median(values[a]) for a in arms], color=colors)
        for i, a in enumerate(arms):  # every round, as dots over its bar
            ax.plot([i] * len(values[a]), values[a], "k.", markersize=5)
        ax.set_title(title, fontsize=10)
    worker = d["worker_us_percentiles"]
    axes[2].bar(arms, [worker[a][50] for a in arms], color=colors)
    axes[2].errorbar(
        range(2),
        [worker[a][50] for a in arms],
        yerr=[[worker[a][50] - worker[a][25] for a in arms],
              [worker[a][75] - worker[a][50] for a in arms]],
        fmt="none", ecolor="black", capsize=4,
    )  # fmt: skip
    axes[2].set_title("in the worker, µs per task\n(median, quartiles)", fontsize=10)
    axes[3].bar(arms, [d["bytes_per_result"] * d["stored_results"] / 1024, 0], color=colors)
    axes[3].set_title(
        f"backend memory, KiB, after {d['stored_results']}\ntasks "
        f"(kept {d['result_ttl_s'] / 3600:.0f} h: result_expires)",
        fontsize=10,
    )
    fig.suptitle("Lesson 2: the same task with its result stored vs ignored", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
