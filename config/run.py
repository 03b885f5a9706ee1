"""``make run``: the whole stack in one command, stopped by one Ctrl-C.

1. PostgreSQL and Redis: the URLs from the environment, or embedded ones (config.services).
2. The broker must answer: a missing broker is a configuration error, said in one sentence,
   not a worker printing ``Trying again`` forever.
3. Production-shaped unless ``DEBUG=1`` (``production_shaped``: no debug pages); migrate,
   seed the demo and a staff login for ``/admin/`` and ``/ops/`` (its password generated
   once into ``var/run/staff_password``), collect the static files. Mails link to the URL
   the stack serves (``SITE_URL``, unless the environment sets it).
4. Start the processes of ``supervisord.conf`` under supervisord (``config.processes``):
   one ASGI server (uvicorn: HTTP and WebSocket), one Celery worker per queue (fan-out,
   bulk fan-out, mail) and beat; wait until ``/api/health/`` answers and counts every
   worker. Each program's output is printed with its name in front (and kept in
   ``var/log/<program>.log``). Once the programs' start-up output has settled, the last
   lines printed are the URL and the logins, not buried above the workers' banners.
5. Supervision: a program that exits is restarted, and a worker that declared itself dead
   ("Unrecoverable error") but hangs is killed and restarted (supervisord's autorestart and
   the ``liveness`` listener). A program that dies while starting stops everything with
   its log: that is a configuration error, which restarts cannot fix.
6. Ctrl-C or SIGTERM stops every process started here, embedded servers included.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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
SECRET_FILE = VAR / "run" / "secret_key"
STAFF_PASSWORD_FILE = VAR / "run" / "staff_password"
# The lines of seed_demo's output that make run prints last, after the stack is up.
LOGIN_LINES = ("demo logins:", "staff login")
# After the stack is healthy, the banner waits for the programs' output to pause this long
# (their late start-up lines), but no longer than SETTLE_MAX_S.
SETTLE_QUIET_S = 1.0
SETTLE_MAX_S = 8.0


def kept_secret(path: Path, nbytes: int) -> str:
    """A random secret generated once into ``path`` (mode 0600) and read from it after."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def production_shaped(environ: dict[str, str] | os._Environ[str]) -> None:
    """``make run`` runs as a deployment does unless ``DEBUG=1`` asks otherwise: no Django
    debug pages (a 404 listing every URL, a 500 showing the settings), static files
    collected and served hashed by WhiteNoise. What a bare machine lacks for that is
    filled in here, never over a value the environment gives: a ``SECRET_KEY`` generated
    once and kept in ``var/run/secret_key`` (mode 0600, so sessions survive restarts),
    and mails printed by the mail worker (``consolemail://``) as there is no SMTP server
    to assume."""
    environ.setdefault("DEBUG", "false")
    environ.setdefault("EMAIL_URL", "consolemail://")
    if environ.get("SECRET_KEY", "").strip():
        return
    environ["SECRET_KEY"] = kept_secret(SECRET_FILE, 50)


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

    def print_new(self) -> int:
        """Print what the programs wrote since the last call; how many lines that was."""
        printed = 0
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
                printed += 1
        return printed

    def tick(self) -> None:
        self.print_new()

    def settle(self, quiet_s: float = SETTLE_QUIET_S, max_s: float = SETTLE_MAX_S) -> None:
        """Print the programs' output until it pauses for ``quiet_s`` (at most ``max_s``):
        the workers' late start-up lines come before the banner, not after it."""
        deadline, quiet_since = time.monotonic() + max_s, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_s:
            if self.print_new():
                quiet_since = time.monotonic()
            time.sleep(0.1)


def banner(*, url: str, logdir: Path, logins: list[str]) -> str:
    """What make run prints once the stack is up: its last lines are the URL and the logins."""
    lines = [
        "",
        f"Ctrl-C stops everything. Logs: {logdir}/",
        f"Likefeed is up: {url}/   (API docs: {url}/api/docs/)",
        *(f"  {line}" for line in logins),
    ]
    return "\n".join(lines)


def prepare() -> tuple[int, list[str]]:
    """Migrate, seed the demo and collect the static files; (exit code, the login lines)."""
    manage = [PYTHON, str(ROOT / "manage.py")]
    # The first process to load the settings: a wrong one ends make run here, with the
    # one sentence it printed (config.settings.env), not a traceback of ours after it.
    migrated = subprocess.run([*manage, "migrate", "--noinput", "-v", "0"])
    if migrated.returncode:
        return migrated.returncode, []
    seeded = subprocess.run(
        [*manage, "seed_demo", "--staff-password", kept_secret(STAFF_PASSWORD_FILE, 12)],
        check=True, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    logins = [line for line in seeded.stdout.splitlines() if line.startswith(LOGIN_LINES)]
    for line in seeded.stdout.splitlines():
        if line not in logins:
            print(line, flush=True)
    # Hashed and compressed for WhiteNoise; a no-op for what is already collected.
    subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], check=True)
    return 0, logins


def serve(
    follower: LogFollower, *, stopping: Callable[[], bool], problem: Callable[[], str | None]
) -> int:
    """Print the programs' new log lines until asked to stop (0) or until ``problem()``
    names one (1): ``make run`` and ``make cluster`` once their stack is up."""
    while not stopping():
        follower.print_new()
        found = problem()
        if found:
            print(f"likefeed: {found}; stopping.", file=sys.stderr)
            return 1
        time.sleep(0.3)
    print("likefeed: stopping…", file=sys.stderr)
    return 0


def main() -> int:
    host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
    stopping = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    production_shaped(os.environ)
    with embedded_services():
        broker = os.environ.get("CELERY_BROKER_URL") or os.environ["REDIS_URL"]
        problem = broker_problem(broker)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        code, logins = prepare()
        if code:
            return code

        logdir = VAR / "log"
        follower = LogFollower(logdir)
        topology = Topology(
            logdir=logdir, host=host, port=int(port),
            ws_ping_s=os.environ.get("WS_HEARTBEAT_S", "25"),
        )  # fmt: skip
        os.environ.setdefault("SITE_URL", topology.url)  # mails link to where it serves
        supervisor = Supervisor(topology)
        url = topology.url
        try:
            supervisor.start()  # every program of supervisord.conf
            supervisor.wait_healthy(workers=len(WORKERS), timeout=90, tick=follower.tick)
            record_stack(url)
            follower.settle()
            print(banner(url=url, logdir=logdir, logins=logins), flush=True)
            return serve(follower, stopping=lambda: stopping, problem=supervisor.problem)
        except StackFailed as failed:
            follower.print_new()
            print(f"likefeed: {failed}", file=sys.stderr)
            return 1
        finally:
            supervisor.stop()
            follower.print_new()


if __name__ == "__main__":
    sys.exit(main())
