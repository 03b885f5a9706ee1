"""The Celery app, in the shape of Celery's "First steps with Django" guide."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("likefeed")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
