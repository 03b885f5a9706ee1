"""Shared fixtures: real PostgreSQL and Redis (URLs from the environment, which
``make test`` provides, embedded where unset), and a live stack of real processes.

``live_server_url`` starts, once per session, the ASGI server (uvicorn, HTTP + WebSocket)
and a Celery worker per queue against the test database (the mail worker sending to a real
SMTP server of the suite's, ``smtp_sink``); tests that use it create their data through
the API (or with ``transactional_db``), as a person or a script would.
No test skips for want of a service: a missing one fails the suite.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from config.processes import TEST_WORKER_FLAGS, WORKERS, Supervisor, Topology
from tests.environment import cluster_mode
from tests.smtp import SmtpSink

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw-Likefeed-123"
# The live stack is make cluster's layout (LIKEFEED_TEST_LAYOUT=cluster: tests/environment.py).
CLUSTER = cluster_mode(os.environ)


def pytest_configure(config: pytest.Config) -> None:
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            raise pytest.UsageError(
                f"{name} is not set: run the suite with `make test` (it starts embedded "
                "PostgreSQL/Redis when the URLs are unset)"
            )


# Tests that start whole stacks or servers of their own (beside the session's live stack):
# under pytest-xdist (make test) they run one after another on one worker, while the other
# worker runs the rest, so no more than one of them shares the machine's two cores and
# PostgreSQL's connections with the live stacks at a time. Every other test file is a group
# of its own (its module fixtures start once), as --dist loadfile would make it.
OWN_STACKS = ("tests/chaos/", "tests/cluster/", "tests/lessons/", "tests/loadtest/",
              "tests/test_make_run.py")  # fmt: skip


# Tests left out on the cluster layout (``single_node`` marker): node id -> the reason.
_left_out: dict[str, str] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CLUSTER:
        items[:] = _without_single_node(config, items)
    grouping = bool(getattr(config.option, "loadgroup", False))  # an xdist worker's, loadgroup
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = "own-stacks" if path.startswith(OWN_STACKS) else path
        item.add_marker(pytest.mark.xdist_group(group))
        if grouping and "@" not in item.nodeid:
            _group_suffix(item, group)


def _without_single_node(config: pytest.Config, items: list[pytest.Item]) -> list[pytest.Item]:
    """On the cluster layout, deselect the tests marked ``single_node(reason)``: they depend
    on the single-node stack by construction (README, "Tests"); the summary names them."""
    kept, left_out = [], []
    for item in items:
        marker = item.get_closest_marker("single_node")
        if marker is None:
            kept.append(item)
            continue
        if not marker.args or not str(marker.args[0]).strip():
            raise pytest.UsageError(f"{item.nodeid}: single_node needs its reason")
        _left_out[item.nodeid] = str(marker.args[0])
        left_out.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
    return kept


def _group_suffix(item: pytest.Item, group: str) -> None:
    """What pytest-xdist's worker does with an ``xdist_group`` marker under ``--dist
    loadgroup``: the group becomes the node id's suffix (``...::test@group``), which the
    scheduler reads. xdist 3.8 sets ``item._nodeid``, which pytest 9 no longer reads (a node
    id is ``item._id`` now), so no test had a group: every test of an own-stack file went to
    either worker on its own (tests/cluster's layout came up on both at once, on one
    database). Done here as xdist would; fails loudly if pytest moves it again."""
    from _pytest.nodeid import coerce_node_id

    assert hasattr(item, "_id"), "pytest no longer keeps a node id in item._id"
    item._id = coerce_node_id(f"{item.nodeid}@{group}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy and return it; fail with what it last gave.

    Not a timing assertion: the timeout only bounds how long a test waits for an outcome
    that must happen (a fan-out landing); on a slow machine it is simply reached later.
    """
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


def _database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


class Stack:
    """A stack of real processes (``supervisord.conf``, under supervisord) for the tests."""

    def __init__(self, supervisor: Supervisor, url: str | None = None) -> None:
        self.supervisor = supervisor
        self.url = url or supervisor.topology.url  # the cluster's: its load balancer
        self.logdir = supervisor.topology.logdir

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/"

    def alive(self) -> None:
        """Every program still the process that started: supervisord restarts one that
        died, and in a test a restart is a crash to report, with the dead one's log."""
        problem = self.supervisor.problem()
        if problem:
            raise AssertionError(problem)
        running = self.supervisor.running()
        for name, pid in self.supervisor.started.items():
            if running.get(name) != pid:
                log = self.supervisor.log(name, 3000)
                raise AssertionError(f"{name} died (pid {pid}; restarted by supervisord):\n{log}")

    def stop(self) -> None:
        self.supervisor.stop()


