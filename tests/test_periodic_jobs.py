"""Periodic jobs: beat (a real process) puts them in the database, the admin shows them and
edits them, and the edit survives beat's next start (config/beat.py), where stock
django-celery-beat would put the settings' schedule back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, _database_url, wait_until

JOBS = {"sweep-owed-fanouts", "recount-likes"}
STOCK = "django_celery_beat.schedulers:DatabaseScheduler"


def run_beat_until_scheduled(tmp: Path, *extra: str) -> str:
    """Start beat, wait until its scheduler has read the schedule, stop it; its log."""
    from django.conf import settings

    log = tmp / f"beat-{len(list(tmp.iterdir()))}.log"
    env = {**os.environ, "DATABASE_URL": _database_url(settings.DATABASES["default"]["NAME"])}
    with open(log, "wb") as out:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "debug", *extra],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip

        def scheduled() -> bool:
            if beat.poll() is not None:
                pytest.fail(f"beat exited with code {beat.returncode}:\n{log.read_text()}")
            # Logged once the scheduler is set up, seeding included (celery/beat.py).
            return "Ticking with max interval" in log.read_text()

        try:
            wait_until(scheduled, timeout=60)
        finally:
            beat.terminate()
            beat.wait(timeout=30)
    return log.read_text()


def sweep_every_s() -> int:
    from django_celery_beat.models import PeriodicTask

    interval = PeriodicTask.objects.get(name="sweep-owed-fanouts").interval
    assert interval is not None and interval.period == "seconds"
    return interval.every


def admin_form_data(form) -> dict:
    """What a browser would post back for an admin form left as it was shown."""
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value in (None, False, ""):
            continue
        data[name] = "on" if value is True else value
    return data


@pytest.mark.usefixtures("live_server_url")  # workers for the jobs, and a database they see
def test_periodic_jobs_show_up_in_the_admin_and_keep_its_edits(admin_client, tmp_path):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    run_beat_until_scheduled(tmp_path)
    assert set(PeriodicTask.objects.values_list("name", flat=True)) >= JOBS
    listing = admin_client.get("/admin/django_celery_beat/periodictask/")
    assert listing.status_code == 200
    for name in JOBS:
        assert name in listing.content.decode()

    # Through the admin's own change form: every 7 s instead of every 30 s.
    job = PeriodicTask.objects.get(name="sweep-owed-fanouts")
    url = f"/admin/django_celery_beat/periodictask/{job.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    data = admin_form_data(page.context["adminform"].form)
    every_7s, _ = IntervalSchedule.objects.get_or_create(every=7, period="seconds")
    data["interval"] = every_7s.pk
    saved = admin_client.post(url, data)
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    assert sweep_every_s() == 7

    run_beat_until_scheduled(tmp_path)
    assert sweep_every_s() == 7  # the admin's edit holds

    # Why config/beat.py exists: the stock scheduler writes the settings back over it.
    run_beat_until_scheduled(tmp_path, "-S", STOCK)
    assert sweep_every_s() == 30
