"""``make run``: the whole stack in one command, stopped by one Ctrl-C.

1. PostgreSQL and Redis: the URLs from the environment, or embedded ones (config.services).
2. The broker must answer: a missing broker is a configuration error, said in one sentence,
   not a worker printing ``Trying again`` forever.
3. Migrate and seed the demo.
4. Start the processes of ``supervisord.conf`` under supervisord (``config.processes``):
   one ASGI server (uvicorn: HTTP and WebSocket), one Celery worker per queue (fan-out,
   bulk fan-out, mail) and beat; wait until ``/api/health/`` answers and counts every
   worker, and print the URL. Each program's output is printed with its name in front
   (and kept in ``var/log/<program>.log``).
5. Supervision: a program that exits is restarted, and a worker that declared itself dead
   ("Unrecoverable error") but hangs is killed and restarted (supervisord's autorestart and
   the ``liveness`` listener). A program that dies while starting stops everything with
   its log: that is a configuration error, which restarts cannot fix.
6. Ctrl-C or SIGTERM stops every process started here, embedded servers included.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from .processes import WORKERS, StackFailed, Supervisor, Topology
from .services import ROOT, VAR, embedded_services

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


STACK_FILE = ROOT / "var" / "run" / "stack.json"


def record_stack(url: str) -> None:
    """Where this stack serves and which services it uses, for tools that attach to it
    (``make loadtest URL=...`` seeds and checks through the same database and Redis)."""
    STACK_FILE.parent.mkdir(parents=True, exist_ok=True)
    names = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    recorded = {name: os.environ[name] for name in names if os.environ.get(name)}
    recorded["REDIS_PREFIX"] = os.environ.get("REDIS_PREFIX", "lf")
    STACK_FILE.write_text(json.dumps({"url": url, **recorded}, indent=2))


class LogFollower:
    """Prints what each program writes to its log, prefixed with its name (as honcho and
    foreman do), from where the logs stood when ``make run`` started."""

    # supervisord's warnings about running as root and about a control socket without a
    # password (it is chmod 0700: only this user reaches it): true, meant, and not news.
    NOISE = ("CRIT Supervisor is running as root", "CRIT Server 'unix_http_server' running")

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.offsets: dict[Path, int] = {path: path.stat().st_size for path in self._logs()}
        self.partial: dict[Path, bytes] = {}

    def _logs(self) -> list[Path]:
        return sorted(self.logdir.glob("*.log")) if self.logdir.exists() else []

    def print_new(self) -> None:
        for path in self._logs():
            size, offset = path.stat().st_size, self.offsets.get(path, 0)
            if size < offset:  # rotated by supervisord: a new file
                offset = 0
            if size == offset:
                continue
            with open(path, "rb") as log:
                log.seek(offset)
                data = self.partial.pop(path, b"") + log.read()
                self.offsets[path] = log.tell()
            *lines, rest = data.split(b"\n")
            if rest:
                self.partial[path] = rest
            for line in lines:
                text = line.decode(errors="replace")
                if any(noise in text for noise in self.NOISE):
                    continue
                print(f"{path.stem:>13} | {text}", flush=True)


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

        logdir = VAR / "log"
        follower = LogFollower(logdir)
        supervisor = Supervisor(
            Topology(
                logdir=logdir, host=host, port=int(port),
                ws_ping_s=os.environ.get("WS_HEARTBEAT_S", "25"),
            )
        )  # fmt: skip
        url = supervisor.topology.url
        try:
            supervisor.start()  # every program of supervisord.conf
            supervisor.wait_healthy(workers=len(WORKERS), timeout=90, tick=follower.print_new)
            record_stack(url)
            print(f"\nLikefeed is up: {url}/   (API docs: {url}/api/docs/)"
                  f"\nCtrl-C stops everything. Logs: {logdir}/\n", flush=True)  # fmt: skip
            while not stopping:
                follower.print_new()
                problem = supervisor.problem()
                if problem:
                    print(f"likefeed: {problem}; stopping.", file=sys.stderr)
                    return 1
                time.sleep(0.3)
            print("likefeed: stopping…", file=sys.stderr)
            return 0
        except StackFailed as failed:
            follower.print_new()
            print(f"likefeed: {failed}", file=sys.stderr)
            return 1
        finally:
            supervisor.stop()
            follower.print_new()


if __name__ == "__main__":
    sys.exit(main())
