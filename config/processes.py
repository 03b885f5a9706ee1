"""The process topology: ``supervisord.conf`` (the one declaration) run under supervisord.

Every launcher starts the stack through ``Supervisor``: ``make run`` (``config.run``), the
tests' live stack (``tests/conftest.py``), the chaos stacks (``tests/chaos/harness.py``) and
``make loadtest`` / ``make bench`` (``loadtest/stack.py``). What differs between them is
only the variables of ``Topology`` (port, node names, worker flags, log folder) and which
programs they start; the commands, concurrency and prefetch are read from the file.

Supervision is supervisord's: a program that exits is started again (``autorestart``). A
worker that logs Celery's "Unrecoverable error" (after kombu's broker-loss crash) and then
hangs in its warm shutdown instead of exiting (seen in CI) is killed by ``liveness``, an
event listener that reads the workers' output as supervisord captures it, and autorestart
brings it back: what a liveness probe (``celery inspect ping``) does in a container.

``python -m config.processes liveness`` is that listener (supervisord starts it).
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import xmlrpc.client
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "supervisord.conf"

# What the tests add to every worker: no heartbeats, gossip or mingle between the many
# short-lived workers of a test run (each stack's node names are its own anyway).
TEST_WORKER_FLAGS = "--without-heartbeat --without-gossip --without-mingle"
UNRECOVERABLE = b"Unrecoverable error"  # what Celery logs when its consumer crashed for good
HUNG_AFTER_S = 10.0  # still running this long after UNRECOVERABLE: killed (liveness)
_SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to 107 bytes


@dataclass(frozen=True)
class Topology:
    """The variables of ``supervisord.conf`` for one stack."""

    logdir: Path
    host: str = "127.0.0.1"
    port: int = 8000
    ws_ping_s: str = "25"
    node_suffix: str = ""
    worker_flags: str = ""
    python: str = sys.executable
    hung_after_s: float = HUNG_AFTER_S
    # The file supervisord runs: supervisord.conf, or one that includes it and adds programs
    # (``make cluster``: config.cluster writes one with a second web, a second worker group,
    # the Redis nodes and the load balancer).
    conf: Path = CONF
    # Where the stack answers /api/health/ (a load balancer in front of ``url``); None: url.
    health_url: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def socket(self) -> Path:
        """supervisord's control socket: in the log folder where its path is short enough."""
        path = self.logdir / "supervisor.sock"
        if len(str(path)) <= _SOCKET_PATH_MAX:
            return path
        return Path(tempfile.gettempdir()) / f"likefeed-{zlib.crc32(bytes(path)):08x}.sock"

    def variables(self) -> dict[str, str]:
        return {
            "LIKEFEED_PYTHON": self.python,
            "LIKEFEED_HOST": self.host,
            "LIKEFEED_PORT": str(self.port),
            "LIKEFEED_WS_PING_S": self.ws_ping_s,
            "LIKEFEED_NODE_SUFFIX": self.node_suffix,
            "LIKEFEED_WORKER_FLAGS": self.worker_flags,
            "LIKEFEED_LOG_DIR": str(self.logdir),
            "LIKEFEED_SOCKET": str(self.socket),
            "LIKEFEED_HUNG_AFTER_S": str(self.hung_after_s),
        }


def declared() -> dict[str, str]:
    """Each program's raw ``command=`` line, in the order of the file."""
    parser = configparser.RawConfigParser()
    parser.read(CONF)
    return {
        section.removeprefix("program:"): parser.get(section, "command")
        for section in parser.sections()
        if section.startswith("program:")
    }


def commands(variables: dict[str, str]) -> dict[str, list[str]]:
    """Each program's command as supervisord runs it with these variables (its expansion is
    Python's ``%`` with ``ENV_``-prefixed names; ``%%`` is a literal ``%``)."""
    expansions = {f"ENV_{name}": value for name, value in variables.items()}
    expansions["here"] = str(ROOT)
    return {name: shlex.split(raw % expansions) for name, raw in declared().items()}


WORKERS = tuple(name for name in declared() if name.startswith("worker"))
PROGRAMS = tuple(declared())


