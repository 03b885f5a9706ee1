"""``make bench`` (``python -m bench``): the figures of DESIGN.md as ratios in one run.

Starts the stack ``make run`` starts (on its own database ``likefeed_bench`` and Redis key
prefix ``lfbench``, production settings, the baseline views routed), seeds the bench graph
once (reused afterwards), then measures, in this order:

1. HTTP, workers stopped (the fan-out queued by each like waits in the broker and is purged
   after, so the endpoints share the two cores only with PostgreSQL and Redis): peak
   throughput of the like endpoint, the textbook like view and a bare JSON view, in rounds,
   with, in the same rounds, the bare view on gunicorn (``bare_vs_wsgi``), the same token
   like through Django's view (the fast path's worth), the rest of the product (pages,
   writes, the browser's like: ``bench.product``) and ``pgbench`` running the like's own
   statement (``like_vs_pgbench``: ``bench.pgbench``); then the like endpoint at 80% of its
   peak from an open-loop generator (p99).
2. Redis: ``redis-benchmark -P 32 -t zadd`` and the fan-out's own feed writer.
3. Workers started: a like by the account with 1,000,000 followers, timed from its 2xx to
   the moment its fan-out is complete (every follower's feed holds it; then checked): with
   no activity record for any follower, then with every follower seen a minute ago (the
   records a deployment's readers leave), then with a tenth of them active, the others away
   (Mastodon's rule: only the active ones' feeds are written; ``feed.activity``).
4. Live push, on 1,000 sockets: the knee (the highest like rate at which push p99 ≤ 100
   ms with every item delivered, 50 follower sockets a like; rates rising by 1.5x from 5
   likes/s) of Likefeed's push and, on the same sockets, of the textbook push
   (``group_send`` per follower: ``bench.textbook``); likes at 500/s, like →
   ``feed.item`` latency at the sockets, and the web process's CPU per item; then a bare
   ``websockets`` server sending the same bytes to the same sockets (``bench.bare_ws``):
   ``ws_cpu_per_msg_vs_bare``.
5. Idle authenticated sockets held by one web process, and its memory per socket.

Prints a table and writes ``bench/results.json``. ``--scale 0.01`` shrinks every size (the
smoke test in ``make test`` runs that way); the defaults are DESIGN.md's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from config.services import ROOT, embedded_services

RESULTS = ROOT / "bench" / "results.json"

# (key, label, goal as text, test of the goal given all results)
GOALS: list[tuple[str, str, str, Any]] = [
    ("like_vs_textbook", "like / textbook like view (req/s)", "≥ 4", lambda r: r >= 4),
    ("like_vs_bare", "like / bare JSON view (req/s)", "≥ 0.4", lambda r: r >= 0.4),
    ("bare_vs_wsgi", "bare view: project's server / WSGI server (req/s)", "≥ 0.5",
     lambda r: r >= 0.5),
    ("like_vs_pgbench", "like endpoint / pgbench running the like's statement", "≥ 0.7",
     lambda r: r >= 0.7),
    ("like_p99_ms_at_80pct", "like p99 at 80% of peak (ms)", "≤ 50", lambda r: r <= 50),
    ("fanout_vs_zadd", "fan-out entries/s / redis-benchmark ZADD", "≥ 0.3", lambda r: r >= 0.3),
    ("celebrity_all_feeds_s", "celebrity like: all feeds written (s)", "≤ 5", lambda r: r <= 5),
    ("push_p50_ms", "like → feed.item p50 (ms)", "≤ 20", lambda r: r <= 20),
    ("push_p99_ms", "like → feed.item p99 (ms)", "≤ 100", lambda r: r <= 100),
    ("push_knee_likes_per_s", "push knee: likes/s at p99 ≤ 100 ms, every item", "(below)",
     None),
    ("push_knee_vs_textbook", "push knee / textbook push's knee", "≥ 20", lambda r: r >= 20),
    ("ws_cpu_per_msg_vs_bare", "web CPU per socket message / bare websockets", "≤ 3",
     lambda r: r <= 3),
    ("sockets_per_process", "idle sockets held by one web process", "≥ 10000",
     lambda r: r >= 10000),
]  # fmt: skip


def log(line: str) -> None:
    print(line, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="multiply every size (0.01: smoke)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the HTTP comparison")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per HTTP round")
    p.add_argument("--connections", type=int, default=32, help="HTTP connections")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--skip", default="", help="comma-separated phases to skip: "
                   "http,redis,celebrity,push,sockets")  # fmt: skip
    p.add_argument("--cluster", action="store_true", help="make cluster's layout beside the "
                   "single node instead (bench.cluster: the cluster_ keys of --out)")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    with embedded_services():
        return run(args)


def run(args: argparse.Namespace) -> int:
    from loadtest.stack import migrate, running_stack, stack_env

    started = time.monotonic()
    scale = args.scale
    skip = set(filter(None, args.skip.split(",")))
    sizes = {
        "celebrity_followers": max(20, int(1_000_000 * scale)),
        "push_sockets": max(10, int(1_000 * scale)),
        "push_likes_per_s": max(5.0, 500 * scale),
        "push_seconds": 10.0 if scale >= 0.5 else 2.0,
        # The knee's steps (likes/s): from 5, x1.5 each, to 1,000 (5 and 10 at toy size),
        # each waiting at most knee_drain_s after its last like for the last items.
        "knee_start": 5.0,
        "knee_factor": 1.5 if scale >= 0.1 else 2.0,
        "knee_top": 1000.0 if scale >= 0.1 else 10.0,
        "knee_step_s": 5.0 if scale >= 0.5 else (2.0 if scale >= 0.1 else 1.0),
        "knee_drain_s": 2.0 if scale >= 0.1 else 1.0,
        "idle_sockets": max(20, int(10_000 * scale)),
    }
    env = stack_env(
        database=os.environ.get("BENCH_DATABASE", "likefeed_bench"),
        redis_prefix=os.environ.get("BENCH_REDIS_PREFIX", "lfbench"),
        extra={
            # The project plus the baseline views (bench.urls) and bench_hotpath.
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-" + "x" * 50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The rate limit stays on (its Redis counter is part of every like's cost), at a
            # rate the bench's accounts never reach.
            "THROTTLE_RATE_LIKE": "10000000/min",
            "THROTTLE_RATE_POST": "10000000/min",  # so do the post create and follow rounds'
            "THROTTLE_RATE_FOLLOW": "10000000/min",
        },
    )
    os.environ.update(env)
    migrate(env)
    import django

    django.setup()
    from bench.state import followers_of, forget_feeds, forget_likes, purge_and_settle
    from loadtest.seed import GraphSpec, seed_graph

    users = max(sizes["idle_sockets"], sizes["push_sockets"] + 200, int(10_000 * min(1, scale)))
    spec = GraphSpec(
        users=users,
        posts=max(200, int(20_000 * scale)),
        tokens=users,
        celebrity_followers=sizes["celebrity_followers"],
    )
    log(f"bench: graph of {spec.users} users, {spec.posts} posts, celebrity with "
        f"{spec.celebrity_followers} followers (seeded once, then reused)")  # fmt: skip
    graph = seed_graph(spec)
    forget_likes()
    if args.cluster:
        return _run_cluster(args, env, graph, started)
    results: dict[str, Any] = {"scale": scale}
    logdir = ROOT / "var" / "bench-logs"

    if "http" not in skip:
        from django.conf import settings

        from bench.http_phase import ACTIVE_LIKERS, run_http_phase
        from bench.pgbench import PgBench
        from bench.product import READERS, product_endpoints, restore_product, seed_product
        from bench.push_phase import cpu_seconds
        from bench.servers import side_servers
        from config.asyncdb import POOL_MAX

        product = seed_product(
            graph,
            likers=min(ACTIVE_LIKERS, len(graph.tokens)),
            readers=max(20, int(READERS * min(1.0, 10 * scale))),
        )
        log(f"bench: HTTP, side by side (fan-out workers stopped; a WSGI server and a web "
            f"server without the like fast path beside; {len(product.readers)} readers' "
            f"pages seeded)")  # fmt: skip
        # The last accounts' tokens: their likes touch neither the push phase's likers' posts
        # nor (at full size) the endpoint's ACTIVE_LIKERS pairs. As many clients as the like
        # endpoint has connections to PostgreSQL (its pool's bound), so both run the
        # statement at the same concurrency at the database.
        pgbench = PgBench(
            env["DATABASE_URL"], tokens=graph.tokens[-100:], post_ids=graph.post_ids,
            clients=POOL_MAX,
        )  # fmt: skip
        try:
            with (
                side_servers(env, logdir, threads=settings.WEB_THREADS) as side,
                running_stack(env, logdir, workers=False) as stack,
            ):
                host, port = stack.host_port
                requests = product_endpoints(product, graph, f"{host}:{port}")
                http = run_http_phase(
                    host, port, graph, rounds=args.rounds,
                    duration_s=args.duration * min(1.0, scale * 4 + 0.2),
                    connections=args.connections, open_loop_s=max(2.0, 10 * min(1.0, scale)),
                    log=log, side=side.ready(), product=requests,
                    warm_s=0.5 if scale >= 0.5 else 0.2, pgbench=pgbench,
                    web_cpu_s=functools.partial(cpu_seconds, _web_worker_pid(stack.web_pids[0])),
                )  # fmt: skip
        finally:
            restore_product(product)
            pgbench.close()
        purge_and_settle()
        results.update(
            like_rps=http.like_rps,
            textbook_like_rps=http.textbook_like_rps,
            bare_json_rps=http.bare_json_rps,
            like_p99_ms_at_80pct=http.like_p99_ms_at_80pct,
            like_p50_ms_at_80pct=http.like_p50_ms_at_80pct,
            http_errors=http.errors,
            pgbench_like_tps=http.pgbench_like_tps,
            like_web_cpu_us_per_req=http.like_web_cpu_us,
        )
        for name, (rps, p99) in http.endpoints.items():
            key = ENDPOINT_KEYS.get(name, name)
            results[f"{key}_rps"] = rps
            results[f"{key}_p99_ms"] = p99

    if "redis" not in skip:
        from bench.redis_phase import fanout_write_rate, redis_benchmark_zadd

        log("bench: Redis, redis-benchmark -P 32 ZADD and the fan-out's feed writer")
        results["redis_zadd_p32_per_s"] = redis_benchmark_zadd(
            env["REDIS_URL"], requests=max(10_000, int(1_000_000 * scale))
        )
        followers = followers_of(graph.celebrity_id)
        results["fanout_entries_per_s"] = fanout_write_rate(followers)
        forget_feeds(followers)

    with running_stack(env, logdir, workers=True) as stack:
        host, port = stack.host_port
        if "celebrity" not in skip and graph.celebrity_id and graph.celebrity_token:
            log(f"bench: a like by the account with {spec.celebrity_followers} followers")
            results.update(_celebrity(stack.url, graph))
        if "push" not in skip:
            web_pid = _web_worker_pid(stack.web_pids[0])
            results.update(_push(host, port, graph, sizes, web_pid=web_pid))
        if "sockets" not in skip:
            from bench.push_phase import run_socket_phase

            log(f"bench: {sizes['idle_sockets']} idle sockets to one web process")
            figures = run_socket_phase(
                host, port, tokens=graph.tokens[: sizes["idle_sockets"]],
                web_pid=_web_worker_pid(stack.web_pids[0]), log=log,
            )  # fmt: skip
            results.update(
                sockets_per_process=figures.sockets, bytes_per_socket=figures.bytes_per_socket
            )
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    _derive(results)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print_table(results)
    log(f"bench: wrote {args.out} in {results['bench_seconds']:.0f} s")
    return 0


def _run_cluster(args: argparse.Namespace, env: dict[str, str], graph: Any, started: float) -> int:
    """The cluster's phase set (``bench.cluster``); its ``cluster_`` keys replace the last
    run's in ``--out``, every other key is kept."""
    from bench.cluster import previous, run_cluster

    figures = run_cluster(
        env, graph, scale=args.scale, rounds=args.rounds,
        duration_s=args.duration * min(1.0, args.scale * 4 + 0.2),
        connections=args.connections, skip=set(filter(None, args.skip.split(","))), log=log,
    )  # fmt: skip
    kept = previous(args.out)
    results = {**kept, **figures}
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    if kept:
        print_table(results)  # the single-node figures of the last run, then the cluster's
    else:
        from bench.cluster import print_table as print_cluster_table

        print_cluster_table(results, _fmt)
    log(f"bench: wrote the cluster_ figures to {args.out} in {time.monotonic() - started:.0f} s")
    return 0


