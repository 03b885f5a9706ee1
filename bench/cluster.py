"""``make bench CLUSTER=1`` (``python -m bench --cluster``): what each part of ``make
cluster``'s layout delivers, beside the single-node stack of ``make bench`` in the same run
(issue 18, item 4).

Both run at once on the bench's database and graph: the single-node stack
(``loadtest.stack.running_stack``, the bench's Redis key prefix) and the layout of ``make
cluster`` (``python -m config.cluster``, started as tests/cluster does: its files under
``var/bench-cluster``, its own Redis servers and key prefix). Each phase takes turns between
them in rounds (single node, cluster, single node, ...), so a neighbour's load on this
shared machine hits both alike; within a round they run one after the other, never at once.

1. Fan-out writer, first (every process idle): ``store.feeds_add`` (the big fan-out's
   writer, as ``bench.redis_phase.fanout_write_rate`` runs it) writing one item into the
   celebrity's followers' feeds (spread over the slots by their ids) on the single Redis,
   on the Redis Cluster (one pipelined call per master per chunk, each ending with ``WAIT
   1``): entries/s, and per master its share and the entries per second of its own CPU in
   the script (``INFO commandstats``); then on the cluster chunk by chunk, every other one
   with the wait turned off (``store.WAIT_FOR_REPLICA``, in this process only): a chunk's
   time with and without ``WAIT 1``, side by side.
2. HTTP, workers stopped on both (the fan-outs each like queues are purged after): the like
   endpoint and ``GET /api/feed/`` (a reader's seeded page) in closed loop
   (``bench.httpload``) on the single node's web process, through HAProxy over the two web
   processes, and on each web process directly: req/s (median of the rounds) and p99 (all
   rounds); HAProxy's own CPU per request it forwarded.
3. Push, once the workers are back: likes at a fixed rate (50/s at full size; 500
   sockets, 50 follower sockets a like), the cluster's sockets through HAProxy: like →
   ``feed.item`` p50/p99 at the sockets and items delivered.

Every key of results.json it writes starts with ``cluster_``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import statistics
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvloop

from config import cluster
from config.processes import WORKERS, Supervisor, Topology
from config.services import ROOT, VAR
from loadtest.seed import Graph

from .httpload import LoadResult, MakeRequest, closed_loop, http_request
from .push_phase import PushFigures, PushSession, cpu_seconds

CLUSTER_VAR = VAR / "bench-cluster"  # LIKEFEED_VAR of the layout
UP_WITHIN_S = 180  # make cluster healthy (48 s on a quiet 2-core machine, more beside a stack)
# The second worker group's programs are "<worker>-2" (config.cluster's GROUP_2).
GROUP_2 = "-2"
# Full-size push drive: likes/s, sockets, follower sockets a like (at most).
PUSH_LIKES_PER_S = 50.0
PUSH_SOCKETS = 500


@dataclass
class Layout:
    """The running layout as ``var/run/cluster.json`` (under its own var folder) names it."""

    url: str
    nodes: list[dict[str, Any]]
    prefix: str
    supervisor: Supervisor  # attached to make cluster's supervisord (its control socket)

    def of(self, role: str) -> list[dict[str, Any]]:
        return [n for n in self.nodes if n["role"] == role]

    @property
    def store_urls(self) -> list[str]:
        return [n["address"] for n in self.nodes if n["role"].startswith("redis-")]

    @property
    def broker_url(self) -> str:
        return str(self.of("broker")[0]["address"]) + "/0"

    @property
    def worker_programs(self) -> list[str]:
        return [n["name"] for n in self.of("worker")]


@contextlib.contextmanager
def running_cluster(env: dict[str, str], log: Callable[[str], None]) -> Iterator[Layout]:
    """``make cluster``'s layout (``config.cluster.started``) with the bench's environment,
    its files under CLUSTER_VAR and a key prefix of its own, while the block runs."""
    prefix = f"{env.get('REDIS_PREFIX', 'lfbench')}c"
    cluster_env = {**env, "REDIS_PREFIX": prefix}
    for name in ("FEED_REDIS_CLUSTER_URLS", "CHANNEL_LAYER_URLS", "CELERY_BROKER_URL"):
        cluster_env.pop(name, None)
    log(f"bench: make cluster (its output: {CLUSTER_VAR / 'make-cluster.out'})")
    with cluster.started(cluster_env, CLUSTER_VAR, within_s=UP_WITHIN_S) as layout:
        topology = Topology(logdir=CLUSTER_VAR / "cluster" / "log")
        yield Layout(layout["url"], layout["nodes"], prefix, Supervisor(topology))


@contextlib.contextmanager
def store_on(layout: Layout | None) -> Iterator[None]:
    """This process's ``feed.store`` on the layout's Redis Cluster (its key prefix), or on
    the bench's single Redis (None): the same code, switched by its one setting."""
    from django.test import override_settings

    from config.redis import forget_clients

    overrides = (
        {"FEED_REDIS_CLUSTER_URLS": layout.store_urls, "REDIS_PREFIX": layout.prefix}
        if layout is not None
        else {}
    )
    forget_clients()
    try:
        with override_settings(**overrides):
            yield
    finally:
        forget_clients()


