"""``make cluster`` at small size: the layout of issue 18 (HAProxy over two web processes, a
Redis Cluster of three masters with a replica each, the channel layer on two Redis hosts,
a broker of its own, two worker groups, beat) started as ``make cluster`` starts it
(``python -m config.cluster``), and the API's main flows run through its load balancer."""

from __future__ import annotations

import collections
import os
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from tests.conftest import wait_until
from tests.ws import receive_until, ws_connect

pytestmark = pytest.mark.stack

# Every node of the layout, by role.
ROLES = {"lb": 1, "web": 2, "redis-master": 3, "redis-replica": 3, "layer": 2, "broker": 1,
         "worker": 6, "beat": 1, "postgres": 1}  # fmt: skip


def _by_role(layout: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    roles: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for node in layout["nodes"]:
        roles[node["role"]].append(node)
    return roles


def test_cluster_json_names_every_node_with_a_live_pid(cluster):
    roles = _by_role(cluster)
    assert {role: len(nodes) for role, nodes in roles.items()} == ROLES
    for node in cluster["nodes"]:
        assert set(node) == {"role", "name", "address", "pid"}
        if node["role"] != "postgres" or node["pid"] is not None:
            os.kill(node["pid"], 0)  # a process of that pid exists
    # Every worker of both groups answers the health check's ping (0.5 s each time: on a
    # busy machine a ping can miss one, so ask until all six answer, within a bound).
    workers = f"{cluster['url']}/api/health/"
    wait_until(lambda: httpx.get(workers, timeout=10).json()["workers"] == 6, timeout=60)
    # Each replica follows a master of the layout, and the masters share every slot.
    masters = {n["address"] for n in roles["redis-master"]}
    for replica in roles["redis-replica"]:
        info = redis.Redis.from_url(replica["address"]).info("replication")
        assert f"redis://{info['master_host']}:{info['master_port']}" in masters
    for master in roles["redis-master"]:
        info = redis.Redis.from_url(master["address"]).cluster("info")
        assert info["cluster_state"] == "ok" and int(info["cluster_slots_ok"]) == 16384
        assert int(info["cluster_size"]) == 3  # three masters serve the slots between them


def _register(url: str) -> dict[str, Any]:
    username = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": username, "password": "pw-for-the-cluster-1"}
    answer = httpx.post(f"{url}/api/auth/register/", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def _client(url: str, user: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Token {user['token']}"},
                        timeout=10)  # fmt: skip


def test_the_api_and_live_push_work_through_the_load_balancer(cluster):
    url = cluster["url"]
    author, liker, fan = (_register(url) for _ in range(3))
    with _client(url, author) as a, _client(url, liker) as li, _client(url, fan) as f:
        assert f.put(f"/api/users/{author['username']}/follow/").status_code in (200, 201, 204)
        assert f.put(f"/api/users/{liker['username']}/follow/").status_code in (200, 201, 204)
        ws_url = url.replace("http://", "ws://") + "/ws/"
        with ws_connect(ws_url, token=fan["token"]) as ws:  # upgraded through HAProxy
            ws.send('{"type": "resume", "after": 0}')
            post = a.post("/api/posts/", json={"body": "through the balancer"}).json()
            item, _ = receive_until(ws, lambda m: m["type"] == "feed.item", timeout=30)
            assert item["item"]["id"] == f"p:{post['id']}"
            assert li.post(f"/api/posts/{post['id']}/like/").status_code in (200, 201)

            def liked_once() -> bool:
                items = f.get("/api/feed/", params={"limit": 100}).json()["items"]
                ids = [i["id"] for i in items]
                return ids.count(f"p:{post['id']}") == 1 and items[0]["likers_count"] == 1

            wait_until(liked_once, timeout=30)
    # The fan's feed is on the Redis Cluster, in the slot of its user's hash tag.
    roles = _by_role(cluster)
    addresses = [urlsplit(n["address"]) for n in roles["redis-master"]]
    nodes = [ClusterNode(str(a.hostname), int(a.port or 0)) for a in addresses]
    rc = RedisCluster(startup_nodes=nodes)
    key = f"{cluster['prefix']}:feed:{{u:{fan['id']}}}"
    assert rc.zscore(key, f"p:{post['id']}") is not None


def test_presence_and_the_bulk_writer_run_on_the_cluster(cluster, settings):
    """``feed.store`` in this process, switched to the layout's Redis Cluster by its one
    setting: handshakes (one EVAL of two keys in one slot each), the renewal (a pipeline of
    EVALs over every master) and the bulk writer (a GET per follower, each master its part)
    reporting the followers online, in their order."""
    import asyncio

    from config import redis as config_redis
    from feed import store

    settings.FEED_REDIS_CLUSTER_URLS = [n["address"] for n in _by_role(cluster)["redis-master"]]
    settings.REDIS_PREFIX = f"{cluster['prefix']}-store"
    settings.PRESENCE_TTL_S, settings.FEED_ACTIVE_DAYS = 600, 14
    config_redis.forget_clients()  # they were made for the suite's own Redis
    try:
        base = 900_000_000 + uuid.uuid4().int % 100_000_000
        users = [base + i for i in range(40)]
        online = users[:20]
        assert len(config_redis.by_node(users)) == 3  # spread over the three masters

        async def sockets_open() -> list[tuple[float | None, int]]:
            handshakes = [await store.go_online(user_id=u) for u in online[:10]]
            await store.still_online(user_ids=online)  # the other ten: renewed only
            return handshakes

        assert asyncio.run(sockets_open()) == [(None, 0)] * 10
        assert store.online_among(users) == set(online)
        assert store.feeds_add(item_id="p:1", score=1.0, followers=users) == (40, online)
    finally:
        config_redis.forget_clients()