# The rounds' names whose results.json keys predate the rest (``like_rps``, ...).
ENDPOINT_KEYS = {"bare": "bare_json", "textbook": "textbook_like"}

# Every endpoint of the HTTP rounds, as the table shows it (key prefix, label).
ENDPOINTS: list[tuple[str, str]] = [
    ("bare_json", "bare JSON view, project's server"),
    ("bare_wsgi", "bare JSON view, gunicorn gthread (1 process)"),
    ("like", "like, token (fast path)"),
    ("django_like", "like, token, Django's view (fast path off)"),
    ("cookie_like", "like, browser (session + CSRF, Django's view)"),
    ("textbook_like", "textbook like view"),
    ("feed", "GET /api/feed/"),
    ("profile", "GET /api/users/<u>/"),
    ("profile_posts", "GET /api/users/<u>/posts/"),
    ("post", "GET /api/posts/<id>/"),
    ("post_likes", "GET /api/posts/<id>/likes/"),
    ("notifications", "GET /api/notifications/"),
    ("post_create", "POST /api/posts/"),
    ("follow", "PUT / DELETE /api/users/<u>/follow/"),
]
FAST_PATH_KEEP_ABOVE = 1.5  # issue 16: within 1.5x of the fast path, Django's path replaces it


def _derive(r: dict[str, Any]) -> None:
    if r.get("textbook_like_rps"):
        r["like_vs_textbook"] = r["like_rps"] / r["textbook_like_rps"]
    if r.get("bare_json_rps"):
        r["like_vs_bare"] = r["like_rps"] / r["bare_json_rps"]
    if r.get("pgbench_like_tps"):
        r["like_vs_pgbench"] = r["like_rps"] / r["pgbench_like_tps"]
    if r.get("bare_wsgi_rps"):
        r["bare_vs_wsgi"] = r["bare_json_rps"] / r["bare_wsgi_rps"]
    if r.get("django_like_rps"):
        r["like_fast_vs_django"] = r["like_rps"] / r["django_like_rps"]
    if r.get("cookie_like_rps"):
        r["like_fast_vs_cookie"] = r["like_rps"] / r["cookie_like_rps"]
    if "push_knee_textbook_likes_per_s" in r:
        # A textbook knee below the first step counts as that step (the ratio's floor).
        r["push_knee_vs_textbook"] = r["push_knee_likes_per_s"] / max(
            r["push_knee_textbook_likes_per_s"], r.get("push_knee_first_step", 5.0)
        )
    if r.get("bare_ws_cpu_us_per_msg"):
        r["ws_cpu_per_msg_vs_bare"] = r["ws_cpu_us_per_msg"] / r["bare_ws_cpu_us_per_msg"]
    if r.get("redis_zadd_p32_per_s"):
        r["fanout_vs_zadd"] = r["fanout_entries_per_s"] / r["redis_zadd_p32_per_s"]


