"""``make run`` itself (``python -m config.run``): the bare-machine path and its refusals, and
the supervision it runs its processes under (supervisord.conf, ``config.processes``)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from config.processes import TEST_WORKER_FLAGS, Supervisor, Topology
from config.run import broker_problem
from tests.conftest import ROOT, free_port, wait_until


def bare_env(var: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a machine with no DATABASE_URL/REDIS_URL/CELERY_BROKER_URL."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
    }
    return {**env, "LIKEFEED_VAR": str(var), "PORT": str(port), "REDIS_PREFIX": "lf", **extra}


def pgrep(pattern: str) -> str:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout


@pytest.fixture
def var_dir():
    # Under the project, not /tmp: the embedded PostgreSQL runs as its own system user and
    # must be able to reach its data folder.
    path = ROOT / "var" / f"test-run-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_make_run_on_a_bare_machine_serves_the_demo_and_stops_cleanly(var_dir):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run = subprocess.Popen(
        [sys.executable, "-m", "config.run"], cwd=ROOT, env=bare_env(var_dir, port),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    stdout = run.stdout
    assert stdout is not None

    def read() -> None:
        for line in stdout:
            lines.append(line)

    reader = threading.Thread(target=read)
    reader.start()
    try:

        def up_with_every_worker() -> dict | None:
            assert run.poll() is None, "".join(lines)
            try:
                health = httpx.get(f"{base}/api/health/", timeout=3).json()
            except (httpx.HTTPError, ValueError):
                return None
            return health if health["workers"] == 3 else None  # fan-out, bulk, mail

        health = wait_until(up_with_every_worker, timeout=90)
        assert health == {"database": "ok", "redis": "ok", "workers": 3}
        # Once up: the URL and the logins, below every program's start-up banner (what
        # comes later, such as a mail the demo's likes make the mail worker print, comes
        # after them); the staff login works for /admin/ and /ops/.
        wait_until(lambda: any("staff login" in line for line in lines), timeout=30)
        shown = [line.rstrip("\n") for line in lines]
        up = shown.index(f"Likefeed is up: {base}/   (API docs: {base}/api/docs/)")
        started = [
            i for i, line in enumerate(shown) if " ready." in line or "startup complete" in line
        ]
        assert len(started) >= 4 and max(started) < up, shown[: up + 3]  # 3 workers and web
        last = shown[up : up + 3]
        assert last[1] == "  demo logins: alice, bob, carol, dave (password: likefeed-demo)"
        staff = re.fullmatch(
            r"  staff login for /admin/ and /ops/: admin \(password: (\S+)\)", last[2]
        )
        assert staff, last
        admin = httpx.Client(base_url=base, timeout=10, follow_redirects=True)
        admin.get("/admin/login/")
        signed_in = admin.post(
            "/admin/login/?next=/ops/",
            data={"username": "admin", "password": staff[1], "next": "/ops/",
                  "csrfmiddlewaretoken": admin.cookies["csrftoken"]},
            headers={"Referer": f"{base}/admin/login/"},
        )  # fmt: skip
        assert signed_in.status_code == 200 and str(signed_in.url) == f"{base}/ops/"
        login = httpx.post(
            f"{base}/api/auth/login/", json={"username": "bob", "password": "likefeed-demo"}
        )
        token = {"Authorization": f"Token {login.json()['token']}"}
        liked = httpx.post(f"{base}/api/posts/1/like/", headers=token)
        assert liked.status_code == 200 and liked.json()["liked"] is True
        home = httpx.get(f"{base}/", timeout=5, follow_redirects=True)
        assert home.status_code == 200
        # No debug pages unless DEBUG=1: a 404 lists no URL patterns and a page's static
        # files are the collected, hashed ones, served by WhiteNoise.
        for path in ("/no-such-page/", "/api/no-such-call/", "/static/no-such-file.js"):
            missing = httpx.get(f"{base}{path}", timeout=5)
            assert missing.status_code == 404
            assert "URLconf" not in missing.text and "DEBUG = True" not in missing.text
            assert "urlpatterns" not in missing.text.lower()
        scripts = re.findall(r'src="(/static/[^"]+\.js)"', home.text)
        assert scripts and all(re.search(r"\.[0-9a-f]{12}\.js$", src) for src in scripts)
        assert all(httpx.get(f"{base}{src}", timeout=5).status_code == 200 for src in scripts)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        reader.join(timeout=10)
        output = "".join(lines)
    assert run.returncode == 0, output
    assert (
        "started embedded PostgreSQL 16" in output and "Likefeed is up: http://127.0.0.1" in output
    )
    assert "demo logins: alice, bob, carol, dave" in output
    assert "beat: Starting" in output  # the periodic jobs (sweeper, recount) run too
    # Every process it started is gone, embedded servers included.
    wait_until(lambda: not pgrep(str(var_dir)), timeout=20)


def test_make_run_refuses_an_unreachable_broker_at_once_in_one_sentence(var_dir):
    url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "config.run"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=bare_env(var_dir, free_port(), CELERY_BROKER_URL=url),
    )  # fmt: skip
    assert run.returncode == 2
    assert f"cannot reach the Celery broker at {url}" in run.stderr
    assert "Trying again" not in run.stdout + run.stderr
    assert time.monotonic() - started < 60  # no retry loop (a generous bound, not a benchmark)


def test_broker_check_accepts_redis_and_rabbitmq_urls():
    assert broker_problem(os.environ["REDIS_URL"]) is None
    assert broker_problem("amqp://guest:guest@127.0.0.1:5672//") is None
    assert "cannot reach" in (broker_problem("amqp://guest:guest@127.0.0.1:1//") or "")


# --- supervision: what keeps `make run`'s processes (and every test stack's) running --------


@pytest.fixture
def supervised_worker(tmp_path: Path):
    """The fan-out worker of supervisord.conf under supervisord, as ``make run`` runs it, with
    the liveness grace cut to 2 s."""
    port = free_port()
    topology = Topology(
        logdir=tmp_path, port=port, node_suffix=f"-sv{port}", worker_flags=TEST_WORKER_FLAGS,
        hung_after_s=2,
    )  # fmt: skip
    with open(tmp_path / "supervisord.out", "ab") as output:
        supervisor = Supervisor(topology, output=output)
        supervisor.start(["worker-fanout"])
        try:
            wait_until(lambda: "worker-fanout" in supervisor.running(), timeout=30)
            wait_until(lambda: "ready." in supervisor.log("worker-fanout"), timeout=60)
            yield supervisor
        finally:
            supervisor.stop()


def test_a_worker_that_dies_is_started_again(supervised_worker):
    pid = supervised_worker.pid("worker-fanout")
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: supervised_worker.running().get("worker-fanout", pid) != pid, timeout=30)
    assert supervised_worker.exits("worker-fanout") == 1


def test_a_worker_that_declared_itself_dead_but_hangs_is_killed_and_started_again(
    supervised_worker,
):
    """After kombu's broker-loss crash a worker logs Celery's "Unrecoverable error" and
    should exit; once in CI its warm shutdown hung instead. The line is written here into
    the worker's own output pipe (what supervisord reads), while the worker goes on running:
    the liveness listener kills it after its grace, and supervisord starts it again."""
    pid = supervised_worker.pid("worker-fanout")
    line = b"[CRITICAL/MainProcess] Unrecoverable error: AttributeError(\"'NoneType'...\")\n"
    with open(f"/proc/{pid}/fd/1", "wb") as worker_output:
        worker_output.write(line)
    wait_until(lambda: supervised_worker.running().get("worker-fanout", pid) != pid, timeout=30)
    said = (supervised_worker.topology.logdir / "liveness.log").read_text()
    assert f"worker-fanout (pid {pid}) hung after its unrecoverable error: killed" in said


def test_a_worker_that_exits_after_its_unrecoverable_error_is_not_killed_twice(
    supervised_worker,
):
    """The usual case: the worker exits by itself; its successor is left alone."""
    pid = supervised_worker.pid("worker-fanout")
    with open(f"/proc/{pid}/fd/1", "wb") as worker_output:
        worker_output.write(b"[CRITICAL/MainProcess] Unrecoverable error: ConnectionError()\n")
    os.killpg(pid, signal.SIGTERM)  # it exits (warm shutdown) before its grace is over
    wait_until(lambda: supervised_worker.running().get("worker-fanout", pid) != pid, timeout=30)
    successor = supervised_worker.pid("worker-fanout")
    time.sleep(supervised_worker.topology.hung_after_s + 6)  # the grace, and a TICK_5 after it
    assert supervised_worker.pid("worker-fanout") == successor
    assert "error: killed" not in (supervised_worker.topology.logdir / "liveness.log").read_text()


def test_the_banner_ends_with_the_url_and_the_logins_after_the_programs_output(tmp_path):
    """What ``make run`` prints once up: the programs' late start-up lines first (the log
    follower settles), then the banner, whose last lines are the URL and the logins."""
    from config.run import LogFollower, banner

    log = tmp_path / "worker-mail.log"
    log.write_text("")
    follower = LogFollower(tmp_path)
    log.write_text("celery@host ready.\n")
    printed: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("builtins.print", lambda text="", **_: printed.append(str(text)))
        follower.settle(quiet_s=0.2, max_s=2)
        print(
            banner(url="http://h:1", logdir=tmp_path, logins=["demo logins: a", "staff login: b"])
        )
    out = "\n".join(printed).splitlines()
    assert out[0].endswith("| celery@host ready.")
    assert out[-3:] == [
        "Likefeed is up: http://h:1/   (API docs: http://h:1/api/docs/)",
        "  demo logins: a",
        "  staff login: b",
    ]
