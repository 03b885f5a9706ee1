"""Production settings: ``manage.py check --deploy`` is clean, and secrets are required."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from tests.conftest import ROOT


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_prints_no_warning_with_the_production_switch():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        LIKEFEED_ENV="production", SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="likefeed.example",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_development_settings_are_what_check_deploy_warns_about():
    result = manage("check", "--deploy")
    assert "security.W018" in result.stdout + result.stderr  # DEBUG is on: not for deployment


def test_production_refuses_to_start_without_a_real_secret_key():
    for secret in (None, "django-insecure-" + "x" * 60, "short"):
        env = {"LIKEFEED_ENV": "production"} | ({"SECRET_KEY": secret} if secret else {})
        result = manage("check", **env)
        assert result.returncode != 0
        assert "SECRET_KEY" in result.stderr, result.stderr[-2000:]


def test_production_refuses_debug():
    result = manage(
        "check", LIKEFEED_ENV="production", DEBUG="true", SECRET_KEY=secrets.token_urlsafe(50)
    )
    assert result.returncode != 0 and "DEBUG" in result.stderr