def print_table(r: dict[str, Any]) -> None:
    rows = [
        ("like endpoint (req/s)", r.get("like_rps")),
        ("textbook like view (req/s)", r.get("textbook_like_rps")),
        ("bare JSON view (req/s)", r.get("bare_json_rps")),
        ("pgbench, the like's statement (statements/s)", r.get("pgbench_like_tps")),
        ("web process CPU per like, like rounds (µs)", r.get("like_web_cpu_us_per_req")),
        ("fan-out feed entries/s", r.get("fanout_entries_per_s")),
        ("celebrity like, all followers seen a minute ago (s)", r.get("celebrity_seen_feeds_s")),
        ("celebrity like, active followers only (s)", r.get("celebrity_active_feeds_s")),
        (
            "celebrity: active followers / all",
            _pair(r.get("celebrity_active_followers"), r.get("celebrity_followers")),
        ),
        ("redis-benchmark -P 32 ZADD/s", r.get("redis_zadd_p32_per_s")),
        ("push: likes/s, sockets", _pair(r.get("push_likes_per_s"), r.get("push_sockets"))),
        ("push: items delivered / expected", _pair(r.get("push_received"), r.get("push_expected"))),
        ("push knee, textbook push (likes/s)", r.get("push_knee_textbook_likes_per_s")),
        ("web process CPU per socket message (µs)", r.get("ws_cpu_us_per_msg")),
        ("bare websockets server CPU per message (µs)", r.get("bare_ws_cpu_us_per_msg")),
        ("memory per idle socket (bytes)", r.get("bytes_per_socket")),
    ]
    print("\n| measured | value |\n|---|---|")
    for label, value in rows:
        print(f"| {label} | {_fmt(value)} |")
    if any(f"{key}_rps" in r for key, _ in ENDPOINTS):
        print("\n| endpoint (closed loop, same rounds) | req/s | p99 (ms) |\n|---|---|---|")
        for key, label in ENDPOINTS:
            if f"{key}_rps" in r:
                print(f"| {label} | {_fmt(r[f'{key}_rps'])} | {_fmt(r.get(f'{key}_p99_ms'))} |")
    if r.get("like_fast_vs_django"):
        ratio = r["like_fast_vs_django"]
        verdict = "keep likes/asgi.py" if ratio > FAST_PATH_KEEP_ABOVE else "remove likes/asgi.py"
        print(f"\nlike fast path / the same token like through Django's view: {ratio:.2f}x "
              f"(issue 16: within {FAST_PATH_KEEP_ABOVE}x, remove it): {verdict}")  # fmt: skip
    print("\n| figure | measured | goal | reached |\n|---|---|---|---|")
    for key, label, goal, test in GOALS:
        value = r.get(key)
        reached = "—" if value is None or test is None else ("yes" if test(value) else "**no**")
        print(f"| {label} | {_fmt(value)} | {goal} | {reached} |")
    print()
    from bench.cluster import print_table as print_cluster_table

    print_cluster_table(r, _fmt)


