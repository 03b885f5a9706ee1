"""Lesson 4: the broker and the result backend, and when you need the second.

The article's call centre: callers leave requests on a **blackboard** (the broker: Redis
lists or RabbitMQ queues), operators (workers) take them off one by one, and when a caller
wants an answer back, the operator writes it in a **results book** (the result backend:
``celery-task-meta-<id>`` keys) where the caller looks it up by ticket number (the task id,
``AsyncResult``). The blackboard is needed for every task; the book only when someone comes
back to read it.

Likefeed has one task of each kind, both run here by a real worker:

- **the fan-out** (``feed.tasks.fanout``): the liker does not wait for a return value;
  what it did is visible where it matters, in every follower's feed (and the like's
  ``fanned_out_at``, and a ``like.delivered`` event to the liker). It ignores its result:
  nothing goes in the book, its ``AsyncResult`` stays ``PENDING`` forever, and a caller who
  waits on it anyway (``.get()``) waits until their timeout.
- **the recount** (``likes.tasks.recount_likes``): a person presses "Recount like counters"
  in the admin (``likes/admin.py``) and waits for the drift report. Only this task stores
  its result, and only this one is read through ``AsyncResult.get()``; the lesson makes the
  same two calls as the admin's button, after a "manual edit" that gives a post a wrong
  ``like_count``.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
from celery.exceptions import TimeoutError as CeleryTimeoutError
from django.db.models import F

from likes import selectors as likes_selectors
from social.models import Post

from . import seed
from .lab import LOGDIR, Lab, Outcome, WorkerSpec


def run(lab: Lab) -> Outcome:
    followers = lab.size(500, 20)
    graph = seed.graph(tag=f"backend-{lab.run}", likers=1, followers=followers, posts=3)
    warm_up, like_id, edited_post = graph.likes[0], graph.likes[1], graph.posts[2]
    Post.objects.filter(pk=edited_post).update(like_count=F("like_count") + 2)  # a manual edit

    queue = lab.queue("app")
    app = lab.app()
    fanout_task = app.tasks["feed.tasks.fanout"]
    recount_likes = app.tasks["likes.tasks.recount_likes"]
    with lab.workers(WorkerSpec("app", (queue,))):
        # A first fan-out opens the worker's connections (PostgreSQL, Redis, Lua script).
        lab.timeline([lab.send(fanout_task, ("like", [warm_up]), queue=queue)])

        # The fan-out: sent, and its effect watched where it shows (the like is marked once
        # every follower's feed holds it). Nobody asks the backend.
        fanout_id = lab.send(fanout_task, ("like", [like_id]), queue=queue)
        deadline = time.monotonic() + 60
        while not likes_selectors.likes_facts(like_ids=[like_id])[0].fanned_out:
            if time.monotonic() > deadline:
                raise RuntimeError(f"like {like_id} not fanned out within 60 s (logs: {LOGDIR})")
            time.sleep(0.005)
        fanout_effect = time.time()
        fanout = lab.timeline([fanout_id])
        fanout_state = app.AsyncResult(fanout_id).state
        began = time.monotonic()
        try:  # the mistake: waiting on a result nobody stores
            app.AsyncResult(fanout_id).get(timeout=1.0)
            fanout_get = "returned"
        except CeleryTimeoutError:
            fanout_get = f"TimeoutError after {time.monotonic() - began:.1f} s"

        # The recount: the same two calls as the admin's button. A result someone reads.
        recount_sent = time.time()
        result = recount_likes.apply_async(kwargs={"fix": False}, queue=queue)
        lab.sent[result.id] = recount_sent
        report = result.get(timeout=60)
        recount_read = time.time()
        recount = lab.timeline([result.id])
        result_key = f"celery-task-meta-{result.id}"
        result_bytes = int(lab.redis.memory_usage(result_key) or 0)
        result_ttl = lab.redis.ttl(result_key)
        recount_state = result.state
        result.forget()  # read: the book's page can go

    lab.say(
        f"  fan-out: {followers} feeds written, state {fanout_state}; recount: {report['drifted']}"
    )
    fanout_keys = lab.redis.exists(f"celery-task-meta-{fanout_id}")
    phases = {
        "fan-out": {
            "in the broker": (fanout.sent[fanout_id], fanout.started[fanout_id]),
            "running": (fanout.started[fanout_id], fanout.ended[fanout_id]),
            "seen in the feeds": (fanout.ended[fanout_id], fanout_effect),
        },
        "recount": {
            "in the broker": (recount.sent[result.id], recount.started[result.id]),
            "running": (recount.started[result.id], recount.ended[result.id]),
            "in the backend until .get() returns": (recount.ended[result.id], recount_read),
        },
    }
    return Outcome(
        keys={
            "backend_fanout_result_keys": fanout_keys,
            "backend_recount_result_bytes": result_bytes,
            "backend_recount_round_trip_ms": round((recount_read - recount_sent) * 1000, 1),
            "backend_fanout_feeds_ms": round((fanout_effect - fanout.sent[fanout_id]) * 1000, 1),
        },
        rows=[
            (
                f"fan-out to {followers} feeds: send → every feed written",
                f"{(fanout_effect - fanout.sent[fanout_id]) * 1000:.0f} ms, no backend",
            ),
            (
                "fan-out: AsyncResult(id).state / .get(timeout=1)",
                f"{fanout_state} (forever) / {fanout_get}",
            ),
            ("fan-out: keys in the results book", f"{fanout_keys}"),
            (
                "recount: send → report in hand (.get())",
                f"{(recount_read - recount_sent) * 1000:.0f} ms, state {recount_state}",
            ),
            (
                "recount: its page in the results book",
                f"{result_bytes} B, kept {result_ttl / 3600:.0f} h unless forgotten",
            ),
            (
                "recount: the report",
                ", ".join(
                    f"post {d['post_id']}: like_count {d['like_count']} vs {d['likes']} likes"
                    for d in report["drifted"]
                )
                or "no drift",
            ),
        ],
        detail={
            "followers": followers,
            "phases": phases,
            "report": report,
            "fanout_state": fanout_state,
            "fanout_get": fanout_get,
        },
    )


def plot(outcome: Outcome, path: str) -> None:
    phases = outcome.detail["phases"]
    colors = {"in the broker": "tab:blue", "running": "tab:orange"}
    fig, axes = plt.subplots(2, 1, figsize=(9, 3.6))
    for ax, (task, lane) in zip(axes, phases.items(), strict=True):
        origin = min(start for start, _ in lane.values())
        for name, (start, end) in lane.items():
            color = colors.get(name, "tab:green" if task == "fan-out" else "tab:purple")
            width = max((end - start) * 1000, 0.05)
            ax.barh(0, width, left=(start - origin) * 1000, color=color, label=name)
        ax.set_yticks([0], [task])
        ax.legend(fontsize=8, loc="upper right", ncols=3, frameon=False)
        ax.set_xlim(left=0)
        ax.set_ylim(-0.5, 1.1)
    axes[-1].set_xlabel("ms since the task was sent")
    fig.suptitle(
        "Lesson 4: the blackboard (broker) serves both; only the recount writes in the "
        "results book (backend)\nfan-out: PENDING forever, its effect is in the feeds; "
        "recount: a person waits for the report",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