def stop(*procs: subprocess.Popen[Any], within_s: float) -> None:
    """SIGTERM each process, then give each up to ``within_s`` to exit, and SIGKILL (and
    reap) one still running: a program that lets its SIGTERM go (Flower once:
    tests/ops/test_flower.py) does not outlive what started it. All are asked first, so
    they stop side by side."""
    for proc in procs:
        proc.terminate()  # nothing, for one that has exited
    for proc in procs:
        try:
            proc.wait(timeout=within_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class StackFailed(RuntimeError):
    """A program of the stack died while it was starting, or supervisord itself did."""


class Supervisor:
    """One supervisord running ``supervisord.conf`` with a topology's variables, driven over
    its control socket (the XML-RPC interface ``supervisorctl`` uses)."""

    def __init__(
        self, topology: Topology, env: dict[str, str] | None = None, output: IO[Any] | None = None
    ) -> None:
        self.topology = topology
        self.env = {**(os.environ if env is None else env), **topology.variables()}
        self.output = output  # supervisord's own stderr (configuration errors); None: inherited
        self.proc: subprocess.Popen[bytes] | None = None
        self.started: dict[str, int] = {}  # program -> pid once the stack was up

    # --- control ------------------------------------------------------------------------------

    @property
    def rpc(self) -> Any:
        """A fresh proxy per use (xmlrpc proxies are not thread-safe; these are cheap)."""
        from supervisor.xmlrpc import SupervisorTransport

        transport = SupervisorTransport("", "", f"unix://{self.topology.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport).supervisor

    def start(self, programs: Iterable[str] = PROGRAMS, timeout: float = 30) -> None:
        """Start supervisord, then the given programs (without waiting for them)."""
        self.topology.logdir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.topology.socket.unlink()  # left by a supervisord that was killed
        self.proc = subprocess.Popen(
            [self.topology.python, "-m", "supervisor.supervisord", "-c", str(self.topology.conf)],
            cwd=ROOT, env=self.env, stdout=self.output, stderr=self.output,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise StackFailed(f"supervisord exited with code {self.proc.returncode}")
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                if self.rpc.getState()["statename"] == "RUNNING":
                    break
            if time.monotonic() > deadline:
                raise StackFailed(f"supervisord did not answer on {self.topology.socket}")
            time.sleep(0.05)
        for name in programs:
            self.rpc.startProcess(name, False)

    def info(self, name: str) -> dict[str, Any]:
        info: dict[str, Any] = self.rpc.getProcessInfo(name)
        return info

    def pid(self, name: str) -> int:
        return int(self.info(name)["pid"])

    def running(self) -> dict[str, int]:
        """Programs running now, with their pids."""
        return {
            p["name"]: p["pid"]
            for p in self.rpc.getAllProcessInfo()
            if p["statename"] == "RUNNING" and p["group"] != "liveness"
        }

    def exits(self, name: str) -> int:
        """How many times ``name`` has exited (supervisord logs every exit)."""
        log = self.topology.logdir / "supervisord.log"
        if not log.exists():
            return 0
        return len(re.findall(rf"exited: {re.escape(name)} \(", log.read_text(errors="replace")))

    def log(self, name: str, chars: int = 4000) -> str:
        path = self.topology.logdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def problem(self) -> str | None:
        """Why the stack cannot go on: supervisord gone, or a program it gave up on."""
        if self.proc is None or self.proc.poll() is not None:
            return "supervisord exited"
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            for p in self.rpc.getAllProcessInfo():
                if p["statename"] == "FATAL":
                    return f"{p['name']} could not be started:\n{self.log(p['name'])}"
        return None

    # --- readiness ----------------------------------------------------------------------------

    def wait_healthy(
        self, workers: int, timeout: float = 90, tick: Callable[[], None] | None = None
    ) -> None:
        """Until ``/api/health/`` answers 200 and counts ``workers`` workers. A program that
        exits meanwhile fails the start with its log (supervisord would restart it: a crash
        at start-up is a configuration error, which restarts cannot fix)."""
        deadline = time.monotonic() + timeout
        first: dict[str, int] = {}
        while time.monotonic() < deadline:
            if tick:
                tick()
            problem = self.problem()
            if problem:
                raise StackFailed(problem)
            for p in self.rpc.getAllProcessInfo():
                name, pid = p["name"], p["pid"]
                if name == "liveness" or p["statename"] in ("STOPPED", "STARTING"):
                    continue
                if p["statename"] != "RUNNING" or first.setdefault(name, pid) != pid:
                    raise StackFailed(f"{name} exited while starting:\n{self.log(name)}")
            if self._healthy(workers):
                self.started = self.running()
                return
            time.sleep(0.2)
        raise StackFailed(
            f"{self.topology.health_url or self.topology.url}/api/health/ did not report "
            f"{workers} workers within "
            f"{timeout:.0f}s"
        )

    def _healthy(self, workers: int) -> bool:
        try:
            url = self.topology.health_url or self.topology.url
            with urllib.request.urlopen(f"{url}/api/health/", timeout=3) as answer:
                return answer.status == 200 and json.load(answer)["workers"] >= workers
        except (OSError, ValueError):
            return False

    # --- stopping -----------------------------------------------------------------------------

    def stop(self, timeout: float = 60) -> None:
        """Stop every program at once (SIGTERM to each process group; SIGKILL after its
        stopwaitsecs), then supervisord. If supervisord does not stop in time, kill it and
        every process group it had started."""
        if self.proc is None:
            return
        pids = list(self.started.values())  # what is known if the socket does not answer
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                pids = [p["pid"] for p in self.rpc.getAllProcessInfo() if p["pid"]]
                self.rpc.stopAllProcesses(False)
            self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            self.topology.socket.unlink()


# --- the liveness probe -------------------------------------------------------------------------


def liveness(stdin: IO[bytes], stdout: IO[bytes], hung_after_s: float) -> None:
    """supervisord event listener: kill a worker still running ``hung_after_s`` after it
    logged ``UNRECOVERABLE``; autorestart starts it again. Events: PROCESS_LOG_STDOUT (the
    workers' merged output) and TICK_5 (so the clock is checked with no output at all)."""
    from supervisor import childutils

    rpc = childutils.getRPCInterface(os.environ).supervisor
    tails: dict[str, bytes] = {}  # the end of each program's last chunk: a split line
    declared_dead: dict[str, tuple[int, float]] = {}  # program -> (pid, since)
    while True:
        stdout.write(b"READY\n")
        stdout.flush()
        headers = dict(field.split(b":", 1) for field in stdin.readline().split())
        payload = stdin.read(int(headers[b"len"]))
        if headers[b"eventname"].startswith(b"PROCESS_LOG"):
            head, _, data = payload.partition(b"\n")
            fields = dict(field.split(b":", 1) for field in head.split())
            name, pid = fields[b"processname"].decode(), int(fields[b"pid"])
            seen = tails.get(name, b"") + data
            if UNRECOVERABLE in seen and declared_dead.get(name, (0, 0.0))[0] != pid:
                declared_dead[name] = (pid, time.monotonic())
                _say(f"{name} (pid {pid}) logged {UNRECOVERABLE.decode()!r}; killed if still "
                     f"running in {hung_after_s:.0f} s")  # fmt: skip
            tails[name] = seen[-len(UNRECOVERABLE) :]
        for name, (pid, since) in list(declared_dead.items()):
            if time.monotonic() - since < hung_after_s:
                continue
            del declared_dead[name]
            if rpc.getProcessInfo(name)["pid"] == pid:  # the same process, still there
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                _say(f"{name} (pid {pid}) hung after its unrecoverable error: killed")
        stdout.write(b"RESULT 2\nOK")
        stdout.flush()


def _say(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} liveness: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["liveness"]:
        sys.exit("usage: python -m config.processes liveness  (supervisord starts it)")
    hung = float(os.environ.get("LIKEFEED_HUNG_AFTER_S", HUNG_AFTER_S))
    liveness(sys.stdin.buffer, sys.stdout.buffer, hung)
