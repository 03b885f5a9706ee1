"""Lesson 6: the missing broker is a configuration error, not a retry loop.

Three real runs against a broker URL where nothing listens (a free port on 127.0.0.1),
each one's output captured line by line with the time it appeared:

1. **a stock Celery worker** (``celery -b <url> worker``, Celery's defaults, no project):
   the article's ``Cannot connect to redis://…: Error 111 … Trying again in 2.00 seconds…
   (1/100)``, again and again. How long it would go on is computed from the installed code:
   ``broker_connection_max_retries`` retries, waiting ``interval_start``, then
   ``interval_step`` more each time up to ``interval_max`` (kombu's
   ``Connection._ensure_connection``).
2. **Likefeed's worker started by hand** (``celery -A config worker``): the project sets
   ``broker_connection_retry_on_startup = False``, so it says CRITICAL once and exits.
3. **Likefeed's launcher** (``make run``, ``python -m config.run``): asks the broker before
   starting anything (``config.run.broker_problem``) and says in one sentence what is
   missing and how to start it.

And the sending side, what the like path would meet: the time ``.delay()`` takes to give
up on a dead broker (``task_publish_retry_policy``) and the exception it raises.
"""

from __future__ import annotations

import inspect
import os
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
from typing import Any

import matplotlib.pyplot as plt
from kombu import Connection

from .lab import PYTHON, ROOT, Lab, Outcome


def _dead_broker_url() -> str:
    with socket.socket() as s:  # a port nothing listens on: bound, then released
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def capture(cmd: list[str], *, env: dict[str, str], cwd: str, seconds: float) -> dict[str, Any]:
    """Run ``cmd`` for at most ``seconds``: its output lines, each with when it appeared."""
    began = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic() - began, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code: int | None = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        code = None  # still trying when we stopped watching
        proc.terminate()
        proc.wait(timeout=30)
    reader.join(timeout=5)
    return {
        "cmd": cmd,
        "lines": lines,
        "exit_code": code,
        "ended_s": round(time.monotonic() - began, 2) if code is not None else None,
    }


def stock_worker_gives_up_after_s(max_retries: int) -> float:
    """How long a stock worker retries before giving up, from kombu's own defaults."""
    defaults = inspect.signature(Connection._ensure_connection).parameters
    start = defaults["interval_start"].default
    step = defaults["interval_step"].default
    cap = defaults["interval_max"].default
    return float(sum(min(start + step * k, cap) for k in range(max_retries)))


