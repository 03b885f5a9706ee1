"""Production settings (``config.settings.production``): ``manage.py check --deploy`` is
clean, and secrets are required."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from tests.conftest import ROOT

PRODUCTION = "config.settings.production"


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
        DJANGO_SETTINGS_MODULE=PRODUCTION, SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="likefeed.example",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_development_settings_are_what_check_deploy_warns_about():
    result = manage("check", "--deploy", DJANGO_SETTINGS_MODULE="config.settings.local")
    assert "security.W018" in result.stdout + result.stderr  # DEBUG is on: not for deployment


def test_production_refuses_to_start_without_a_real_secret_key():
    for secret in (None, "django-insecure-" + "x" * 60, "short"):
        env = {"DJANGO_SETTINGS_MODULE": PRODUCTION} | ({"SECRET_KEY": secret} if secret else {})
        result = manage("check", **env)
        assert result.returncode != 0
        assert result.stderr.startswith("likefeed: SECRET_KEY "), result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        if secret:
            assert secret not in result.stderr  # a refusal never prints the secret


def test_production_refuses_debug():
    result = manage(
        "check",
        DJANGO_SETTINGS_MODULE=PRODUCTION,
        DEBUG="true",
        SECRET_KEY=secrets.token_urlsafe(50),
    )
    assert result.returncode != 0 and result.stderr.startswith("likefeed: DEBUG='true' ")


def test_the_old_production_switch_is_refused_not_ignored():
    """LIKEFEED_ENV=production chose production before the settings package; ignoring it now
    would run a deployment on development settings without a word."""
    result = manage("check", LIKEFEED_ENV="production")
    assert result.returncode != 0
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in result.stderr
