"""Start (and stop) a Likefeed stack for a load test or a benchmark: the processes of
``supervisord.conf`` under supervisord, as ``make run`` starts them (``config.processes``),
on a database of its own.

A load test writes a lot: it gets its own database (``likefeed_loadtest`` by default) on
the PostgreSQL of ``DATABASE_URL`` (embedded when unset), created and migrated here, and
its own Redis key prefix, so the demo database of ``make run`` is never touched.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from config.processes import PROGRAMS, WORKERS, Supervisor, Topology
from config.services import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def database_url(name: str, base: str | None = None) -> str:
    """The URL of database ``name`` on the server of ``base`` (DATABASE_URL), created if
    missing (CREATE DATABASE cannot run in a transaction: autocommit)."""
    base = base or os.environ["DATABASE_URL"]
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    supervisor: Supervisor
    logdir: Path

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 80

    @property
    def web_pids(self) -> list[int]:
        return [pid for name, pid in self.supervisor.running().items() if name.startswith("web")]


def stack_env(
    *, database: str, redis_prefix: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a stack's processes (and of this process's Django, once set)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "REDIS_PREFIX": redis_prefix,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        **(extra or {}),
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        env=env, check=True, cwd=ROOT,
    )  # fmt: skip


@contextlib.contextmanager
def running_stack(
    env: dict[str, str], logdir: Path, *, workers: bool = True, port: int | None = None
) -> Iterator[Stack]:
    """The web server and (unless ``workers`` is False) the Celery workers, healthy."""
    topology = Topology(
        logdir=logdir, port=port or free_port(), ws_ping_s=env.get("WS_HEARTBEAT_S", "25")
    )
    programs = [name for name in PROGRAMS if workers or name not in WORKERS]
    logdir.mkdir(parents=True, exist_ok=True)
    with open(logdir / "supervisord.out", "ab") as output:
        supervisor = Supervisor(topology, env, output=output)
        try:
            supervisor.start(programs)
            supervisor.wait_healthy(workers=len(WORKERS) if workers else 0, timeout=90)
            yield Stack(topology.url, env, supervisor, logdir)
        finally:
            supervisor.stop()
