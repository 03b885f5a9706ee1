"""Faults on ``make cluster``'s layout, on its real processes (issue 18, item 3): during a
like drive through the load balancer,

1. a Redis Cluster master is SIGKILLed (its pid from ``cluster.json``): its replica is
   promoted;
2. one web process is SIGKILLed: its sockets open again through the load balancer;
3. every worker of group 2 is SIGKILLed (and kept down): group 1 carries on;
4. a channel-layer shard is SIGKILLed (and started again, empty, by supervisord).

Each runs the chaos harness' drive and audit (``tests.chaos.harness``: nothing accepted is
lost, no feed entry is missing or doubled once quiet, every count equals its rows) and adds
its row to the chaos table, with two columns of its own: every follower keeps a socket open
through the load balancer for the whole run (``LiveWatch``), which must have received every
event of their log once, in seq order (after a ``resume`` where a message was lost). One
layout serves every scenario (tests/cluster/conftest.py); each scenario likes posts of its
own. ``make chaos CLUSTER=1`` runs them at full size.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import redis
from channels_redis.utils import _consistent_hash
from django.test import override_settings
from redis.cluster import ClusterNode, RedisCluster

from config.cluster import GROUP_2
from config.processes import Supervisor, Topology
from feed import live, store
from tests.chaos.conftest import Scale
from tests.chaos.harness import (
    Audit,
    ConsistencyClock,
    LiveWatch,
    Load,
    World,
    api_world,
    audit_run,
    pg_drift,
    pg_rows,
    wait_sent,
)
from tests.conftest import wait_until

pytestmark = [pytest.mark.stack, pytest.mark.timeout(1800)]

SCENARIOS = 4  # each likes posts of its own: a quarter of the world's


@pytest.fixture(scope="module")
def world(cluster: dict[str, Any], scale: Scale) -> World:
    posts = SCENARIOS * scale.cluster_posts
    return api_world(cluster["url"], scale.cluster_likers, posts, seed=18, fans=scale.cluster_fans)


@pytest.fixture(scope="module")
def supervisor(cluster: dict[str, Any]) -> Supervisor:
    """The layout's supervisord, reached over its control socket (``config.cluster``)."""
    return Supervisor(Topology(logdir=Path(cluster["var"]) / "cluster" / "log"))


def store_client(cluster: dict[str, Any]) -> redis.Redis:
    """A client of the layout's Redis Cluster (typed as ``Redis``, as ``config.redis``'s)."""
    masters = [urlsplit(n["address"]) for n in cluster["nodes"] if n["role"] == "redis-master"]
    nodes = [ClusterNode(str(a.hostname), int(a.port or 0)) for a in masters]
    return cast(redis.Redis, RedisCluster(startup_nodes=nodes, decode_responses=True))


def _node(cluster: dict[str, Any], name: str) -> dict[str, Any]:
    return next(n for n in cluster["nodes"] if n["name"] == name)


def _port(node: dict[str, Any]) -> int:
    return int(urlsplit(node["address"]).port or 0)


def _role(port: int) -> str:
    with contextlib.suppress(redis.RedisError):
        return str(redis.Redis(port=port, socket_timeout=2).info("replication")["role"])
    return "down"