def _pair(a: Any, b: Any) -> str | None:
    return None if a is None else f"{_fmt(a)} / {_fmt(b)}"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value < 100:
        return f"{value:.2f}"
    return f"{value:,.0f}"


# The share of the celebrity's followers who read their feed within FEED_ACTIVE_DAYS in the
# second celebrity like (the others last seen long before): Mastodon's rule skips the rest.
CELEBRITY_ACTIVE_SHARE = 0.1


def _celebrity(url: str, graph: Any) -> dict[str, Any]:
    """The celebrity's like three times: every follower active with no activity record (all
    feeds written), every follower active with a record (all seen a minute ago, as in a
    deployment whose readers have read once: all feeds written), then with
    CELEBRITY_ACTIVE_SHARE of them seen recently and the others away (Mastodon's rule: only
    the active ones' feeds written). The first two differ only in what the writer finds
    when it looks up each follower's record (``feed.store``'s ``P:seen``)."""
    from bench.state import followers_of

    followers = followers_of(graph.celebrity_id)
    every = round(1 / CELEBRITY_ACTIVE_SHARE)
    active = len(followers[::every])
    # The followers' records (None: none; 0: all seen a minute ago; n: one in n), what the
    # log says, and the keys of the figures.
    shapes = [
        (None, "all followers, no records", "celebrity_all_feeds_s", "celebrity_feeds_holding"),
        (0, "all followers, seen a minute ago", "celebrity_seen_feeds_s",
         "celebrity_seen_feeds_holding"),
        (every, f"active followers only ({active})", "celebrity_active_feeds_s",
         "celebrity_active_feeds_holding"),
    ]  # fmt: skip
    results: dict[str, Any] = {"celebrity_followers": len(followers)}
    _activity_forget(followers)
    for post, (away_every, what, seconds, holding_key) in enumerate(shapes):
        if away_every is not None:
            _activity_record(followers, away_every=away_every)
        try:
            done_s, holding = _celebrity_like(url, graph, followers, graph.post_ids[post])
        finally:
            _activity_forget(followers)
        if done_s is None:
            return results
        log(f"  {what}: complete {done_s:.2f} s after the 2xx; "
            f"{holding}/{len(followers)} feeds hold it")  # fmt: skip
        results.update({seconds: done_s, holding_key: holding})
    results["celebrity_active_followers"] = active
    return results


