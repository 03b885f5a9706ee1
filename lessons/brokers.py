"""Lesson 5: Redis vs RabbitMQ as the broker.

RabbitMQ is the broker Celery was built around: the worker holds a consumer on the queue,
the broker *pushes* messages up to the prefetch window, and acknowledgements are part of
the protocol (AMQP 0-9-1). On Redis, kombu emulates all that with lists: the worker polls
with ``BRPOP``, and each message it holds unacknowledged is also written to an ``unacked``
hash and sorted set (so it can be restored after ``visibility_timeout``) and removed from
them at the ack: several Redis commands per task instead of one frame.

The same workload on each, with the same worker (Likefeed's fan-out worker: two processes,
default prefetch) and the same database and Redis for everything but the broker:

- **the like fan-out at a fixed rate**: real ``feed.tasks.fanout`` tasks for seeded likes
  (one each), each writing its liker's followers' feeds; measured: send-to-start latency;
- **a burst of short tasks**: N ``noop`` tasks sent as fast as one process can, while the
  worker runs them; measured: tasks per second, first send to last end.

Short rounds alternate between the brokers so the machine's other work falls on both
alike; on a shared machine the tail (p99) still moves from run to run, the median less.
Skipped, with the reason, only when no RabbitMQ answers at ``LESSONS_RABBITMQ_URL``
(default ``amqp://guest:guest@127.0.0.1:5672//``).
"""

from __future__ import annotations

import contextlib
import time
from statistics import median
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

from config.run import broker_problem

from . import seed
from .lab import Lab, Outcome, WorkerSpec, percentile

WARM_UP = 6  # fan-outs sent before measuring, so that both pool processes have run some


def run(lab: Lab) -> Outcome:
    rate, seconds = lab.size((10.0, 5.0), (10.0, 2.0))  # fan-outs per second, for how long
    burst, rounds = lab.size((500, 4), (60, 1))
    followers = lab.size(20, 10)
    brokers = {"redis": lab.redis_url, "rabbitmq": lab.rabbitmq_url}
    problem = broker_problem(lab.rabbitmq_url)
    if problem:
        lab.say(f"  SKIPPED RabbitMQ: {problem}")
        del brokers["rabbitmq"]

    per_run = int(rate * seconds)
    likers = 10
    posts = -(-(per_run * rounds + WARM_UP) * len(brokers) // likers)  # ceil
    graph = seed.graph(tag=f"brokers-{lab.run}", likers=likers, followers=followers, posts=posts)
    likes = iter(graph.likes)

    found: dict[str, dict[str, list[float]]] = {
        name: {"latency_ms": [], "tasks_per_s": [], "send_us": []} for name in brokers
    }
    with contextlib.ExitStack() as stack:
        apps, queues = {}, {}
        for name, url in brokers.items():
            queues[name] = lab.queue(f"broker-{name}")
            apps[name] = lab.app(url, task_default_queue=queues[name])
            spec = WorkerSpec(f"broker-{name}", (queues[name],), concurrency=2)
            stack.enter_context(lab.workers(spec, broker_url=url))
            # First fan-outs open each pool process' connections (PostgreSQL, Redis, Lua).
            warm_up = apps[name].tasks["feed.tasks.fanout"]
            lab.timeline([lab.send(warm_up, ("like", [next(likes)])) for _ in range(WARM_UP)])

        for r in range(rounds):
            for name, app in apps.items():
                fanout_task, noop = (
                    app.tasks["feed.tasks.fanout"],
                    app.tasks["lessons.tasks.noop"],
                )
                start, ids = time.monotonic(), []
                for i in range(per_run):
                    time.sleep(max(0.0, start + i / rate - time.monotonic()))
                    ids.append(lab.send(fanout_task, ("like", [next(likes)])))
                found[name]["latency_ms"] += lab.timeline(ids).waits_ms(ids)

                began = time.perf_counter()
                ids = [lab.send(noop, (i,)) for i in range(burst)]
                found[name]["send_us"].append((time.perf_counter() - began) / burst * 1e6)
                found[name]["tasks_per_s"].append(burst / lab.timeline(ids).span_s(ids))
                lab.say(
                    f"  round {r + 1}/{rounds}, {name}: fan-out p99 "
                    f"{percentile(found[name]['latency_ms'][-per_run:], 99):.1f} ms, burst "
                    f"{found[name]['tasks_per_s'][-1]:.0f} tasks/s"
                )

    keys: dict[str, Any] = {}
    rows = []
    for name in ("redis", "rabbitmq"):
        if name not in found:
            keys |= {
                f"{name}_broker_tasks_per_s": None,
                f"{name}_broker_latency_p99_ms": None,
                f"{name}_broker_latency_p50_ms": None,
            }
            rows.append((f"{name}: skipped", problem or ""))
            continue
        v = found[name]
        p50, p99 = percentile(v["latency_ms"], 50), percentile(v["latency_ms"], 99)
        tps = median(v["tasks_per_s"])
        keys |= {
            f"{name}_broker_tasks_per_s": round(tps, 1),
            f"{name}_broker_latency_p99_ms": round(p99, 2),
            f"{name}_broker_latency_p50_ms": round(p50, 2),
        }
        rows += [
            (
                f"{name}: fan-out at {rate:.0f}/s, send → start p50 / p99",
                f"{p50:.1f} / {p99:.1f} ms",
            ),
            (
                f"{name}: burst of {burst} short tasks",
                f"{tps:.0f} tasks/s ({median(v['send_us']):.0f} µs per send)",
            ),
        ]
    return Outcome(
        keys=keys,
        rows=rows,
        detail={
            "rate": rate,
            "seconds": seconds,
            "burst": burst,
            "rounds": rounds,
            "followers": followers,
            "skipped": problem,
            "brokers": found,
        },
    )


def plot(outcome: Outcome, path: str) -> None:
    d = outcome.detail
    names = list(d["brokers"])
    colors = {"redis": "tab:red", "rabbitmq": "tab:orange"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in names:
        waits = sorted(d["brokers"][name]["latency_ms"])
        left.plot(
            waits,
            [(i + 1) / len(waits) for i in range(len(waits))],
            label=f"{name}: p50 {percentile(waits, 50):.1f}, p99 {percentile(waits, 99):.1f} ms",
            color=colors[name],
        )
    left.set_xscale("log")
    left.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("fan-out task: send → start (ms, log)")
    left.set_ylabel("fraction of tasks")
    left.set_title(f"like fan-out at {d['rate']:.0f}/s ({d['followers']} feeds each)", fontsize=10)
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)
    right.bar(
        names,
        [median(d["brokers"][n]["tasks_per_s"]) for n in names],
        color=[colors[n] for n in names],
    )
    for i, n in enumerate(names):
        values = d["brokers"][n]["tasks_per_s"]
        right.plot([i] * len(values), values, "k.", markersize=6)
    right.set_ylabel("tasks/s, first send to last end")
    right.set_title(f"burst of {d['burst']} short tasks", fontsize=10)
    title = "Lesson 5: the same worker and workload, Redis vs RabbitMQ as broker"
    if d["skipped"]:
        title += "\n(RabbitMQ skipped: not reachable)"
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
