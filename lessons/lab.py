"""The lab: what every lesson needs to run an experiment on real processes, and to leave
nothing behind.

- **Its own places.** A PostgreSQL database ``<name>_lessons_<run>`` next to the one in
  ``DATABASE_URL`` (created, migrated, dropped at the end), Redis DB ``LESSONS_REDIS_DB``
  (default 14) of the server in ``REDIS_URL`` for broker, result backend, feeds and the
  trace, queues named ``lessons.<run>.*`` and keys ``lessons:<run>:*``. The application's
  database, queues and keys are never touched; at the end the run deletes what it made
  (queues and exchanges on RabbitMQ too).
- **Real workers.** ``workers(...)`` starts ``celery -A lessons.worker worker`` processes
  with the settings under test and waits until each logs ``ready.``; their logs are kept
  under ``var/lessons/logs/``.
- **A trace.** ``send(...)`` notes when each task was sent; the workers note when it started
  and ended (``lessons.worker``); ``timeline(...)`` joins the three.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import redis
from celery import Celery, Task

ROOT = Path(__file__).resolve().parent.parent
LOGDIR = ROOT / "var" / "lessons" / "logs"
PYTHON = sys.executable


@dataclass
class Outcome:
    """What a lesson found: flat ``keys`` for results.json (numbers, or None when skipped),
    ``rows`` for the printed table, and ``detail`` for the plot and the JSON."""

    keys: dict[str, Any]
    rows: list[tuple[str, str]]
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerSpec:
    """One ``celery worker`` process: the queues it consumes and the settings under test."""

    name: str
    queues: tuple[str, ...]
    concurrency: int = 1
    prefetch_multiplier: int = 4  # Celery's default (and Likefeed's)
    acks_late: bool = False


@dataclass(frozen=True)
class Timeline:
    """Per task: when it was sent, started and ended (epoch seconds)."""

    sent: dict[str, float]
    started: dict[str, float]
    ended: dict[str, float]

    def waits_ms(self, ids: Iterable[str]) -> list[float]:
        """Send-to-start time of each task: how long it waited for a worker."""
        return [(self.started[i] - self.sent[i]) * 1000 for i in ids]

    def span_s(self, ids: Iterable[str]) -> float:
        """From the first send to the last end: the wall-clock time these tasks took."""
        ids = list(ids)
        return max(self.ended[i] for i in ids) - min(self.sent[i] for i in ids)


def percentile(values: Iterable[float], p: float) -> float:
    return float(np.percentile(np.asarray(list(values), dtype=float), p))


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=path))


def lessons_redis_url(redis_url: str) -> str:
    """The lessons' Redis: DB ``LESSONS_REDIS_DB`` (default 14) of the server of REDIS_URL."""
    return _with_path(redis_url, f"/{os.environ.get('LESSONS_REDIS_DB', '14')}")


def maintenance_url(database_url: str) -> str:
    """The server's ``postgres`` database, where CREATE and DROP DATABASE run."""
    return _with_path(database_url, "/postgres")


