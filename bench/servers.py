"""The bench's side servers: what the project's web server is compared with in the same run.

- ``wsgi``: the same Django (``config.wsgi``, the bench's settings) on gunicorn, one
  process with gthread workers (as many threads as the project's ``WEB_THREADS``), the
  WSGI server a Django project usually runs on: ``bare_vs_wsgi`` is the bare view on the
  project's server over the bare view here.
- ``django_like``: the project's own server (``config.asgi`` on uvicorn, the command of
  ``supervisord.conf``'s ``web``) with the like fast path off (``BENCH_LIKE_FAST_PATH``,
  ``bench.settings``): the same token like answered by Django's view, for the question the
  fast path (``likes.asgi``) has to keep answering: is it still worth its code?

Both run beside the stack's web server on the same database and Redis prefix; each sits
idle while another endpoint is measured, so the rounds keep sharing the cores alike. They
stop within two seconds (gunicorn's graceful timeout is 30 s by default: the smoke test's
wait).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from config.processes import stop
from loadtest.stack import free_port


@dataclass
class SideServers:
    wsgi_port: int
    django_like_port: int
    waits: list[tuple[int, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def ready(self, timeout: float = 60) -> SideServers:
        """Wait until each answers (they start while the stack starts: the smoke test's
        seconds)."""
        for port, proc, log in self.waits:
            _wait_ready(port, proc, log, timeout)
        return self


def _commands(wsgi_port: int, django_like_port: int, threads: int) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "wsgi": [
            py, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{wsgi_port}",
            "--workers", "1", "--worker-class", "gthread", "--threads", str(threads),
            "--backlog", "2048", "--log-level", "warning", "--graceful-timeout", "2",
        ],
        "django_like": [
            py, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
            "--port", str(django_like_port), "--no-access-log", "--no-proxy-headers",
            "--timeout-graceful-shutdown", "2",
        ],
    }  # fmt: skip


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"side server exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError):
            url = f"http://127.0.0.1:{port}/api/bench/bare/"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"side server on port {port} not ready in {timeout:.0f} s")


@contextlib.contextmanager
def side_servers(env: dict[str, str], logdir: Path, *, threads: int) -> Iterator[SideServers]:
    """Start both side servers (``ready()`` waits until each answers), stop them after."""
    ports = SideServers(wsgi_port=free_port(), django_like_port=free_port())
    logdir.mkdir(parents=True, exist_ok=True)
    envs = {"wsgi": env, "django_like": {**env, "BENCH_LIKE_FAST_PATH": "false"}}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, command in _commands(ports.wsgi_port, ports.django_like_port, threads).items():
            log = logdir / f"side-{name}.log"
            with open(log, "wb") as out:
                procs.append(subprocess.Popen(command, env=envs[name], stdout=out, stderr=out))
            port = ports.wsgi_port if name == "wsgi" else ports.django_like_port
            ports.waits.append((port, procs[-1], log))
        yield ports
    finally:
        stop(*procs, within_s=20)
