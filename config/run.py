"""``make run``: the whole stack in one command, stopped by one Ctrl-C.

1. PostgreSQL and Redis: the URLs from the environment, or embedded ones (config.services).
2. The broker must answer: a missing broker is a configuration error, said in one sentence,
   not a worker printing ``Trying again`` forever.
3. Migrate and seed the demo.
4. Start one ASGI server (uvicorn: HTTP and WebSocket), one Celery worker per queue
   (fan-out, bulk fan-out, mail) and beat,
   wait until ``/api/health/`` answers, and print the URL.
5. Ctrl-C or SIGTERM stops every process started here; if one of them dies, the rest stop
   too, so a half-running stack never pretends to be up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType

from .services import ROOT, embedded_services

PYTHON = sys.executable


def broker_problem(url: str) -> str | None:
    """None when the broker at ``url`` answers; otherwise the sentence to print."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=3)
    except Exception as exc:
        return (
            f"likefeed: cannot reach the Celery broker at {url} ({type(exc).__name__}); "
            "start it (Redis: `redis-server`; RabbitMQ: `rabbitmq-server -detached`) or unset "
            "CELERY_BROKER_URL to use Redis from REDIS_URL."
        )
    return None


def processes(host: str, port: str) -> dict[str, list[str]]:
    celery = [PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "info"]
    return {
        "web": [
            PYTHON, "-m", "uvicorn", "config.asgi:application", "--host", host, "--port", port,
            "--ws-ping-interval", os.environ.get("WS_HEARTBEAT_S", "25"), "--no-access-log",
        ],
        "worker-fanout": [*celery, "-Q", "fanout", "-n", "fanout@%h", "-c", "2"],
        "beat": [PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "info"],
        "worker-bulk": [
            # Two processes: one reads followers from PostgreSQL while the other's Lua call
            # runs in Redis (a million-follower like: make bench, README).
            *celery, "-Q", "fanout_bulk", "-n", "bulk@%h", "-c", "2", "--prefetch-multiplier", "1",
        ],
        # Mail waits on an SMTP server: its own worker, so fan-outs never queue behind it.
        "worker-mail": [
            *celery, "-Q", "mail", "-n", "mail@%h", "-c", "1", "--prefetch-multiplier", "1",
        ],
    }  # fmt: skip


def wait_healthy(
    url: str, children: dict[str, subprocess.Popen[bytes]], workers: int, timeout: float
) -> None:
    """Until ``url`` (``/api/health/``) answers 200 and counts every worker started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, child in children.items():
            if child.poll() is not None:
                raise SystemExit(f"likefeed: {name} exited with code {child.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                if answer.status == 200 and json.load(answer)["workers"] >= workers:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"likefeed: {url} did not report {workers} workers within {timeout:.0f}s")


STACK_FILE = ROOT / "var" / "run" / "stack.json"


def record_stack(url: str) -> None:
    """Where this stack serves and which services it uses, for tools that attach to it
    (``make loadtest URL=...`` seeds and checks through the same database and Redis)."""
    STACK_FILE.parent.mkdir(parents=True, exist_ok=True)
    names = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    recorded = {name: os.environ[name] for name in names if os.environ.get(name)}
    recorded["REDIS_PREFIX"] = os.environ.get("REDIS_PREFIX", "lf")
    STACK_FILE.write_text(json.dumps({"url": url, **recorded}, indent=2))


def stop(children: dict[str, subprocess.Popen[bytes]]) -> None:
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()


def main() -> int:
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    with embedded_services():
        broker = os.environ.get("CELERY_BROKER_URL") or os.environ["REDIS_URL"]
        problem = broker_problem(broker)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        manage = [PYTHON, str(ROOT / "manage.py")]
        # The first process to load the settings: a wrong one ends make run here, with the
        # one sentence it printed (config.settings.env), not a traceback of ours after it.
        migrated = subprocess.run([*manage, "migrate", "--noinput", "-v", "0"])
        if migrated.returncode:
            return migrated.returncode
        subprocess.run([*manage, "seed_demo"], check=True)

        children = {
            name: subprocess.Popen(cmd, cwd=ROOT) for name, cmd in processes(host, port).items()
        }
        try:
            workers = sum(name.startswith("worker") for name in children)
            wait_healthy(f"http://{host}:{port}/api/health/", children, workers, timeout=90)
            record_stack(f"http://{host}:{port}")
            print(f"\nLikefeed is up: http://{host}:{port}/   (API docs: http://{host}:{port}/api/docs/)"
                  "\nCtrl-C stops everything.\n", flush=True)  # fmt: skip
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        print(f"likefeed: {name} exited with code {child.returncode}; stopping.",
                              file=sys.stderr)  # fmt: skip
                        return 1
                time.sleep(0.3)
            print("likefeed: stopping…", file=sys.stderr)
            return 0
        finally:
            stop(children)


if __name__ == "__main__":
    sys.exit(main())