# The tests' stack: web and a worker per queue (a test of periodic jobs starts its own beat).
TEST_PROGRAMS = ("web", *WORKERS)


def start_stack(database_name: str, tmp: Path, extra_env: dict[str, str] | None = None) -> Stack:
    """The processes of ``supervisord.conf`` on the test database, with the tests' own
    variables: a free port, node names of their own, WebSocket pings every second, and
    workers that skip heartbeats, gossip and mingle."""
    port = free_port()
    topology = Topology(
        logdir=tmp, port=port, ws_ping_s="1", node_suffix=f"-{port}",
        worker_flags=TEST_WORKER_FLAGS,
    )  # fmt: skip
    env = _stack_env(database_name, topology.url, extra_env)
    output = open(tmp / "supervisord.out", "wb")  # noqa: SIM115 - lives with supervisord
    supervisor = Supervisor(topology, env, output=output)
    try:
        supervisor.start(TEST_PROGRAMS)
        supervisor.wait_healthy(workers=len(WORKERS), timeout=60)
    except BaseException:
        supervisor.stop()
        raise
    return Stack(supervisor)


def start_cluster_stack(
    database_name: str, tmp: Path, extra_env: dict[str, str] | None = None
) -> Stack:
    """``make cluster``'s layout (config.cluster: load balancer, two web processes, Redis
    Cluster, two channel-layer hosts, broker, two worker groups, beat) on the test database,
    on the ports tests/environment.py picked, with the variables ``start_stack`` gives; not
    migrated (pytest-django did) nor seeded (no demo users in the tests' database)."""
    from config.cluster import (
        Layout,
        cluster_topology,
        start_application,
        start_servers,
        write_files,
    )  # fmt: skip

    layout = Layout.from_environment(os.environ)
    topology = cluster_topology(
        layout, tmp, ws_ping_s="1", node_suffix=f"-{layout.lb}", worker_flags=TEST_WORKER_FLAGS
    )
    write_files(layout, topology)
    env = _stack_env(database_name, layout.url, extra_env)
    output = open(tmp / "supervisord.out", "wb")  # noqa: SIM115 - lives with supervisord
    supervisor = Supervisor(topology, env, output=output)
    try:
        start_servers(layout, supervisor)
        start_application(supervisor)
    except BaseException:
        supervisor.stop()
        raise
    return Stack(supervisor, url=layout.url)


def _stack_env(database_name: str, url: str, extra_env: dict[str, str] | None) -> dict[str, str]:
    """The stack's environment: the suite's, on the test database, with ``extra_env``; mails
    link to where the stack serves (``url``), as make run's do (config/run.py)."""
    env = {**os.environ, "DATABASE_URL": _database_url(database_name), **(extra_env or {})}
    env["SITE_URL"] = (extra_env or {}).get("SITE_URL", url)
    return env


def purge_queues() -> None:
    """Drop the tasks a previous run left in any of the project's queues (the default one
    only, with ``control.purge()``), such as a mail due about a post id that the new test
    database hands out again. The broker's database or vhost is the suite's own."""
    from django.conf import settings

    from config.celery import app

    routed = [route["queue"] for route in settings.CELERY_TASK_ROUTES.values()]
    with app.connection_for_write() as connection:
        for queue in {settings.CELERY_TASK_DEFAULT_QUEUE, *routed}:
            channel = connection.channel()
            try:
                channel.queue_purge(queue)
            except connection.channel_errors:
                pass  # never declared on this broker: nothing to drop (AMQP says 404)
            finally:
                channel.close()


def forget_redis_keys() -> None:
    """Delete this suite's keys (and only those: REDIS_PREFIX) left by an earlier run, whose
    database ids the new test database hands out again."""
    from django.conf import settings

    from config.redis import get_redis

    r = get_redis()
    for batch in _batched(r.scan_iter(match=f"{settings.REDIS_PREFIX}:*", count=1000), 1000):
        r.delete(*batch)