class Lab:
    def __init__(self, *, quick: bool) -> None:
        self.quick = quick
        self.run = uuid.uuid4().hex[:6]
        self.t0 = time.monotonic()
        self.database_name = (
            f"{urlsplit(os.environ['DATABASE_URL']).path.lstrip('/')}_lessons_{self.run}"
        )
        self.maintenance_url = maintenance_url(os.environ["DATABASE_URL"])
        self.database_url = _with_path(os.environ["DATABASE_URL"], f"/{self.database_name}")
        self.redis_url = lessons_redis_url(os.environ["REDIS_URL"])
        self.rabbitmq_url = os.environ.get(
            "LESSONS_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//"
        )
        self.redis = redis.Redis.from_url(self.redis_url)
        self.sent: dict[str, float] = {}
        self.queues_used: dict[str, set[str]] = {}  # broker URL -> queue names
        self.apps: list[Celery] = []

    # --- sizes, names, progress ----------------------------------------------------------

    def size(self, full: Any, quick: Any) -> Any:
        """The default size of an experiment, or its ``make lessons QUICK=1`` size."""
        return quick if self.quick else full

    def queue(self, name: str) -> str:
        return f"lessons.{self.run}.{name}"

    def key(self, name: str) -> str:
        return f"lessons:{self.run}:{name}"

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {message}", flush=True)

    # --- the run: its database and environment, and the clean-up -------------------------

    @classmethod
    @contextlib.contextmanager
    def open(cls, *, quick: bool) -> Iterator[Lab]:
        """Create the lessons' database, point this process at the lessons' places, set up
        Django, migrate; on the way out delete every queue, key and the database."""
        lab = cls(quick=quick)
        lab._database("CREATE")
        try:
            os.environ.update(lab.environment(), LOG_LEVEL="WARNING")
            # Celery reads CELERY_BROKER_URL from the environment before any configuration
            # (celery/app/utils.py, Settings.broker_url): here each app names its broker.
            os.environ.pop("CELERY_BROKER_URL", None)
            # The fan-out as shipped: no test-sized chunks (tests/environment.py sets them).
            for name in ("FANOUT_CHUNK_SIZE", "FANOUT_BULK_THRESHOLD", "FANOUT_BULK_CHUNK"):
                os.environ.pop(name, None)
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
            import django

            django.setup()
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
            import feed.tasks  # noqa: F401  (the tasks every lab app knows)
            import lessons.tasks  # noqa: F401
            import likes.tasks  # noqa: F401

            yield lab
        finally:
            lab.cleanup()

    def environment(self) -> dict[str, str]:
        """The environment of this process and of every experiment worker."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,  # feeds and live events (under REDIS_PREFIX)
            "REDIS_PREFIX": self.key("lf"),
            "CELERY_RESULT_BACKEND": self.redis_url,
            "LESSONS_TRACE_URL": self.redis_url,
            "LESSONS_TRACE_KEY": self.key("trace"),
            "DB_POOL_MAX": "4",
        }

    def _database(self, verb: str) -> None:
        import psycopg

        extra = " WITH (FORCE)" if verb == "DROP" else ""
        with psycopg.connect(self.maintenance_url, autocommit=True) as conn:
            conn.execute(f'{verb} DATABASE "{self.database_name}"{extra}')

    def cleanup(self) -> None:
        for app in self.apps:
            app.close()
        for broker_url, queues in self.queues_used.items():
            if broker_url.startswith("amqp"):
                self._delete_rabbitmq_queues(broker_url, queues)
        with contextlib.suppress(redis.RedisError):
            # Results by name (one per task sent that stored one), the rest by pattern.
            results = [f"celery-task-meta-{task_id}" for task_id in self.sent]
            for start in range(0, len(results), 1000):
                self.redis.delete(*results[start : start + 1000])
            for pattern in (self.key("*"), self.queue("*"), f"_kombu.binding*.{self.queue('*')}"):
                keys = list(self.redis.scan_iter(match=pattern, count=1000))
                if keys:
                    self.redis.delete(*keys)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
            for conn in connections.all():
                pool = getattr(conn, "pool", None)
                if pool is not None:
                    pool.close()
        self._database("DROP")

    @staticmethod
    def _delete_rabbitmq_queues(broker_url: str, queues: set[str]) -> None:
        from kombu import Connection

        with contextlib.suppress(Exception), Connection(broker_url) as conn:
            channel = conn.channel()
            for name in queues:
                channel.queue_delete(name)
                channel.exchange_delete(name)

    # --- Celery: the sending side and the workers ----------------------------------------

    def app(self, broker_url: str | None = None, **conf: Any) -> Celery:
        """A Celery app configured exactly like the project's (``config.celery``, from
        Django's settings), sending to ``broker_url``, with ``conf`` overrides. A task with
        no queue of its own goes to the lessons' queue ``default``, never to ``fanout``."""
        app = Celery("likefeed", set_as_current=False)
        app.config_from_object("django.conf:settings", namespace="CELERY")
        app.conf.update(
            {
                "broker_url": broker_url or self.redis_url,
                "task_default_queue": self.queue("default"),
                **conf,
            }
        )
        self.apps.append(app)
        self._note_queue(app.conf.broker_url, app.conf.task_default_queue)
        return app

    def _note_queue(self, broker_url: str, *queues: str) -> None:
        self.queues_used.setdefault(broker_url, set()).update(queues)

    def send(self, task: Task, args: tuple[Any, ...] = (), **options: Any) -> str:
        """Send ``task`` with ``apply_async`` and note the time; returns the task id."""
        task_id = str(uuid.uuid4())
        self.sent[task_id] = time.time()
        task.apply_async(args, task_id=task_id, **options)
        return task_id

    def timeline(self, ids: Iterable[str], *, timeout: float = 120.0) -> Timeline:
        """Wait until every task in ``ids`` has ended in a worker, then give its times."""
        ids = list(ids)
        deadline = time.monotonic() + timeout
        while True:
            traced = self._traced(ids)
            if len(traced) == len(ids):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{len(ids) - len(traced)} of {len(ids)} tasks did not end within "
                    f"{timeout:.0f}s (worker logs: {LOGDIR})"
                )
            time.sleep(0.05)
        return Timeline(
            sent={i: self.sent[i] for i in ids},
            started={i: start for i, (start, _) in traced.items()},
            ended={i: end for i, (_, end) in traced.items()},
        )

    def _traced(self, ids: list[str]) -> dict[str, tuple[float, float]]:
        """(start, end) of the tasks in ``ids`` that have ended (see ``lessons.worker``)."""
        values = self.redis.hmget(self.key("trace"), ids) if ids else []
        return {
            i: (float(v.split()[0]), float(v.split()[1]))
            for i, v in zip(ids, values, strict=True)
            if v is not None
        }

    @contextlib.contextmanager
    def workers(self, *specs: WorkerSpec, broker_url: str | None = None) -> Iterator[None]:
        """Start one ``celery worker`` process per spec, wait until each is ready, stop
        them all on the way out."""
        LOGDIR.mkdir(parents=True, exist_ok=True)
        broker_url = broker_url or self.redis_url
        # -l info and LOG_LEVEL=INFO: a worker logs its tasks, its queues and "ready."
        env = {
            **os.environ,
            **self.environment(),
            "CELERY_BROKER_URL": broker_url,
            "LESSONS_SPILL_QUEUE": self.queue("spill"),
            "LOG_LEVEL": "INFO",
        }
        procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        try:
            self._note_queue(broker_url, self.queue("spill"))
            for spec in specs:
                self._note_queue(broker_url, *spec.queues)
                log = LOGDIR / f"{spec.name}.log"
                cmd = [
                    PYTHON, "-m", "celery", "-A", "lessons.worker", "worker", "-l", "info",
                    "-n", f"{spec.name}-{self.run}@%h", "-Q", ",".join(spec.queues),
                    "-c", str(spec.concurrency),
                    "--prefetch-multiplier", str(spec.prefetch_multiplier),
                    "--without-heartbeat", "--without-gossip", "--without-mingle",
                ]  # fmt: skip
                worker_env = {**env, "LESSONS_ACKS_LATE": "1" if spec.acks_late else "0"}
                with log.open("wb") as out:
                    proc = subprocess.Popen(
                        cmd, cwd=ROOT, env=worker_env, stdout=out, stderr=subprocess.STDOUT
                    )
                procs[spec.name] = (proc, log)
            for name, (proc, log) in procs.items():
                _wait_ready(name, proc, log)
            yield
        finally:
            # Cold shutdown (SIGQUIT): by now every task sent has ended (timeline() waited
            # for it), so there is nothing to finish, and a warm one takes seconds.
            for proc, _ in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGQUIT)
            for proc, _ in procs.values():
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _wait_ready(name: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while b" ready." not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"worker {name} did not become ready:\n{tail}")
        time.sleep(0.05)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import celery
    import kombu

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "system": platform.platform(terse=True),
        "python": platform.python_version(),
        "celery": celery.__version__,
        "kombu": kombu.__version__,
    }