def _activity_record(user_ids: list[int], *, away_every: int) -> None:
    """Record every user as seen a minute ago, except (``away_every`` > 0) all but one in
    ``away_every`` of them, seen 30 days ago (away)."""
    from config.redis import get_redis
    from feed import store

    now = time.time()
    pipe = get_redis().pipeline(transaction=False)
    for j, uid in enumerate(user_ids):
        away = away_every > 0 and j % away_every != 0
        pipe.set(store.seen_key(uid), int(now - (30 * 86400 if away else 60)))
        if j % 10_000 == 9_999 or j == len(user_ids) - 1:
            pipe.execute()


def _activity_forget(user_ids: list[int]) -> None:
    from config.redis import get_redis
    from feed import store

    for i in range(0, len(user_ids), 10_000):
        get_redis().unlink(*map(store.seen_key, user_ids[i : i + 10_000]))


def _celebrity_like(
    url: str, graph: Any, followers: list[int], post_id: int
) -> tuple[float | None, int]:
    """Like ``post_id`` as the celebrity (after taking any earlier like back, feeds
    emptied); seconds from the 2xx to the fan-out's completion, and how many followers'
    feeds hold the item then."""
    import httpx
    from django.db import connection

    from bench.state import forget_feeds, key_table_at_rest
    from config.redis import get_redis
    from feed import store

    headers = {"Authorization": f"Token {graph.celebrity_token}"}
    httpx.delete(f"{url}/api/posts/{post_id}/like/", headers=headers, timeout=30)
    time.sleep(1.0)
    forget_feeds(followers)
    key_table_at_rest()
    answer = httpx.post(f"{url}/api/posts/{post_id}/like/", headers=headers, timeout=30)
    liked_at = time.monotonic()
    answer.raise_for_status()
    done_s = None
    deadline = liked_at + 120
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT id, fanned_out_at IS NOT NULL FROM likes_like WHERE user_id = %s AND "
                "post_id = %s", [graph.celebrity_id, post_id],
            )  # fmt: skip
            row = cursor.fetchone()
            if row and row[1]:
                done_s = time.monotonic() - liked_at
                break
            time.sleep(0.02)
    if done_s is None:
        log("  the celebrity's fan-out did not complete within 120 s")
        return None, 0
    item = store.post_item_id(post_id=post_id)
    pipe = get_redis().pipeline(transaction=False)
    holding = 0
    for i, uid in enumerate(followers):
        pipe.zscore(store.feed_key(uid), item)
        if i % 10_000 == 9_999 or i == len(followers) - 1:
            holding += sum(1 for s in pipe.execute() if s is not None)
    forget_feeds(followers)
    return done_s, holding