def _killpg(pid: int) -> None:
    """SIGKILL a program of the layout with the processes it started (a worker's pool)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def drive(
    name: str,
    index: int,
    cluster: dict[str, Any],
    world: World,
    scale: Scale,
    fault: Callable[[], str],
    repeat_cut: bool = False,
) -> Iterator[Audit]:
    """A like drive of this scenario's posts through the load balancer, every follower's
    socket open; ``fault`` at 30% of it (returns what it did, for the table's notes). Yields
    the audit, then (the caller having put the layout back) stops the sockets."""
    per = scale.cluster_posts
    posts = sorted({p for _, p in world.pairs})[index * per : (index + 1) * per]
    mine = set(posts)
    pairs = [pair for pair in world.pairs if pair[1] in mine]
    ws_url = cluster["url"].replace("http://", "ws://") + "/ws/"
    watches = {fan: LiveWatch(ws_url, token) for fan, token in world.fan_tokens.items()}
    for watch in watches.values():
        watch.start()
    clock = ConsistencyClock(cluster["database"], timeout=scale.settle_s)
    try:
        load = Load(cluster["url"], world.tokens, pairs, rate=scale.cluster_rate,
                    repeat_cut=repeat_cut)  # fmt: skip
        load.start()
        wait_sent(load, 0.3)
        did = fault()
        clock.mark()
        answers = load.join()
        r = store_client(cluster)
        audit = audit_run(
            Audit(name), answers=answers, rows=lambda: pg_rows(cluster["database"]),
            followers_of=world.followers_of, r=r, drift=lambda: pg_drift(cluster["database"]),
            settle_timeout=scale.settle_s, prefix=cluster["prefix"],
        )  # fmt: skip
        audit.consistent_s = clock.join()
        with override_settings(REDIS_PREFIX=cluster["prefix"]):
            for fan, watch in watches.items():
                seq = int(r.get(store.seq_key(fan)) or 0)
                watch.catch_up(seq, timeout=scale.settle_s)
                held = set(cast(list[str], r.zrange(store.feed_key(fan), 0, -1)))
                missed, doubled = watch.faults(held)
                audit.socket_missed += missed + len(watch.gaps)
                audit.socket_doubled += doubled
        reconnects = sum(w.reconnects for w in watches.values())
        resumed = sum(w.resumes_asked for w in watches.values())
        audit.notes = (
            f"{len(pairs)} likes at {scale.cluster_rate:.0f}/s, each to {len(watches)} feeds "
            f"with a socket open through the load balancer; {did}; sockets opened again: "
            f"{reconnects}, resumes asked for a message lost in transit: {resumed}"
        )
        if repeat_cut:
            audit.notes += (
                f"; like answers cut off mid-answer by the killed process, sent once more by "
                f"the client: {len(load.cut)} {sorted(set(load.cut))[:2]}"
            )
        yield audit
    finally:
        for watch in watches.values():
            watch.stop()


def test_a_redis_cluster_master_killed_mid_run(
    cluster: dict[str, Any], world: World, scale: Scale, supervisor: Supervisor,
    record: list[Audit],
) -> None:  # fmt: skip
    """The master of a follower's slot SIGKILLed: its replica is promoted (after the 2 s
    node timeout), the fan-out's calls to that node are asked again once it is, and the
    killed node, started again, rejoins as the new master's replica."""
    fan = next(iter(world.fan_tokens))
    rc = cast(RedisCluster, store_client(cluster))
    with override_settings(REDIS_PREFIX=cluster["prefix"]):
        port = int(rc.get_node_from_key(store.feed_key(fan)).port)
    node = next(n for n in cluster["nodes"] if _port(n) == port)
    assert node["role"] == "redis-master" and _role(port) == "master", node
    replica = next(
        _port(n) for n in cluster["nodes"]
        if n["role"] == "redis-replica"
        and redis.Redis(port=_port(n)).info("replication")["master_port"] == port
    )  # fmt: skip
    promoted_s: list[float] = []

    def kill_master() -> str:
        os.kill(node["pid"], signal.SIGKILL)
        killed = time.monotonic()
        wait_until(lambda: _role(replica) == "master", timeout=60, interval=0.1)
        promoted_s.append(time.monotonic() - killed)
        return (
            f"master {node['name']} (pid {node['pid']}) SIGKILLed at 30% of the run, its "
            f"replica redis-{replica} promoted {promoted_s[0]:.1f} s later"
        )

    for audit in drive("cluster: master killed", 0, cluster, world, scale, kill_master):
        # Started again (as an operator would), the old master follows the new one.
        supervisor.rpc.startProcess(node["name"], True)
        wait_until(
            lambda: redis.Redis(port=port).info("replication").get("master_link_status") == "up",
            timeout=60,
        )
        record.append(audit)
    assert promoted_s, "the replica was never promoted"
    assert not audit.failures(), audit


