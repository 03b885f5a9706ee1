"""The beat scheduler: django-celery-beat's, with the admin having the last word.

Stock ``DatabaseScheduler`` writes ``CELERY_BEAT_SCHEDULE`` into the database on every start
(``update_or_create``), so an interval changed in the admin silently reverts the next time
beat restarts (django-celery-beat issue #153, open since 2018). Here the settings only seed
the jobs the database does not have yet; after that the database, edited in the admin
under "Periodic tasks", is the schedule. A job deleted in the admin comes back with its
default schedule at the next start; disable it instead.
"""

from __future__ import annotations

from typing import Any

from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler


class SeedOnceDatabaseScheduler(DatabaseScheduler):
    def update_from_dict(self, mapping: dict[str, Any]) -> None:
        known = set(
            PeriodicTask.objects.filter(name__in=list(mapping)).values_list("name", flat=True)
        )
        super().update_from_dict({name: e for name, e in mapping.items() if name not in known})