def wait_for_workers(url: str, count: int, timeout: float = 120) -> None:
    """Until ``/api/health/`` at ``url`` counts ``count`` workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError, ValueError),
            urllib.request.urlopen(f"{url}/api/health/", timeout=3) as answer,
        ):
            if answer.status == 200 and json.load(answer)["workers"] >= count:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url}/api/health/ did not count {count} workers in {timeout:.0f} s")


# --- 1. HTTP ---------------------------------------------------------------------------------


def run_http(
    graph: Graph, *, single: tuple[str, int], layout: Layout, reader_tokens: list[str],
    rounds: int, duration_s: float, connections: int, log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    """The like endpoint and the feed page on each target in turn, in rounds."""
    from .http_phase import Pairs

    webs = layout.of("web")
    lb = urlsplit(layout.url)
    targets: dict[str, tuple[str, int]] = {
        "single": single,
        "lb": (lb.hostname or "127.0.0.1", lb.port or 80),
        **{f"web{i}": _host_port(w["address"]) for i, w in enumerate(webs, 1)},
    }
    lb_pid = int(layout.of("lb")[0]["pid"])
    makers: dict[tuple[str, str], tuple[str, int, MakeRequest]] = {}
    for target, (host, port) in targets.items():
        authority = f"{host}:{port}"
        auth = [{"Authorization": f"Token {t}"} for t in reader_tokens]
        makers[(target, "like")] = (host, port, Pairs(graph, authority).requests(
            "/api/posts/{post}/like/"))  # fmt: skip
        makers[(target, "feed")] = (host, port, _feed_reads(authority, auth))
    runs: dict[tuple[str, str], list[LoadResult]] = {key: [] for key in makers}
    lb_cpu_s, lb_ok = 0.0, 0
    used = 0

    async def go() -> None:
        nonlocal used, lb_cpu_s, lb_ok
        for host, port, make in makers.values():  # warm-up, not counted
            used += (await closed_loop(host, port, make, connections=connections,
                                       duration_s=0.3, first=used)).sent  # fmt: skip
        for r in range(rounds):
            for (target, endpoint), (host, port, make) in makers.items():
                before = cpu_seconds(lb_pid)
                result = await closed_loop(host, port, make, connections=connections,
                                           duration_s=duration_s, first=used)  # fmt: skip
                if target == "lb":
                    lb_cpu_s += cpu_seconds(lb_pid) - before
                    lb_ok += result.ok
                used += result.sent
                runs[(target, endpoint)].append(result)
                log(f"  round {r + 1}/{rounds} {target:>6} {endpoint:>4}: {result.rps:7.0f} "
                    f"req/s (p50 {result.percentile(50):.1f} ms, p99 "
                    f"{result.percentile(99):.1f} ms, errors {result.errors})")  # fmt: skip

    uvloop.run(go())
    figures: dict[str, Any] = {}
    for (target, endpoint), results in runs.items():
        merged = LoadResult(latencies_ms=[ms for x in results for ms in x.latencies_ms])
        figures[f"cluster_http_{target}_{endpoint}_rps"] = statistics.median(x.rps for x in results)
        figures[f"cluster_http_{target}_{endpoint}_p99_ms"] = merged.percentile(99)
    figures["cluster_http_errors"] = sum(x.errors for xs in runs.values() for x in xs)
    figures["cluster_haproxy_cpu_us_per_req"] = lb_cpu_s * 1e6 / max(1, lb_ok)
    return figures


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _feed_reads(authority: str, auth: list[dict[str, str]]) -> MakeRequest:
    """``GET /api/feed/`` by each reader in turn (``bench.product``'s ``feed`` request)."""
    return lambda k: http_request("GET", "/api/feed/", host=authority, headers=auth[k % len(auth)])


# --- 2. Fan-out writer -----------------------------------------------------------------------


def run_fanout(
    followers: list[int], layout: Layout, *, rounds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """``store.feeds_add`` over ``followers``, in turns: on the single Redis, on the cluster
    (``WAIT 1``, as deployed), and on the cluster with the wait on and off chunk by chunk
    (``wait_cost``); per master its entries and its CPU in the script."""
    from django.conf import settings

    from config.redis import by_node

    from .redis_phase import fanout_write_rate
    from .state import forget_feeds

    rates: dict[str, list[float]] = {"single": [], "cluster": []}
    chunk_s: tuple[list[float], list[float]] = ([], [])  # (with WAIT, without), per chunk
    script_s: dict[str, float] = {}
    with store_on(layout):
        masters = {_node(c): (c, len(p)) for c, p in by_node(followers)}
    # Untimed, once per store: every follower's feed exists before the first timed turn (the
    # first turn on a store would otherwise create them, the others add to them).
    for store_layout in (None, layout):
        with store_on(store_layout):
            fanout_write_rate(followers)
    for r in range(rounds):
        for variant in ("single", "cluster", "wait on/off"):
            with store_on(None if variant == "single" else layout):
                # Untimed: the client's slot table, connections and scripts (a fresh client
                # per turn) are not part of the writer's rate.
                fanout_write_rate(followers[: settings.FANOUT_CHUNK_SIZE])
                if variant == "wait on/off":
                    waited, not_waited = wait_cost(followers, first_waits=r % 2 == 0)
                    chunk_s[0].extend(waited)
                    chunk_s[1].extend(not_waited)
                    log(f"  round {r + 1}/{rounds} fan-out writer, cluster, a chunk "
                        f"({settings.FANOUT_CHUNK_SIZE} followers) with WAIT 1 / without: "
                        f"{statistics.median(waited) * 1000:.2f} / "
                        f"{statistics.median(not_waited) * 1000:.2f} ms (medians)")  # fmt: skip
                    continue
                before = _script_seconds(masters) if variant == "cluster" else {}
                rates[variant].append(fanout_write_rate(followers))
                if variant == "cluster":
                    for node, spent in _script_seconds(masters).items():
                        script_s[node] = script_s.get(node, 0.0) + spent - before[node]
            log(f"  round {r + 1}/{rounds} fan-out writer, {variant:>7}: "
                f"{rates[variant][-1]:9.0f} entries/s")  # fmt: skip
    for store_layout in (None, layout):
        with store_on(store_layout):
            forget_feeds(followers)
    cluster = statistics.median(rates["cluster"])
    waited_s, not_waited_s = statistics.median(chunk_s[0]), statistics.median(chunk_s[1])
    return {
        "cluster_fanout_followers": len(followers),
        "cluster_fanout_single_entries_per_s": statistics.median(rates["single"]),
        "cluster_fanout_entries_per_s": cluster,
        "cluster_fanout_chunk_wait_ms": waited_s * 1000,
        "cluster_fanout_chunk_nowait_ms": not_waited_s * 1000,
        "cluster_fanout_wait_vs_nowait": not_waited_s / waited_s,
        # A chunk is one pipelined call per master, each ending with its WAIT.
        "cluster_wait_ms_per_call": (waited_s - not_waited_s) * 1000 / len(masters),
        "cluster_fanout_masters": [
            {
                "node": node,
                "entries": entries,
                "entries_per_s": entries * cluster / len(followers),
                "script_cpu_entries_per_s": (
                    entries * rounds / script_s[node] if script_s.get(node) else None
                ),
            }
            for node, (_, entries) in sorted(masters.items())
        ],
    }


def wait_cost(followers: list[int], *, first_waits: bool) -> tuple[list[float], list[float]]:
    """Seconds per full chunk of ``store.feeds_add`` on the cluster, every other chunk with
    ``WAIT 1`` (``store.WAIT_FOR_REPLICA``: in this process only) and the others without, so
    both see the same machine: (with, without)."""
    from django.conf import settings

    from feed import store

    chunk = settings.FANOUT_CHUNK_SIZE
    item_id = store.post_item_id(post_id=time.time_ns())
    times: tuple[list[float], list[float]] = ([], [])
    try:
        for n, i in enumerate(range(0, len(followers) - chunk + 1, chunk)):
            waits = (n % 2 == 0) == first_waits
            store.WAIT_FOR_REPLICA = waits
            started = time.perf_counter()
            store.feeds_add(item_id=item_id, score=time.time() * 1000.0,
                            followers=followers[i : i + chunk])  # fmt: skip
            times[0 if waits else 1].append(time.perf_counter() - started)
    finally:
        store.WAIT_FOR_REPLICA = True
    return times


def _node(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def _script_seconds(masters: dict[str, tuple[Any, int]]) -> dict[str, float]:
    """CPU seconds each master has spent in EVALSHA so far (``INFO commandstats``)."""
    spent = {}
    for node, (client, _) in masters.items():
        stats = client.info("commandstats").get("cmdstat_evalsha", {})
        spent[node] = float(stats.get("usec", 0)) / 1e6
    return spent


# --- 3. Push ---------------------------------------------------------------------------------


def run_push(
    graph: Graph, *, single: tuple[str, int], layout: Layout, scale: float, rounds: int,
    log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    """Likes at a fixed rate on each stack in turn, each with its own likers (so every like
    is new on both) and the same socket holders, connected to both."""
    from .state import fresh_posts, likes_owed, push_audience

    sockets = max(10, int(PUSH_SOCKETS * scale))
    rate = max(5.0, PUSH_LIKES_PER_S * scale)
    seconds = 10.0 if scale >= 0.5 else 2.0
    n_likers = 100 if sockets >= 100 else 5
    targets = {"single": single, "cluster": _host_port(layout.url)}
    sessions: dict[str, PushSession] = {}
    for i, (name, (host, port)) in enumerate(targets.items()):
        first = sockets + i * n_likers
        audience = push_audience(graph, sockets=sockets, likers=range(first, first + n_likers))
        sessions[name] = PushSession(
            host, port, socket_tokens=audience.socket_tokens,
            liker_tokens=audience.liker_tokens,
            followers_per_liker=audience.followers_per_liker,
            post_ids=fresh_posts(graph, audience.liker_ids), log=log,
            owed=functools.partial(likes_owed, audience.liker_ids),
        )  # fmt: skip
    log(f"bench: live push, {sockets} sockets on each stack, {rate:.0f} likes/s, "
        f"{min(50, sockets)} follower sockets a like, {seconds:.0f} s a step")  # fmt: skip
    steps: dict[str, list[PushFigures]] = {name: [] for name in sessions}

    async def go() -> None:
        for session in sessions.values():
            await session.open()
        for r in range(rounds):
            for name, session in sessions.items():
                step = await session.step(rate, seconds, drain_s=30)
                steps[name].append(step)
                log(f"  round {r + 1}/{rounds} push, {name:>7}: {step.received}/"
                    f"{step.expected} items, p50 {step.percentile(50):.1f} ms, p99 "
                    f"{step.percentile(99):.1f} ms")  # fmt: skip
                if step.received < step.expected:
                    await session.settle()
        for session in sessions.values():
            session.close()

    asyncio.run(go())
    figures: dict[str, Any] = {"cluster_push_sockets": sockets, "cluster_push_rate": rate}
    for name, done in steps.items():
        merged = PushFigures(
            statistics.median(s.likes_per_s for s in done), sockets,
            sum(s.expected for s in done), sum(s.received for s in done),
            [ms for s in done for ms in s.latencies_ms],
        )  # fmt: skip
        figures.update({
            f"cluster_push_{name}_p50_ms": merged.percentile(50),
            f"cluster_push_{name}_p99_ms": merged.percentile(99),
            f"cluster_push_{name}_expected": merged.expected,
            f"cluster_push_{name}_received": merged.received,
            f"cluster_push_{name}_likes_per_s": merged.likes_per_s,
        })  # fmt: skip
    return figures


# --- the phase set -----------------------------------------------------------------------------


def run_cluster(
    env: dict[str, str], graph: Graph, *, scale: float, rounds: int, duration_s: float,
    connections: int, skip: set[str], log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    """Both stacks up at once; the phases in turns between them. Returns the ``cluster_``
    figures."""
    from loadtest.stack import running_stack

    from .product import READERS, restore_product, seed_product
    from .state import followers_of, forget_likes, purge_and_settle

    started = time.monotonic()
    logdir = ROOT / "var" / "bench-logs"
    figures: dict[str, Any] = {"cluster_scale": scale}
    with running_cluster(env, log) as layout, running_stack(env, logdir, workers=True) as stack:
        log(f"bench: cluster at {layout.url} (its store's prefix {layout.prefix}), single "
            f"node at {stack.url}, {os.cpu_count()} cores for both")  # fmt: skip
        cluster_workers = layout.worker_programs
        # First, while every process is idle (the workers started again after the HTTP
        # phase take their cores for a while).
        if "redis" not in skip:
            log("bench: the fan-out's feed writer in turns: single Redis, cluster (WAIT 1), "
                "cluster without WAIT")  # fmt: skip
            figures.update(run_fanout(followers_of(graph.celebrity_id), layout, rounds=rounds,
                                      log=log))  # fmt: skip
        if "http" not in skip:
            readers = max(20, int(READERS * min(1.0, 10 * scale)))
            product = None
            try:
                for store_layout in (None, layout):  # the readers' pages in both stores
                    with store_on(store_layout):
                        product = seed_product(graph, likers=1, readers=readers)
                assert product is not None
                _pause(stack.supervisor, WORKERS)
                _pause(layout.supervisor, cluster_workers)
                log(f"bench: HTTP in turns, workers stopped on both, {connections} "
                    f"connections, {len(product.readers)} readers' pages")  # fmt: skip
                figures.update(run_http(
                    graph, single=stack.host_port, layout=layout,
                    reader_tokens=product.reader_tokens, rounds=rounds,
                    duration_s=duration_s, connections=connections, log=log,
                ))  # fmt: skip
            finally:
                if product is not None:
                    restore_product(product)
                purge_and_settle()
                purge_and_settle(layout.broker_url)
                forget_likes()
                _resume(stack.supervisor, WORKERS)
                _resume(layout.supervisor, cluster_workers)
            wait_for_workers(stack.url, len(WORKERS))
            wait_for_workers(layout.url, len(cluster_workers))
        if "push" not in skip:
            figures.update(run_push(graph, single=stack.host_port, layout=layout, scale=scale,
                                    rounds=rounds, log=log))  # fmt: skip
    figures["cluster_bench_seconds"] = round(time.monotonic() - started, 1)
    _derive(figures)
    return figures


def _pause(supervisor: Supervisor, programs: list[str] | tuple[str, ...]) -> None:
    for name in programs:
        supervisor.rpc.stopProcess(name, True)


def _resume(supervisor: Supervisor, programs: list[str] | tuple[str, ...]) -> None:
    for name in programs:
        with contextlib.suppress(Exception):  # already running (a pause that failed half-way)
            supervisor.rpc.startProcess(name, False)


def _derive(r: dict[str, Any]) -> None:
    """Ratios: the load balancer over one web process and over the single node (likes)."""
    like = {t: r.get(f"cluster_http_{t}_like_rps") for t in ("single", "lb", "web1", "web2")}
    if like["lb"] and like["web1"] and like["single"]:
        r["cluster_lb_vs_web_like"] = like["lb"] / like["web1"]
        r["cluster_lb_vs_single_like"] = like["lb"] / like["single"]


# (key, label) of the table ``print_table`` prints after the others.
TABLE: list[tuple[str, str]] = [
    ("cluster_http_single_like_rps", "like, single node's web process (req/s)"),
    ("cluster_http_lb_like_rps", "like, HAProxy over 2 web processes (req/s)"),
    ("cluster_http_web1_like_rps", "like, web process 1 directly (req/s)"),
    ("cluster_http_web2_like_rps", "like, web process 2 directly (req/s)"),
    ("cluster_http_single_feed_rps", "GET /api/feed/, single node (req/s)"),
    ("cluster_http_lb_feed_rps", "GET /api/feed/, HAProxy over 2 (req/s)"),
    ("cluster_http_web1_feed_rps", "GET /api/feed/, web process 1 directly (req/s)"),
    ("cluster_lb_vs_web_like", "likes: HAProxy over 2 / web process 1 directly"),
    ("cluster_lb_vs_single_like", "likes: HAProxy over 2 / the single node"),
    ("cluster_haproxy_cpu_us_per_req", "HAProxy CPU per request forwarded (µs)"),
    ("cluster_fanout_single_entries_per_s", "fan-out writer, single Redis (entries/s)"),
    ("cluster_fanout_entries_per_s", "fan-out writer, Redis Cluster, WAIT 1 (entries/s)"),
    ("cluster_fanout_chunk_wait_ms", "a chunk on the cluster, WAIT 1 (ms, median)"),
    ("cluster_fanout_chunk_nowait_ms", "the same, chunks in between, no WAIT (ms, median)"),
    ("cluster_fanout_wait_vs_nowait", "WAIT 1: writer's rate with / without"),
    ("cluster_wait_ms_per_call", "WAIT 1: cost per pipelined call to a master (ms)"),
    ("cluster_push_single_p50_ms", "push p50, single node (ms)"),
    ("cluster_push_single_p99_ms", "push p99, single node (ms)"),
    ("cluster_push_cluster_p50_ms", "push p50, cluster through HAProxy (ms)"),
    ("cluster_push_cluster_p99_ms", "push p99, cluster through HAProxy (ms)"),
]


def print_table(r: dict[str, Any], fmt: Callable[[Any], str]) -> None:
    if not any(key.startswith("cluster_") for key in r):
        return
    print(f"\n| make cluster beside the single node, in turns (scale {fmt(r.get('cluster_scale'))})"
          " | value |\n|---|---|")  # fmt: skip
    for key, label in TABLE:
        print(f"| {label} | {fmt(r.get(key))} |")
    for name in ("single", "cluster"):
        if f"cluster_push_{name}_expected" in r:
            print(f"| push items delivered / expected, {name} | "
                  f"{fmt(r[f'cluster_push_{name}_received'])} / "
                  f"{fmt(r[f'cluster_push_{name}_expected'])} |")  # fmt: skip
    for master in r.get("cluster_fanout_masters", []):
        print(f"| master {master['node']}: entries, entries/s of the run, entries/s of its "
              f"script CPU | {fmt(master['entries'])}, {fmt(master['entries_per_s'])}, "
              f"{fmt(master['script_cpu_entries_per_s'])} |")  # fmt: skip
    print()


def previous(path: Path) -> dict[str, Any]:
    """results.json's figures but the cluster's (kept when only the cluster runs)."""
    if not path.exists():
        return {}
    kept = json.loads(path.read_text())
    return {k: v for k, v in kept.items() if not k.startswith("cluster_")}