def _batched(items: Any, n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """The SMTP server the live stack's mail worker sends to (see tests/smtp.py)."""
    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session", autouse=True)
def flush_retried_after_a_deadlock() -> Iterator[None]:
    """A test's database flush (one TRUNCATE of every table) that PostgreSQL chose as a
    deadlock's victim runs again. Work a test set going can outlive it in the live stack's
    workers (a like queued from an in-process test is fanned out by them, and its
    notifications written, while the flush takes its locks): the flush waits for the
    worker's transaction, the worker's next statement waits for the flush, and PostgreSQL
    rolls one back. The worker's task is retried by Celery; the flush is retried here."""
    from django.test import TransactionTestCase

    original = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]

    def teardown(self: TransactionTestCase) -> None:
        for attempt in range(5):
            try:
                original(self)
                return
            except Exception as exc:
                causes: list[str] = []  # flush's CommandError names no cause; its chain does
                cause: BaseException | None = exc
                while cause is not None:
                    causes.append(str(cause))
                    cause = cause.__cause__ or cause.__context__
                if not any("deadlock detected" in c for c in causes) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    TransactionTestCase._fixture_teardown = teardown  # type: ignore[attr-defined]
    yield
    TransactionTestCase._fixture_teardown = original  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def live_stack(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
    smtp_sink: SmtpSink,
) -> Iterator[Stack]:
    from django.conf import settings

    if not CLUSTER:  # the cluster's servers start empty with the layout
        with django_db_blocker.unblock():
            purge_queues()  # our own broker DB: drop tasks a previous run left behind
        forget_redis_keys()
    start = start_cluster_stack if CLUSTER else start_stack
    stack = start(
        settings.DATABASES["default"]["NAME"],
        tmp_path_factory.mktemp("stack"),
        # The mail worker sends through a real SMTP server; held mails must not time out.
        {"EMAIL_URL": smtp_sink.url, "EMAIL_TIMEOUT": "300"},
    )
    yield stack
    stack.stop()


@pytest.fixture(scope="session", autouse=CLUSTER)
def cluster_layout_first(request: pytest.FixtureRequest) -> None:
    """On the cluster layout, the layout starts before the first test: the test process's own
    settings use its Redis servers and broker (tests/environment.py), which a test without
    the live stack reaches too (a like through the ASGI app in process queues its fan-out)."""
    request.getfixturevalue("live_stack")


@pytest.fixture
def live_server_url(live_stack: Stack, transactional_db: None) -> Iterator[str]:
    live_stack.alive()
    yield live_stack.url
    stack_transactions_ended()


def stack_transactions_ended(timeout: float = 5.0) -> None:
    """Before the test's database is flushed (a TRUNCATE of every table): wait until no
    process of the live stack is inside a transaction on it. Work a test set going goes on
    after its last assertion (a like's notifications are written after the liker was told
    the fan-out completed), and a TRUNCATE taking its locks table by table while a worker's
    transaction holds one and wants another is a deadlock, in which PostgreSQL may pick the
    flush as its victim. Bounded: a stack still busy after ``timeout`` is flushed anyway."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
                "AND backend_type = 'client backend'"
            )
            (busy,) = cursor.fetchone()
        quiet = quiet + 1 if busy == 0 else 0
        if quiet < 2:
            time.sleep(0.02)


@pytest.fixture
def make_user(live_server_url: str) -> Callable[..., dict[str, Any]]:
    """Register a user through the API: {"id", "username", "password", "token"}."""

    def make(username: str | None = None, password: str = PASSWORD) -> dict[str, Any]:
        username = username or f"u{uuid.uuid4().hex[:10]}"
        answer = httpx.post(
            f"{live_server_url}/api/auth/register/",
            json={"username": username, "password": password},
        )
        assert answer.status_code == 201, answer.text
        return {**answer.json(), "password": password}

    return make


@pytest.fixture
def api(live_server_url: str) -> Iterator[Callable[[dict[str, Any] | None], httpx.Client]]:
    """``api(user)``: an HTTP client authenticated by the user's token (anonymous for None)."""
    clients: list[httpx.Client] = []

    def client(user: dict[str, Any] | None = None) -> httpx.Client:
        headers = {"Authorization": f"Token {user['token']}"} if user else {}
        c = httpx.Client(base_url=live_server_url, headers=headers, timeout=10)
        clients.append(c)
        return c

    yield client
    for c in clients:
        c.close()


# --- the chaos table (tests/chaos/), printed whichever process ran the scenarios ------------

_chaos_audits: list[dict[str, Any]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Gather the chaos rows from the reports (a scenario's teardown report carries them)."""
    if report.when == "teardown":
        for name, value in report.user_properties:
            if name == "chaos_audit" and isinstance(value, dict):
                _chaos_audits.append(value)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _left_out:
        terminalreporter.write_sep("=", f"left out on the cluster layout: {len(_left_out)}")
        for nodeid, reason in _left_out.items():
            terminalreporter.write_line(f"{nodeid}: {reason}")
    if _chaos_audits:
        from tests.chaos.harness import Audit, table

        scale = os.environ.get("CHAOS_SCALE", "small")
        must_be_zero = "other/none, lost, fan-out owed, items, events, drift"
        terminalreporter.write_sep("=", f"chaos ({scale}); must be 0: {must_be_zero}")
        terminalreporter.write_line(table([Audit(**audit) for audit in _chaos_audits]))