def run(lab: Lab) -> Outcome:
    watch = lab.size(9.0, 2.5)
    dead = _dead_broker_url()
    base = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL",)}
    lab.say(f"  nothing listens at {dead}; watching each program for up to {watch:.0f}s …")

    with tempfile.TemporaryDirectory() as empty:
        # Stock Celery: no project, no Django (the Django fix-up keys on DJANGO_SETTINGS_MODULE),
        # no CELERY_* variables (Celery reads some of them before any configuration).
        stock_env = {
            k: v
            for k, v in base.items()
            if k != "DJANGO_SETTINGS_MODULE" and not k.startswith("CELERY_")
        }
        stock = capture(
            [PYTHON, "-m", "celery", "-b", dead, "worker", "-l", "info"],
            env=stock_env,
            cwd=empty,
            seconds=watch,
        )
    project = capture(
        [PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "info", "-Q", lab.queue("none")],
        env={**base, "CELERY_BROKER_URL": dead, "LOG_LEVEL": "INFO"},
        cwd=str(ROOT),
        seconds=60,
    )
    launcher = capture(
        [PYTHON, "-m", "config.run"],
        env={**base, "CELERY_BROKER_URL": dead},
        cwd=str(ROOT),
        seconds=60,
    )

    # The sending side: a web process whose broker is gone.
    app = lab.app(dead)
    began = time.monotonic()
    try:
        app.tasks["lessons.tasks.noop"].delay(1)
        send_error = "none: the send succeeded"
    except Exception as exc:  # what the like view would meet
        send_error = f"{type(exc).__module__}.{type(exc).__name__}"
    send_gave_up_s = time.monotonic() - began

    max_retries = app.conf.broker_connection_max_retries
    gives_up = stock_worker_gives_up_after_s(max_retries)
    retries = [text for _, text in stock["lines"] if "Trying again" in text]
    cannot = next((_short(t) for _, t in stock["lines"] if "Cannot connect" in t), "(nothing)")
    critical = next((t for _, t in project["lines"] if "CRITICAL" in t), "(no CRITICAL line)")
    said = next((t for _, t in launcher["lines"] if t.startswith("likefeed:")), "(nothing)")
    return Outcome(
        keys={
            "stock_worker_retry_lines": len(retries),
            "stock_worker_gives_up_after_s": gives_up,
            "project_worker_exit_s": project["ended_s"],
            "launcher_exit_s": launcher["ended_s"],
            "delay_dead_broker_gives_up_s": round(send_gave_up_s, 2),
        },
        rows=[
            (
                f"stock worker, first {watch:.0f}s",
                f"{len(retries)} x 'Trying again', still running; gives up after "
                f"{max_retries} retries ≈ {gives_up / 60:.0f} min",
            ),
            ("stock worker says", cannot),
            ("", retries[0] if retries else "(nothing yet)"),
            (
                "Likefeed's worker by hand",
                f"exit {project['exit_code']} after {project['ended_s']} s, saying:",
            ),
            ("", _short(critical)),
            (
                "make run (config.run)",
                f"exit {launcher['exit_code']} after {launcher['ended_s']} s, one sentence:",
            ),
            ("", said),
            (".delay() with the broker gone", f"{send_error} after {send_gave_up_s:.1f} s"),
        ],
        detail={
            "broker_url": dead,
            "watched_s": watch,
            "stock": stock,
            "project": project,
            "launcher": launcher,
            "send_error": send_error,
            "send_gave_up_s": send_gave_up_s,
            "max_retries": max_retries,
        },
    )


def _short(line: str) -> str:
    """A log line without its timestamp and logger name: ``… ERROR/MainProcess] consumer: X``
    and ``… CRITICAL celery.worker.consumer.consumer: X`` give X."""
    for marker in ("] ", "CRITICAL "):
        if marker in line:
            line = line.split(marker, 1)[1]
    return line.split(": ", 1)[-1]


def plot(outcome: Outcome, path: str) -> None:
    d = outcome.detail
    runs = [
        ("stock Celery worker", d["stock"], "tab:red"),
        ("Likefeed worker, by hand", d["project"], "tab:orange"),
        ("make run (launcher)", d["launcher"], "tab:green"),
    ]
    right = max([d["watched_s"]] + [r["ended_s"] or 0 for _, r, _ in runs]) * 1.3
    fig, ax = plt.subplots(figsize=(10, 3.8))
    for y, (_, run, color) in enumerate(runs):
        end = run["ended_s"] if run["ended_s"] is not None else d["watched_s"]
        ax.plot([0, end], [y, y], color=color, linewidth=6, alpha=0.35)
        for t, text in run["lines"]:
            if "Trying again" in text or "CRITICAL" in text:
                ax.plot(t, y, "x", color=color, markersize=9)
        marker = "still retrying →" if run["ended_s"] is None else f"exits ({end:.1f} s)"
        ax.annotate(marker, (end, y), textcoords="offset points", xytext=(6, -3), fontsize=8)
    said = next((t for _, t in d["launcher"]["lines"] if t.startswith("likefeed:")), "")
    for i, part in enumerate(textwrap.wrap(said, 120)):
        ax.text(
            0.01,
            0.96 - i * 0.07,
            part,
            transform=ax.transAxes,
            fontsize=7,
            va="top",
            color="tab:green",
        )
    ax.set_yticks(range(len(runs)), [label for label, _, _ in runs])
    ax.set_ylim(-0.6, 3.2)
    ax.set_xlim(0, right)
    ax.set_xlabel("seconds after start (x: a 'Cannot connect … Trying again' or CRITICAL line)")
    gives_up = outcome.keys["stock_worker_gives_up_after_s"] / 60
    ax.set_title(
        f"Lesson 6: started with no broker; a stock worker would retry {d['max_retries']} "
        f"times (≈{gives_up:.0f} min) before giving up",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