def test_one_web_process_killed_mid_run(
    cluster: dict[str, Any], world: World, scale: Scale, supervisor: Supervisor,
    record: list[Audit],
) -> None:  # fmt: skip
    """A web process SIGKILLed: the load balancer sends likes to the other (and a like
    that reached the killed one before it answered again there: ``config.cluster``'s
    ``replayable``), sockets that were on it open again there and resume; supervisord
    starts the killed one again. A like whose answer the killed process had begun (its
    headers sent, not its body: seen once in 3,000 at full size) cannot be answered by
    anyone else: the client sends it once more (a like is idempotent), and the notes count
    those."""
    node = _node(cluster, "web")
    pid = supervisor.pid("web")  # as in cluster.json, unless an earlier scenario restarted it

    def kill_web() -> str:
        _killpg(pid)
        return f"web process {node['name']} (pid {pid}) SIGKILLed at 30% of the run"

    for audit in drive("cluster: web killed", 1, cluster, world, scale, kill_web, repeat_cut=True):
        wait_until(lambda: supervisor.running().get("web", pid) != pid, timeout=60)
        record.append(audit)
    assert not audit.failures(), audit


def test_one_worker_group_killed_mid_run(
    cluster: dict[str, Any], world: World, scale: Scale, supervisor: Supervisor,
    record: list[Audit],
) -> None:  # fmt: skip
    """Every worker of group 2 SIGKILLed with its pool, and kept down for the rest of the
    run: group 1 carries on, and what the killed workers held is queued again by the
    sweeper (here after 5 s owed)."""
    workers = [n["name"] for n in cluster["nodes"] if n["role"] == "worker"]
    group = [name for name in workers if name.endswith(GROUP_2)]
    assert group, cluster["nodes"]

    def kill_group() -> str:
        pids = {name: supervisor.pid(name) for name in group}
        for pid in pids.values():
            _killpg(pid)
        for name in group:  # a machine gone: nothing restarts them during the run
            with contextlib.suppress(Exception):
                supervisor.rpc.stopProcess(name, False)
        return f"worker group 2 ({', '.join(group)}) SIGKILLed at 30% of the run and kept down"

    for audit in drive("cluster: worker group killed", 2, cluster, world, scale, kill_group):
        for name in group:
            with contextlib.suppress(Exception):
                supervisor.rpc.startProcess(name, False)
        record.append(audit)
    assert not audit.failures(), audit


def test_a_channel_layer_shard_restarted_mid_run(
    cluster: dict[str, Any], world: World, scale: Scale, supervisor: Supervisor,
    record: list[Audit],
) -> None:  # fmt: skip
    """The channel-layer Redis that carries the feed items' channel (channels-redis' own
    sharding picks it) SIGKILLed: supervisord starts it again, empty; the web processes'
    layer subscribes again, and the sockets get what was published meanwhile from their log
    (the next item's seq shows the gap, or a ``resume``)."""
    layers = [n for n in cluster["nodes"] if n["role"] == "layer"]
    channel = f"{cluster['prefix']}:ws{live.FEED_ITEMS_CHANNEL}"  # CHANNEL_LAYER_PREFIX
    node = layers[_consistent_hash(channel, len(layers))]
    pid = supervisor.pid(node["name"])

    def restart_shard() -> str:
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: supervisor.running().get(node["name"], pid) != pid, timeout=60)
        return (
            f"channel-layer shard {node['name']} (the feed items' channel; pid {pid}) "
            "SIGKILLed at 30% of the run and started again by supervisord"
        )

    for audit in drive("cluster: layer shard restarted", 3, cluster, world, scale, restart_shard):
        record.append(audit)
    assert not audit.failures(), audit