def _push(
    host: str, port: int, graph: Any, sizes: dict[str, Any], *, web_pid: int
) -> dict[str, Any]:
    """The push phase on one set of sockets: the knee of Likefeed's push and of the textbook
    push (``bench.textbook``) at rising rates, then likes at a constant rate (latency, and
    the web process's CPU per item), then the bare ``websockets`` server's CPU for the same
    messages."""
    from bench.push_phase import (
        KNEE_P99_MS,
        PushSession,
        bare_ws_cpu,
        cpu_seconds,
        knee_rates,
    )
    from bench.state import fresh_posts, likes_owed, push_audience
    from bench.textbook import TEXTBOOK_PUSH_RECHECK_S, textbook_push_key
    from config.redis import get_redis

    n_sockets = sizes["push_sockets"]
    n_likers = 100 if n_sockets >= 100 else 5
    likers = range(n_sockets, n_sockets + n_likers)
    audience = push_audience(graph, sockets=n_sockets, likers=likers)
    per_liker = audience.per_liker
    log(f"bench: live push, {n_sockets} sockets, {sizes['push_likes_per_s']:.0f} likes/s, "
        f"{per_liker} follower sockets per like")  # fmt: skip
    session = PushSession(
        host, port, socket_tokens=audience.socket_tokens, liker_tokens=audience.liker_tokens,
        followers_per_liker=audience.followers_per_liker,
        post_ids=fresh_posts(graph, audience.liker_ids), log=log,
        owed=lambda: likes_owed(audience.liker_ids),
    )  # fmt: skip
    rates = knee_rates(sizes["knee_start"], factor=sizes["knee_factor"], top=sizes["knee_top"])
    key = textbook_push_key()

    async def go() -> dict[str, Any]:
        await session.open()
        log(f"  {len(session.clients)} sockets open")
        # The knees first, on a quiet pipeline (after the 500/s phase, its backlog would be
        # the first step's), each series ending on a step that failed, drained after it.
        log(
            f"bench: push knee (p99 ≤ {KNEE_P99_MS:.0f} ms, every item), Likefeed then the "
            f"textbook push (group_send per follower), {sizes['knee_step_s']:.0f} s a step"
        )
        knee = await session.knee(
            rates, sizes["knee_step_s"], label="Likefeed", drain_s=sizes["knee_drain_s"]
        )
        get_redis().set(key, 1)
        try:
            await asyncio.sleep(2 * TEXTBOOK_PUSH_RECHECK_S + 0.1)  # every worker has read it
            textbook = await session.knee(
                rates, sizes["knee_step_s"], label="textbook", drain_s=sizes["knee_drain_s"]
            )
        finally:
            get_redis().delete(key)
        rate, seconds = sizes["push_likes_per_s"], sizes["push_seconds"]
        log(f"bench: live push, liking at {rate:.0f}/s for {seconds:.0f} s")
        cpu_before = cpu_seconds(web_pid)
        fixed = await session.step(rate, seconds, drain_s=30)
        web_cpu_s = cpu_seconds(web_pid) - cpu_before
        log(f"  {fixed.received}/{fixed.expected} items, p50 {fixed.percentile(50):.1f} ms, "
            f"p99 {fixed.percentile(99):.1f} ms; web process "
            f"{web_cpu_s * 1e6 / max(1, fixed.received):.1f} µs of CPU per item")  # fmt: skip
        sample = session.sample
        session.close()
        bare_cpu_s, bare_received = await bare_ws_cpu(
            host, sockets=n_sockets, likes=max(1, fixed.received // per_liker),
            rate=fixed.likes_per_s or rate, per_like=per_liker, payload=sample, log=log,
        )  # fmt: skip
        return {
            "push_p50_ms": fixed.percentile(50),
            "push_p99_ms": fixed.percentile(99),
            "push_likes_per_s": fixed.likes_per_s,
            "push_sockets": fixed.sockets,
            "push_expected": fixed.expected,
            "push_received": fixed.received,
            "push_knee_likes_per_s": knee,
            "push_knee_textbook_likes_per_s": textbook,
            "push_knee_step_s": sizes["knee_step_s"],
            "push_knee_first_step": rates[0],
            "ws_cpu_us_per_msg": web_cpu_s * 1e6 / max(1, fixed.received),
            "bare_ws_cpu_us_per_msg": bare_cpu_s * 1e6 / max(1, bare_received),
        }

    return asyncio.run(go())


def _web_worker_pid(pid: int) -> int:
    """The process serving sockets: the web server itself, or its only worker child."""
    import psutil

    children = [c for c in psutil.Process(pid).children() if "python" in c.name()]
    return children[0].pid if len(children) == 1 else pid


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
