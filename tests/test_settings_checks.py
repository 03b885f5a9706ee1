"""Settings from the environment are checked when a process starts (config.settings.env).

A wrong one stops the process with one sentence naming the setting and an example of a
right value: no traceback, and never a server that starts and then answers 500 (issue 19:
``THROTTLE_RATE_LIKE=100000/minute`` did exactly that)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config.settings.env import RATE_PERIODS, REQUIRED, Env, SettingError, parse_rate
from tests.conftest import ROOT, free_port

DRF_PERIODS = ["s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"]


@pytest.mark.parametrize("period", DRF_PERIODS)
def test_every_period_spelling_drf_accepts_is_a_rate(period):
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    assert parse_rate(f"100000/{period}") == (100000, seconds)
    assert set(DRF_PERIODS) <= set(RATE_PERIODS)


NOT_RATES = ["", "120", "120/", "/min", "0/min", "-1/min", "x/min", "120/fortnight", "120/Min",
             "1.5/min", "120/min/extra"]  # fmt: skip


@pytest.mark.parametrize("rate", NOT_RATES)
def test_anything_else_is_not_a_rate(rate):
    with pytest.raises(ValueError):
        parse_rate(rate)


def refusal(environ: dict[str, str], read) -> str:
    with pytest.raises(SettingError) as caught:
        read(Env(environ))
    return str(caught.value)


def test_a_refusal_is_one_sentence_naming_the_setting_and_a_right_value():
    sentence = refusal({"FEED_MAX_ITEMS": "lots"}, lambda e: e.integer("FEED_MAX_ITEMS", 800))
    assert sentence == (
        "likefeed: FEED_MAX_ITEMS='lots' is not a whole number; set it like FEED_MAX_ITEMS=800."
    )
    assert "\n" not in sentence


@pytest.mark.parametrize(
    ("value", "read", "example"),
    [
        ("0", lambda e: e.integer("N", 5, at_least=1), "N=5"),
        ("2.5.1", lambda e: e.number("N", 2.5), "N=2.5"),
        ("nan", lambda e: e.number("N", 2.5), "N=2.5"),
        ("ture", lambda e: e.boolean("N", True), "N=true"),
        ("100000/fortnight", lambda e: e.rate("N", "120/min"), "N=120/min"),
        ("loud", lambda e: e.log_level("N", "INFO"), "N=INFO"),
        ("http://x", lambda e: e.url("N", schemes=("redis",), example="redis://h:6379/0"),
         "N=redis://h:6379/0"),
        ("redis://h:port/0", lambda e: e.url("N", schemes=("redis",), example="redis://h/0"),
         "N=redis://h/0"),
        ("mysql://h/db", lambda e: e.database_url("N"), "N=postgresql://"),
        ("bogus://x", lambda e: e.email_url("N", "consolemail://"), "N=smtp://"),
        ("a b", lambda e: e.string("N", "lf", pattern="[a-z]+"), "N=lf"),
    ],
)  # fmt: skip
def test_each_reader_refuses_a_wrong_value(value, read, example):
    sentence = refusal({"N": value}, read)
    assert sentence.startswith(f"likefeed: N={value!r} is "), sentence
    assert f"; set it like {example}" in sentence


def test_unset_or_empty_takes_the_default_and_a_required_setting_must_be_set():
    env = Env({"EMPTY": " "})
    assert env.integer("UNSET", 7) == 7 and env.integer("EMPTY", 7) == 7
    assert env.boolean("UNSET", False) is False and env.strings("UNSET", ["a"]) == ["a"]
    assert env.rate("UNSET", "10/min") == "10/min"
    sentence = refusal({}, lambda e: e.string("SECRET_KEY", REQUIRED, example="long-random"))
    assert sentence == "likefeed: SECRET_KEY is not set; set it like SECRET_KEY=long-random."


def test_right_values_are_read_as_their_type():
    env = Env({"N": " 12 ", "F": "0.5", "B": "off", "L": "a, b,,c", "R": "5/second",
               "LVL": "warning", "U": "rediss://:pw@h:6380/1"})  # fmt: skip
    assert env.integer("N", 1) == 12 and env.number("F", 1.0) == 0.5
    assert env.boolean("B", True) is False and env.strings("L", []) == ["a", "b", "c"]
    assert env.rate("R", "1/s") == "5/second" and env.log_level("LVL", "INFO") == "WARNING"
    assert env.url("U", schemes=("rediss",), example="") == "rediss://:pw@h:6380/1"


def test_a_refusal_never_shows_a_secret_or_a_password():
    url = refusal({"DB": "mysql://app:hunter2@db/x"}, lambda e: e.database_url("DB"))
    assert "hunter2" not in url and "app:***@db" in url
    key = refusal({"SECRET_KEY": "hunter2"}, lambda e: e.string("SECRET_KEY", pattern="x{60}"))
    assert key.startswith("likefeed: SECRET_KEY is not ") and "hunter2" not in key


# --- real processes: what an operator sees ---------------------------------------------------


def start(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )


PY = sys.executable
PROCESSES = {
    "manage.py": [PY, "manage.py", "check"],
    "web": [PY, "-m", "uvicorn", "config.asgi:application", "--port", "0"],
    "worker": [PY, "-m", "celery", "-A", "config", "worker", "-Q", "fanout", "-c", "1"],
}


@pytest.mark.parametrize("process", PROCESSES)
def test_a_wrong_rate_stops_each_process_at_start_with_one_sentence(process):
    run = start(PROCESSES[process], THROTTLE_RATE_LIKE="100000/fortnight")
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        "likefeed: THROTTLE_RATE_LIKE='100000/fortnight' is not a rate (a count per s, sec, "
        "second, m, min, minute, h, hour, d or day); set it like THROTTLE_RATE_LIKE=120/min."
    ], run.stderr[-3000:]


def test_make_run_stops_with_the_same_sentence_before_starting_anything():
    run = start([PY, "-m", "config.run"], THROTTLE_RATE_LIKE="100/lightyear", PORT=str(free_port()))
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if not line.startswith("likefeed: started")]
    assert lines == [
        "likefeed: THROTTLE_RATE_LIKE='100/lightyear' is not a rate (a count per s, sec, "
        "second, m, min, minute, h, hour, d or day); set it like THROTTLE_RATE_LIKE=120/min."
    ], run.stderr[-3000:]
    assert "Likefeed is up" not in run.stdout


def test_the_spelling_of_the_issue_starts_and_is_applied(settings):
    """``100000/minute`` (DRF's spelling) is now a rate: the throttle reads it per minute."""
    from config.throttling import LikeRateThrottle

    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "like": "100000/minute"}
    throttle = LikeRateThrottle()
    assert (throttle.limit, throttle.window) == (100000, 60)
    run = start(PROCESSES["manage.py"], THROTTLE_RATE_LIKE="100000/minute")
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_compose_stacks_environment_passes_the_checks():
    """What docker-compose.yml gives every project service (its defaults filled in, as
    Compose does) is accepted: the checks refuse wrong values, not the shipped ones."""
    import re

    import yaml

    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["x-app"]["environment"]
    filled = {"SECRET_KEY": "compose-" + "k" * 60}
    for name, value in raw.items():
        default = re.fullmatch(r"\$\{\w+:-(.*)\}", str(value))
        filled.setdefault(name, default.group(1) if default else str(value))
    assert not any("${" in v for v in filled.values()), filled
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    run = subprocess.run(
        [PY, "manage.py", "check"], cwd=ROOT, env={**base, **filled, "DJANGO_SETTINGS_MODULE":
        "config.settings.local"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]


def test_the_suite_runs_on_its_own_settings_through_make_test():
    """``make test`` wraps pytest in ``python -m config.services``, whose import of the config
    package sets the local settings as a default: passed on, it overrode pyproject.toml's
    (pytest-django reads the environment first), and the suite, its live stacks included,
    ran on the local settings' slow password hasher. The wrapper now passes on only a
    settings module its caller chose."""
    from django.conf import settings

    assert settings.SETTINGS_MODULE == "config.settings.test"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    assert _settings_module_seen_through_the_wrapper(env) == "None"
    chosen = {**env, "DJANGO_SETTINGS_MODULE": "config.settings.production"}
    assert _settings_module_seen_through_the_wrapper(chosen) == "config.settings.production"


def _settings_module_seen_through_the_wrapper(env: dict[str, str]) -> str:
    """What a command run by ``python -m config.services`` finds in DJANGO_SETTINGS_MODULE."""
    shown = subprocess.run(
        [sys.executable, "-m", "config.services", sys.executable, "-c",
         "import os; print(os.environ.get('DJANGO_SETTINGS_MODULE'))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return shown.stdout.strip()
